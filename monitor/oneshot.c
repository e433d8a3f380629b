/* `check` and `status`: one round on the loop, then exit. A failing tunnel is probed again about a second
 * apart until it has a verdict (monitor.failures attempts, or the unit's grace), so one run is one verdict. */
#include <signal.h>
#include <time.h>

#include "../exporters/alert.h"
#include "../exporters/metrics.h"
#include "../exporters/textfile.h"
#include "base/log.h"
#include "oneshot.h"
#include "state_file.h"
#include "status_print.h"

#define REPROBE_DELAY (1 * USEC_PER_SEC)
#define ALERT_DRAIN_TIMEOUT (15 * USEC_PER_SEC)

typedef enum phase {
        PHASE_PROBE,   /* first verdict of every tunnel */
        PHASE_HEAL,    /* restarts in flight */
        PHASE_VERIFY,  /* restarted tunnels probed until they answer or their grace is spent */
        PHASE_ALERTS,  /* waiting for receivers */
        PHASE_DONE,
} phase;

typedef struct oneshot {
        monitor *m;
        bool heal;                 /* check: yes; status: no */
        phase phase;
        sd_event_source *tick;     /* re-probe timer */
        sd_event_source *launcher; /* launches queued probes as slots free up */
        bool launching;
        sd_event_source *drain_deadline;
        usec_t started;
        usec_t drain_until;        /* CLOCK_MONOTONIC end of the alert drain */
        bool *verify;              /* per tunnel index: restarted in this run */
} oneshot;

static void advance(oneshot *o);
static void launch(oneshot *o);

/* Does this tunnel need another probe before it has this run's verdict? */
static bool needs_more(oneshot *o, const tunnel *t) {
        const verdict *v = &t->last_verdict;
        const monitor_settings *s = t->settings;

        if (!t->probed || t->running)
                return !t->probed;
        if (o->phase == PHASE_VERIFY && t->attempts == 0)
                return true; /* restarted: what was seen before says nothing now */
        /* A failure below monitor.failures leaves the state as it was (maybe UP): look at the probe. */
        if (t->last_probe.status == PROBE_OK || !t->resolved)
                return false;
        /* Bounded whatever happens: failures attempts plus the grace, a second apart. */
        if (t->attempts >= s->failures + s->grace / USEC_PER_SEC + 2)
                return false;
        if (v->state == TUNNEL_STARTING)
                return true;
        if (o->phase == PHASE_VERIFY)
                return v->state != TUNNEL_DOWN && v->state != TUNNEL_FAILED;
        return t->health.consecutive_failures < s->failures && v->state != TUNNEL_DOWN &&
               v->state != TUNNEL_FAILED;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        oneshot *o = userdata;
        monitor *m = o->m;

        o->tick = sd_event_source_disable_unref(o->tick);
        /* Fresh unit state: a restart or systemd's own auto-restart changes MainPID and start time. */
        if (monitor_refresh(m, true) < 0)
                log_warning("Re-discovery failed; probing with what is known.");
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                bool in_scope = o->phase != PHASE_VERIFY || (o->verify && o->verify[i]);
                if (in_scope && needs_more(o, t)) {
                        t->attempts++;
                        t->probe_queued = true;
                }
        }
        launch(o);
        return 0;
}

static void schedule_tick(oneshot *o) {
        if (o->tick)
                return;
        /* Accuracy 1 us: sd-event's default (250 ms) would stretch "about a second apart" and the launch. */
        if (sd_event_add_time_relative(o->m->event, &o->tick, CLOCK_MONOTONIC, REPROBE_DELAY, 1, on_tick, o) < 0)
                sd_event_exit(o->m->event, 1);
}

static bool any_needs_more(oneshot *o) {
        for (size_t i = 0; i < o->m->n_tunnels; i++) {
                bool in_scope = o->phase != PHASE_VERIFY || (o->verify && o->verify[i]);
                if (in_scope && needs_more(o, o->m->tunnels[i]))
                        return true;
        }
        return false;
}

/* Nothing in flight, and nothing due before the drain deadline: what is left waits for the next run. */
static bool alerts_idle(oneshot *o) {
        monitor *m = o->m;
        for (size_t i = 0; i < m->n_alerts; i++) {
                alert_sender *s = m->senders[i];
                if (!alert_sender_idle(s))
                        return false;
                if (alert_sender_pending(s) > 0 && alert_sender_next_due(s) <= o->drain_until)
                        return false;
        }
        return true;
}

static int on_drain_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        oneshot *o = userdata;
        o->phase = PHASE_DONE;
        sd_event_exit(o->m->event, 0);
        return 0;
}

