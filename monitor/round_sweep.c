/* Probing, the all-down guard and healing, one way for every mode. A sweep probes a set of tunnels a few
 * at a time and acts once every verdict is in: a run of check or status is a sweep over every tunnel (then,
 * for check, one over what it restarted); the daemon probes each tunnel on its own timer and, before it
 * restarts anything, sweeps the others: if they all fail too, the local network is the suspect and the
 * all-down guard restarts none. */
#include <time.h>

#include "base/log.h"
#include "round_internal.h"

#define REPROBE_DELAY (1 * USEC_PER_SEC)

/* Probes are launched a few at a time: every forward ends at the host's own sshd, which forks and
 * re-executes itself per connection; a burst of hundreds overflows its accept queue (the SYN retried a
 * second later) and trips its MaxStartups (10 by default: refused). A probe stops holding a slot when
 * it ends or has waited LAUNCH_SETTLE, so tunnels that hang slow the launch only so much. */
#define LAUNCH_WINDOW 8
#define LAUNCH_SETTLE (50 * USEC_PER_MSEC)

static void launch(round *r);

static void progress(round *r) {
        if (r->hooks.progress)
                r->hooks.progress(r, r->hooks.userdata);
}

round_step round_next_step(bool restart_wanted, bool all_down_guard, size_t n_tunnels, bool dry_run) {
        if (!restart_wanted)
                return ROUND_STEP_GUARD;
        /* A dry run restarts nothing, so nothing is worth the others' probes first. */
        if (all_down_guard && n_tunnels >= 2 && !dry_run)
                return ROUND_STEP_SWEEP;
        return ROUND_STEP_HEAL;
}

bool round_wants_another_probe(const tunnel *t, bool verify) {
        const verdict *v = &t->last_verdict;
        const monitor_settings *s = t->settings;

        if (!t->probed || tunnel_probing(t))
                return !t->probed;
        if (verify && t->attempts == 0)
                return true; /* restarted: what was seen before says nothing now */
        if (!t->resolved)
                return false;
        /* Bounded whatever happens: failures attempts plus the grace, a second apart. */
        if (t->attempts >= s->failures + s->grace / USEC_PER_SEC + 2)
                return false;
        /* The tunnel answers; another forward failing fewer than monitor.failures times has no verdict yet. */
        if (t->last_probe.status == PROBE_OK) {
                for (size_t i = 0; i < t->n_forwards; i++) {
                        const forward_watch *w = &t->forwards[i];
                        if (!w->primary && w->last.status != PROBE_OK && w->health.state != FORWARD_DOWN)
                                return true;
                }
                return false;
        }
        /* A failure below monitor.failures leaves the state as it was (maybe UP): look at the probe. */
        if (v->state == TUNNEL_STARTING)
                return true;
        if (verify)
                return v->state != TUNNEL_DOWN && v->state != TUNNEL_FAILED;
        return t->health.consecutive_failures < s->failures && v->state != TUNNEL_DOWN &&
               v->state != TUNNEL_FAILED;
}

/* A SWEEP_HEAL takes in tunnels discovered while it runs too: they have no verdict yet. */
static bool in_scope(const round *r, const tunnel *t) {
        return r->sweep != SWEEP_VERIFY || t->verify;
}

/* A tunnel of the sweep resolved again (a re-discovery saw a new process) is judged on its new
 * resolution: the sweep waits for it. */
static bool any_resolving(const round *r) {
        for (size_t i = 0; i < r->m->n_tunnels; i++)
                if (in_scope(r, r->m->tunnels[i]) && tunnel_resolving(r->m->tunnels[i]))
                        return true;
        return false;
}

static bool any_wants_another_probe(const round *r) {
        for (size_t i = 0; i < r->m->n_tunnels; i++) {
                const tunnel *t = r->m->tunnels[i];
                if (in_scope(r, t) && round_wants_another_probe(t, r->sweep == SWEEP_VERIFY))
                        return true;
        }
        return false;
}

