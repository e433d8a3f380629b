/* The daemon: one sd-event loop owns the bus, every probe, the HTTP server, alert delivery and signals.
 * Its round is check's (round.c); what it adds: each tunnel's own fixed-rate probe timer, phases spread
 * over monitor.interval; discovery every interval and soon after systemd says units changed
 * (daemon_bus.c); sd_notify (READY=1, STATUS=, the watchdog) and /metrics. */
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "../exporters/http_server.h"
#include "../exporters/metrics.h"
#include "base/log.h"
#include "host_audit.h"
#include "daemon.h"
#include "daemon_bus.h"
#include "oneshot.h"
#include "round.h"

/* sd-event's default accuracy (250 ms) would stretch a 1 s interval by a quarter. */
#define TIMER_ACCURACY (1 * USEC_PER_MSEC)
/* Every round lists the units; their properties are read again only when systemd said they changed
 * (PropertiesChanged), their state or job moved, or every FULL_REFRESH_ROUNDS rounds as a safety net. */
#define FULL_REFRESH_ROUNDS 6

static const round_mode daemon_mode = { .name = "daemon", .forever = true, .heal = true };

typedef struct daemon_ctx {
        round *round;
        monitor *m;
        daemon_bus bus;
        sd_event_source *round_timer;
        unsigned rounds;
        http_server *http;
        size_t last_down;
        size_t last_n;
        bool last_bus;
        bool status_sent;
} daemon_ctx;

/* "Down" for STATUS= is what an operator would page on: not yet probed or starting is not down. */
static size_t count_down(const monitor *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->last_verdict.state == TUNNEL_DOWN ||
                    m->tunnels[i]->last_verdict.state == TUNNEL_FAILED)
                        n++;
        return n;
}

static void notify_status(daemon_ctx *d) {
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
        if (!tunnel_probing(t)) /* a probe slower than the interval: skip this slot */
                (void) monitor_probe(t->monitor, t);
        return 0;
}

static void schedule_probe(daemon_ctx *d, tunnel *t, usec_t delay) {
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
static void schedule_new(daemon_ctx *d) {
        monitor *m = d->m;
        size_t n = m->n_tunnels, k = 0;
        for (size_t i = 0; i < n; i++) {
                tunnel *t = m->tunnels[i];
                if (t->next_probe || tunnel_probing(t))
                        continue;
                usec_t spread = t->settings->interval * (k++) / (n ?: 1);
                schedule_probe(d, t, spread);
        }
}

/* A failed probe that outlived its next slot (timeout >= interval) had that slot skipped: probe again
 * now, or confirming the failure costs a whole extra interval beyond monitor.failures probes. */
static void catch_up_missed_slot(daemon_ctx *d, tunnel *t) {
        uint64_t next;

        if (t->last_probe.status == PROBE_OK || tunnel_probing(t) || t->healing || !t->next_probe ||
            sd_event_source_get_time(t->next_probe, &next) < 0)
                return;
        usec_t now = now_usec(CLOCK_MONOTONIC), began = now - MIN(t->last_probe.duration, now);
        if (next >= t->settings->interval && next - t->settings->interval > began)
                schedule_probe(d, t, 0);
}

static void on_probed(round *r, tunnel *t, void *userdata) {
        daemon_ctx *d = userdata;
        catch_up_missed_slot(d, t);
        notify_status(d);
}

static void on_healed(round *r, tunnel *t, void *userdata) {
        daemon_ctx *d = userdata;

        round_save(r, false);
        /* The probe must see the new MainPID and start time (grace): it waits for a discovery that starts
         * after this restart. A restarted ssh needs a moment to connect anyway; the grace keeps early
         * failures from counting. */
        t->probe_after_refresh = d->bus.refreshes + 1;
        if (!daemon_bus_refresh(&d->bus, false)) {
                t->probe_after_refresh = 0;
                schedule_probe(d, t, MIN(t->settings->interval, 1 * USEC_PER_SEC));
        }
        notify_status(d);
}

static void on_bus_connected(void *userdata) {
        daemon_ctx *d = userdata;
        schedule_new(d);
        notify_status(d);
}

/* A discovery on the loop ended: the round's report is written, and restarted tunnels are probed. */
static void on_refreshed(int r, unsigned number, usec_t duration, void *userdata) {
        daemon_ctx *d = userdata;
        monitor *m = d->m;

        if (r >= 0)
                schedule_new(d);
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (t->probe_after_refresh && (t->probe_after_refresh <= number || r < 0)) {
                        t->probe_after_refresh = 0;
                        schedule_probe(d, t, MIN(t->settings->interval, 1 * USEC_PER_SEC));
                }
        }
        m->round_duration = duration;
        m->last_round_end = now_usec(CLOCK_REALTIME);
        monitor_audit_log(m); /* only when a resolution changed */
        round_write_textfile(d->round);
        notify_status(d);
}

