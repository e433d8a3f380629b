/* The host audit's checks over the units' resolutions, and its findings as text and JSON. Pure. */
#include <stdarg.h>
#include <strings.h>

#include "base/json_text.h"
#include "host_audit.h"

static const char *const host_audit_check_table[_HOST_AUDIT_CHECK_MAX] = {
        [HOST_AUDIT_NOT_RESOLVED] = "not_resolved",
        [HOST_AUDIT_LOCAL_PORT_SHARED] = "local_port_shared",
        [HOST_AUDIT_REMOTE_PORT_SHARED] = "remote_port_shared",
        [HOST_AUDIT_NO_EXIT_ON_FORWARD_FAILURE] = "no_exit_on_forward_failure",
        [HOST_AUDIT_NO_SERVER_ALIVE] = "no_server_alive",
        [HOST_AUDIT_HOST_KEY_UNPINNED] = "host_key_unpinned",
        [HOST_AUDIT_IDENTITY_INACCESSIBLE] = "identity_inaccessible",
        [HOST_AUDIT_IDENTITY_EXPOSED] = "identity_exposed",
        [HOST_AUDIT_NO_CONTROL_PATH] = "no_control_path",
        [HOST_AUDIT_RESTART_NOT_ALWAYS] = "restart_not_always",
};

DEFINE_STRING_TABLE_LOOKUP(host_audit_check, host_audit_check);

static const audit_severity check_severity[_HOST_AUDIT_CHECK_MAX] = {
        [HOST_AUDIT_NOT_RESOLVED] = AUDIT_WARNING,
        [HOST_AUDIT_LOCAL_PORT_SHARED] = AUDIT_ERROR,
        [HOST_AUDIT_REMOTE_PORT_SHARED] = AUDIT_ERROR,
        [HOST_AUDIT_NO_EXIT_ON_FORWARD_FAILURE] = AUDIT_WARNING,
        [HOST_AUDIT_NO_SERVER_ALIVE] = AUDIT_WARNING,
        [HOST_AUDIT_HOST_KEY_UNPINNED] = AUDIT_ERROR,
        [HOST_AUDIT_IDENTITY_INACCESSIBLE] = AUDIT_ERROR,
        [HOST_AUDIT_IDENTITY_EXPOSED] = AUDIT_ERROR,
        [HOST_AUDIT_NO_CONTROL_PATH] = AUDIT_WARNING,
        [HOST_AUDIT_RESTART_NOT_ALWAYS] = AUDIT_WARNING,
};

audit_severity host_audit_check_severity(host_audit_check c) {
        return (size_t) c < ELEMENTSOF(check_severity) ? check_severity[c] : AUDIT_ERROR;
}

_printf_(4, 5) static int add(host_audit_findings *out, const char *unit, host_audit_check check, const char *fmt, ...) {
        if (greedy_realloc((void **) &out->items, &out->allocated, out->n + 1, sizeof *out->items) < 0)
                return -ENOMEM;
        host_audit_finding f = { .check = check, .severity = host_audit_check_severity(check) };
        va_list ap;
        va_start(ap, fmt);
        f.message = vstrdupf(fmt, ap);
        va_end(ap);
        f.unit = strdup(strempty(unit));
        if (!f.message || !f.unit) {
                free(f.message);
                free(f.unit);
                return -ENOMEM;
        }
        out->items[out->n++] = f;
        return 0;
}

void host_audit_findings_done(host_audit_findings *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->items[i].unit);
                free(f->items[i].message);
        }
        free(f->items);
        *f = (host_audit_findings) {};
}

/* A local listener: -L or -D of unit u. */
typedef struct local_bind {
        size_t unit;
        const ssh_forward *f;
        const char *opt; /* "-L" or "-D" */
} local_bind;

/* Two binds clash when their ports match and their addresses may overlap: the same, or either a wildcard or
 * loopback ("localhost" binds both 127.0.0.1 and ::1). Distinct specific addresses can share a port. */
static bool binds_overlap(const ssh_forward *a, const ssh_forward *b) {
        static const char *const broad[] = { "localhost", "*", "0.0.0.0", "::", "127.0.0.1", "::1" };
        if (a->listen_port != b->listen_port)
                return false;
        if (strcasecmp(a->listen_host, b->listen_host) == 0)
                return true;
        bool ba = false, bb = false;
        for (size_t i = 0; i < ELEMENTSOF(broad); i++) {
                ba = ba || strcasecmp(a->listen_host, broad[i]) == 0;
                bb = bb || strcasecmp(b->listen_host, broad[i]) == 0;
        }
        return ba && bb;
}

