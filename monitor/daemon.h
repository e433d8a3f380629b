/* `daemon`: the long-running monitor on one sd-event loop (probes, bus, /metrics, alerts, watchdog). */
#pragma once

#include "config.h"

/* Returns the process exit code: 0 on SIGTERM/SIGINT, 3 if the bus is unreachable at start. */
int daemon_run(const config *cfg, bool dry_run);
