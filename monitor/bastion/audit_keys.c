/* The key line checks of `bastion audit` (audit.h lists them). Each message says what is wrong and what to
 * write instead. */
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "ports.h"

/* A finding on key line k with its check's severity. */
#define add(out, k, c, ...) \
        audit_add(out, (k)->file, (k)->line, (k)->comment, c, audit_check_severity(c), __VA_ARGS__)

static int check_capabilities(const authkey_line *k, audit_findings *out) {
        int r;
        char open[80] = "";
        /* restrict, or the four no-* options: a tunnel needs none of these. */
        if (k->agent_forwarding)
                strcat(open, ", agent forwarding");
        if (k->x11_forwarding)
                strcat(open, ", X11 forwarding");
        if (k->pty)
                strcat(open, ", a PTY");
        if (k->user_rc)
                strcat(open, ", ~/.ssh/rc");
        if (open[0] && k->restricted && (r = add(out, k, AUDIT_NO_RESTRICT,
                                                 "options after restrict give back %s: a tunnel needs only "
                                                 "port-forwarding; remove them", open + 2)) < 0)
                return r;
        if (open[0] && !k->restricted && (r = add(out, k, AUDIT_NO_RESTRICT,
                                                  "%s allowed (no restrict): start the options with "
                                                  "restrict,port-forwarding (restrict also covers what later OpenSSH "
                                                  "versions add)", open + 2)) < 0)
                return r;
        if (!k->command && !k->restricted &&
            (r = add(out, k, AUDIT_NO_COMMAND,
                     "neither command= nor restrict: the key may run commands or a shell on the bastion; add "
                     "command=\"/sbin/nologin\"")) < 0)
                return r;
        if (!k->from && (r = add(out, k, AUDIT_NO_FROM,
                                 "no from=: the key works from any address; add from=\"ADDRESS/PREFIX\" if the host's "
                                 "address is known")) < 0)
                return r;
        if (!k->port_forwarding &&
            (r = add(out, k, AUDIT_PORT_FORWARDING_OFF, "%s",
                     k->restricted ? "restrict turns port forwarding off and no port-forwarding follows it: sshd refuses "
                                     "the host's -R; write restrict,port-forwarding"
                                   : "no-port-forwarding: sshd refuses the host's -R; remove it")) < 0)
                return r;
        return 0;
}

static int check_permitlisten(const authkey_line *k, audit_findings *out) {
        int r;
        if (k->n_permitlisten == 0)
                return add(out, k, AUDIT_NO_PERMITLISTEN,
                           "no permitlisten: the host may listen on any port of the bastion, another host's too while "
                           "that one is away; add permitlisten=\"localhost:PORT\" with the host's port");
        for (size_t i = 0; i < k->n_permitlisten; i++) {
                const authkey_permit *p = &k->permitlisten[i];
                if (p->port == PERMIT_PORT_ANY &&
                    (r = add(out, k, AUDIT_PERMITLISTEN_ANY_PORT,
                             "permitlisten=\"%.80s\" allows any port: write the host's own port instead of *", p->text)) < 0)
                        return r;
                if (p->port == PERMIT_PORT_NAMED &&
                    (r = add(out, k, AUDIT_PORT_BY_NAME,
                             "permitlisten=\"%.80s\" names its port: sshd looks the name up in /etc/services and refuses "
                             "the whole line when it is not there, and the port table cannot use it; write the number",
                             p->text)) < 0)
                        return r;
        }
        return 0;
}

/* permitopen entries by (port, host), "*" ports (0) first: a line with thousands of entries is looked up
 * in log time, not scanned for each of its listen ports. */
static int permit_compare(const void *a, const void *b) {
        const authkey_permit *const *x = a, *const *y = b;
        if ((*x)->port != (*y)->port)
                return (*x)->port < (*y)->port ? -1 : 1;
        return strcmp((*x)->host, (*y)->host);
}

static bool permit_find(const authkey_permit **sorted, size_t n, int port, const char *host) {
        authkey_permit key = { .host = (char *) host, .port = port };
        const authkey_permit *kp = &key;
        return bsearch(&kp, sorted, n, sizeof(authkey_permit *), permit_compare) != NULL;
}

/* Would the bastion open HOST:PORT for this host? channels.c open_match: the port or "*", the same host
 * string or "*". */
static bool permitopen_allows(const authkey_permit **sorted, size_t n, const char *host, int port) {
        return permit_find(sorted, n, port, host) || permit_find(sorted, n, port, "*") ||
               permit_find(sorted, n, PERMIT_PORT_ANY, host) || permit_find(sorted, n, PERMIT_PORT_ANY, "*");
}

static int int_compare(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return x < y ? -1 : x > y;
}