static int check_local_ports(const host_audit_unit *u, size_t n, host_audit_findings *out) {
        _cleanup_(freep) local_bind *b = NULL;
        size_t nb = 0, cap = 0;
        for (size_t i = 0; i < n; i++) {
                const ssh_resolved *s = u[i].ssh;
                if (!s)
                        continue;
                size_t more = s->n_local_forwards + s->n_dynamic_forwards;
                if (nb + more > cap) {
                        cap = (nb + more) * 2;
                        local_bind *m = reallocarray(b, cap, sizeof *b);
                        if (!m)
                                return -ENOMEM;
                        b = m;
                }
                for (size_t k = 0; k < s->n_local_forwards; k++)
                        b[nb++] = (local_bind) { i, &s->local_forwards[k], "-L" };
                for (size_t k = 0; k < s->n_dynamic_forwards; k++)
                        b[nb++] = (local_bind) { i, &s->dynamic_forwards[k], "-D" };
        }
        /* A clash is both units' problem: each gets a finding naming the other (one, for a unit with itself). */
        for (size_t j = 0; j < nb; j++)
                for (size_t i = 0; i < j; i++) {
                        if (!binds_overlap(b[i].f, b[j].f))
                                continue;
                        for (int side = 0; side < (b[i].unit == b[j].unit ? 1 : 2); side++) {
                                const local_bind *x = side ? &b[i] : &b[j], *y = side ? &b[j] : &b[i];
                                char where[300];
                                ssh_forward_format(x->f, where, sizeof where);
                                int r = add(out, u[x->unit].unit, HOST_AUDIT_LOCAL_PORT_SHARED,
                                            "%s %s binds local port %u, as %s of %s does: whichever starts second "
                                            "fails with \"bind: Address already in use\"; give each forward its own "
                                            "local port",
                                            x->opt, where, (unsigned) x->f->listen_port, y->opt,
                                            x->unit == y->unit ? "this unit" : u[y->unit].unit);
                                if (r < 0)
                                        return r;
                        }
                }
        return 0;
}

static int remote_clash(host_audit_findings *out, const host_audit_unit *x, const host_audit_unit *y, uint16_t port) {
        return add(out, x->unit, HOST_AUDIT_REMOTE_PORT_SHARED,
                   "asks bastion %s for remote port %u, as %s does: whichever connects second gets \"remote port "
                   "forwarding failed\"; give each tunnel its own port (and its key a permitlisten for that port)",
                   x->ssh->bastion, (unsigned) port, y->unit);
}

static int check_remote_ports(const host_audit_unit *u, size_t n, host_audit_findings *out) {
        for (size_t j = 0; j < n; j++)
                for (size_t i = 0; i < j; i++) {
                        const ssh_resolved *si = u[i].ssh, *sj = u[j].ssh;
                        if (!si || !sj || strcasecmp(si->hostname, sj->hostname) != 0 || si->port != sj->port)
                                continue;
                        for (size_t fj = 0; fj < sj->n_forwards; fj++)
                                for (size_t fi = 0; fi < si->n_forwards; fi++) {
                                        uint16_t p = sj->forwards[fj].listen_port;
                                        if (si->forwards[fi].listen_port != p)
                                                continue;
                                        int r = remote_clash(out, &u[j], &u[i], p);
                                        if (r >= 0)
                                                r = remote_clash(out, &u[i], &u[j], p);
                                        if (r < 0)
                                                return r;
                                }
                }
        return 0;
}