static void start_heal(oneshot *o) {
        monitor *m = o->m;

        o->phase = PHASE_HEAL;
        monitor_guard(m);
        free(o->verify);
        o->verify = calloc(m->n_tunnels + 1, sizeof(bool));
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (monitor_heal(m, t) > 0 && o->verify) {
                        o->verify[i] = true;
                        t->attempts = 0;
                }
        }
}

/* Moves the run on when nothing is in flight. */
static void advance(oneshot *o) {
        monitor *m = o->m;

        for (;;) {
                if (m->probes_running > 0 || m->heals_running > 0 || m->resolves_running > 0 || o->tick ||
                    o->launcher)
                        return;
                switch (o->phase) {
                case PHASE_PROBE:
                        if (any_needs_more(o)) {
                                schedule_tick(o);
                                return;
                        }
                        if (!o->heal) {
                                o->phase = PHASE_DONE;
                                break;
                        }
                        start_heal(o);
                        continue;
                case PHASE_HEAL:
                        o->phase = PHASE_VERIFY;
                        /* Give a restarted ssh a moment to connect before the first verification. */
                        for (size_t i = 0; i < m->n_tunnels; i++)
                                if (o->verify && o->verify[i]) {
                                        schedule_tick(o);
                                        return;
                                }
                        continue;
                case PHASE_VERIFY:
                        if (any_needs_more(o)) {
                                schedule_tick(o);
                                return;
                        }
                        o->phase = PHASE_ALERTS;
                        continue;
                case PHASE_ALERTS:
                        if (!o->drain_until)
                                monitor_flush_events(m); /* the verification's recovered */
                        if (!o->drain_until)
                                o->drain_until = now_usec(CLOCK_MONOTONIC) + ALERT_DRAIN_TIMEOUT;
                        if (alerts_idle(o)) {
                                o->phase = PHASE_DONE;
                                break;
                        }
                        if (!o->drain_deadline &&
                            sd_event_add_time_relative(m->event, &o->drain_deadline, CLOCK_MONOTONIC,
                                                       ALERT_DRAIN_TIMEOUT, 0, on_drain_deadline, o) < 0) {
                                o->phase = PHASE_DONE;
                                break;
                        }
                        return; /* the senders call back through on_alert_progress */
                case PHASE_DONE:
                        break;
                }
                sd_event_exit(m->event, 0);
                return;
        }
}

/* Probes are launched a few at a time: every forward ends at the host's own sshd, which forks and
 * re-executes itself per connection; a burst of hundreds overflows its accept queue (the SYN retried a
 * second later) and trips its MaxStartups (10 by default: refused). A probe stops holding a slot when
 * it ends or has waited LAUNCH_SETTLE, so tunnels that hang slow the launch only so much. */
#define LAUNCH_WINDOW 8
#define LAUNCH_SETTLE (50 * USEC_PER_MSEC)

static int on_launch(sd_event_source *s, uint64_t usec, void *userdata) {
        oneshot *o = userdata;
        o->launcher = sd_event_source_disable_unref(o->launcher);
        launch(o);
        return 0;
}

static void launch(oneshot *o) {
        monitor *m = o->m;
        usec_t now = now_usec(CLOCK_MONOTONIC), oldest = USEC_INFINITY;
        size_t young = 0;
        bool queued = false;

        if (o->launching)
                return; /* a probe that ends at once calls back into here */
        o->launching = true;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                if (t->running && now < t->probe_launched + LAUNCH_SETTLE) {
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
                t->probe_queued = false;
                t->probe_launched = now;
                (void) monitor_probe(m, t);
                if (t->running) {
                        young++;
                        oldest = MIN(oldest, now);
                }
        }
        o->launching = false;

        /* A slot frees when a probe ends (on_tunnel_event) or when the oldest has waited long enough. */
        if (!queued)
                o->launcher = sd_event_source_disable_unref(o->launcher);
        else if (!o->launcher &&
            sd_event_add_time(m->event, &o->launcher, CLOCK_MONOTONIC, oldest + LAUNCH_SETTLE, 1, on_launch, o) < 0) {
                for (size_t i = 0; i < m->n_tunnels; i++) /* no timer: all at once, still correct */
                        if (m->tunnels[i]->probe_queued) {
                                m->tunnels[i]->probe_queued = false;
                                (void) monitor_probe(m, m->tunnels[i]);
                        }
        }
        advance(o);
}

static void on_tunnel_event(monitor *m, tunnel *t, void *userdata) {
        launch(userdata); /* a slot is free, and maybe the run moves on */
}

static int on_alert_check(sd_event_source *s, void *userdata) {
        oneshot *o = userdata;
        if (o->phase == PHASE_ALERTS)
                advance(o);
        return 0;
}

