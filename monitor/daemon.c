/* The daemon: one sd-event loop owns the bus, every probe, the HTTP server, alert delivery and signals.
 * Each tunnel has its own fixed-rate probe timer, phases spread over monitor.interval; discovery runs
 * every interval and soon after systemd says units changed. */
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "../exporters/alert.h"
#include "../exporters/http_server.h"
#include "../exporters/metrics.h"
#include "../exporters/textfile.h"
#include "daemon.h"
#include "daemon_internal.h"
#include "base/log.h"
#include "monitor.h"
#include "oneshot.h"
#include "state_file.h"

/* "Down" for STATUS= is what an operator would page on: not yet probed or starting is not down. */
static size_t count_down(const monitor *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->last_verdict.state == TUNNEL_DOWN ||
                    m->tunnels[i]->last_verdict.state == TUNNEL_FAILED)
                        n++;
        return n;
}

void notify_status(daemon_ctx *d) {
        size_t n = d->m->n_tunnels, down = count_down(d->m);
        bool bus = d->m->dbus_up;
        if (d->status_sent && n == d->last_n && down == d->last_down && bus == d->last_bus)
                return;
        (void) sd_notifyf(false, "STATUS=%zu tunnels, %zu down%s", n, down, bus ? "" : ", system bus lost");
        d->last_n = n;
        d->last_down = down;
        d->last_bus = bus;
        d->status_sent = true;
}

/* Fixed rate: the next probe is due one interval after the previous one was due, however long it ran. */
static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        tunnel *t = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC), next = usec + t->settings->interval;

        if (next <= now)
                next = now + t->settings->interval;
        (void) sd_event_source_set_time(s, next);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (!t->running) /* a probe slower than the interval: skip this slot */
                (void) monitor_probe(t->monitor, t);
        return 0;
}

void schedule_probe(daemon_ctx *d, tunnel *t, usec_t delay) {
        usec_t when = now_usec(CLOCK_MONOTONIC) + delay;
        if (t->next_probe) {
                (void) sd_event_source_set_time(t->next_probe, when);
                (void) sd_event_source_set_enabled(t->next_probe, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_time(d->m->event, &t->next_probe, CLOCK_MONOTONIC, when, TIMER_ACCURACY, on_probe_timer,
                              t) < 0)
                log_error("%s: failed to schedule probe", t->name);
}

/* New tunnels get their first probe spread over one interval: no thundering herd. */
void schedule_new(daemon_ctx *d) {
        monitor *m = d->m;
        size_t n = m->n_tunnels, k = 0;
        for (size_t i = 0; i < n; i++) {
                tunnel *t = m->tunnels[i];
                if (t->next_probe || t->running)
                        continue;
                usec_t spread = t->settings->interval * (k++) / (n ?: 1);
                schedule_probe(d, t, spread);
        }
}

void write_textfile(daemon_ctx *d) {
        if (!d->cfg->metrics_textfile)
                return;
        _cleanup_(freep) char *text = NULL;
        size_t len;
        int r = metrics_render(d->m, &text, &len);
        if (r >= 0)
                r = textfile_write(d->cfg->metrics_textfile, text, len);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s: %m", d->cfg->metrics_textfile);
}

static void heal_pending(daemon_ctx *d) {
        monitor *m = d->m;
        monitor_guard(m);
        for (size_t i = 0; i < m->n_tunnels; i++)
                (void) monitor_heal(m, m->tunnels[i]);
}

/* Before restarting anything with 2+ tunnels, probe all the others once more: if every one fails, the
 * local network is the likely culprit and the all-down guard restarts none. Every probe is counted
 * before any starts, since a probe may finish synchronously (and re-enter on_probed). */
static void start_guard_sweep(daemon_ctx *d) {
        monitor *m = d->m;
        d->sweeping = true;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (t->guard_pending || t->last_verdict.action != HEAL_NONE || t->healing)
                        continue;
                t->guard_pending = true;
                m->guard_outstanding++;
        }
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (t->guard_pending && !t->running)
                        (void) monitor_probe(m, t);
        }
        if (d->sweeping && m->guard_outstanding == 0) {
                d->sweeping = false;
                heal_pending(d);
        }
}