static int check_permitopen(const authkey_line *k, audit_findings *out) {
        char missing[200] = "", first[300] = "";
        size_t n = 0;

        if (k->n_permitopen == 0)
                return add(out, k, AUDIT_PERMITOPEN_ANY,
                           "no permitopen: the key may open connections to any address and port the bastion reaches; "
                           "add permitopen=\"localhost:PORT\" for the host's own listen port");
        for (size_t i = 0; i < k->n_permitopen; i++) {
                const authkey_permit *o = &k->permitopen[i];
                if ((streq(o->host, "*") && o->port == PERMIT_PORT_ANY) ||
                    (strcasecmp(o->host, "any") == 0 && o->port == PERMIT_PORT_NAMED && strcasecmp(o->text, "any:any") == 0))
                        return add(out, k, AUDIT_PERMITOPEN_ANY,
                                   "permitopen=\"%.80s\": the key may open connections to anything the bastion reaches "
                                   "(and sshd reads \"any\" as a port name it does not know, refusing the line); write "
                                   "permitopen=\"localhost:PORT\" for the host's own listen port", o->text);
        }
        for (size_t i = 0; i < k->n_permitopen; i++) {
                const authkey_permit *o = &k->permitopen[i];
                int r;
                if (o->port == PERMIT_PORT_NAMED &&
                    (r = add(out, k, AUDIT_PORT_BY_NAME,
                             "permitopen=\"%.80s\" names its port: sshd looks the name up in /etc/services and refuses "
                             "the whole line when it is not there; write the number", o->text)) < 0)
                        return r;
        }
        _cleanup_(freep) const authkey_permit **sorted = calloc(k->n_permitopen, sizeof(authkey_permit *));
        _cleanup_(freep) int *ports = calloc(MAX(k->n_permitlisten, 1u), sizeof(int));
        _cleanup_(freep) const char **hosts = calloc(MAX(k->n_permitlisten, 1u), sizeof(char *));
        if (!sorted || !ports || !hosts)
                return -ENOMEM;
        for (size_t i = 0; i < k->n_permitopen; i++)
                sorted[i] = &k->permitopen[i];
        qsort(sorted, k->n_permitopen, sizeof(authkey_permit *), permit_compare);
        /* The host's end-to-end probe opens its forward's listen address through its own tunnel: each
         * listen port once, with the host it is listened on ("localhost" for a bare port). */
        size_t m = 0;
        for (size_t i = 0; i < k->n_permitlisten; i++) {
                const authkey_permit *l = &k->permitlisten[i];
                const char *host = streq(l->host, "*") ? "localhost" : l->host;
                if (l->port > 0 && !permitopen_allows(sorted, k->n_permitopen, host, l->port)) {
                        hosts[m] = host;
                        ports[m++] = l->port;
                }
        }
        if (m > 0)
                snprintf(first, sizeof first, "%.200s:%d", hosts[0], ports[0]);
        qsort(ports, m, sizeof(int), int_compare);
        for (size_t i = 0; i < m; i++) {
                if (i > 0 && ports[i] == ports[i - 1])
                        continue;
                size_t len = strlen(missing);
                if (len + 16 >= sizeof missing) {
                        snprintf(missing + len, sizeof missing - len, ", ...");
                        break;
                }
                snprintf(missing + len, sizeof missing - len, "%s%d", n++ ? ", " : "", ports[i]);
        }
        if (m == 0)
                return 0;
        return add(out, k, AUDIT_PERMITOPEN_MISSING,
                   "no permitopen for its own listen port %s: the host's end-to-end probe through the tunnel is refused "
                   "(prohibited); add permitopen=\"%s\" (one per port)", missing, first);
}

static void format_time(uint64_t t, char *buf, size_t size) {
        struct tm tm;
        time_t tt = (time_t) t;
        if (t > (uint64_t) INT64_MAX || !gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, size, "%llu", (unsigned long long) t);
}

static int check_expiry(const authkey_line *k, const bastion_settings *s, usec_t now, audit_findings *out) {
        char when[64];
        uint64_t now_s = now / USEC_PER_SEC, warn_s = s->expiry_warning / USEC_PER_SEC;
        if (!k->has_expiry)
                return 0;
        format_time(k->expiry, when, sizeof when);
        /* auth_authorise_keyopts: refused once valid_before < now. */
        if (k->expiry < now_s)
                return add(out, k, AUDIT_KEY_EXPIRED,
                           "expiry-time %s is past: sshd refuses this key and the host cannot connect; set a later "
                           "expiry-time (sshd reads the file at each login, no reload)", when);
        if (k->expiry - now_s < warn_s)
                return add(out, k, AUDIT_KEY_EXPIRING,
                           "expiry-time %s is close: the host is cut off then; set a later expiry-time", when);
        return 0;
}

static int check_line(const authkey_line *k, const bastion_settings *s, usec_t now, audit_findings *out) {
        int r;
        if (k->nul_byte && (r = add(out, k, AUDIT_NUL_BYTE,
                                    "the line holds a NUL byte: sshd reads it only up to there; rewrite the line")) < 0)
                return r;
        if (k->cert_authority) {
                if ((r = add(out, k, AUDIT_CERT_AUTHORITY,
                             "a cert-authority line: every certificate it signed gets these options, and its holders "
                             "are not in the port table")) < 0)
                        return r;
        } else if (!k->comment && (r = add(out, k, AUDIT_NO_HOST_NAME,
                                            "no comment after the key: the host has no name in the port table, alerts "
                                            "and ssh-config; add the host's name at the end of the line")) < 0)
                return r;
        if ((r = check_capabilities(k, out)) < 0 || (r = check_permitlisten(k, out)) < 0 ||
            (r = check_permitopen(k, out)) < 0 || (r = check_expiry(k, s, now, out)) < 0)
                return r;
        return 0;
}

