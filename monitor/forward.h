/* Every forward of a tunnel (-R, -L, -D), each watched on its own: what it is, what its probes found, and
 * forward_decide(), pure, which says when it is down and what to announce. The tunnel's own verdict
 * (decide.h) is about the one forward that decides restarts; the others are reported, never restarted. */
#pragma once

#include "resolve.h"
#include "tunnel.h"

typedef enum forward_direction {
        FORWARD_REMOTE,  /* -R: a listener on the bastion, back to this host */
        FORWARD_LOCAL,   /* -L: a listener here, to a destination the bastion reaches */
        FORWARD_DYNAMIC, /* -D: a SOCKS listener here */
        _FORWARD_DIRECTION_MAX,
        _FORWARD_DIRECTION_INVALID = -1,
} forward_direction;

typedef enum forward_state {
        FORWARD_UP,
        FORWARD_DOWN,
        FORWARD_UNKNOWN, /* not probed yet, or failing fewer than monitor.failures times in a row */
        _FORWARD_STATE_MAX,
        _FORWARD_STATE_INVALID = -1,
} forward_state;

typedef struct forward_health {
        forward_state state;
        unsigned consecutive_failures;
        bool announced_down;           /* EVENT_FORWARD_DOWN raised, EVENT_FORWARD_UP not yet */
} forward_health;

/* One probe result into the forward's health: EVENT_FORWARD_DOWN once it has failed `failures` times in a
 * row of its own while its tunnel is up, EVENT_FORWARD_UP when one that was announced answers again. A failure
 * while the tunnel is not up (or not probed because of it: tunnel_up false) is the tunnel's: the forward is
 * down with it, silently (the tunnel said so itself), and its own count starts again. announce false (the
 * tunnel's own forward): the state only, never an event. */
unsigned forward_decide(forward_health *h, probe_status status, bool tunnel_up, unsigned failures, bool announce);

/* The parts of one forward's probe (forward_probe.c): -L has two, the destination from the bastion's side
 * and the local listener. */
#define FORWARD_PARTS_MAX 2

struct probe;
struct forward_part_ctx;

typedef struct forward_watch {
        forward_direction direction;
        const ssh_forward *fwd;        /* points into the tunnel's resolution */
        bool primary;                  /* the tunnel's own forward: its probe is the tunnel's */
        char label[128];               /* the listen address: the "forward" label */
        forward_health health;
        probe_result last;             /* the last probe, its parts folded into one */
        bool probed;
        char reason[320];              /* the last non-ok reason, for status and alerts */
        uint64_t probes_total;
        uint64_t probe_failures[_PROBE_STATUS_MAX];

        /* a probe in flight (owned by the monitor) */
        struct probe *running[FORWARD_PARTS_MAX];
        struct forward_part_ctx *ctx[FORWARD_PARTS_MAX];
        probe_result part[FORWARD_PARTS_MAX];
        unsigned parts, parts_done;
        bool pending;                  /* last holds a result not yet recorded */
} forward_watch;

/* Builds one watch per forward of r, -R first (in order), then -L, then -D; primary is the -R forward the
 * tunnel probes (NULL: none). Health and counters of a watch in old with the same direction and label carry
 * over (a restarted unit resolves again). *ret is malloc'ed; -ENOMEM. */
int forward_watches_build(const ssh_resolved *r, const ssh_forward *primary, const forward_watch *old, size_t n_old,
                          forward_watch **ret, size_t *ret_n);
/* Folds the parts of one probe into one result: the first failure, else the first part's success. */
void forward_fold_parts(const probe_result *parts, unsigned n, probe_result *ret);

const char *forward_direction_to_string(forward_direction d);
forward_direction forward_direction_from_string(const char *s);
const char *forward_state_to_string(forward_state s);
forward_state forward_state_from_string(const char *s);
