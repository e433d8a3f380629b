#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include "../base/json_text.h"
#include "../base/log.h"
#include "bastion_status.h"

const char *bastion_port_peer(const bastion_port *p, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];
        const tcp_view *v = &p->view.tcp;

        if (!v->valid || (v->peer_family != AF_INET && v->peer_family != AF_INET6) ||
            !inet_ntop(v->peer_family, v->peer_addr, a, sizeof a))
                return NULL;
        snprintf(buf, size, v->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, v->peer_port);
        return buf;
}

static const char *since(usec_t realtime, char buf[static 32]) {
        time_t t = (time_t) (realtime / USEC_PER_SEC);
        struct tm tm;
        if (realtime == 0 || !gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return NULL;
        return buf;
}

static json_t *string_or_null(const char *s) {
        return json_string_lossy(s); /* a key's comment is whatever bytes the admin wrote */
}

json_t *bastion_status_json(const bastion_port *ports, size_t n) {
        json_auto_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const bastion_port *p = &ports[i];
                const authkey_line *k = p->entry->key;
                char peer[64], ts[32];
                json_t *o = json_pack("{s:o, s:s, s:o, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:I}",
                                      "host", string_or_null(k->comment), "fingerprint", k->fingerprint,
                                      "file", string_or_null(k->file),
                                      "line", (json_int_t) k->line, "port", (json_int_t) p->entry->port,
                                      "kind", port_kind_to_string(p->entry->kind) ?: "none",
                                      "state", port_state_to_string(p->health.state),
                                      "session_pid", p->view.session_pid ? json_integer(p->view.session_pid) : json_null(),
                                      "peer", string_or_null(bastion_port_peer(p, peer, sizeof peer)),
                                      "connected_since", string_or_null(p->view.session_pid ? since(p->view.session_start, ts) : NULL),
                                      "reason", string_or_null(p->reason), "reaped", (json_int_t) p->reaped);
                if (!o || json_array_append_new(list, o) < 0)
                        return NULL;
        }
        return json_pack("{s:O}", "hosts", list);
}

void bastion_status_print(const bastion_port *ports, size_t n, FILE *f) {
        fprintf(f, "%-20s %5s %-7s %-7s %7s %-21s %-20s %s\n", "HOST", "PORT", "KIND", "STATE", "SESSION", "PEER",
                "SINCE", "REASON");
        for (size_t i = 0; i < n; i++) {
                const bastion_port *p = &ports[i];
                char peer[64], ts[32], pid[16] = "-";
                _cleanup_(freep) char *host = escape_control(strempty(p->entry->key->comment));
                _cleanup_(freep) char *reason = escape_control(p->reason);
                if (p->view.session_pid)
                        snprintf(pid, sizeof pid, "%d", (int) p->view.session_pid);
                const char *pe = bastion_port_peer(p, peer, sizeof peer);
                const char *s = p->view.session_pid ? since(p->view.session_start, ts) : NULL;
                fprintf(f, "%-20s %5d %-7s %-7s %7s %-21s %-20s %s\n", host ? host : "?", p->entry->port,
                        port_kind_to_string(p->entry->kind) ?: "none", port_state_to_string(p->health.state), pid,
                        pe ?: "-", s ?: "-", reason ? reason : "?");
        }
}
