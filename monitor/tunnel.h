/* The vocabulary of the round: tunnel states, events, unit states. One table each. Probe kinds and
 * outcomes are the probes' own (probes/probe_result.h): the monitor builds on them. */
#pragma once

#include "base/macro.h"
#include "../probes/probe_result.h"

/* What the monitor believes about a tunnel (contract: rtun_tunnel_state's "state" label). */
typedef enum tunnel_state {
        TUNNEL_UP,
        TUNNEL_DOWN,
        TUNNEL_STARTING, /* unit (re)started recently, no verdict yet (monitor.grace) */
        TUNNEL_FAILED,   /* systemd gave up on the unit, or rtun-monitor gave up healing it */
        TUNNEL_UNKNOWN,  /* not probed yet, or cannot be probed (not ssh, no -R forward) */
        _TUNNEL_STATE_MAX,
        _TUNNEL_STATE_INVALID = -1,
} tunnel_state;

/* Alert-worthy transitions (contract: alert.NAME.events). Bit values so receivers can filter. */
typedef enum tunnel_event {
        EVENT_DOWN = 1 << 0,
        EVENT_RECOVERED = 1 << 1,
        EVENT_RESTARTED = 1 << 2,
        EVENT_GAVE_UP = 1 << 3,
        EVENT_NETWORK_DOWN = 1 << 4,
        EVENT_NETWORK_UP = 1 << 5,
        /* The bastion role's (contract.md): name is the host (its key's comment). */
        EVENT_HOST_DOWN = 1 << 6,
        EVENT_HOST_UP = 1 << 7,
        EVENT_REAPED = 1 << 8,
        EVENT_KEY_EXPIRING = 1 << 9,
        /* A forward other than the tunnel's own (forward.h): name is the unit, forward the forward's. */
        EVENT_FORWARD_DOWN = 1 << 10,
        EVENT_FORWARD_UP = 1 << 11,
        _EVENT_ALL = (1 << 12) - 1,
} tunnel_event;

/* systemd's ActiveState. */
typedef enum unit_active_state {
        UNIT_ACTIVE,
        UNIT_RELOADING,
        UNIT_INACTIVE,
        UNIT_FAILED,
        UNIT_ACTIVATING,
        UNIT_DEACTIVATING,
        _UNIT_ACTIVE_STATE_MAX,
        _UNIT_ACTIVE_STATE_INVALID = -1,
} unit_active_state;

const char *tunnel_state_to_string(tunnel_state s);
tunnel_state tunnel_state_from_string(const char *s);
const char *tunnel_event_to_string(tunnel_event e); /* one bit set */
tunnel_event tunnel_event_from_string(const char *s); /* 0 if unknown */
const char *unit_active_state_to_string(unit_active_state s);
unit_active_state unit_active_state_from_string(const char *s);

/* The events a host raises, the bastion's excluded: what rtun_alerts_total shows on a host. */
#define EVENT_HOST_ROLE (EVENT_DOWN | EVENT_RECOVERED | EVENT_RESTARTED | EVENT_GAVE_UP | EVENT_NETWORK_DOWN | \
                         EVENT_NETWORK_UP | EVENT_FORWARD_DOWN | EVENT_FORWARD_UP)
