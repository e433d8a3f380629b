/* decide(): the pure heart of the monitor. (health so far, observation, policy, now) -> verdict.
 * No I/O, no clock reads: every time is passed in (CLOCK_REALTIME usec, since it is persisted). */
#pragma once

#include "tunnel.h"

typedef struct heal_policy {
        unsigned failures;     /* consecutive failed probes before DOWN (>= 1) */
        usec_t grace;          /* after a unit (re)start, failures do not count until this passes or a probe succeeds */
        bool enabled;          /* heal.enabled */
        usec_t backoff;        /* first wait before restarting the same unit again */
        usec_t backoff_max;
        unsigned max_restarts; /* within window */
        usec_t window;
} heal_policy;

#define RESTART_HISTORY_MAX 64

/* What the monitor remembers about one tunnel between probes (and, for `check`, between runs). */
typedef struct tunnel_health {
        tunnel_state state;            /* last verdict; TUNNEL_UNKNOWN initially */
        unsigned consecutive_failures; /* counted failures since the last success */
        probe_status last_failure;     /* PROBE_OK if none */
        usec_t last_success;           /* 0: never */
        usec_t failing_since;          /* first failed observation since the last success (or our last
                                        * restart); 0: not failing. Bounds the grace of a unit that
                                        * systemd keeps restarting. */
        usec_t restarts[RESTART_HISTORY_MAX]; /* times of our restarts, oldest first, pruned to heal.window */
        unsigned n_restarts;
        usec_t backoff;                /* wait after the next restart; 0: heal.backoff */
        usec_t next_restart_at;        /* no restart before this */
        bool announced_down;           /* EVENT_DOWN was raised and EVENT_RECOVERED not yet */
        bool gave_up;                  /* EVENT_GAVE_UP was raised; cleared on recovery or when budget returns */
        bool down_silenced;            /* not decide()'s: its DOWN was folded into a network_down alert */
        usec_t starved_since;          /* first timeout not counted because the host was starved (o->starved);
                                        * 0: none since the last success */
} tunnel_health;

/* How long timeouts on a starved host go uncounted, from the first: a tunnel really dead during a long
 * overload is healed this much later, never never. */
#define DECIDE_STARVED_HOLD_MAX (120 * USEC_PER_SEC)

void tunnel_health_init(tunnel_health *h);

typedef struct observation {
        bool probeable;              /* false: not an ssh unit or no -R forward: UNKNOWN, never acted on */
        bool ours;                   /* the probe could not look (we lack a permission): UNKNOWN, never acted
                                      * on, and the tunnel's history left as it was */
        unit_active_state active_state;
        bool start_limit_hit;        /* the unit's Result is "start-limit-hit" */
        usec_t unit_started_at;      /* realtime of ExecMainStartTimestamp; 0 unknown */
        probe_status status;         /* unit, process and end-to-end probe folded into one: PROBE_OK, ... */
        bool starved;                /* a timeout while the host was starved of CPU and the tunnel's connection
                                      * had all its data acknowledged: the answer waited for a CPU, not the path */
} observation;

typedef enum heal_action {
        HEAL_NONE,
        HEAL_RESTART,          /* RestartUnit(name, "replace") */
        HEAL_RESET_AND_START,  /* ResetFailedUnit + StartUnit: the unit is failed */
        _HEAL_ACTION_MAX,
} heal_action;

typedef struct verdict {
        tunnel_state state;
        heal_action action;          /* what to do now; a dry run reports it and does nothing */
        const char *restart_reason;  /* "probe", "failed" or "stopped" when action != NONE */
        probe_status reason;         /* why it is not up; PROBE_OK when up */
        unsigned events;             /* EVENT_DOWN, EVENT_RECOVERED, EVENT_GAVE_UP raised by this step */
        const char *why;             /* short static text about the action or its absence, may be NULL */
} verdict;

/* Updates h and returns the verdict for one observation. */
verdict decide(tunnel_health *h, const observation *o, const heal_policy *p, usec_t now);

/* Records that the restart decided above was done at now: history, backoff doubling, grace.
 * Returns EVENT_RESTARTED. */
unsigned decide_restarted(tunnel_health *h, const heal_policy *p, usec_t now);

/* Host-wide guard over one round's verdicts: with 2+ tunnels all DOWN at once (the local network is the
 * likely cause), cancels every restart (why = "all tunnels down") and raises EVENT_NETWORK_DOWN once;
 * raises EVENT_NETWORK_UP when that condition ends. Returns the events. */
typedef struct guard_state {
        bool network_down;
} guard_state;
unsigned decide_all_down(guard_state *g, verdict *v, size_t n, bool enabled);
/* How the guard sees one tunnel: down as soon as its last probe failed (the guard must act before hysteresis
 * has declared every tunnel DOWN, or the first would already be restarted), unless that failure says
 * nothing about the network (probe_status_says_nothing_of_network), or looked == false (not probed, not
 * resolved, or the failure was ours: we could not look). */
verdict decide_guard_view(verdict last, bool looked, probe_status last_status);
/* A failure that proves the far end answered (prohibited, listen_busy, host_key_changed): never the network. */
bool probe_status_proves_answer(probe_status s);
/* A failure the all-down guard never counts: one that proves an answer, or a local one (process_stopped). */
bool probe_status_says_nothing_of_network(probe_status s);
/* Which of a tunnel's events to announce while the guard speaks for all: during a network_down spell its
 * DOWN is folded into network_down (remembered in h->down_silenced); once the network is back, a tunnel
 * probed since and still down gets its own DOWN, and a RECOVERED that network_up already said is dropped. */
unsigned decide_fold_events(unsigned events, tunnel_health *h, tunnel_state state, bool network_down,
                            bool probed_since_network_up);

/* Once an all-down spell is over, a failure from a probe that began before the guard last saw every tunnel
 * down says nothing about now (a probe that waited on a stopped path may time out just after the path came
 * back): its restart is held until a probe that began later has spoken. Returns true if it held one. */
bool decide_hold_after_spell(verdict *v, usec_t probe_began, usec_t all_down_seen_at);

const char *heal_action_to_string(heal_action a);
heal_action heal_action_from_string(const char *s);
