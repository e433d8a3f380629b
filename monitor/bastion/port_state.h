/* What the bastion makes of one allocated port each round: up, stale, absent or unknown, and when a host
 * is news (host_down / host_up). Pure, as decide() on the host side: given the last state, what was seen
 * and the threshold, hands back the new state and the events. */
#pragma once

#include "../base/macro.h"

typedef enum port_state {
        PORT_UP,      /* listener present, the probe answers */
        PORT_STALE,   /* listener present, the probe fails: a dead session may hold the port */
        PORT_ABSENT,  /* no listener: the host is not connected */
        PORT_UNKNOWN, /* not looked at yet, or we could not look */
        _PORT_STATE_MAX,
        _PORT_STATE_INVALID = -1,
} port_state;

const char *port_state_to_string(port_state s);
port_state port_state_from_string(const char *s);

enum {
        PORT_EVENT_HOST_DOWN = 1 << 0,
        PORT_EVENT_HOST_UP = 1 << 1,
};

typedef struct port_health {
        port_state state;
        unsigned failures;   /* consecutive rounds not up (stale or absent) */
        bool announced_down; /* host_down sent: host_up owed once it answers again */
        bool ever_up;        /* seen up since this process started: only a host that was here can be gone */
} port_health;

typedef struct port_observation {
        bool looked;    /* false: the listener table could not be read */
        bool listener;  /* sshd listens on the port */
        bool probe_ok;  /* the probe through it answered (meaningful with a listener) */
} port_observation;

/* One round of one port. `failures` rounds in a row without an answer are needed before a listener that
 * stops answering is called stale (one slow answer is not a dead session) and before host_down; absent
 * is said at once (the kernel's word, not a guess), host_down still waits for the same count. Returns
 * PORT_EVENT_* for this port; only ssh ports speak for their host (the caller decides which). */
unsigned port_decide(port_health *h, const port_observation *o, unsigned failures);
