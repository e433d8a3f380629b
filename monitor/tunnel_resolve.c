/* A tunnel's unit resolved into what ssh will do: ExecStart expanded like systemd does, then `ssh -G`. */
#include <stdarg.h>

#include "base/log.h"
#include "monitor.h"
#include "unit_env.h"

#define RESOLVE_TIMEOUT (5 * USEC_PER_SEC)

static bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);
        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

/* Why the tunnel has no resolution, as status shows it (NULL when out of memory). */
_printf_(2, 3) static void set_resolve_error(tunnel *t, const char *fmt, ...) {
        va_list ap;
        free(t->resolve_error);
        va_start(ap, fmt);
        if (vasprintf(&t->resolve_error, fmt, ap) < 0)
                t->resolve_error = NULL;
        va_end(ap);
}

/* ExecStart as systemd will run it: Environment= and EnvironmentFile= variables substituted. */
static int expand_exec(const unit_info *u, char ***ret, char *err, size_t errlen) {
        _cleanup_(strv_freep) char **env = NULL;
        int r;

        for (char **e = u->environment; e && *e; e++)
                if (strv_push(&env, *e) < 0)
                        return -ENOMEM;
        for (char **f = u->environment_files; f && *f; f++) {
                bool graceful = **f == '-';
                r = unit_env_read_file(*f + graceful, &env);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !graceful) {
                        snprintf(err, errlen, "cannot read EnvironmentFile %s: %s", *f, read_file_strerror(r));
                        return r;
                }
        }
        return unit_argv_expand(u->exec_argv, env, ret);
}

bool resolution_current(char *const *resolved_argv, usec_t resolved_start, char *const *argv, pid_t main_pid,
                        usec_t started_at) {
        /* A unit not running keeps what it has until it starts; a running one, only for the same process. */
        return resolved_argv && argv && strv_equal(resolved_argv, argv) && (main_pid <= 0 || started_at == resolved_start);
}

/* t->ssh is set: picks the forward to probe; the tunnel is resolved, or says why not. */
static void resolve_apply(tunnel *t) {
        const char *spec = t->tcfg ? t->tcfg->forward : NULL;
        t->forward = ssh_resolved_find_forward(&t->ssh, spec);
        if (!t->forward) {
                if (spec)
                        set_resolve_error(t, "no -R forward %s in ExecStart", spec);
                else
                        set_resolve_error(t, "no -R forward in ExecStart");
                return;
        }
        ssh_forward_format(t->forward, t->forward_label, sizeof t->forward_label);
        t->resolve_error = mfree(t->resolve_error);
        t->resolved = true;
        t->monitor->resolutions++;
        if (tunnel_forwards_rebuild(t) < 0)
                log_oom(); /* the tunnel's own forward is still probed; the others wait for the next resolution */
        log_debug("%s: bastion %s, forward %s, control path %s", t->name, t->ssh.bastion, t->forward_label,
                  strna(t->ssh.control_path));
}

/* A first resolution from an earlier run, when it was made for this very command line and process.
 * Takes *argv (the cache key) when it does. */
static bool resolve_from_seed(tunnel *t, char ***argv, const resolve_seed *seeds, size_t n_seeds) {
        for (size_t i = 0; i < n_seeds; i++) {
                const resolve_seed *s = &seeds[i];
                if (!streq(s->name, t->name))
                        continue;
                /* An earlier run's word, by the rule of a kept one: the same process, or a unit not running now
                 * (what it has serves until it starts: no `ssh -G` per stopped unit and run, F12). */
                if (!resolution_current(s->argv, s->started_at, *argv, t->unit.main_pid, t->unit.started_at))
                        return false;
                ssh_resolved r = {};
                if (ssh_resolved_parse(s->ssh_g, &r, NULL, 0) < 0) {
                        ssh_resolved_done(&r);
                        return false;
                }
                t->ssh = r;
                t->resolved_for_argv = TAKE_PTR(*argv);
                t->resolved_for_start = s->started_at;
                resolve_apply(t);
                return true;
        }
        return false;
}

/* A timed-out `ssh -G` is tried again this long after: the next discovery after it does. */
#define RESOLVE_RETRY (30 * USEC_PER_SEC)

/* Many units at once (a check over 200 tunnels): up to RESOLVE_PARALLEL `ssh -G` run side by side. */
#define RESOLVE_PARALLEL 32

