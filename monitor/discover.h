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
        char *result;               /* Service.Result: "success", "start-limit-hit", "exit-code", ... */
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
 * timeout. Returns the number of units (>= 0) or a negative errno (logged). */
int discover_units(sd_bus *bus, char *const *patterns, usec_t timeout, unit_info **ret);
