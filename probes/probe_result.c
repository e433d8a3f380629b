/* String tables for the enums of probe_result.h: the names users see in config, metrics and status. */
#include "probe_result.h"

static const char *const probe_kind_table[_PROBE_KIND_MAX] = {
        [PROBE_KIND_AUTO] = "auto",
        [PROBE_KIND_MUX] = "mux",
        [PROBE_KIND_SSH] = "ssh",
        [PROBE_KIND_TCP] = "tcp",
        [PROBE_KIND_NONE] = "none",
        [PROBE_KIND_SOCKS] = "socks",
};

static const char *const probe_status_table[_PROBE_STATUS_MAX] = {
        [PROBE_OK] = "ok",
        [PROBE_TIMEOUT] = "timeout",
        [PROBE_REFUSED] = "refused",
        [PROBE_BAD_RESPONSE] = "bad_response",
        [PROBE_PROHIBITED] = "prohibited",
        [PROBE_NO_MASTER] = "no_master",
        [PROBE_PROCESS_STOPPED] = "process_stopped",
        [PROBE_UNIT_DOWN] = "unit_down",
        [PROBE_ERROR] = "error",
        [PROBE_LISTEN_BUSY] = "listen_busy",
        [PROBE_HOST_KEY_CHANGED] = "host_key_changed",
};

DEFINE_STRING_TABLE_LOOKUP(probe_kind, probe_kind);
DEFINE_STRING_TABLE_LOOKUP(probe_status, probe_status);

bool probe_result_starved(const probe_result *r) {
        return r->status == PROBE_TIMEOUT && r->cpu_stall >= PROBE_STARVED_SHARE && r->tcp.valid && r->tcp.unacked == 0 &&
                r->tcp.queued == 0;
}
