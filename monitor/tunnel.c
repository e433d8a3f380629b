/* String tables for the enums of tunnel.h: the names users see in metrics, alerts and status. */
#include "tunnel.h"

static const char *const tunnel_state_table[_TUNNEL_STATE_MAX] = {
        [TUNNEL_UP] = "up",
        [TUNNEL_DOWN] = "down",
        [TUNNEL_STARTING] = "starting",
        [TUNNEL_FAILED] = "failed",
        [TUNNEL_UNKNOWN] = "unknown",
};

static const char *const unit_active_state_table[_UNIT_ACTIVE_STATE_MAX] = {
        [UNIT_ACTIVE] = "active",
        [UNIT_RELOADING] = "reloading",
        [UNIT_INACTIVE] = "inactive",
        [UNIT_FAILED] = "failed",
        [UNIT_ACTIVATING] = "activating",
        [UNIT_DEACTIVATING] = "deactivating",
};

/* By bit position: EVENT_DOWN is 1 << 0. */
static const char *const tunnel_event_table[] = {
        "down", "recovered", "restarted", "gave_up", "network_down", "network_up",
        "host_down", "host_up", "reaped", "key_expiring", "forward_down", "forward_up",
};

DEFINE_STRING_TABLE_LOOKUP(tunnel_state, tunnel_state);
DEFINE_STRING_TABLE_LOOKUP(unit_active_state, unit_active_state);
DEFINE_BIT_STRING_TABLE_LOOKUP(tunnel_event, tunnel_event);
