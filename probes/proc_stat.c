/* The process half of the unit probe, read from /proc/PID/stat. */
#include <fcntl.h>

#include "proc_stat.h"

probe_status proc_stat_parse_state(const char *statline, char *state) {
        const char *p;

        if (!statline || !state)
                return PROBE_ERROR;
        /* "PID (COMM) S ...": comm is arbitrary, so the state follows the *last* ')'. */
        p = strrchr(statline, ')');
        if (!p || !strchr(statline, '(') || p[1] != ' ' || p[2] == 0 || (p[3] != ' ' && p[3] != 0 && p[3] != '\n'))
                return PROBE_ERROR;
        *state = p[2];
        return PROBE_OK;
}

probe_status proc_stat_check(pid_t pid, char *detail, size_t size) {
        char path[64], line[1024], state;
        char scratch[8];
        ssize_t n;

        if (!detail) {
                detail = scratch;
                size = sizeof scratch;
        }
        if (size > 0)
                detail[0] = 0;
        if (pid <= 0) {
                (void) snprintf(detail, size, "no main process");
                return PROBE_UNIT_DOWN;
        }

        (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT || errno == ESRCH) {
                        (void) snprintf(detail, size, "ssh process %d is gone", (int) pid);
                        return PROBE_UNIT_DOWN;
                }
                (void) snprintf(detail, size, "cannot read %s: %m", path);
                return PROBE_ERROR;
        }
        n = read(fd, line, sizeof line - 1);
        if (n < 0) {
                /* The process exited between open and read. */
                if (errno == ESRCH) {
                        (void) snprintf(detail, size, "ssh process %d is gone", (int) pid);
                        return PROBE_UNIT_DOWN;
                }
                (void) snprintf(detail, size, "cannot read %s: %m", path);
                return PROBE_ERROR;
        }
        line[n] = 0;

        if (proc_stat_parse_state(line, &state) != PROBE_OK) {
                (void) snprintf(detail, size, "cannot parse %s", path);
                return PROBE_ERROR;
        }
        switch (state) {
        case 'T':
        case 't':
                (void) snprintf(detail, size, "ssh process %d is stopped", (int) pid);
                return PROBE_PROCESS_STOPPED;
        case 'Z':
        case 'X':
                (void) snprintf(detail, size, "ssh process %d is a zombie", (int) pid);
                return PROBE_PROCESS_STOPPED;
        default:
                return PROBE_OK;
        }
}
