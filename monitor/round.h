/* The round, driven one way for check, status and daemon (design.md "The flow"): discover, resolve,
 * probe, decide, heal, report. What differs between the modes is the data of their round_mode; what
 * they add beside the round (the daemon's timers, sd_notify and HTTP server; check's phases and alert
 * drain) hangs on round_hooks. */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "monitor.h"

typedef struct round_mode {
        const char *name;      /* "check", "status", "daemon": the state lock's holder */
        bool forever;          /* runs until SIGTERM/SIGINT, which the loop takes (the daemon, whose timers
                                * probe); else one round, then exit */
        bool reprobe;          /* a failing tunnel is probed again, about a second apart, until it has its
                                * verdict within the run (contract.md: one run gives one verdict per tunnel);
                                * each attempt re-discovers first, blocking: for runs that end */
        bool heal;             /* restart what is dead, alert, keep the state; false: look only (status) */
} round_mode;

typedef enum sweep_kind {
        SWEEP_HEAL,            /* every tunnel's verdict made fresh, then the all-down guard and the restarts */
        SWEEP_VERIFY,          /* the tunnels marked verify (restarted in this run), until each answers or its
                                * grace is spent; nothing is restarted afterwards */
} sweep_kind;

typedef struct round round;

/* What the mode does beside the round; any may be NULL. */
typedef struct round_hooks {
        void (*probed)(round *r, tunnel *t, void *userdata); /* a probe landed and the round acted on it */
        void (*healed)(round *r, tunnel *t, void *userdata); /* a restart job ended (either way) */
        void (*progress)(round *r, void *userdata);          /* anything ended: a probe, a restart, a
                                                              * resolution, a sweep (see round_busy) */
        void *userdata;
} round_hooks;

struct round {
        const round_mode *mode;
        const config *cfg;
        sd_event *event;
        monitor *m;
        char *state_path;
        int state_lock_fd;             /* < 0: none held */
        struct alert_sender **senders; /* one per configured receiver, same order as cfg->alerts */
        const struct alert_counters **counters; /* the senders', lent to m for the reports */
        size_t n_senders;
        round_hooks hooks;

        bool sweeping;
        sweep_kind sweep;
        sd_event_source *tick;         /* reprobe: the next attempts of a sweep, a second later */
        sd_event_source *launcher;     /* launches queued probes as slots free up */
        bool launching;
};

/* Blocks the signals the loop handles (SIGCHLD for probes' children; SIGTERM and SIGINT when it runs
 * forever), takes the state lock (modes that heal), sets up the monitor and one alert sender per receiver,
 * and connects the monitor's event sink to them (modes that heal). -EBUSY: someone else holds the state
 * (logged); other errors are logged too. */
/* The mask every loop of ours runs with: SIGCHLD (and, forever, SIGTERM and SIGINT) blocked for the loop to
 * take, SIGPIPE ignored. round_new calls it; the bastion role's loop too. */
void round_block_signals(bool forever);
int round_new(const round_mode *mode, const config *cfg, bool dry_run, round **ret);
round *round_free(round *r);
static inline void round_freep(round **r) {
        round_free(*r);
}

/* What the last run left is loaded; connect (the mode's way onto the bus, and the first discovery) runs
 * with the saved resolutions standing in for `ssh -G`; then the tunnels' health, the all-down guard and,
 * in modes that heal, undelivered alerts are restored. Returns connect's error (systemd not reachable). */
int round_start(round *r, int (*connect)(round *r, void *userdata), void *userdata);

/* Probes the tunnels of a sweep, a few at a time, and, when every verdict is in (with mode->reprobe:
 * each failing tunnel probed again until it has one), for SWEEP_HEAL in modes that heal: the all-down
 * guard over all verdicts, then the restarts it lets through. */
void round_sweep(round *r, sweep_kind kind);
/* Something is in flight: a sweep, a probe, a restart, a resolution. */
bool round_busy(const round *r);

/* Health, the guard and (with_alerts) undelivered alerts into the state file; the alerts kept there leave
 * the senders (the next run sends them). Only modes that heal keep state. */
void round_save(round *r, bool with_alerts);
/* The node_exporter textfile (metrics.textfile), if configured. */
void round_write_textfile(round *r);

/* The pure rules of the driver, unit-tested. */
typedef enum round_step {
        ROUND_STEP_GUARD,      /* nothing to restart: the guard only looks (an all-down spell may be over) */
        ROUND_STEP_SWEEP,      /* probe every other tunnel first: if all fail, the local network is suspect */
        ROUND_STEP_HEAL,       /* guard, then restart */
} round_step;
/* After a probe outside a sweep: what the round does next. */
round_step round_next_step(bool restart_wanted, bool all_down_guard, size_t n_tunnels, bool dry_run);
/* Does t need another probe before it has this sweep's verdict (reprobe)? verify: a SWEEP_VERIFY. */
bool round_wants_another_probe(const tunnel *t, bool verify);
