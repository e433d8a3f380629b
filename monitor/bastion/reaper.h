/* Ends a dead host's sshd session: SIGTERM through a pidfd (never a recycled pid), SIGKILL after a bound if
 * it is still there. Only a process of the expected (tunnel) user, never root's (the listening sshd). */
#pragma once

#include <systemd/sd-event.h>

#include "../base/macro.h"

#define REAP_KILL_AFTER (5 * USEC_PER_SEC)

typedef struct reaper reaper;

int reaper_new(sd_event *e, reaper **ret);
/* Kills the pending SIGKILL timers' processes now and frees. Accepts NULL; returns NULL. */
reaper *reaper_free(reaper *r);
/* -EPERM: pid is root's or not uid's; -ESRCH: gone already; other -errno of pidfd and signals. */
int reaper_end_session(reaper *r, pid_t pid, uid_t uid);
