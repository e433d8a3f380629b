/* `check` (heal) and `status` (probe only): one round, then exit with the contract's code. */
#pragma once

#include "config.h"

enum {
        RTUN_EXIT_OK = 0,        /* every tunnel healthy */
        RTUN_EXIT_UNHEALTHY = 1, /* at least one tunnel unhealthy after healing was attempted */
        RTUN_EXIT_USAGE = 2,     /* bad usage or configuration */
        RTUN_EXIT_NO_BUS = 3,    /* systemd not reachable over D-Bus */
        RTUN_EXIT_FAILURE = 4,   /* internal error (out of memory, ...) */
};

int oneshot_run(const config *cfg, bool heal, bool dry_run, bool json);
