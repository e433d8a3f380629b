/* restart_reason's table: the "reason" label of rtun_restarts_total and decide()'s restart_reason text. */
#include "monitor.h"

static const char *const restart_reason_table[_RESTART_REASON_MAX] = {
        [RESTART_REASON_PROBE] = "probe",
        [RESTART_REASON_FAILED] = "failed",
        [RESTART_REASON_STOPPED] = "stopped",
};

const char *restart_reason_to_string(restart_reason r) {
        return (unsigned) r < _RESTART_REASON_MAX ? restart_reason_table[r] : NULL;
}

/* Unknown or NULL: (restart_reason) -1, which callers see as out of range. */
restart_reason restart_reason_from_string(const char *s) {
        if (s)
                for (unsigned i = 0; i < _RESTART_REASON_MAX; i++)
                        if (streq(restart_reason_table[i], s))
                                return (restart_reason) i;
        return (restart_reason) -1;
}
