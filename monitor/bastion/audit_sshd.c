/* The sshd setting checks of `bastion audit`, on `sshd -T`'s words (audit.h lists them). */
#include <strings.h>

#include "audit.h"

static int add(audit_findings *out, const char *sshd_file, audit_check c, audit_severity sev, const char *msg) {
        return audit_add(out, sshd_file, 0, NULL, c, sev, "%s", msg);
}

/* match.c match_pattern: '*' and '?' only (fnmatch would read "[::1]" as a bracket expression). */
static bool match_pattern(const char *s, const char *p) {
        const char *star = NULL, *resume = NULL;
        while (*s) {
                if (*p == '*') {
                        star = p++;
                        resume = s;
                } else if (*p == '?' || *p == *s) {
                        p++;
                        s++;
                } else if (star) {
                        p = star + 1;
                        s = ++resume;
                } else
                        return false;
        }
        while (*p == '*')
                p++;
        return !*p;
}

typedef struct listen_entry {
        char *host; /* lowercase, brackets gone */
        int port;   /* PERMIT_PORT_ANY for "*" */
} listen_entry;

static void listen_entries_free(listen_entry **l) {
        for (listen_entry *e = *l; e && e->host; e++)
                free(e->host);
        free(*l);
}

static char *host_key(const char *host, size_t n) {
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
                host++;
                n -= 2;
        }
        char *h = strndup(host, n);
        for (char *c = h; c && *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        return h;
}

/* sshd -T prints PermitListen entries as stored: "HOST:PORT", "*:PORT" for a bare port. */
static int listen_entries_parse(const char *v, listen_entry **ret) {
        _cleanup_(freep) char *copy = strdup(v);
        size_t n = 0;
        if (!copy)
                return -ENOMEM;
        listen_entry *l = calloc(strlen(v) / 2 + 2, sizeof(listen_entry));
        if (!l)
                return -ENOMEM;
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                char *colon = strrchr(w, ':');
                long port = 0;
                if (!colon || (!streq(colon + 1, "*") && ((port = strtol(colon + 1, NULL, 10)) <= 0 || port > 65535)))
                        continue; /* not an entry sshd could have stored */
                if (!(l[n].host = host_key(w, (size_t) (colon - w)))) {
                        listen_entries_free(&l);
                        return -ENOMEM;
                }
                l[n++].port = streq(colon + 1, "*") ? PERMIT_PORT_ANY : (int) port;
        }
        *ret = l;
        return 0;
}

/* channels.c check_rfwd_permission wants the key line's entry and a global entry to match the request.
 * A key host with a wildcard ("*" for a bare port) requests whatever the host asks for: only the port is
 * compared then. */
static bool global_allows(const listen_entry *l, const authkey_permit *p) {
        _cleanup_(freep) char *host = host_key(p->host, strlen(p->host));
        for (const listen_entry *e = l; e->host; e++)
                if ((e->port == PERMIT_PORT_ANY || e->port == p->port) &&
                    (strpbrk(p->host, "*?") || (host && match_pattern(host, e->host))))
                        return true;
        return false;
}

static int check_permitlisten(const sshd_settings *sshd, const authkeys *keys, const char *sshd_file, audit_findings *out) {
        const char *v = sshd_settings_get(sshd, "permitlisten");
        if (!v || strcasecmp(v, "any") == 0)
                return 0;
        if (strcasecmp(v, "none") == 0)
                return add(out, sshd_file, AUDIT_PERMITLISTEN_GLOBAL, AUDIT_ERROR,
                           "PermitListen none: sshd refuses every -R whatever the key lines permit, so no tunnel works; "
                           "remove it from sshd_config (the key lines' permitlisten are the per-host limit)");
        _cleanup_(listen_entries_free) listen_entry *global = NULL;
        int r = listen_entries_parse(v, &global);
        if (r < 0)
                return r;
        for (size_t i = 0; i < keys->n_lines; i++) {
                const authkey_line *k = &keys->lines[i];
                for (size_t j = 0; j < k->n_permitlisten; j++) {
                        if (global_allows(global, &k->permitlisten[j]))
                                continue;
                        r = audit_add(out, k->file, k->line, k->comment, AUDIT_PERMITLISTEN_GLOBAL, AUDIT_ERROR,
                                      "permitlisten=\"%.80s\" is not allowed by sshd's global PermitListen (%.200s): "
                                      "sshd refuses the host's -R; add it to PermitListen in %s or remove PermitListen",
                                      k->permitlisten[j].text, v, sshd_file ?: "sshd_config");
                        if (r < 0)
                                return r;
                        break; /* one finding per line */
                }
        }
        return 0;
}

int audit_sshd(const sshd_settings *sshd, const authkeys *keys, const char *sshd_file, audit_findings *out) {
        const char *v;
        int r;

        if ((v = sshd_settings_get(sshd, "clientaliveinterval")) && streq(v, "0") &&
            (r = add(out, sshd_file, AUDIT_CLIENT_ALIVE_OFF, AUDIT_WARNING,
                     "ClientAliveInterval 0: sshd never asks whether a host is still there, so a dead host's session "
                     "keeps its port until TCP gives up (about two hours) and the host cannot reconnect; set "
                     "ClientAliveInterval 15 and ClientAliveCountMax 3 in sshd_config (freed within about 2 minutes: OpenSSH 9.2 asks every second interval)")) < 0)
                return r;
        if ((v = sshd_settings_get(sshd, "gatewayports"))) {
                if (strcasecmp(v, "yes") == 0 &&
                    (r = add(out, sshd_file, AUDIT_GATEWAY_PORTS, AUDIT_ERROR,
                             "GatewayPorts yes: every forward listens on all addresses, reachable from the internet; "
                             "set GatewayPorts no")) < 0)
                        return r;
                if (strcasecmp(v, "clientspecified") == 0 &&
                    (r = add(out, sshd_file, AUDIT_GATEWAY_PORTS, AUDIT_WARNING,
                             "GatewayPorts clientspecified: a host may listen on all addresses (its -R or a bare "
                             "permitlisten port decides), reachable from the internet; set GatewayPorts no")) < 0)
                        return r;
        }
        if ((v = sshd_settings_get(sshd, "allowtcpforwarding")) &&
            (strcasecmp(v, "no") == 0 || strcasecmp(v, "local") == 0) &&
            (r = audit_add(out, sshd_file, 0, NULL, AUDIT_TCP_FORWARDING_OFF, AUDIT_ERROR,
                           "AllowTcpForwarding %s: sshd refuses every -R, so no tunnel works; set AllowTcpForwarding "
                           "remote (or yes) and let the key lines limit it", v)) < 0)
                return r;
        if ((v = sshd_settings_get(sshd, "disableforwarding")) && strcasecmp(v, "yes") == 0 &&
            (r = add(out, sshd_file, AUDIT_TCP_FORWARDING_OFF, AUDIT_ERROR,
                     "DisableForwarding yes: sshd refuses every forward, so no tunnel works; set DisableForwarding no")) < 0)
                return r;
        return check_permitlisten(sshd, keys, sshd_file, out);
}
