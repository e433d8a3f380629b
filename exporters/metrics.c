/* Prometheus text exposition (0.0.4) of a monitor, rendered at scrape time into one growable buffer.
 * Each tunnel's label set is escaped once per render and copied into every series: 1,000 tunnels
 * render in well under the 2 ms budget without a malloc per series. */
#include <math.h>

#include "alert.h"
#include "expo.h"
#include "metrics.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

/* One tunnel's labels, escaped once: name="..",bastion="..",forward=".." with the prefix lengths. */
typedef struct label_set {
        size_t offset;          /* into render.labels */
        size_t n_name;          /* name="..." */
        size_t n_name_bastion;  /* name="...",bastion="..." */
        size_t n_all;           /* name="...",bastion="...",forward="..." */
} label_set;

enum {
        L_NAME = 0,
        L_BASTION,
        L_ALL,
};

typedef struct render {
        expo_buf out;
        expo_buf labels;
        const monitor *m;
        const tunnel **tunnels; /* sorted by name */
        label_set *sets;
        const alert_counters **alerts; /* sorted by receiver */
        const char *metric;     /* family being written */
        size_t metric_len;
} render;

static void family(render *r, const char *metric, const char *type, const char *help) {
        r->metric = metric;
        r->metric_len = strlen(metric);
        EXPO_PUT_LIT(&r->out, "# HELP ");
        expo_put(&r->out, metric, r->metric_len);
        expo_put_char(&r->out, ' ');
        expo_put_str(&r->out, help);
        EXPO_PUT_LIT(&r->out, "\n# TYPE ");
        expo_put(&r->out, metric, r->metric_len);
        expo_put_char(&r->out, ' ');
        expo_put_str(&r->out, type);
        expo_put_char(&r->out, '\n');
}

/* Starts a series of tunnel i with its label prefix; the caller may add labels, then ends it. */
static void series(render *r, size_t i, int which) {
        const label_set *s = &r->sets[i];
        size_t n = which == L_NAME ? s->n_name : which == L_BASTION ? s->n_name_bastion : s->n_all;
        expo_put(&r->out, r->metric, r->metric_len);
        expo_put_char(&r->out, '{');
        expo_put(&r->out, r->labels.data + s->offset, n);
}

static void series_plain(render *r) {
        expo_put(&r->out, r->metric, r->metric_len);
}

static void end_u64(render *r, uint64_t v) {
        EXPO_PUT_LIT(&r->out, "} ");
        expo_put_u64(&r->out, v);
        expo_put_char(&r->out, '\n');
}

static void end_usec(render *r, usec_t v) {
        EXPO_PUT_LIT(&r->out, "} ");
        expo_put_usec_seconds(&r->out, v);
        expo_put_char(&r->out, '\n');
}

static void end_seconds(render *r, double v) {
        EXPO_PUT_LIT(&r->out, "} ");
        expo_put_seconds(&r->out, v);
        expo_put_char(&r->out, '\n');
}

static void plain_u64(render *r, uint64_t v) {
        series_plain(r);
        expo_put_char(&r->out, ' ');
        expo_put_u64(&r->out, v);
        expo_put_char(&r->out, '\n');
}

static int compare_tunnels(const void *a, const void *b) {
        const tunnel *x = *(const tunnel *const *) a, *y = *(const tunnel *const *) b;
        return strcmp(strempty(x->name), strempty(y->name));
}

static int compare_alerts(const void *a, const void *b) {
        const alert_counters *x = *(const alert_counters *const *) a, *y = *(const alert_counters *const *) b;
        return strcmp(strempty(x->receiver), strempty(y->receiver));
}

