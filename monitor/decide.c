/* decide(): one tunnel's verdict from (health, observation, policy, now). Pure: no I/O, no clock.
 * Hysteresis as HAProxy's fall counter, grace as autossh's gate time, a restart budget per window as
 * Monit's "N restarts within M cycles", doubling backoff between restarts of one unit. */
#include <limits.h>

#include "decide.h"

static const char *const heal_action_table[_HEAL_ACTION_MAX] = {
        [HEAL_NONE] = "none",
        [HEAL_RESTART] = "restart",
        [HEAL_RESET_AND_START] = "reset_and_start",
};

DEFINE_STRING_TABLE_LOOKUP(heal_action, heal_action);

void tunnel_health_init(tunnel_health *h) {
        *h = (tunnel_health) {
                .state = TUNNEL_UNKNOWN,
                .last_failure = PROBE_OK,
        };
}

/* Saturating arithmetic: grace/window/backoff may be USEC_INFINITY and now may be small. */
static usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

static usec_t usec_sub(usec_t a, usec_t b) {
        return a > b ? a - b : 0;
}

static usec_t usec_double(usec_t a) {
        return usec_add(a, a);
}

/* A history can only hold RESTART_HISTORY_MAX entries, so a larger budget could never be exhausted. */
static unsigned restart_limit(const heal_policy *p) {
        return MIN(p->max_restarts, (unsigned) RESTART_HISTORY_MAX);
}

/* heal.backoff_max below heal.backoff means "no growth", not a shorter first wait. */
static usec_t backoff_cap(const heal_policy *p) {
        return MAX(p->backoff, p->backoff_max);
}

/* Drops restarts older than the window: one at t still counts while now - t <= window. */
static void restarts_prune(tunnel_health *h, const heal_policy *p, usec_t now) {
        usec_t cutoff = usec_sub(now, p->window);
        unsigned k = 0;

        /* The history may come from a state file: never trust its length. */
        h->n_restarts = MIN(h->n_restarts, (unsigned) RESTART_HISTORY_MAX);

        for (unsigned i = 0; i < h->n_restarts; i++)
                if (h->restarts[i] >= cutoff)
                        h->restarts[k++] = h->restarts[i];
        h->n_restarts = k;

        if (h->n_restarts < restart_limit(p))
                h->gave_up = false;

        /* A realtime clock stepped back must not hold a restart off for longer than the longest wait. */
        h->next_restart_at = MIN(h->next_restart_at, usec_add(now, backoff_cap(p)));
}

/* Applies heal.enabled, the restart budget and the backoff to a proposed action. */
static void gate(verdict *v, tunnel_health *h, const heal_policy *p, usec_t now) {
        if (v->action == HEAL_NONE)
                return;

        if (!p->enabled)
                v->why = "healing disabled";
        else if (h->n_restarts >= restart_limit(p)) {
                v->state = TUNNEL_FAILED;
                v->why = "restart budget exhausted";
                if (!h->gave_up) {
                        v->events |= EVENT_GAVE_UP;
                        h->gave_up = true;
                }
        } else if (now < h->next_restart_at)
                v->why = "backoff";
        else
                return;

        v->action = HEAL_NONE;
        v->restart_reason = NULL;
}

/* The one place where DOWN is announced: first time a tunnel is DOWN or FAILED, never repeated. */
static verdict finish(verdict v, tunnel_health *h) {
        if ((v.state == TUNNEL_DOWN || v.state == TUNNEL_FAILED) && !h->announced_down) {
                v.events |= EVENT_DOWN;
                h->announced_down = true;
        }
        h->state = v.state;
        return v;
}

static verdict decide_success(tunnel_health *h, usec_t now) {
        verdict v = {
                .state = TUNNEL_UP,
                .action = HEAL_NONE,
                .reason = PROBE_OK,
        };

        h->consecutive_failures = 0;
        h->last_failure = PROBE_OK;
        h->last_success = now;
        h->failing_since = 0;
        h->starved_since = 0;
        h->gave_up = false;
        h->backoff = 0;
        if (h->announced_down) {
                v.events |= EVENT_RECOVERED;
                h->announced_down = false;
        }
        h->state = TUNNEL_UP;
        return v;
}