/* A failed probe that outlived its next slot (timeout >= interval) had that slot skipped: probe again
 * now, or confirming the failure costs a whole extra interval beyond monitor.failures probes. */
static void catch_up_missed_slot(daemon_ctx *d, tunnel *t) {
        uint64_t next;

        if (t->last_probe.status == PROBE_OK || t->running || t->healing || !t->next_probe ||
            sd_event_source_get_time(t->next_probe, &next) < 0)
                return;
        usec_t now = now_usec(CLOCK_MONOTONIC), began = now - MIN(t->last_probe.duration, now);
        if (next >= t->settings->interval && next - t->settings->interval > began)
                schedule_probe(d, t, 0);
}

static void on_probed(monitor *m, tunnel *t, void *userdata) {
        daemon_ctx *d = userdata;

        if (t->guard_pending) {
                t->guard_pending = false;
                if (m->guard_outstanding > 0)
                        m->guard_outstanding--;
        }
        if (d->sweeping) {
                if (m->guard_outstanding == 0) {
                        d->sweeping = false;
                        heal_pending(d);
                }
                goto out;
        }

        bool want = false;
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->last_verdict.action != HEAL_NONE && !m->tunnels[i]->healing)
                        want = true;
        if (!want)
                monitor_guard(m); /* notices the end of an all-down spell */
        else if (m->cfg->heal.all_down_guard && m->n_tunnels >= 2 && !m->dry_run)
                start_guard_sweep(d);
        else
                heal_pending(d);
out:
        catch_up_missed_slot(d, t);
        notify_status(d);
}

/* Restart history and backoff survive a restart of the daemon itself (a crash loop must not reset the
 * restart budget), and so do alerts not delivered yet: same state file as `check`. */
static void save_state(daemon_ctx *d, bool with_alerts) {
        json_t *alerts = with_alerts ? json_array() : NULL;
        if (with_alerts && (!alerts || saved_alerts_collect(d->m, alerts) < 0))
                log_warning("Undelivered alerts not saved.");
        if (saved_state_write(state_file_path(), d->m, alerts) < 0)
                log_warning("State not saved.");
        else if (json_array_size(alerts) > 0) {
                log_notice("%zu undelivered alert(s) kept in %s for the next start.", json_array_size(alerts),
                           state_file_path());
                for (size_t i = 0; i < d->m->n_alerts; i++)
                        alert_sender_discard(d->m->senders[i]);
        }
        json_decref(alerts);
}

/* What the last run left (tunnels exist now; their first probes have not run yet). */
static void restore_state(daemon_ctx *d, saved_state *saved) {
        d->m->guard = saved->guard;
        for (size_t i = 0; i < d->m->n_tunnels; i++) {
                tunnel *t = d->m->tunnels[i];
                const tunnel_health *h = saved_state_find(saved, t->name);
                if (h) {
                        t->health = *h;
                        t->last_verdict.state = h->state;
                }
        }
        if (saved->alerts)
                saved_alerts_restore(d->m, saved->alerts);
}

static void on_healed(monitor *m, tunnel *t, void *userdata) {
        daemon_ctx *d = userdata;

        save_state(d, false);
        /* The probe must see the new MainPID and start time (grace): it waits for a discovery that starts
         * after this restart. A restarted ssh needs a moment to connect anyway; the grace keeps early
         * failures from counting. */
        t->probe_after_refresh = d->refreshes + 1;
        if (!start_refresh(d, false)) {
                t->probe_after_refresh = 0;
                schedule_probe(d, t, MIN(t->settings->interval, 1 * USEC_PER_SEC));
        }
        notify_status(d);
}

/* Every round lists the units; their properties are read again only when systemd said they changed
 * (PropertiesChanged), their state or job moved, or every FULL_REFRESH_ROUNDS rounds as a safety net. */
#define FULL_REFRESH_ROUNDS 6