static int prepare(render *r, const monitor *m) {
        size_t n = m->n_tunnels;

        r->m = m;
        r->tunnels = calloc(n + 1, sizeof(tunnel *));
        r->sets = calloc(n + 1, sizeof(label_set));
        r->alerts = calloc(m->n_alert_counters + 1, sizeof(alert_counters *));
        if (!r->tunnels || !r->sets || !r->alerts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                r->tunnels[i] = m->tunnels[i];
        qsort(r->tunnels, n, sizeof(tunnel *), compare_tunnels);
        for (size_t i = 0; i < m->n_alert_counters; i++)
                r->alerts[i] = m->alert_counters[i];
        qsort(r->alerts, m->n_alert_counters, sizeof(alert_counters *), compare_alerts);

        for (size_t i = 0; i < n; i++) {
                const tunnel *t = r->tunnels[i];
                label_set *s = &r->sets[i];
                expo_buf *b = &r->labels;

                s->offset = b->len;
                expo_put_label(b, true, "name", t->name);
                s->n_name = b->len - s->offset;
                expo_put_label(b, false, "bastion", t->resolved ? t->ssh.bastion : "");
                s->n_name_bastion = b->len - s->offset;
                expo_put_label(b, false, "forward", t->resolved ? t->forward_label : "");
                s->n_all = b->len - s->offset;
        }
        if (r->labels.oom)
                return -ENOMEM;
        /* Room for about 30 series per tunnel up front, so the output is rarely moved. */
        return expo_reserve(&r->out, 8192 + n * 30 * 32 + r->labels.len * 30) ? 0 : -ENOMEM;
}

/* What each tunnel is: its verdict and its unit's state. */
static void render_states(render *r) {
        size_t n = r->m->n_tunnels;

        family(r, "rtun_tunnel_up", "gauge", "1 if the last verdict says the forward works end to end.");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_ALL);
                end_u64(r, tunnel_shown_state(r->tunnels[i]) == TUNNEL_UP);
        }

        family(r, "rtun_tunnel_state", "gauge", "1 for the current state of the tunnel as rtun-monitor sees it.");
        for (size_t i = 0; i < n; i++) {
                tunnel_state cur = tunnel_shown_state(r->tunnels[i]);
                for (tunnel_state s = 0; s < _TUNNEL_STATE_MAX; s++) {
                        series(r, i, L_BASTION);
                        expo_put_label(&r->out, false, "state", tunnel_state_to_string(s));
                        end_u64(r, s == cur);
                }
        }

        /* node_systemd_unit_state's five states; reloading is a kind of active. */
        static const unit_active_state unit_states[] = {
                UNIT_ACTIVE, UNIT_ACTIVATING, UNIT_DEACTIVATING, UNIT_INACTIVE, UNIT_FAILED,
        };
        family(r, "rtun_unit_state", "gauge", "systemd ActiveState of the tunnel unit.");
        for (size_t i = 0; i < n; i++) {
                unit_active_state cur = r->tunnels[i]->unit.active_state;
                if (cur == UNIT_RELOADING)
                        cur = UNIT_ACTIVE;
                for (size_t k = 0; k < ELEMENTSOF(unit_states); k++) {
                        series(r, i, L_NAME);
                        expo_put_label(&r->out, false, "state", unit_active_state_to_string(unit_states[k]));
                        end_u64(r, unit_states[k] == cur);
                }
        }
}

/* What the probes found. */
static void render_probes(render *r) {
        size_t n = r->m->n_tunnels;

        family(r, "rtun_probe_duration_seconds", "gauge", "Duration of the last probe (0 before the first).");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_ALL);
                end_usec(r, r->tunnels[i]->probed ? r->tunnels[i]->last_probe.duration : 0);
        }

        family(r, "rtun_probes_total", "counter", "Probes run.");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_ALL);
                end_u64(r, r->tunnels[i]->probes_total);
        }

        /* Every reason pre-initialised to 0, so rate() and increase() see the first failure. */
        family(r, "rtun_probe_failures_total", "counter", "Failed probes by reason.");
        for (size_t i = 0; i < n; i++)
                for (probe_status s = 0; s < _PROBE_STATUS_MAX; s++) {
                        if (s == PROBE_OK)
                                continue;
                        series(r, i, L_ALL);
                        expo_put_label(&r->out, false, "reason", probe_status_to_string(s));
                        end_u64(r, r->tunnels[i]->probe_failures[s]);
                }

        family(r, "rtun_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful probe (0: never).");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_ALL);
                end_usec(r, r->tunnels[i]->last_success_realtime);
        }
}