/* The unit runs but the probe failed: grace, then hysteresis, then a restart. */
static verdict decide_active_failure(tunnel_health *h, const observation *o, const heal_policy *p, usec_t now) {
        unsigned failures = MAX(p->failures, 1u);
        verdict v = {
                .action = HEAL_NONE,
                .reason = o->status,
        };

        bool new_run = o->unit_started_at != 0 && now < usec_add(o->unit_started_at, p->grace) &&
                h->last_success < o->unit_started_at;

        /* systemd's retry of a port the bastion held: this run says listen_busy again or binds; a restart of
         * ours on top would only add a connection. Its grace is not bounded by how long the port was held. */
        if (new_run && h->last_failure == PROBE_LISTEN_BUSY) {
                v.state = h->state == TUNNEL_UP ? TUNNEL_STARTING : h->state;
                v.reason = PROBE_LISTEN_BUSY;
                v.why = "systemd retries the port the bastion held: waiting for this run";
                return v;
        }
        if (new_run && now < usec_add(h->failing_since, p->grace)) {
                v.state = TUNNEL_STARTING;
                v.why = "grace";
                return v;
        }

        /* The bastion acknowledged every byte and the host had no CPU to spare: the answer is late, the path is
         * not shown dead. Not counted (no restart adds handshakes to a starved host), for a bounded time. */
        if (o->starved) {
                if (h->starved_since == 0 || h->starved_since > now)
                        h->starved_since = now;
                if (now < usec_add(h->starved_since, DECIDE_STARVED_HOLD_MAX)) {
                        v.state = h->state;
                        if (v.state == TUNNEL_UP)
                                v.reason = PROBE_OK;
                        v.why = "timed out on a host starved of CPU, its connection acknowledged: not counted";
                        return v;
                }
        }

        if (h->consecutive_failures < UINT_MAX)
                h->consecutive_failures++;
        h->last_failure = o->status;

        if (h->consecutive_failures < failures) {
                /* Not enough evidence yet: keep the previous verdict. */
                v.state = h->state;
                if (v.state == TUNNEL_UP)
                        v.reason = PROBE_OK;
                v.why = "failure counted, below monitor.failures";
                return v;
        }

        v.state = TUNNEL_DOWN;
        if (o->status == PROBE_PROHIBITED) {
                v.why = "channel prohibited by the bastion: configuration, not restarted";
                return v;
        }

        v.action = HEAL_RESTART;
        v.restart_reason = o->status == PROBE_PROCESS_STOPPED ? "stopped" : "probe";
        v.why = "tunnel down: restart";
        return v;
}

/* ssh logged "remote port forwarding failed" in this run: the bastion still holds the port from a dead
 * session. ssh's own word, so no grace and no hysteresis. Only a new connection binds the port once it
 * frees; who makes it depends on how ssh took the refusal. */
static verdict decide_listen_busy(tunnel_health *h, const observation *o, const heal_policy *p, usec_t now) {
        verdict v = {
                .state = TUNNEL_DOWN,
                .action = HEAL_NONE,
                .reason = PROBE_LISTEN_BUSY,
        };

        if (h->consecutive_failures < UINT_MAX)
                h->consecutive_failures++;
        h->last_failure = PROBE_LISTEN_BUSY;

        switch (o->active_state) {
        case UNIT_ACTIVE:
        case UNIT_RELOADING:
                /* With ExitOnForwardFailure=yes this run is exiting as we look (systemd's business); only one
                 * that ran on without its forward past the grace (ExitOnForwardFailure=no) is ours to reconnect. */
                if (o->unit_started_at != 0 && now < usec_add(o->unit_started_at, p->grace)) {
                        v.why = "the bastion holds the port: this run's end or its grace first";
                        break;
                }
                v.action = HEAL_RESTART;
                v.restart_reason = "probe";
                v.why = "the bastion holds the port: reconnecting";
                break;
        case UNIT_FAILED:
                v.state = TUNNEL_FAILED;
                v.action = HEAL_RESET_AND_START;
                v.restart_reason = "failed";
                v.why = "the bastion holds the port and systemd gave up: reset and start";
                break;
        case UNIT_INACTIVE:
                v.why = "stopped by administrator, left alone";
                break;
        default:
                /* ssh exited on it (ExitOnForwardFailure=yes, the shipped unit) and systemd starts it again after
                 * RestartSec: that retry binds once the port frees. One of ours would cut RestartSec short. */
                v.why = "the bastion holds the port: systemd retries after RestartSec";
                break;
        }
        return v;
}

