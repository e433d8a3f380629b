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
        resolve_seed *seeds;   /* the tunnels' resolutions, for the first discovery */
        size_t n_seeds;
} saved_state;

/* Directory of the state file: $STATE_DIRECTORY (systemd's StateDirectory=) or /var/lib/rtun-monitor. */
const char *state_file_path(void);

/* A missing file is an empty state; a corrupt one is reported once (warning) and treated as empty. */
int saved_state_load(const char *path, saved_state *ret);
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

/* Writes m's tunnels and guard plus the given pending alerts (borrowed, may be NULL). */
int saved_state_write(const char *path, const monitor *m, json_t *alerts);

/* Undelivered alerts of every receiver into arr (check mode persists them), and back into the senders
 * of the receivers with the same name on the next run. */
int saved_alerts_collect(const monitor *m, json_t *arr);
void saved_alerts_restore(monitor *m, json_t *arr);
