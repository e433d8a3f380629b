/* Discovery of tunnel units over D-Bus: ListUnitsByPatterns, then one GetAll per unit. */
#pragma once

#include <systemd/sd-bus.h>

#include "tunnel.h"

typedef struct unit_info {
        char *name;                 /* "reverse-ssh@bastion-us.example.com.service" */
        char *object_path;
        char *load_state;           /* "loaded", "not-found", "error", "bad-setting", "masked" */
        char *load_error;           /* LoadError message when not loaded, else NULL */
        unit_active_state active_state; /* an inactive unit with a start job queued reads as activating */
        char *sub_state;            /* "running", "auto-restart", ... */
        bool start_pending;         /* a start or restart job is queued */
        bool details_skipped;       /* only the listing's fields are filled (see discover_units) */
        char *result;               /* Service.Result: "success", "start-limit-hit", "exit-code", ... */
        char *user;                 /* Service.User (User=); NULL: root, systemd's default */
        char *restart;              /* Service.Restart (Restart=): "always", "on-failure", "no", ... */
        pid_t main_pid;             /* 0: none */
        uint32_t n_restarts;        /* systemd's own NRestarts */
        usec_t started_at;          /* ExecMainStartTimestamp (realtime usec), 0: never */
        char *exec_path;            /* ExecStart[0] path; NULL if the unit has no ExecStart */
        char **exec_argv;           /* ExecStart[0] argv (strv), "${VAR}" not yet expanded */
        char **environment;         /* Environment= assignments (strv "KEY=VALUE") */
        char **environment_files;   /* EnvironmentFile= paths; a leading '-' means "may be missing" */
} unit_info;

void unit_info_done(unit_info *u);
void unit_info_free_array(unit_info *u, size_t n);

/* Lists units matching patterns (all load states) and fills their properties. Each D-Bus call has
 * timeout. Returns the number of units (>= 0) or a negative errno (logged).
 * want_details (may be NULL: always) says, from what ListUnitsByPatterns showed, whether a unit needs its
 * Service properties (MainPID, ExecStart, ...) fetched; units it declines come back with
 * details_skipped set and only name, path, load/active/sub state and start_pending filled. */
typedef bool (*discover_want_details_t)(const unit_info *listed, void *userdata);
int discover_units(sd_bus *bus, char *const *patterns, usec_t timeout, discover_want_details_t want_details,
                   void *userdata, unit_info **ret);
/* The same without blocking: the calls go out at once and done() runs on the loop when the last reply is
 * in, with the units (owned by done, like discover_units' array; NULL and r < 0 on failure). The job is
 * the caller's to free, in done() or later (freeing it earlier cancels the calls, done() is not called). */
typedef struct discover_job discover_job;
typedef void (*discover_done_t)(discover_job *j, int r, unit_info *units, size_t n, void *userdata);
int discover_units_async(sd_bus *bus, char *const *patterns, usec_t timeout, discover_want_details_t want_details,
                         void *want_userdata, discover_done_t done, void *userdata, discover_job **ret);
discover_job *discover_job_free(discover_job *j);
/* Moves what a listing-only entry does not carry (the Service properties) from old into u. */
void unit_info_keep_details(unit_info *u, unit_info *old);