/* Starts a series of forward k of tunnel i: the tunnel's name and bastion, the forward's label and direction. */
static void forward_series(render *r, size_t i, const forward_watch *w) {
        series(r, i, L_BASTION);
        expo_put_label(&r->out, false, "forward", w->label);
        expo_put_label(&r->out, false, "direction", forward_direction_to_string(w->direction));
}

/* Every forward of every tunnel, the tunnel's own among them (its values are the tunnel's probe). */
static void render_forwards(render *r) {
        size_t n = r->m->n_tunnels;

        family(r, "rtun_forward_up", "gauge", "1 if the last verdict says this forward works end to end.");
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < r->tunnels[i]->n_forwards; k++) {
                        const forward_watch *w = &r->tunnels[i]->forwards[k];
                        forward_series(r, i, w);
                        end_u64(r, w->health.state == FORWARD_UP);
                }

        family(r, "rtun_forward_probe_duration_seconds", "gauge", "Duration of the forward's last probe (0 before the first).");
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < r->tunnels[i]->n_forwards; k++) {
                        const forward_watch *w = &r->tunnels[i]->forwards[k];
                        forward_series(r, i, w);
                        end_usec(r, w->probed ? w->last.duration : 0);
                }

        family(r, "rtun_forward_probes_total", "counter", "Probes of the forward run.");
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < r->tunnels[i]->n_forwards; k++) {
                        const forward_watch *w = &r->tunnels[i]->forwards[k];
                        forward_series(r, i, w);
                        end_u64(r, w->probes_total);
                }

        family(r, "rtun_forward_probe_failures_total", "counter", "Failed probes of the forward by reason.");
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < r->tunnels[i]->n_forwards; k++) {
                        const forward_watch *w = &r->tunnels[i]->forwards[k];
                        for (probe_status st = 0; st < _PROBE_STATUS_MAX; st++) {
                                if (st == PROBE_OK)
                                        continue;
                                forward_series(r, i, w);
                                expo_put_label(&r->out, false, "reason", probe_status_to_string(st));
                                end_u64(r, w->probe_failures[st]);
                        }
                }
}

/* Restarts: ours, systemd's own, and those a dry run only decided. */
static void render_restarts(render *r) {
        size_t n = r->m->n_tunnels;

        family(r, "rtun_restarts_total", "counter", "Restarts of the unit done by rtun-monitor, by reason.");
        for (size_t i = 0; i < n; i++)
                for (restart_reason k = 0; k < _RESTART_REASON_MAX; k++) {
                        series(r, i, L_NAME);
                        expo_put_label(&r->out, false, "reason", restart_reason_to_string(k));
                        end_u64(r, r->tunnels[i]->restarts_total[k]);
                }

        family(r, "rtun_unit_restarts_total", "counter", "systemd's own restarts of the unit (NRestarts).");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_NAME);
                end_u64(r, r->tunnels[i]->unit.n_restarts);
        }

        /* --dry-run: what the monitor would have done (contract: metrics say "would restart"). */
        family(r, "rtun_would_restart", "gauge", "1 while a dry run decided a restart of the unit and did not do it.");
        for (size_t i = 0; i < n; i++) {
                series(r, i, L_NAME);
                end_u64(r, r->tunnels[i]->would_restart);
        }
}

static void render_host(render *r) {
        const monitor *m = r->m;

        family(r, "rtun_alerts_total", "counter", "Alerts delivered, by receiver and event.");
        for (size_t i = 0; i < m->n_alert_counters; i++)
                for (unsigned k = 0; k < ELEMENTSOF(r->alerts[i]->delivered); k++) {
                        if (!((1u << k) & EVENT_HOST_ROLE))
                                continue; /* the bastion role's events: never raised on a host */
                        series_plain(r);
                        expo_put_char(&r->out, '{');
                        expo_put_label(&r->out, true, "receiver", r->alerts[i]->receiver);
                        expo_put_label(&r->out, false, "event", tunnel_event_to_string((tunnel_event) (1u << k)));
                        end_u64(r, r->alerts[i]->delivered[k]);
                }

        family(r, "rtun_alert_failures_total", "counter", "Alerts given up after retrying, by receiver.");
        for (size_t i = 0; i < m->n_alert_counters; i++) {
                series_plain(r);
                expo_put_char(&r->out, '{');
                expo_put_label(&r->out, true, "receiver", r->alerts[i]->receiver);
                end_u64(r, r->alerts[i]->failures);
        }

        family(r, "rtun_tunnels", "gauge", "Tunnel units discovered.");
        plain_u64(r, m->n_tunnels);

        family(r, "rtun_round_duration_seconds", "gauge", "Duration of the last full round.");
        series_plain(r);
        expo_put_char(&r->out, ' ');
        expo_put_usec_seconds(&r->out, m->round_duration);
        expo_put_char(&r->out, '\n');

        family(r, "rtun_dbus_up", "gauge", "1 while the system bus connection works.");
        plain_u64(r, m->dbus_up);

        family(r, "rtun_build_info", "gauge", "Always 1; the version label says which rtun-monitor runs.");
        series_plain(r);
        expo_put_char(&r->out, '{');
        expo_put_label(&r->out, true, "version", VERSION);
        end_u64(r, 1);
}

