/* /proc/PID/stat of the tunnel's MainPID: a running unit whose ssh is stopped (T) or a zombie (Z) is
 * dead anyway. */
#pragma once

#include <sys/types.h>

#include "probe_result.h"

/* Reads /proc/PID/stat. PROBE_PROCESS_STOPPED ('T', 't', 'Z', 'X', detail says which), PROBE_UNIT_DOWN
 * when the process is gone, PROBE_ERROR when unreadable, else PROBE_OK. detail may be NULL. */
probe_status proc_stat_check(pid_t pid, char *detail, size_t size);

/* Pure: the state character of one /proc/PID/stat line (the comm field may hold ")", " " and "(").
 * PROBE_OK and *state set, or PROBE_ERROR when malformed. */
probe_status proc_stat_parse_state(const char *statline, char *state);
