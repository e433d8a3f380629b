/* `check` and `status`: one round on the loop (round.c), then exit with the contract's code. The run is a
 * sweep over every tunnel, a failing one probed again about a second apart until it has its verdict, so
 * one run is one verdict; check then restarts what the guard lets through, sweeps what it restarted, and
 * waits a while for the alerts to go out. */
#include <time.h>

#include "../exporters/alert.h"
#include "base/log.h"
#include "oneshot.h"
#include "round.h"
#include "status_print.h"

#define ALERT_DRAIN_TIMEOUT (15 * USEC_PER_SEC)

static const round_mode check_mode = { .name = "check", .reprobe = true, .heal = true };
static const round_mode status_mode = { .name = "status", .reprobe = true };

typedef enum phase {
        PHASE_PROBE,   /* every tunnel's verdict; then (check) the guard, and the restarts until they end */
        PHASE_VERIFY,  /* restarted tunnels probed until they answer or their grace is spent */
        PHASE_ALERTS,  /* waiting for receivers */
        PHASE_DONE,
} phase;

typedef struct oneshot {
        round *round;
        phase phase;
        bool advancing;
        sd_event_source *drain_deadline;
        usec_t drain_until;        /* CLOCK_MONOTONIC end of the alert drain */
} oneshot;

/* Nothing in flight, and nothing due before the drain deadline: what is left waits for the next run. */
static bool alerts_idle(const oneshot *o) {
        const round *r = o->round;
        for (size_t i = 0; i < r->n_senders; i++) {
                alert_sender *s = r->senders[i];
                if (!alert_sender_idle(s))
                        return false;
                if (alert_sender_pending(s) > 0 && alert_sender_next_due(s) <= o->drain_until)
                        return false;
        }
        return true;
}

static void finish(oneshot *o) {
        o->phase = PHASE_DONE;
        sd_event_exit(o->round->event, 0);
}

static int on_drain_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        finish(userdata);
        return 0;
}

static bool any_restarted(const monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->verify)
                        return true;
        return false;
}

/* One move of the run once nothing is in flight; false: wait for the loop. */
static bool step(oneshot *o) {
        round *r = o->round;

        switch (o->phase) {
        case PHASE_PROBE:
                if (!r->mode->heal) {
                        finish(o);
                        return false;
                }
                o->phase = PHASE_VERIFY;
                if (any_restarted(r->m))
                        round_sweep(r, SWEEP_VERIFY);
                return true;
        case PHASE_VERIFY:
                o->phase = PHASE_ALERTS;
                monitor_flush_events(r->m); /* the verification's recovered */
                o->drain_until = now_usec(CLOCK_MONOTONIC) + ALERT_DRAIN_TIMEOUT;
                return true;
        case PHASE_ALERTS:
                if (alerts_idle(o))
                        finish(o);
                else if (!o->drain_deadline &&
                         sd_event_add_time(r->event, &o->drain_deadline, CLOCK_MONOTONIC, o->drain_until, 0,
                                           on_drain_deadline, o) < 0)
                        finish(o);
                return false; /* the senders move on from the loop: on_loop_iteration looks again */
        case PHASE_DONE:
                break;
        }
        return false;
}

static void advance(oneshot *o) {
        if (o->advancing)
                return; /* what a step starts may call back into here: the loop below looks again */
        o->advancing = true;
        while (!round_busy(o->round) && step(o))
                ;
        o->advancing = false;
}

static void on_progress(round *r, void *userdata) {
        advance(userdata);
}

static void on_healed(round *r, tunnel *t, void *userdata) {
        t->verify = true; /* restarted in this run (or tried): looked at again before the run ends */
}

static int on_loop_iteration(sd_event_source *s, void *userdata) {
        oneshot *o = userdata;
        if (o->phase == PHASE_ALERTS)
                advance(o);
        return 0;
}

static int connect_and_discover(round *r, void *userdata) {
        return monitor_connect_bus(r->m) < 0 ? -ENOTCONN : monitor_refresh(r->m, true);
}

/* The round: discover, resolve, probe, decide, heal, report. Returns the exit code. */
static int run(oneshot *o, round *r, bool json) {
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *post = NULL;
        usec_t started = now_usec(CLOCK_MONOTONIC);
        int k;

        *o = (oneshot) { .round = r };
        r->hooks = (round_hooks) { .healed = on_healed, .progress = on_progress, .userdata = o };
        if (round_start(r, connect_and_discover, NULL) < 0)
                return RTUN_EXIT_NO_BUS;
        if (r->m->n_tunnels == 0)
                log_warning("No units match %s.", r->cfg->units[0]);
        /* Re-evaluate "is the run finished" after every loop iteration: alert senders finish on their own. */
        if (sd_event_add_post(r->event, &post, on_loop_iteration, o) < 0)
                return RTUN_EXIT_FAILURE;

        monitor_prefetch_tcp(r->m);
        round_sweep(r, SWEEP_HEAL);
        advance(o);
        if (o->phase != PHASE_DONE) {
                k = sd_event_loop(r->event);
                if (k < 0)
                        log_error_errno(k, "Event loop failed: %m");
        }
        r->m->round_duration = now_usec(CLOCK_MONOTONIC) - started;
        r->m->last_round_end = now_usec(CLOCK_REALTIME);

        round_save(r, true);
        round_write_textfile(r);
        status_print(r->m, json, stdout);
        return monitor_count_down(r->m) > 0 ? RTUN_EXIT_UNHEALTHY : RTUN_EXIT_OK;
}

int oneshot_run(const config *cfg, bool heal, bool dry_run, bool json) {
        _cleanup_(round_freep) round *r = NULL;
        oneshot o = {};

        /* status reports in its table; transitions it will not act on are no news for the journal. */
        if (!heal && log_get_max_level() < LOG_DEBUG)
                log_set_max_level(LOG_ERR);
        int k = round_new(heal ? &check_mode : &status_mode, cfg, dry_run, &r);
        if (k < 0)
                return k == -EBUSY ? RTUN_EXIT_USAGE : RTUN_EXIT_FAILURE;
        k = run(&o, r, json);
        o.drain_deadline = sd_event_source_disable_unref(o.drain_deadline);
        return k;
}