int oneshot_run(const config *cfg, bool heal, bool dry_run, bool json) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        monitor *m = NULL;
        saved_state saved = {};
        oneshot o = { .heal = heal };
        sd_event_source *post = NULL;
        const char *state_path = state_file_path();
        int r, ret;

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to create event loop: %m"), RTUN_EXIT_FAILURE;
        /* Probes spawn ssh: SIGCHLD must be blocked for sd_event_add_child. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* status reports in its table; transitions it will not act on are no news for the journal. */
        if (!heal && log_get_max_level() < LOG_DEBUG)
                log_set_max_level(LOG_ERR);

        /* check reads, changes and writes the state: a hand run beside the timer's must not lose updates.
         * Held until return; status only reads (the file is replaced atomically) and takes no lock. */
        _cleanup_(closep) int state_lock_fd = heal ? state_lock(state_path, "check", STATE_LOCK_WAIT) : -1;
        if (state_lock_fd == -EBUSY)
                return RTUN_EXIT_USAGE;

        r = monitor_new(cfg, dry_run, e, &m);
        if (r < 0)
                return RTUN_EXIT_FAILURE;
        o.m = m;
        m->alerts_off = !heal;
        m->userdata = &o;
        m->on_probed = on_tunnel_event;
        m->on_healed = on_tunnel_event;
        m->on_resolved = on_tunnel_event;

        /* The round: discover, resolve, probe, decide, act, report. */
        o.started = now_usec(CLOCK_MONOTONIC);
        /* status reads the state too (restart history for display, resolutions) but never writes it. */
        (void) saved_state_load(state_path, &saved);
        m->other_units_state = state_entries_outside(saved.tunnels_json, cfg->units);
        m->seeds = saved.seeds;
        m->n_seeds = saved.n_seeds;
        r = monitor_connect_bus(m) < 0 ? -ENOTCONN : monitor_refresh(m, true);
        m->seeds = NULL;
        m->n_seeds = 0;
        if (r < 0) {
                ret = RTUN_EXIT_NO_BUS;
                goto finish;
        }
        if (m->n_tunnels == 0)
                log_warning("No units match %s.", cfg->units[0]);

        {
                m->guard = saved.guard;
                for (size_t i = 0; i < m->n_tunnels; i++) {
                        const tunnel_health *h = saved_state_find(&saved, m->tunnels[i]->name);
                        if (h) {
                                m->tunnels[i]->health = *h;
                                m->tunnels[i]->last_verdict.state = h->state;
                        }
                }
                if (heal && saved.alerts)
                        saved_alerts_restore(m, saved.alerts);
        }

        /* Re-evaluate "is the run finished" after every loop iteration: alert senders finish on their own. */
        r = sd_event_add_post(e, &post, on_alert_check, &o);
        if (r < 0) {
                ret = RTUN_EXIT_FAILURE;
                goto finish;
        }

        monitor_prefetch_tcp(m);
        for (size_t i = 0; i < m->n_tunnels; i++) {
                m->tunnels[i]->attempts = 1;
                m->tunnels[i]->probe_queued = true;
        }
        launch(&o);
        if (o.phase != PHASE_DONE) {
                r = sd_event_loop(e);
                if (r < 0)
                        log_error_errno(r, "Event loop failed: %m");
        }
        m->round_duration = now_usec(CLOCK_MONOTONIC) - o.started;
        m->last_round_end = now_usec(CLOCK_REALTIME);

        if (heal) {
                json_t *pending = json_array();
                if (!pending || saved_alerts_collect(m, pending) < 0 || saved_state_write(state_path, m, pending) < 0)
                        log_warning("State not saved: the next run starts afresh.");
                else if (json_array_size(pending) > 0) {
                        log_notice("%zu undelivered alert(s) kept in %s for the next run.", json_array_size(pending),
                                   state_path);
                        for (size_t i = 0; i < m->n_alerts; i++)
                                alert_sender_discard(m->senders[i]);
                }
                json_decref(pending);
        }
        if (cfg->metrics_textfile) {
                _cleanup_(freep) char *text = NULL;
                size_t len;
                if (metrics_render(m, &text, &len) >= 0)
                        (void) textfile_write(cfg->metrics_textfile, text, len);
        }

        status_print(m, json, stdout);
        ret = monitor_count_down(m) > 0 ? RTUN_EXIT_UNHEALTHY : RTUN_EXIT_OK;
finish:
        sd_event_source_disable_unref(o.tick);
        sd_event_source_disable_unref(o.launcher);
        sd_event_source_disable_unref(o.drain_deadline);
        sd_event_source_disable_unref(post);
        free(o.verify);
        saved_state_done(&saved);
        monitor_free(m);
        return ret;
}