static void on_bus_changed(void *userdata) {
        notify_status(userdata);
}

static int on_round(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_ctx *d = userdata;

        /* The round ends in on_refreshed; without the bus, the probes' results are written now. */
        if (!daemon_bus_round(&d->bus, ++d->rounds % FULL_REFRESH_ROUNDS == 0)) {
                d->m->last_round_end = now_usec(CLOCK_REALTIME);
                round_write_textfile(d->round);
        }
        usec_t next = usec + d->round->cfg->monitor.interval;
        if (next <= now_usec(CLOCK_MONOTONIC))
                next = now_usec(CLOCK_MONOTONIC) + d->round->cfg->monitor.interval;
        (void) sd_event_source_set_time(s, next);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, exiting.", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* The loop's own: SIGTERM/SIGINT (blocked by round_new) and the watchdog (WatchdogSec=). */
static int watch_loop(sd_event *e) {
        if (sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL) < 0)
                return log_error_errno(EINVAL, "Failed to watch SIGTERM and SIGINT.");
        int r = sd_event_set_watchdog(e, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        else if (r > 0)
                log_debug("Watchdog enabled.");
        return 0;
}

static int connect_bus(round *r, void *userdata) {
        daemon_ctx *d = userdata;
        return daemon_bus_connect(&d->bus);
}

/* Once the tunnels are known: /metrics, the round timer, the first report, READY=1. */
static int serve(daemon_ctx *d) {
        const config *cfg = d->round->cfg;
        int r;

        if (!isempty_str(cfg->metrics_listen)) {
                web_config_loaded *web = NULL;
                if (cfg->metrics_web_config) {
                        char err[1024];
                        r = web_config_load(cfg->metrics_web_config, &web, err, sizeof err);
                        if (r == -ENOMEM)
                                return log_oom();
                        if (r < 0) {
                                log_error("%s", err);
                                return -EINVAL; /* changed since the configuration was read: still bad usage */
                        }
                }
                r = metrics_serve(d->round->event, cfg->metrics_listen, web, d->m, &d->http);
                if (r < 0)
                        return log_error_errno(r, "Failed to serve metrics on %s: %m", cfg->metrics_listen);
        }
        r = sd_event_add_time_relative(d->round->event, &d->round_timer, CLOCK_MONOTONIC, cfg->monitor.interval,
                                       TIMER_ACCURACY, on_round, d);
        if (r < 0)
                return log_error_errno(r, "Failed to add round timer: %m");
        (void) sd_event_source_set_enabled(d->round_timer, SD_EVENT_ON);
        round_write_textfile(d->round);

        log_info("Monitoring %zu tunnel%s (%s), every %.3gs%s.", d->m->n_tunnels, d->m->n_tunnels == 1 ? "" : "s",
                 cfg->units[0], (double) cfg->monitor.interval / USEC_PER_SEC, d->m->dry_run ? ", dry run" : "");
        (void) sd_notify(false, "READY=1");
        notify_status(d);
        return 0;
}

static int run(daemon_ctx *d) {
        if (watch_loop(d->round->event) < 0)
                return RTUN_EXIT_FAILURE;
        /* The saved resolutions stand in for `ssh -G` in the first discovery. */
        if (round_start(d->round, connect_bus, d) < 0)
                return RTUN_EXIT_NO_BUS;
        int k = serve(d);
        if (k == -EINVAL)
                return RTUN_EXIT_USAGE;
        if (k < 0)
                return RTUN_EXIT_FAILURE;
        int r = sd_event_loop(d->round->event);
        round_save(d->round, true);
        return r < 0 ? RTUN_EXIT_FAILURE : RTUN_EXIT_OK;
}

int daemon_run(const config *cfg, bool dry_run) {
        _cleanup_(round_freep) round *r = NULL;
        daemon_ctx d = {};

        /* The daemon owns the state file for as long as it runs: a `check` beside it is refused. */
        int k = round_new(&daemon_mode, cfg, dry_run, &r);
        if (k < 0)
                return k == -EBUSY ? RTUN_EXIT_USAGE : RTUN_EXIT_FAILURE;
        d = (daemon_ctx) { .round = r, .m = r->m };
        r->hooks = (round_hooks) { .probed = on_probed, .healed = on_healed, .userdata = &d };
        daemon_bus_init(&d.bus, r->m, &(daemon_bus_hooks) {
                .connected = on_bus_connected,
                .refreshed = on_refreshed,
                .bus_changed = on_bus_changed,
                .userdata = &d,
        });

        k = run(&d);
        d.http = http_server_free(d.http);
        daemon_bus_done(&d.bus);
        d.round_timer = sd_event_source_disable_unref(d.round_timer);
        return k;
}
