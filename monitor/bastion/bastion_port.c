#include <time.h>

#include "bastion_port.h"

void bastion_port_explain(bastion_port *p, const char *probe_detail, usec_t now_realtime) {
        const authkey_line *k = p->entry->key;
        char why[160] = "";

        switch (p->health.state) {
        case PORT_UP:
                p->reason[0] = 0;
                return;
        case PORT_ABSENT:
                if (k->has_expiry && k->expiry * USEC_PER_SEC <= now_realtime) {
                        time_t t = (time_t) k->expiry;
                        struct tm tm;
                        char when[32] = "?";
                        if (gmtime_r(&t, &tm))
                                strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
                        snprintf(p->reason, sizeof p->reason, "no listener: the key expired %s (expiry-time), sshd refuses it", when);
                } else
                        snprintf(p->reason, sizeof p->reason, "no listener: the host is not connected");
                return;
        case PORT_STALE:
                if (p->view.tcp.valid)
                        (void) tcpinfo_explain(&p->view.tcp, "host", why, sizeof why);
                snprintf(p->reason, sizeof p->reason, "listener present, probe failed: %s: %s%s%s",
                         probe_status_to_string(p->probe), isempty_str(probe_detail) ? "no detail" : probe_detail,
                         *why ? "; host connection: " : "", why);
                return;
        default:
                snprintf(p->reason, sizeof p->reason, "not looked at: %s",
                         isempty_str(probe_detail) ? "the listener table could not be read" : probe_detail);
                return;
        }
}