/* ssh refused the bastion's host key in this run: whoever answers is not the bastion it knew, or the bastion
 * got a new key. A restart, ours or systemd's reset, would only meet the same key again: an operator decides,
 * so no action at all, and no hysteresis (ssh's own word). */
static verdict decide_host_key(tunnel_health *h, const observation *o) {
        if (h->consecutive_failures < UINT_MAX)
                h->consecutive_failures++;
        h->last_failure = PROBE_HOST_KEY_CHANGED;
        return (verdict) {
                .state = o->active_state == UNIT_FAILED ? TUNNEL_FAILED : TUNNEL_DOWN,
                .action = HEAL_NONE,
                .reason = PROBE_HOST_KEY_CHANGED,
                .why = o->active_state == UNIT_INACTIVE ? "stopped by administrator, left alone" :
                        "the bastion's host key changed: not restarted; accept the new key if it is legitimate",
        };
}

verdict decide(tunnel_health *h, const observation *o, const heal_policy *p, usec_t now) {
        verdict v = {
                .action = HEAL_NONE,
        };

        /* Not a tunnel we can probe; or our own failure, which says nothing of the tunnel: neither a failure to
         * count nor a success. */
        if (!o->probeable || o->ours) {
                if (!o->probeable)
                        h->state = TUNNEL_UNKNOWN;
                return (verdict) { .state = TUNNEL_UNKNOWN, .action = HEAL_NONE, .reason = PROBE_ERROR,
                                   .why = !o->probeable ? "not a probeable ssh tunnel" :
                                                          "the monitor could not look: see the reason" };
        }

        restarts_prune(h, p, now);

        if (o->status == PROBE_OK)
                return decide_success(h, now);
        if (h->failing_since == 0 || h->failing_since > now)
                h->failing_since = now;

        if (o->status == PROBE_LISTEN_BUSY) {
                v = decide_listen_busy(h, o, p, now);
                gate(&v, h, p, now);
                return finish(v, h);
        }
        if (o->status == PROBE_HOST_KEY_CHANGED)
                return finish(decide_host_key(h, o), h);

        switch (o->active_state) {

        case UNIT_ACTIVE:
                v = decide_active_failure(h, o, p, now);
                break;

        case UNIT_INACTIVE:
                /* Nobody but an administrator stops a unit that systemd would otherwise restart. */
                v.state = TUNNEL_DOWN;
                v.reason = PROBE_UNIT_DOWN;
                v.why = "stopped by administrator, left alone";
                h->last_failure = PROBE_UNIT_DOWN;
                break;

        case UNIT_FAILED:
                /* systemd's own verdict is definitive: no hysteresis. */
                v.state = TUNNEL_FAILED;
                v.reason = PROBE_UNIT_DOWN;
                v.action = HEAL_RESET_AND_START;
                v.restart_reason = "failed";
                v.why = o->start_limit_hit ? "start limit hit: reset and start" : "unit failed: reset and start";
                h->last_failure = PROBE_UNIT_DOWN;
                break;

        default:
                /* activating (e.g. auto-restart wait), deactivating, reloading, or a state newer than us:
                 * systemd is busy with the unit, so a failed probe says nothing yet... unless it has been
                 * failing for longer than the grace: a unit that systemd restarts again and again (bastion
                 * gone) is DOWN. Restarting it ourselves would add nothing: systemd already does. */
                if (now >= usec_add(h->failing_since, p->grace)) {
                        if (h->consecutive_failures < UINT_MAX)
                                h->consecutive_failures++;
                        h->last_failure = o->status;
                        v.state = h->consecutive_failures >= MAX(p->failures, 1u) ? TUNNEL_DOWN : h->state;
                        v.reason = o->status;
                        v.why = "systemd keeps restarting the unit";
                        break;
                }
                v.state = TUNNEL_STARTING;
                v.reason = o->status;
                v.why = "unit is activating";
                break;
        }

        gate(&v, h, p, now);
        return finish(v, h);
}

bool probe_status_proves_answer(probe_status s) {
        return s == PROBE_PROHIBITED || s == PROBE_LISTEN_BUSY || s == PROBE_HOST_KEY_CHANGED;
}

bool probe_status_says_nothing_of_network(probe_status s) {
        /* A stopped or zombie ssh (SIGSTOP, a frozen cgroup, a debugger) is local, whatever the network does. */
        return s == PROBE_PROCESS_STOPPED || probe_status_proves_answer(s);
}

