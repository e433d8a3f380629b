/* `rtun-monitor audit`: every tunnel unit discovered and resolved as `status` does (the same discovery and
 * `ssh -G` as the unit's user on the loop), its identity files looked at, then host_audit() over them. */
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "host_audit.h"
#include "monitor.h"
#include "oneshot.h"
#include "round.h"

#define AUDIT_RESOLVE_TIMEOUT (60 * USEC_PER_SEC)

static bool any_resolving(const monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (tunnel_resolving(m->tunnels[i]))
                        return true;
        return false;
}

/* "~/x" is the unit's user's home, as ssh expands it; paths with ssh's %-tokens are left alone. Looked at
 * with that user's file-system identity: the path is the user's to name, root's reach is not theirs. */
mode_t host_audit_identity_mode(const run_identity *as, const char *path) {
        _cleanup_(freep) char *p = NULL;
        struct stat st;
        if (strchr(path, '%'))
                return (mode_t) -1;
        if (strncmp(path, "~/", 2) == 0) {
                if (asprintf(&p, "%s/%s", as && as->home[0] ? as->home : "/root", path + 2) < 0)
                        return (mode_t) -1;
        } else if (!(p = strdup(path)))
                return (mode_t) -1;
        bool sw = run_identity_differs(as) && geteuid() == 0;
        uid_t old_uid = sw ? (uid_t) setfsuid(as->uid) : 0;
        gid_t old_gid = sw ? (gid_t) setfsgid(as->gid) : 0;
        int k = stat(p, &st);
        if (sw) {
                (void) setfsgid(old_gid);
                (void) setfsuid(old_uid);
        }
        if (k < 0 || !S_ISREG(st.st_mode))
                return (mode_t) -1;
        return st.st_mode;
}

static int print_findings(const host_audit_findings *a, bool json) {
        if (json) {
                json_t *j = host_audit_to_json(a);
                if (!j)
                        return log_oom();
                json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
                json_decref(j);
                return 0;
        }
        for (size_t i = 0; i < a->n; i++) {
                _cleanup_(freep) char *s = host_audit_format(&a->items[i]);
                if (!s)
                        return log_oom();
                printf("%s\n", s);
        }
        if (a->n == 0)
                printf("No findings.\n");
        return 0;
}

/* "UNIT: ..." is about unit. */
static bool entry_of(const char *e, const char *unit) {
        size_t n = strlen(unit);
        return strncmp(e, unit, n) == 0 && e[n] == ':';
}

void monitor_audit_log(monitor *m) {
        if (m->audited == m->resolutions + 1)
                return;
        _cleanup_(freep) host_audit_unit *u = calloc(m->n_tunnels + 1, sizeof *u);
        _cleanup_(strv_freep) char **now = NULL;
        _cleanup_(host_audit_findings_done) host_audit_findings a = {};
        mode_t **modes = calloc(m->n_tunnels + 1, sizeof *modes);
        size_t n = 0;
        bool ok = u && modes;

        for (size_t i = 0; ok && i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                if (!t->resolved)
                        continue;
                size_t k = strv_length(t->ssh.identity_files);
                if (!(modes[n] = calloc(k + 1, sizeof(mode_t)))) {
                        ok = false;
                        break;
                }
                for (size_t j = 0; j < k; j++)
                        modes[n][j] = host_audit_identity_mode(&t->as, t->ssh.identity_files[j]);
                u[n] = (host_audit_unit) { .unit = t->name, .restart = t->unit.restart, .ssh = &t->ssh,
                                           .identity_modes = modes[n] };
                n++;
        }
        ok = ok && host_audit(u, n, &a) >= 0;
        for (size_t i = 0; ok && i < a.n; i++) {
                if (a.items[i].severity < AUDIT_ERROR)
                        continue;
                _cleanup_(freep) char *line = host_audit_format(&a.items[i]);
                if (!line || strv_push(&now, line) < 0) {
                        ok = false;
                        break;
                }
                if (!strv_contains(m->audit_logged, line))
                        log_warning("audit: %s", line);
        }
        /* Kept: what was logged for units not resolved now (resolving): not news when they are back. */
        for (char **e = m->audit_logged; ok && e && *e; e++) {
                bool resolved_now = false;
                for (size_t i = 0; i < n && !resolved_now; i++)
                        resolved_now = entry_of(*e, u[i].unit);
                bool present = false;
                for (size_t i = 0; i < m->n_tunnels && !present; i++)
                        present = entry_of(*e, m->tunnels[i]->name);
                if (present && !resolved_now && !strv_contains(now, *e) && strv_push(&now, *e) < 0)
                        ok = false;
        }
        for (size_t i = 0; modes && i < n; i++)
                free(modes[i]);
        free(modes);
        if (!ok) {
                log_oom();
                return;
        }
        strv_free(m->audit_logged);
        m->audit_logged = TAKE_PTR(now);
        m->audited = m->resolutions + 1;
}

int host_audit_command(const config *cfg, bool json) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        monitor *m = NULL;
        int r, ret = RTUN_EXIT_FAILURE;

        round_block_signals(false);
        if (sd_event_new(&e) < 0 || monitor_new(cfg, true, e, &m) < 0)
                return log_oom(), RTUN_EXIT_FAILURE;
        if (monitor_connect_bus(m) < 0) {
                monitor_free(m);
                return RTUN_EXIT_NO_BUS;
        }
        r = monitor_refresh(m, true);
        if (r < 0) {
                monitor_free(m);
                return RTUN_EXIT_NO_BUS;
        }
        usec_t until = now_usec(CLOCK_MONOTONIC) + AUDIT_RESOLVE_TIMEOUT;
        while (any_resolving(m) && now_usec(CLOCK_MONOTONIC) < until)
                if (sd_event_run(e, 1 * USEC_PER_SEC) < 0)
                        break;

        host_audit_unit *u = calloc(m->n_tunnels + 1, sizeof *u);
        mode_t **modes = calloc(m->n_tunnels + 1, sizeof *modes);
        _cleanup_(host_audit_findings_done) host_audit_findings a = {};
        if (!u || !modes)
                goto oom;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                const ssh_resolved *s = t->resolved ? &t->ssh : NULL;
                size_t n = s ? strv_length(s->identity_files) : 0;
                if (!(modes[i] = calloc(n + 1, sizeof(mode_t))))
                        goto oom;
                for (size_t k = 0; k < n; k++)
                        modes[i][k] = host_audit_identity_mode(&t->as, s->identity_files[k]);
                u[i] = (host_audit_unit) {
                        .unit = t->name,
                        .restart = t->unit.restart,
                        .ssh = s,
                        .resolve_error = t->resolve_error ?: (tunnel_resolving(t) ? "ssh -G did not answer" : NULL),
                        .identity_modes = modes[i],
                };
        }
        if (host_audit(u, m->n_tunnels, &a) < 0 || print_findings(&a, json) < 0)
                goto oom;
        ret = host_audit_fail(&a) ? RTUN_EXIT_UNHEALTHY : RTUN_EXIT_OK;
        goto done;
oom:
        log_oom();
done:
        for (size_t i = 0; modes && i < m->n_tunnels; i++)
                free(modes[i]);
        free(modes);
        free(u);
        monitor_free(m);
        return ret;
}