/* Over the port table (sorted by port): shared ports and ports in no range. */
static int check_ports(const authkeys *keys, const bastion_settings *s, audit_findings *out) {
        _cleanup_(port_table_done) port_table t = {};
        char other[300];
        int r = port_table_build(keys, s, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t.n; i++) {
                const port_entry *e = &t.entries[i];
                if (e->kind == _PORT_KIND_INVALID &&
                    (r = audit_add(out, e->key->file, e->key->line, e->key->comment, AUDIT_PORT_OUTSIDE_RANGES,
                                   audit_check_severity(AUDIT_PORT_OUTSIDE_RANGES),
                                   "port %d is in neither bastion.ssh_ports (%u-%u) nor bastion.service_ports (%u-%u) "
                                   "nor a metrics port: allocate one from the ranges",
                                   e->port, s->ssh_ports.first, s->ssh_ports.last, s->service_ports.first,
                                   s->service_ports.last)) < 0)
                        return r;
                /* Each line of a group names the first other line. */
                const port_entry *o = i > 0 && t.entries[i - 1].port == e->port ? &t.entries[i - 1]
                                    : i + 1 < t.n && t.entries[i + 1].port == e->port ? &t.entries[i + 1] : NULL;
                if (!o)
                        continue;
                snprintf(other, sizeof other, "%s:%u", o->key->file, o->key->line);
                _cleanup_(freep) char *name = escape_control(o->key->comment ?: "(no name)");
                if (!name)
                        return -ENOMEM;
                if ((r = audit_add(out, e->key->file, e->key->line, e->key->comment, AUDIT_PORT_SHARED,
                                   audit_check_severity(AUDIT_PORT_SHARED),
                                   "port %d is also permitted to %s (%s): whichever connects first holds it and the other "
                                   "is cut off; give each host its own port",
                                   e->port, name, other)) < 0)
                        return r;
        }
        return 0;
}

static int fingerprint_compare(const void *a, const void *b) {
        const authkey_line *const *x = a, *const *y = b;
        int c = strcmp((*x)->fingerprint, (*y)->fingerprint);
        return c ? c : ((*x) < (*y) ? -1 : (*x) > (*y));
}

static int check_duplicates(const authkeys *keys, audit_findings *out) {
        if (keys->n_lines < 2)
                return 0;
        _cleanup_(freep) const authkey_line **v = calloc(keys->n_lines, sizeof(authkey_line *));
        char first[300];
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < keys->n_lines; i++)
                v[i] = &keys->lines[i];
        qsort(v, keys->n_lines, sizeof(authkey_line *), fingerprint_compare);
        for (size_t i = 1, g = 0; i < keys->n_lines; i++) {
                if (!streq(v[i]->fingerprint, v[g]->fingerprint)) {
                        g = i;
                        continue;
                }
                snprintf(first, sizeof first, "%s:%u", v[g]->file, v[g]->line);
                int r = audit_add(out, v[i]->file, v[i]->line, v[i]->comment, AUDIT_DUPLICATE_KEY,
                                  audit_check_severity(AUDIT_DUPLICATE_KEY),
                                  "the same key (%s) as %s: sshd uses the first of them that lets the host in, so this "
                                  "line's options and ports may never apply; keep one line per key",
                                  v[i]->fingerprint, first);
                if (r < 0)
                        return r;
        }
        return 0;
}

int audit_key_lines(const authkeys *keys, const bastion_settings *s, usec_t now, audit_findings *out) {
        int r;
        for (size_t i = 0; i < keys->n_problems; i++)
                if ((r = audit_add(out, keys->problems[i].file, keys->problems[i].line, NULL, AUDIT_KEY_LINE_INVALID,
                                   AUDIT_ERROR, "%s", keys->problems[i].message)) < 0)
                        return r;
        if (keys->n_problems_dropped > 0 &&
            (r = audit_add(out, NULL, 0, NULL, AUDIT_KEY_LINE_INVALID, AUDIT_ERROR,
                           "%zu more lines sshd would refuse are not listed", keys->n_problems_dropped)) < 0)
                return r;
        if (keys->n_lines_dropped > 0 &&
            (r = audit_add(out, NULL, 0, NULL, AUDIT_KEY_LINE_INVALID, AUDIT_ERROR,
                           "%zu key lines beyond the first %d are not read", keys->n_lines_dropped, AUTHKEYS_LINES_MAX)) < 0)
                return r;
        for (size_t i = 0; i < keys->n_lines; i++)
                if ((r = check_line(&keys->lines[i], s, now, out)) < 0)
                        return r;
        if ((r = check_ports(keys, s, out)) < 0)
                return r;
        return check_duplicates(keys, out);
}
