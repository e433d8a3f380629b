#include "bastion_metrics.h"
#include "expo.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

/* metric{host="..",port="N"[,extra="value"]} */
static void port_series(expo_buf *b, const char *metric, const bastion_port *p, const char *extra, const char *value) {
        char port[8];
        snprintf(port, sizeof port, "%d", p->entry->port);
        expo_put_str(b, metric);
        expo_put_char(b, '{');
        expo_put_label(b, true, "host", p->entry->key->comment);
        expo_put_label(b, false, "port", port);
        if (extra)
                expo_put_label(b, false, extra, value);
        EXPO_PUT_LIT(b, "} ");
}

static void ports_state(expo_buf *b, const bastion_metrics_input *in) {
        expo_family(b, "rtun_bastion_port_up", "gauge", "1 if the port's listener is present and the probe through it answers");
        for (size_t i = 0; i < in->n_ports; i++) {
                port_series(b, "rtun_bastion_port_up", &in->ports[i], NULL, NULL);
                expo_put_str(b, in->ports[i].health.state == PORT_UP ? "1\n" : "0\n");
        }
        expo_family(b, "rtun_bastion_port_state", "gauge", "1 for the port's current state: up, stale, absent, unknown");
        for (size_t i = 0; i < in->n_ports; i++)
                for (int s = 0; s < _PORT_STATE_MAX; s++) {
                        port_series(b, "rtun_bastion_port_state", &in->ports[i], "state", port_state_to_string(s));
                        expo_put_str(b, in->ports[i].health.state == (port_state) s ? "1\n" : "0\n");
                }
        expo_family(b, "rtun_bastion_listener", "gauge", "1 while sshd listens on the port");
        for (size_t i = 0; i < in->n_ports; i++) {
                port_series(b, "rtun_bastion_listener", &in->ports[i], NULL, NULL);
                expo_put_str(b, in->ports[i].view.listener ? "1\n" : "0\n");
        }
        expo_family(b, "rtun_bastion_reaped_total", "counter", "stale sessions ended for the port by the reaper");
        for (size_t i = 0; i < in->n_ports; i++) {
                port_series(b, "rtun_bastion_reaped_total", &in->ports[i], NULL, NULL);
                expo_put_u64(b, in->ports[i].reaped);
                expo_put_char(b, '\n');
        }
}

/* The TCP view of each port's session (only where a session holds the listener). */
static void sessions(expo_buf *b, const bastion_metrics_input *in) {
        static const struct {
                const char *name, *help;
        } f[] = {
                { "rtun_bastion_session_rtt_seconds", "smoothed round-trip time of the host's connection" },
                { "rtun_bastion_session_unacked", "segments sent to the host and not acknowledged" },
                { "rtun_bastion_session_last_ack_age_seconds", "time since the host last acknowledged data" },
        };
        for (size_t k = 0; k < ELEMENTSOF(f); k++) {
                expo_family(b, f[k].name, "gauge", f[k].help);
                for (size_t i = 0; i < in->n_ports; i++) {
                        const tcp_view *v = &in->ports[i].view.tcp;
                        if (!in->ports[i].view.session_pid || !v->valid)
                                continue;
                        port_series(b, f[k].name, &in->ports[i], NULL, NULL);
                        if (k == 0)
                                expo_put_seconds(b, v->rtt_seconds);
                        else if (k == 1)
                                expo_put_u64(b, v->unacked);
                        else
                                expo_put_seconds(b, v->last_ack_age_seconds);
                        expo_put_char(b, '\n');
                }
        }
}

static void keys(expo_buf *b, const bastion_metrics_input *in) {
        size_t hosts = 0;
        expo_family(b, "rtun_bastion_key_expiry_timestamp_seconds", "gauge", "expiry-time of the host's key line");
        for (size_t i = 0; in->keys && i < in->keys->n_lines; i++) {
                const authkey_line *k = &in->keys->lines[i];
                hosts += !k->cert_authority;
                if (!k->has_expiry)
                        continue;
                EXPO_PUT_LIT(b, "rtun_bastion_key_expiry_timestamp_seconds{");
                expo_put_label(b, true, "host", k->comment);
                expo_put_label(b, false, "fingerprint", k->fingerprint);
                EXPO_PUT_LIT(b, "} ");
                expo_put_u64(b, k->expiry);
                expo_put_char(b, '\n');
        }
        expo_family(b, "rtun_bastion_hosts", "gauge", "key lines of the tunnel users: one per host");
        EXPO_PUT_LIT(b, "rtun_bastion_hosts ");
        expo_put_u64(b, hosts);
        expo_put_char(b, '\n');
}

static void findings(expo_buf *b, const bastion_metrics_input *in) {
        expo_family(b, "rtun_bastion_audit_findings", "gauge", "findings of the audit of the key lines and sshd, by check and severity");
        for (int c = 0; in->findings && c < _AUDIT_CHECK_MAX; c++)
                for (int s = 0; s < _AUDIT_SEVERITY_MAX; s++) {
                        if (!in->findings[c][s])
                                continue;
                        EXPO_PUT_LIT(b, "rtun_bastion_audit_findings{");
                        expo_put_label(b, true, "check", audit_check_to_string(c));
                        expo_put_label(b, false, "severity", audit_severity_to_string(s));
                        EXPO_PUT_LIT(b, "} ");
                        expo_put_u64(b, in->findings[c][s]);
                        expo_put_char(b, '\n');
                }
}

int bastion_metrics_render(const bastion_metrics_input *in, char **ret, size_t *len) {
        expo_buf b = {};
        ports_state(&b, in);
        sessions(&b, in);
        keys(&b, in);
        findings(&b, in);
        expo_family(&b, "rtun_round_duration_seconds", "gauge", "duration of the last full round");
        EXPO_PUT_LIT(&b, "rtun_round_duration_seconds ");
        expo_put_usec_seconds(&b, in->round_duration);
        expo_put_char(&b, '\n');
        expo_family(&b, "rtun_build_info", "gauge", "always 1");
        EXPO_PUT_LIT(&b, "rtun_build_info{version=\"" VERSION "\"} 1\n");
        if (b.oom || !expo_reserve(&b, 1)) {
                free(b.data);
                return -ENOMEM;
        }
        b.data[b.len] = 0;
        *ret = b.data;
        *len = b.len;
        return 0;
}