unsigned decide_restarted(tunnel_health *h, const heal_policy *p, usec_t now) {
        usec_t cap = backoff_cap(p), wait;

        h->n_restarts = MIN(h->n_restarts, (unsigned) RESTART_HISTORY_MAX);
        if (h->n_restarts == RESTART_HISTORY_MAX) {
                memmove(h->restarts, h->restarts + 1, (RESTART_HISTORY_MAX - 1) * sizeof(h->restarts[0]));
                h->n_restarts--;
        }
        h->restarts[h->n_restarts++] = now;

        wait = MIN(h->backoff != 0 ? h->backoff : p->backoff, cap);
        /* A held port frees at a moment nobody can predict (the bastion's reaper, its ClientAlive): doubling
         * would only bind later. heal.backoff apart, like systemd's RestartSec; the budget bounds the count. */
        if (h->last_failure == PROBE_LISTEN_BUSY)
                wait = MIN(p->backoff, cap);
        h->next_restart_at = usec_add(now, wait);
        h->backoff = h->last_failure == PROBE_LISTEN_BUSY ? 0 : MIN(usec_double(wait), cap);

        /* The new process gets a fresh count; grace (its new start time) protects its first probes. */
        h->consecutive_failures = 0;
        h->failing_since = now;
        h->state = TUNNEL_STARTING;
        return EVENT_RESTARTED;
}

/* Only a tunnel whose path failed hints at the network: an administrator-stopped unit (unit_down) or a
 * stopped ssh process (process_stopped) says nothing about it, a prohibited channel, a refused forward
 * (listen_busy) or a refused host key (host_key_changed) proves the bastion (or someone in its place)
 * answered, and FAILED (systemd gave up or our budget ran out), STARTING, UP and UNKNOWN are not "down" at
 * all. Any of those breaks "all down". */
static bool verdict_suggests_network_down(const verdict *v) {
        return v->state == TUNNEL_DOWN &&
                v->reason != PROBE_UNIT_DOWN &&
                !probe_status_says_nothing_of_network(v->reason);
}

verdict decide_guard_view(verdict last, bool looked, probe_status last_status) {
        if (looked && last_status != PROBE_OK && !probe_status_says_nothing_of_network(last_status))
                last.state = TUNNEL_DOWN;
        return last;
}

unsigned decide_fold_events(unsigned ev, tunnel_health *h, tunnel_state state, bool network_down,
                            bool probed_since_network_up) {
        if (network_down) {
                if (ev & EVENT_DOWN)
                        h->down_silenced = true;
                ev &= ~(unsigned) EVENT_DOWN;
        } else if (h->down_silenced && probed_since_network_up && h->announced_down &&
                   (state == TUNNEL_DOWN || state == TUNNEL_FAILED)) {
                ev |= EVENT_DOWN; /* probed since the network came back, still down: now it is news */
                h->down_silenced = false;
        }
        if ((ev & EVENT_RECOVERED) && h->down_silenced) {
                ev &= ~(unsigned) EVENT_RECOVERED; /* network_up said it */
                h->down_silenced = false;
        }
        return ev;
}

bool decide_hold_after_spell(verdict *v, usec_t probe_began, usec_t all_down_seen_at) {
        if (v->action == HEAL_NONE || probe_began >= all_down_seen_at)
                return false;
        v->action = HEAL_NONE;
        v->restart_reason = NULL;
        v->why = "its probe began before the network came back: probing again";
        return true;
}

unsigned decide_all_down(guard_state *g, verdict *v, size_t n, bool enabled) {
        bool all_down = enabled && n >= 2;
        unsigned events = 0;

        for (size_t i = 0; all_down && i < n; i++)
                if (!verdict_suggests_network_down(&v[i]))
                        all_down = false;

        if (all_down) {
                for (size_t i = 0; i < n; i++) {
                        v[i].action = HEAL_NONE;
                        v[i].restart_reason = NULL;
                        v[i].why = "all tunnels down: local network suspected";
                }
                if (!g->network_down) {
                        events |= EVENT_NETWORK_DOWN;
                        g->network_down = true;
                }
        } else if (g->network_down) {
                events |= EVENT_NETWORK_UP;
                g->network_down = false;
        }

        return events;
}