/* t owes the sweep a probe, counted until it lands (discover_tunnels.c uncounts a tunnel whose unit went away).
 * queue: launch one; otherwise the one running now is it. */
static void owe_probe(round *r, tunnel *t, bool queue) {
        if (!t->guard_pending) {
                t->guard_pending = true;
                r->m->guard_outstanding++;
        }
        if (queue)
                t->probe_queued = true;
}

static void forgive_probe(round *r, tunnel *t) {
        t->probe_queued = false;
        if (t->guard_pending) {
                t->guard_pending = false;
                if (r->m->guard_outstanding > 0)
                        r->m->guard_outstanding--;
        }
}

static bool restart_wanted(const monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->last_verdict.action != HEAL_NONE && !m->tunnels[i]->healing)
                        return true;
        return false;
}

/* The guard over every tunnel's last verdict, then the restarts it let through. */
static void heal(round *r) {
        monitor *m = r->m;

        monitor_guard(m);
        for (size_t i = 0; i < m->n_tunnels; i++)
                (void) monitor_heal(m, m->tunnels[i]);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        round *r = userdata;
        monitor *m = r->m;

        r->tick = sd_event_source_disable_unref(r->tick);
        /* Fresh unit state: a restart or systemd's own auto-restart changes MainPID and start time. Only a
         * run that ends soon reprobes, and it may wait for systemd. */
        if (monitor_refresh(m, true) < 0)
                log_warning("Re-discovery failed; probing with what is known.");
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (in_scope(r, t) && round_wants_another_probe(t, r->sweep == SWEEP_VERIFY)) {
                        t->attempts++;
                        owe_probe(r, t, true);
                }
        }
        launch(r);
        progress(r);
        return 0;
}

static void schedule_tick(round *r) {
        if (r->tick)
                return;
        /* Accuracy 1 us: sd-event's default (250 ms) would stretch "about a second apart" and the launch. */
        if (sd_event_add_time_relative(r->event, &r->tick, CLOCK_MONOTONIC, REPROBE_DELAY, 1, on_tick, r) < 0)
                sd_event_exit(r->event, 1);
}

/* The sweep ends when every probe it is owed has landed and (reprobe) no verdict needs another. */
static void sweep_advance(round *r) {
        if (!r->sweeping || r->launching || r->tick || r->launcher || r->m->guard_outstanding > 0)
                return;
        if (r->mode->reprobe && any_resolving(r))
                return; /* on_resolved looks again */
        if (r->mode->reprobe && any_wants_another_probe(r)) {
                schedule_tick(r);
                return;
        }
        r->sweeping = false;
        if (r->sweep == SWEEP_HEAL && r->mode->heal)
                heal(r);
}

static int on_launch(sd_event_source *s, uint64_t usec, void *userdata) {
        round *r = userdata;
        r->launcher = sd_event_source_disable_unref(r->launcher);
        launch(r);
        progress(r);
        return 0;
}

static void launch_one(round *r, tunnel *t, usec_t now) {
        t->probe_queued = false;
        t->probe_launched = now;
        int k = monitor_probe(r->m, t);
        if (k < 0 && k != -EBUSY)
                forgive_probe(r, t); /* it will not land (logged): the sweep does not wait for it */
}

