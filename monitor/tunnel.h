/* The vocabulary of the round: tunnel states, probe kinds, probe outcomes, events. One table each. */
#pragma once

#include "base/macro.h"

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

typedef enum probe_kind {
        PROBE_KIND_AUTO, /* mux when the ControlPath socket exists, else ssh */
        PROBE_KIND_MUX,
        PROBE_KIND_SSH,
        PROBE_KIND_TCP,
        PROBE_KIND_NONE,
        _PROBE_KIND_MAX,
        _PROBE_KIND_INVALID = -1,
} probe_kind;

/* Outcome of one probe; the names are the "reason" label of rtun_probe_failures_total. */
typedef enum probe_status {
        PROBE_OK,
        PROBE_TIMEOUT,
        PROBE_REFUSED,         /* the bastion holds no listener for the forward: the tunnel is dead */
        PROBE_BAD_RESPONSE,    /* something answered, but not monitor.expect */
        PROBE_PROHIBITED,      /* the bastion refuses the probe's channel: configuration, never healed */
        PROBE_NO_MASTER,       /* no ControlMaster socket to talk to */
        PROBE_PROCESS_STOPPED, /* MainPID stopped (T) or a zombie (Z) */
        PROBE_UNIT_DOWN,       /* the unit is not active */
        PROBE_ERROR,           /* the probe itself could not run (not ssh, no forward, spawn failed, ...) */
        _PROBE_STATUS_MAX,
        _PROBE_STATUS_INVALID = -1,
} probe_status;

/* Alert-worthy transitions (contract: alert.NAME.events). Bit values so receivers can filter. */
typedef enum tunnel_event {
        EVENT_DOWN = 1 << 0,
        EVENT_RECOVERED = 1 << 1,
        EVENT_RESTARTED = 1 << 2,
        EVENT_GAVE_UP = 1 << 3,
        EVENT_NETWORK_DOWN = 1 << 4,
        EVENT_NETWORK_UP = 1 << 5,
        _EVENT_ALL = (1 << 6) - 1,
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

typedef struct probe_result {
        probe_status status;
        probe_kind kind;   /* which probe ran (never AUTO) */
        usec_t duration;   /* wall time of the probe */
        char detail[256];  /* human text, e.g. "channel open refused: administratively prohibited" */
        bool ours;         /* the probe could not look (our own lack of permission): says nothing of the tunnel */
} probe_result;

const char *tunnel_state_to_string(tunnel_state s);
tunnel_state tunnel_state_from_string(const char *s);
const char *probe_kind_to_string(probe_kind k);
probe_kind probe_kind_from_string(const char *s);
const char *probe_status_to_string(probe_status s);
probe_status probe_status_from_string(const char *s);
const char *tunnel_event_to_string(tunnel_event e); /* one bit set */
tunnel_event tunnel_event_from_string(const char *s); /* 0 if unknown */
const char *unit_active_state_to_string(unit_active_state s);
unit_active_state unit_active_state_from_string(const char *s);