static int on_round(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_ctx *d = userdata;
        bool started = false;

        if (d->m->bus && !sd_bus_is_open(d->m->bus) && !d->bus_teardown)
                bus_lost(d);
        else
                started = start_refresh(d, ++d->rounds % FULL_REFRESH_ROUNDS == 0);
        /* The round ends in on_refreshed; without the bus, the probes' results are written now. */
        if (!started) {
                d->m->last_round_end = now_usec(CLOCK_REALTIME);
                write_textfile(d);
        }
        usec_t next = usec + d->cfg->monitor.interval;
        if (next <= now_usec(CLOCK_MONOTONIC))
                next = now_usec(CLOCK_MONOTONIC) + d->cfg->monitor.interval;
        (void) sd_event_source_set_time(s, next);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, exiting.", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int daemon_run(const config *cfg, bool dry_run) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        daemon_ctx d = { .cfg = cfg };
        int r, ret = RTUN_EXIT_FAILURE;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to create event loop: %m"), RTUN_EXIT_FAILURE;
        if (sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL) < 0)
                return log_error("Failed to watch SIGTERM and SIGINT."), RTUN_EXIT_FAILURE;
        r = sd_event_set_watchdog(e, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        else if (r > 0)
                log_debug("Watchdog enabled.");

        /* The daemon owns the state file for as long as it runs: a `check` beside it is refused. */
        _cleanup_(closep) int state_lock_fd = state_lock(state_file_path(), "daemon", STATE_LOCK_WAIT);
        if (state_lock_fd == -EBUSY)
                return RTUN_EXIT_USAGE;

        if (monitor_new(cfg, dry_run, e, &d.m) < 0)
                return RTUN_EXIT_FAILURE;
        d.m->userdata = &d;
        d.m->on_probed = on_probed;
        d.m->on_healed = on_healed;

        /* The saved resolutions stand in for `ssh -G` in the first discovery (bus_connect does it). */
        _cleanup_(saved_state_done) saved_state saved = {};
        (void) saved_state_load(state_file_path(), &saved);
        d.m->other_units_state = state_entries_outside(saved.tunnels_json, cfg->units);
        d.m->seeds = saved.seeds;
        d.m->n_seeds = saved.n_seeds;
        r = bus_connect(&d);
        d.m->seeds = NULL;
        d.m->n_seeds = 0;
        if (r < 0) {
                ret = RTUN_EXIT_NO_BUS;
                goto finish;
        }
        restore_state(&d, &saved);
        saved_state_done(&saved); /* not needed any more: freed now, not at exit */
        if (!isempty_str(cfg->metrics_listen)) {
                r = http_server_start(e, cfg->metrics_listen, d.m, &d.http);
                if (r < 0) {
                        log_error_errno(r, "Failed to serve metrics on %s: %m", cfg->metrics_listen);
                        goto finish;
                }
        }
        r = sd_event_add_time_relative(e, &d.round_timer, CLOCK_MONOTONIC, cfg->monitor.interval, TIMER_ACCURACY,
                                       on_round, &d);
        if (r < 0) {
                log_error_errno(r, "Failed to add round timer: %m");
                goto finish;
        }
        (void) sd_event_source_set_enabled(d.round_timer, SD_EVENT_ON);
        write_textfile(&d);

        log_info("Monitoring %zu tunnel%s (%s), every %.3gs%s.", d.m->n_tunnels, d.m->n_tunnels == 1 ? "" : "s",
                 cfg->units[0], (double) cfg->monitor.interval / USEC_PER_SEC, dry_run ? ", dry run" : "");
        (void) sd_notify(false, "READY=1");
        notify_status(&d);

        r = sd_event_loop(e);
        ret = r < 0 ? RTUN_EXIT_FAILURE : RTUN_EXIT_OK;
        save_state(&d, true);
finish:
        d.http = http_server_free(d.http);
        for (size_t i = 0; i < ELEMENTSOF(d.unit_signals); i++)
                sd_bus_slot_unref(d.unit_signals[i]);
        sd_event_source_disable_unref(d.round_timer);
        sd_event_source_disable_unref(d.refresh_soon);
        sd_event_source_disable_unref(d.bus_teardown);
        sd_event_source_disable_unref(d.bus_retry);
        monitor_free(d.m); /* cancels probes: their ssh children are killed and reaped */
        return ret;
}