/* Starts queued probes while fewer than LAUNCH_WINDOW young ones run; then sees whether the sweep is over. */
static void launch(round *r) {
        monitor *m = r->m;
        usec_t now = now_usec(CLOCK_MONOTONIC), oldest = USEC_INFINITY;
        size_t young = 0;
        bool queued = false;

        if (r->launching || !r->sweeping)
                return; /* a probe that ends at once calls back into here */
        r->launching = true;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                if (tunnel_probing(t) && now < t->probe_launched + LAUNCH_SETTLE) {
                        young++;
                        oldest = MIN(oldest, t->probe_launched);
                }
        }
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (!t->probe_queued || tunnel_resolving(t))
                        continue; /* one resolving is launched when its resolution lands (on_resolved) */
                if (young >= LAUNCH_WINDOW) {
                        queued = true;
                        break;
                }
                launch_one(r, t, now);
                if (tunnel_probing(t)) {
                        young++;
                        oldest = MIN(oldest, now);
                }
        }
        r->launching = false;

        /* A slot frees when a probe ends (on_probed) or when the oldest has waited long enough. */
        if (!queued)
                r->launcher = sd_event_source_disable_unref(r->launcher);
        else if (!r->launcher &&
                 sd_event_add_time(r->event, &r->launcher, CLOCK_MONOTONIC, oldest + LAUNCH_SETTLE, 1, on_launch, r) < 0)
                for (size_t i = 0; i < m->n_tunnels; i++) /* no timer: all at once, still correct */
                        if (m->tunnels[i]->probe_queued)
                                launch_one(r, m->tunnels[i], now);
        sweep_advance(r);
}

void round_sweep(round *r, sweep_kind kind) {
        monitor *m = r->m;

        r->sweeping = true;
        r->sweep = kind;
        for (size_t i = 0; i < m->n_tunnels && kind == SWEEP_HEAL; i++) {
                tunnel *t = m->tunnels[i];
                /* One that wants a restart has just spoken; one restarting says nothing now. */
                if (t->guard_pending || t->last_verdict.action != HEAL_NONE || t->healing)
                        continue;
                t->attempts = 1;
                owe_probe(r, t, !tunnel_probing(t)); /* a running probe lands on its own */
        }
        for (size_t i = 0; i < m->n_tunnels && kind == SWEEP_VERIFY; i++)
                if (m->tunnels[i]->verify)
                        m->tunnels[i]->attempts = 0;
        /* A restarted ssh needs a moment to connect before it is looked at: the first attempts wait a tick. */
        if (kind == SWEEP_VERIFY)
                schedule_tick(r);
        launch(r);
}

bool round_busy(const round *r) {
        const monitor *m = r->m;
        return r->sweeping || r->launching || r->tick || r->launcher || m->probes_running > 0 ||
               m->heals_running > 0 || m->resolves_running > 0;
}

/* A probe landed (t->last_verdict is new). */
static void on_probed(monitor *m, tunnel *t, void *userdata) {
        round *r = userdata;

        if (t->guard_pending) {
                t->guard_pending = false;
                if (m->guard_outstanding > 0)
                        m->guard_outstanding--;
        }
        if (r->sweeping)
                launch(r); /* a slot is free; the sweep acts once every verdict is in */
        else if (r->mode->heal)
                switch (round_next_step(restart_wanted(m), m->cfg->heal.all_down_guard, m->n_tunnels, m->dry_run)) {
                case ROUND_STEP_GUARD:
                        monitor_guard(m); /* notices the end of an all-down spell */
                        break;
                case ROUND_STEP_SWEEP:
                        round_sweep(r, SWEEP_HEAL);
                        break;
                case ROUND_STEP_HEAL:
                        heal(r);
                        break;
                }
        if (r->hooks.probed)
                r->hooks.probed(r, t, r->hooks.userdata);
        progress(r);
}

static void on_healed(monitor *m, tunnel *t, void *userdata) {
        round *r = userdata;
        if (r->hooks.healed)
                r->hooks.healed(r, t, r->hooks.userdata);
        progress(r);
}

static void on_resolved(monitor *m, tunnel *t, void *userdata) {
        round *r = userdata;
        launch(r); /* the sweep's probe of a tunnel that was resolving can go now */
        progress(r);
}

void round_listen(round *r) {
        r->m->userdata = r;
        r->m->on_probed = on_probed;
        r->m->on_healed = on_healed;
        r->m->on_resolved = on_resolved;
}