/* Step 1: decides whether t needs `ssh -G` again and, if so, asks for it (t->resolve_wanted). */
static void resolve_begin(monitor *m, tunnel *t) {
        _cleanup_(strv_freep) char **argv = NULL;
        char err[256] = "";

        if (tunnel_probing(t)) {
                t->resolve_recheck = true; /* its requests point into t->ssh: looked at once the probe is in */
                return;
        }
        if (!streq_ptr(t->unit.load_state, "loaded")) {
                snprintf(err, sizeof err, "unit not loaded (%s%s%s)", strna(t->unit.load_state),
                         t->unit.load_error ? ": " : "", strempty(t->unit.load_error));
        } else if (!t->unit.exec_path || !exec_is_ssh(t->unit.exec_path, t->unit.exec_argv)) {
                snprintf(err, sizeof err, "ExecStart is not an ssh command");
        } else if (expand_exec(&t->unit, &argv, err, sizeof err) < 0 && !*err)
                snprintf(err, sizeof err, "out of memory");

        bool same = !*err && resolution_current(t->resolved_for_argv, t->resolved_for_start, argv, t->unit.main_pid,
                                                t->unit.started_at);
        /* An error is the process's for good (not an ssh command, no such user), but for a timeout: retried. */
        bool retry = t->resolve_error && t->resolve_retry_at != 0 && now_usec(CLOCK_MONOTONIC) >= t->resolve_retry_at;
        if (same && !retry && (t->resolved || t->resolve_error || t->resolving || t->resolve_wanted))
                return;
        t->resolve_retry_at = 0;

        tunnel_resolve_cancel(m, t); /* asked for a command line or process that is no longer there */
        ssh_resolved_done(&t->ssh);
        for (size_t i = 0; i < t->n_forwards; i++)
                t->forwards[i].fwd = NULL; /* kept for their health until the next resolution: labels only */
        t->resolved = false;
        t->forward = NULL;
        t->forward_label[0] = 0;
        strv_free(t->resolved_for_argv);
        t->resolved_for_argv = NULL;
        t->resolve_error = mfree(t->resolve_error);
        if (*err) {
                set_resolve_error(t, "%s", err);
                return;
        }
        int r = run_identity_for_user(t->unit.user, &t->as);
        if (r < 0) {
                snprintf(err, sizeof err, "the unit's User=%s cannot be looked up here: %s", strna(t->unit.user),
                         r == -ESRCH ? "no such user" : strerror(-r));
                set_resolve_error(t, "%s", err);
                return;
        }
        if (resolve_from_seed(t, &argv, m->seeds, m->n_seeds))
                return;
        t->resolved_for_argv = TAKE_PTR(argv);
        t->resolved_for_start = t->unit.main_pid > 0 ? t->unit.started_at : 0;
        t->resolve_wanted = true;
}

static void resolve_pump(monitor *m);

/* Step 2, on the loop: t's `ssh -G` answered, failed or ran out of time. */
static void on_resolved(ssh_resolve_job *j, int r, ssh_resolved *resolved, const char *err, void *userdata) {
        tunnel *t = userdata;
        monitor *m = t->monitor;

        ssh_resolve_job_free(j);
        t->resolving = NULL;
        m->resolves_running--;
        if (r < 0) {
                set_resolve_error(t, "ssh -G failed: %s", *err ? err : strerror(-r));
                if (r == -ETIMEDOUT)
                        t->resolve_retry_at = now_usec(CLOCK_MONOTONIC) + RESOLVE_RETRY;
        } else {
                t->ssh = *resolved;
                resolve_apply(t);
        }
        resolve_pump(m);
        /* A probe asked for while it resolved runs now, on what it resolved to. */
        if (t->probe_deferred) {
                t->probe_deferred = false;
                monitor_probe_deferred(m, t);
        }
        if (m->on_resolved)
                m->on_resolved(m, t, m->userdata);
}

static void resolve_start(monitor *m, tunnel *t) {
        char err[256] = "";

        t->resolve_wanted = false;
        int r = ssh_resolve_start_as(t->unit.exec_path, t->resolved_for_argv, &t->as, &t->resolving, err, sizeof err);
        if (r >= 0) {
                r = ssh_resolve_watch(t->resolving, m->event, now_usec(CLOCK_MONOTONIC) + RESOLVE_TIMEOUT, on_resolved, t);
                if (r < 0) {
                        ssh_resolve_job_free(TAKE_PTR(t->resolving));
                        snprintf(err, sizeof err, "cannot watch it: %s", strerror(-r));
                }
        }
        if (r < 0) {
                set_resolve_error(t, "ssh -G failed: %s", *err ? err : strerror(-r));
                return;
        }
        m->resolves_running++;
}

/* Starts wanted resolutions while fewer than RESOLVE_PARALLEL run. */
static void resolve_pump(monitor *m) {
        for (size_t i = 0; i < m->n_tunnels && m->resolves_running < RESOLVE_PARALLEL; i++)
                if (m->tunnels[i]->resolve_wanted) {
                        resolve_start(m, m->tunnels[i]);
                        /* A tunnel that could not start cannot be probed on a resolution: its probe runs now. */
                        if (!m->tunnels[i]->resolving && m->tunnels[i]->probe_deferred) {
                                m->tunnels[i]->probe_deferred = false;
                                monitor_probe_deferred(m, m->tunnels[i]);
                        }
                }
}

void tunnel_resolve_cancel(monitor *m, tunnel *t) {
        if (t->resolving) {
                ssh_resolve_job_free(TAKE_PTR(t->resolving));
                m->resolves_running--;
        }
        t->resolve_wanted = false;
}

bool tunnel_resolving(const tunnel *t) {
        return t->resolving || t->resolve_wanted;
}

tunnel_state tunnel_shown_state(const tunnel *t) {
        /* Not probed yet, or `ssh -G` runs for a new process: nothing is known yet of what runs now. */
        tunnel_state s = t->probed && !tunnel_resolving(t) ? t->last_verdict.state : TUNNEL_UNKNOWN;
        return s >= 0 && s < _TUNNEL_STATE_MAX ? s : TUNNEL_UNKNOWN;
}

void tunnel_resolve_recheck(monitor *m, tunnel *t) {
        if (!t->resolve_recheck || tunnel_probing(t))
                return;
        t->resolve_recheck = false;
        resolve_begin(m, t);
        resolve_pump(m);
}

void tunnels_resolve(monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                resolve_begin(m, m->tunnels[i]);
        resolve_pump(m);
}