/* The passive TCP view (NETLINK_SOCK_DIAG) of the ssh connection to the bastion, when known: one family a
 * column, one series a tunnel whose view is valid. */
typedef enum tcp_column { TCP_RTT, TCP_UNACKED, TCP_RETRANSMITS, TCP_LAST_ACK_AGE, _TCP_COLUMN_MAX } tcp_column;

static const struct {
        const char *name, *type, *help;
} tcp_families[_TCP_COLUMN_MAX] = {
        [TCP_RTT] = { "rtun_tcp_rtt_seconds", "gauge", "Smoothed RTT of the ssh connection to the bastion." },
        [TCP_UNACKED] = { "rtun_tcp_unacked_segments", "gauge",
                          "Segments sent to the bastion and not acknowledged yet." },
        [TCP_RETRANSMITS] = { "rtun_tcp_retransmits_total", "counter",
                              "Retransmitted segments on the ssh connection." },
        [TCP_LAST_ACK_AGE] = { "rtun_tcp_last_ack_age_seconds", "gauge",
                               "Time since the bastion last acknowledged data." },
};

static void end_tcp(render *r, const tcp_view *v, tcp_column c) {
        switch (c) {
        case TCP_RTT:
                end_seconds(r, v->rtt_seconds);
                break;
        case TCP_UNACKED:
                end_u64(r, v->unacked);
                break;
        case TCP_RETRANSMITS:
                end_u64(r, v->retransmits_total);
                break;
        default:
                end_seconds(r, v->last_ack_age_seconds);
                break;
        }
}

static void render_tcp(render *r) {
        for (tcp_column c = 0; c < _TCP_COLUMN_MAX; c++) {
                family(r, tcp_families[c].name, tcp_families[c].type, tcp_families[c].help);
                for (size_t i = 0; i < r->m->n_tunnels; i++)
                        if (r->tunnels[i]->tcp.valid) {
                                series(r, i, L_BASTION);
                                end_tcp(r, &r->tunnels[i]->tcp, c);
                        }
        }
}

int metrics_render(const monitor *m, char **ret, size_t *len) {
        render r = {};
        int k;

        k = prepare(&r, m);
        if (k >= 0) {
                render_states(&r);
                render_probes(&r);
                render_forwards(&r);
                render_restarts(&r);
                render_host(&r);
                render_tcp(&r);
                k = r.out.oom ? -ENOMEM : 0;
        }
        free(r.tunnels);
        free(r.sets);
        free(r.alerts);
        free(r.labels.data);
        if (k < 0) {
                free(r.out.data);
                return k;
        }
        r.out.data[r.out.len] = 0; /* expo_reserve() always leaves room for it */
        *ret = r.out.data;
        if (len)
                *len = r.out.len;
        return 0;
}

static int render_route(void *userdata, char **ret, size_t *len) {
        return metrics_render(userdata, ret, len);
}

static const http_route metrics_routes[] = {
        { "/metrics", METRICS_CONTENT_TYPE, render_route, true },
};

int metrics_serve(sd_event *e, const char *listen, web_config_loaded *web, const monitor *m, http_server **ret) {
        return http_server_start_web(e, listen, web, metrics_routes, ELEMENTSOF(metrics_routes), (void *) m, ret);
}
