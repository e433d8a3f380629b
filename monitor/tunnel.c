/* String tables for the enums of tunnel.h: the names users see in metrics, alerts and status. */
#include "tunnel.h"

static const char *const tunnel_state_table[_TUNNEL_STATE_MAX] = {
        [TUNNEL_UP] = "up",
        [TUNNEL_DOWN] = "down",
        [TUNNEL_STARTING] = "starting",
        [TUNNEL_FAILED] = "failed",
        [TUNNEL_UNKNOWN] = "unknown",
};

static const char *const probe_kind_table[_PROBE_KIND_MAX] = {
        [PROBE_KIND_AUTO] = "auto",
        [PROBE_KIND_MUX] = "mux",
        [PROBE_KIND_SSH] = "ssh",
        [PROBE_KIND_TCP] = "tcp",
        [PROBE_KIND_NONE] = "none",
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
};

static const char *const unit_active_state_table[_UNIT_ACTIVE_STATE_MAX] = {
        [UNIT_ACTIVE] = "active",
        [UNIT_RELOADING] = "reloading",
        [UNIT_INACTIVE] = "inactive",
        [UNIT_FAILED] = "failed",
        [UNIT_ACTIVATING] = "activating",
        [UNIT_DEACTIVATING] = "deactivating",
};

static const char *const tunnel_event_table[] = {
        "down", "recovered", "restarted", "gave_up", "network_down", "network_up",
};

static int lookup(const char *const *table, int n, const char *s) {
        if (!s)
                return -1;
        for (int i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return i;
        return -1;
}

const char *tunnel_state_to_string(tunnel_state s) {
        return s >= 0 && s < _TUNNEL_STATE_MAX ? tunnel_state_table[s] : NULL;
}
tunnel_state tunnel_state_from_string(const char *s) {
        return (tunnel_state) lookup(tunnel_state_table, _TUNNEL_STATE_MAX, s);
}
const char *probe_kind_to_string(probe_kind k) {
        return k >= 0 && k < _PROBE_KIND_MAX ? probe_kind_table[k] : NULL;
}
probe_kind probe_kind_from_string(const char *s) {
        return (probe_kind) lookup(probe_kind_table, _PROBE_KIND_MAX, s);
}
const char *probe_status_to_string(probe_status s) {
        return s >= 0 && s < _PROBE_STATUS_MAX ? probe_status_table[s] : NULL;
}
probe_status probe_status_from_string(const char *s) {
        return (probe_status) lookup(probe_status_table, _PROBE_STATUS_MAX, s);
}
const char *unit_active_state_to_string(unit_active_state s) {
        return s >= 0 && s < _UNIT_ACTIVE_STATE_MAX ? unit_active_state_table[s] : NULL;
}
unit_active_state unit_active_state_from_string(const char *s) {
        return (unit_active_state) lookup(unit_active_state_table, _UNIT_ACTIVE_STATE_MAX, s);
}
const char *tunnel_event_to_string(tunnel_event e) {
        for (unsigned i = 0; i < ELEMENTSOF(tunnel_event_table); i++)
                if ((unsigned) e == (1u << i))
                        return tunnel_event_table[i];
        return NULL;
}
tunnel_event tunnel_event_from_string(const char *s) {
        int i = lookup(tunnel_event_table, (int) ELEMENTSOF(tunnel_event_table), s);
        return i < 0 ? 0 : (tunnel_event) (1 << i);
}