static int check_unit(const host_audit_unit *u, host_audit_findings *out) {
        const ssh_resolved *s = u->ssh;
        int r = 0;

        if (!s)
                return add(out, u->unit, HOST_AUDIT_NOT_RESOLVED, "not audited: %s", strna(u->resolve_error));
        if (!s->exit_on_forward_failure)
                r = add(out, u->unit, HOST_AUDIT_NO_EXIT_ON_FORWARD_FAILURE,
                        "ExitOnForwardFailure is not yes: a forward that cannot bind (port taken on the bastion) "
                        "leaves ssh running without it and systemd restarts nothing; add -o ExitOnForwardFailure=yes");
        if (r >= 0 && s->server_alive_interval == 0)
                r = add(out, u->unit, HOST_AUDIT_NO_SERVER_ALIVE,
                        "no ServerAliveInterval: a dead path is noticed only when TCP gives up, hours later; add "
                        "-o ServerAliveInterval=60 -o ServerAliveCountMax=3");
        if (r >= 0 && s->strict_host_key_checking && strcasecmp(s->strict_host_key_checking, "false") == 0 &&
            s->user_known_hosts_file && streq(s->user_known_hosts_file, "/dev/null"))
                r = add(out, u->unit, HOST_AUDIT_HOST_KEY_UNPINNED,
                        "StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null: anyone on the path can pose as "
                        "bastion %s; pin its key: -o StrictHostKeyChecking=accept-new with a known_hosts file kept "
                        "per tunnel (or put the key there with ssh-keyscan and use StrictHostKeyChecking=yes)",
                        s->bastion);
        for (char **w = s->identity_warnings; r >= 0 && w && *w; w++)
                r = add(out, u->unit, HOST_AUDIT_IDENTITY_INACCESSIBLE,
                        "identity file %s (ssh -G as the unit's user); ssh goes on without it and the bastion refuses "
                        "the login: fix the path or its owner and mode (0600, owned by the unit's User=)", *w);
        for (size_t i = 0; r >= 0 && u->identity_modes && s->identity_files && s->identity_files[i]; i++) {
                mode_t m = u->identity_modes[i];
                if (m == (mode_t) -1 || !(m & 0077))
                        continue;
                r = add(out, u->unit, HOST_AUDIT_IDENTITY_EXPOSED,
                        "identity file %s has mode %04o: group or others may read the key, and ssh refuses to use it "
                        "(\"UNPROTECTED PRIVATE KEY FILE\"); chmod 600 it",
                        s->identity_files[i], (unsigned) (m & 07777));
        }
        if (r >= 0 && !s->control_path)
                r = add(out, u->unit, HOST_AUDIT_NO_CONTROL_PATH,
                        "no ControlPath: every probe is a new ssh login on the bastion instead of a channel of the "
                        "live connection; add -o ControlMaster=yes -o ControlPath=%%t/reverse-ssh/%%i/ctl "
                        "(the shipped reverse-ssh@.service does)");
        if (r >= 0 && u->restart && !streq(u->restart, "always"))
                r = add(out, u->unit, HOST_AUDIT_RESTART_NOT_ALWAYS,
                        "Restart=%s: a tunnel whose ssh exits (ExitOnForwardFailure, a closed connection) may stay "
                        "down; set Restart=always with a RestartSec=", u->restart);
        return r;
}

static int finding_compare(const void *a, const void *b) {
        const host_audit_finding *x = a, *y = b;
        int c = strcmp(x->unit, y->unit);
        return c ? c : (int) x->check - (int) y->check;
}

int host_audit(const host_audit_unit *units, size_t n, host_audit_findings *out) {
        int r = 0;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = check_unit(&units[i], out);
        if (r >= 0)
                r = check_local_ports(units, n, out);
        if (r >= 0)
                r = check_remote_ports(units, n, out);
        if (r >= 0 && out->n > 1)
                qsort(out->items, out->n, sizeof *out->items, finding_compare);
        return r;
}

bool host_audit_fail(const host_audit_findings *f) {
        for (size_t i = 0; i < f->n; i++)
                if (f->items[i].severity >= AUDIT_WARNING)
                        return true;
        return false;
}

json_t *host_audit_to_json(const host_audit_findings *f) {
        json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < f->n; i++) {
                const host_audit_finding *x = &f->items[i];
                json_t *o = json_pack("{s:o, s:s, s:s, s:o}", "unit", json_string_lossy(x->unit), "check",
                                      host_audit_check_to_string(x->check), "severity",
                                      audit_severity_to_string(x->severity), "message", json_string_lossy(x->message));
                if (!o || json_array_append_new(list, o) < 0) {
                        json_decref(list);
                        return NULL;
                }
        }
        return json_pack("{s:o}", "findings", list);
}

char *host_audit_format(const host_audit_finding *f) {
        _cleanup_(freep) char *unit = escape_control(f->unit), *message = escape_control(f->message);
        char *s = NULL;
        if (!unit || !message)
                return NULL;
        if (asprintf(&s, "%s: %s: %s: %s", unit, audit_severity_to_string(f->severity),
                     host_audit_check_to_string(f->check), message) < 0)
                return NULL;
        return s;
}
