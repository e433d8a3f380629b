/* What `check` remembers between timer runs: each tunnel's health (failure counts, restart history,
 * backoff, what was announced), the all-down guard, undelivered alerts. JSON, written atomically. */
#pragma once

#include <jansson.h>

#include "monitor.h"

typedef struct saved_tunnel {
        char *name;
        tunnel_health health;
} saved_tunnel;

typedef struct saved_state {
        saved_tunnel *tunnels;
        size_t n_tunnels;
        guard_state guard;
        json_t *alerts;        /* array of undelivered alert events, owned; NULL when none */
        json_t *tunnels_json;  /* the "tunnels" object as read, owned */
        char **audit_logged;   /* the audit's errors an earlier run logged */
        resolve_seed *seeds;   /* the tunnels' resolutions, for the first discovery */
        size_t n_seeds;
} saved_state;

/* The state of thousands of tunnels (about 1-4 KiB each with its resolution) and their pending alerts
 * fits; a bigger file is not ours (or is a runaway) and is neither read nor written. */
#define STATE_FILE_MAX (16 * 1024 * 1024)
/* A `check` waits this long for another `check` (a hand run beside the timer's) to finish. */
#define STATE_LOCK_WAIT (120 * USEC_PER_SEC)

/* The state file, in $STATE_DIRECTORY (systemd's StateDirectory=) or /var/lib/rtun-monitor: a new string,
 * NULL when out of memory. */
char *state_file_path(void);

/* An exclusive flock(2) on STATE.lock (0600, never a symlink) held for a whole read-modify-write of the
 * state (`check`: the run; `daemon`: its lifetime), so two runs never lose each other's updates. holder
 * ("check", "daemon") is written in the lock file for the message of whoever waits. Waits up to wait
 * for another check (not for a daemon). Returns the fd to close to release (O_CLOEXEC: probes' children
 * never hold it); -EBUSY when someone else holds it (logged as an error); another -errno when the lock
 * file cannot be used (logged as a warning: go on without it, as without a writable state). */
int state_lock(const char *state_path, const char *holder, usec_t wait);

/* Read without following a symlink and at most STATE_FILE_MAX bytes. A missing file is an empty state; a corrupt one is reported once (warning) and treated as empty. */
int saved_state_load(const char *path, saved_state *ret);
/* The same on the file's contents (size bytes), path naming it in messages: what the loader does after
 * reading, and the fuzzer's entry point. */
int saved_state_parse(const char *path, const char *data, size_t size, saved_state *ret);
void saved_state_done(saved_state *s);
const tunnel_health *saved_state_find(const saved_state *s, const char *name);

/* Pure conversions, unit-tested. */
json_t *health_to_json(const tunnel_health *h);
int health_from_json(json_t *o, tunnel_health *ret);
/* A resolved tunnel's resolution ({"argv": [...], "started_at": N, "ssh": "ssh -G lines"}); NULL when
 * there is none to keep. from_json: -EINVAL when o is not one (the seed is then simply not used). */
json_t *resolution_to_json(const tunnel *t);
int resolution_from_json(json_t *o, const char *name, resolve_seed *ret);
void resolve_seed_done(resolve_seed *s);
/* The entries of units that no pattern of monitor.units matches (a run with other --monitor.units
 * wrote them): kept in m->other_units_state and written back as found, so a narrower run loses no
 * other tunnel's restart budget. A new object; NULL when there are none. */
json_t *state_entries_outside(json_t *tunnels, char *const *patterns);

/* Writes m's tunnels and guard plus the given pending alerts (borrowed, may be NULL), atomically and
 * 0600. Logs its errors. */
int saved_state_write(const char *path, const monitor *m, json_t *alerts);

/* Undelivered alerts of every sender into arr (to be persisted), and back into the senders of the
 * receivers with the same name on the next run. */
struct alert_sender;
int saved_alerts_collect(struct alert_sender *const *senders, size_t n_senders, json_t *arr);
void saved_alerts_restore(struct alert_sender *const *senders, size_t n_senders, json_t *arr);
