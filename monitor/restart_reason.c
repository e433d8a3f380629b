/* restart_reason's table: the "reason" label of rtun_restarts_total and decide()'s restart_reason text. */
#include "monitor.h"

static const char *const restart_reason_table[_RESTART_REASON_MAX] = {
        [RESTART_REASON_PROBE] = "probe",
        [RESTART_REASON_FAILED] = "failed",
        [RESTART_REASON_STOPPED] = "stopped",
};

DEFINE_STRING_TABLE_LOOKUP(restart_reason, restart_reason);
