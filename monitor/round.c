/* The round's setup and its reports, written once for every mode: the signal mask, the state lock, the
 * alert senders behind the event sink, what the last run left (load, restore, save), the textfile. */
#include <signal.h>
#include <time.h>

#include "../exporters/alert.h"
#include "../exporters/metrics.h"
#include "../exporters/textfile.h"
#include "base/log.h"
#include "host_audit.h"
#include "round.h"
#include "round_internal.h"
#include "state_file.h"

/* The sink of modes that heal: every event goes to every receiver (each filters on its own events). */
static void send_alerts(const monitor *m, const monitor_event *e, void *userdata) {
        round *r = userdata;
        alert_event ev;

        alert_event_from_monitor(m, e, &ev);
        for (size_t i = 0; i < r->n_senders; i++)
                (void) alert_sender_enqueue(r->senders[i], &ev);
}

/* Probes spawn ssh (sd_event_add_child wants SIGCHLD blocked first); the daemon ends on SIGTERM or
 * SIGINT, taken from the loop (signalfd) too. A receiver that hangs up must not kill us: SIGPIPE ignored. */
void round_block_signals(bool forever) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (forever) {
                sigaddset(&mask, SIGTERM);
                sigaddset(&mask, SIGINT);
        }
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static int senders_new(round *r) {
        const config *cfg = r->cfg;

        r->senders = calloc(cfg->n_alerts + 1, sizeof *r->senders);
        r->counters = calloc(cfg->n_alerts + 1, sizeof *r->counters);
        if (!r->senders || !r->counters)
                return log_oom();
        for (size_t i = 0; i < cfg->n_alerts; i++) {
                int k = alert_sender_new(r->event, &cfg->alerts[i], &r->senders[i]);
                if (k < 0)
                        return log_error_errno(k, "Failed to set up alert receiver %s: %m", cfg->alerts[i].name);
                r->counters[r->n_senders++] = alert_sender_counters(r->senders[i]);
        }
        r->m->alert_counters = r->counters;
        r->m->n_alert_counters = r->n_senders;
        if (r->mode->heal) {
                r->m->sink = send_alerts;
                r->m->sink_userdata = r;
        }
        return 0;
}

int round_new(const round_mode *mode, const config *cfg, bool dry_run, round **ret) {
        _cleanup_(round_freep) round *r = calloc(1, sizeof *r);
        int k;

        if (!r)
                return log_oom();
        *r = (round) { .mode = mode, .cfg = cfg, .state_lock_fd = -1 };
        round_block_signals(mode->forever);
        k = sd_event_default(&r->event);
        if (k < 0)
                return log_error_errno(k, "Failed to create event loop: %m");
        r->state_path = state_file_path();
        if (!r->state_path)
                return log_oom();
        /* A mode that heals reads, changes and writes the state: a hand run of check beside the timer's (or
         * beside the daemon) must not lose updates. status only reads (the file is replaced atomically). */
        if (mode->heal) {
                r->state_lock_fd = state_lock(r->state_path, mode->name, STATE_LOCK_WAIT);
                if (r->state_lock_fd == -EBUSY)
                        return -EBUSY;
        }
        k = monitor_new(cfg, dry_run, r->event, &r->m);
        if (k < 0)
                return k;
        k = senders_new(r);
        if (k < 0)
                return k;
        round_listen(r);
        *ret = TAKE_PTR(r);
        return 0;
}

round *round_free(round *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->tick);
        sd_event_source_disable_unref(r->launcher);
        monitor_free(r->m); /* cancels probes: their ssh children are killed and reaped */
        for (size_t i = 0; r->senders && i < r->n_senders; i++)
                alert_sender_free(r->senders[i]);
        free(r->senders);
        free(r->counters);
        if (r->state_lock_fd >= 0)
                close(r->state_lock_fd);
        free(r->state_path);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

/* What the last run left, for tunnels that exist now and have not been probed yet. */
static void restore(round *r, saved_state *saved) {
        monitor *m = r->m;

        m->guard = saved->guard;
        m->audit_logged = TAKE_PTR(saved->audit_logged);
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                const tunnel_health *h = saved_state_find(saved, t->name);
                if (h) {
                        t->health = *h;
                        t->last_verdict.state = h->state;
                        tunnel_forwards_down_restore(t, json_object_get(json_object_get(saved->tunnels_json, t->name),
                                                                        "forwards_down"));
                }
        }
        if (r->mode->heal && saved->alerts)
                saved_alerts_restore(r->senders, r->n_senders, saved->alerts);
}

int round_start(round *r, int (*connect)(round *r, void *userdata), void *userdata) {
        _cleanup_(saved_state_done) saved_state saved = {};
        monitor *m = r->m;

        /* status reads it too (restart history for display, resolutions) but never writes it. */
        (void) saved_state_load(r->state_path, &saved);
        m->other_units_state = state_entries_outside(saved.tunnels_json, r->cfg->units);
        m->seeds = saved.seeds;
        m->n_seeds = saved.n_seeds;
        int k = connect(r, userdata);
        m->seeds = NULL;
        m->n_seeds = 0;
        if (k < 0)
                return k;
        restore(r, &saved);
        return 0;
}

/* Restart history and backoff survive a restart of the daemon and the gap between two checks (a crash loop
 * must not reset the restart budget), and so do alerts not delivered yet. */
void round_save(round *r, bool with_alerts) {
        _cleanup_(json_decrefp) json_t *alerts = NULL;

        if (!r->mode->heal)
                return;
        monitor_audit_log(r->m);
        if (with_alerts) {
                alerts = json_array();
                if (!alerts || saved_alerts_collect(r->senders, r->n_senders, alerts) < 0) {
                        log_warning("Undelivered alerts not saved: they are sent by this run or lost.");
                        json_decref(TAKE_PTR(alerts));
                }
        }
        if (saved_state_write(r->state_path, r->m, alerts) < 0) {
                log_warning("State not saved: the next run starts afresh.");
                return;
        }
        if (json_array_size(alerts) > 0) {
                log_notice("%zu undelivered alert(s) kept in %s for the next run.", json_array_size(alerts),
                           r->state_path);
                for (size_t i = 0; i < r->n_senders; i++)
                        alert_sender_discard(r->senders[i]);
        }
}

void round_write_textfile(round *r) {
        _cleanup_(freep) char *text = NULL;
        size_t len;

        if (!r->cfg->metrics_textfile)
                return;
        int k = metrics_render(r->m, &text, &len);
        if (k < 0) {
                log_warning_errno(k, "Failed to render metrics for %s: %m", r->cfg->metrics_textfile);
                return;
        }
        (void) textfile_write(r->cfg->metrics_textfile, text, len); /* logs its failure */
}
