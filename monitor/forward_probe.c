/* Every forward but the tunnel's own probed once the tunnel's probe answered, on the same loop, each with
 * the tunnel's monitor.timeout (side by side with each other):
 * -R through the master to its listener on the bastion, -L to its destination from the bastion's side and to
 * its listener here, -D with a SOCKS5 greeting (and a CONNECT to tunnel.socks_probe). Their verdicts are
 * reported and alerted, never acted on. */
#include <jansson.h>
#include <time.h>

#include "../probes/probe.h"
#include "base/hostport.h"
#include "base/log.h"
#include "monitor.h"

typedef struct forward_part_ctx {
        monitor *m;
        tunnel *t;
        size_t watch;
        unsigned part;
        probe_request req;
        ssh_target ssh;
        forward_address addr;
        regex_t expect;
        bool has_expect;
        char socks_host[256];
} forward_part_ctx;

static void part_ctx_free(forward_part_ctx *c) {
        if (c && c->has_expect)
                regfree(&c->expect);
        free(c);
}

void forwards_cancel(tunnel *t) {
        for (size_t i = 0; i < t->n_forwards; i++) {
                forward_watch *w = &t->forwards[i];
                for (unsigned k = 0; k < FORWARD_PARTS_MAX; k++) {
                        w->running[k] = probe_cancel(w->running[k]);
                        part_ctx_free(w->ctx[k]);
                        w->ctx[k] = NULL;
                }
                w->parts = w->parts_done = 0;
        }
        t->forward_probes_running = 0;
}

/* The saved "DIRECTION LABEL" entries onto the watches: announced down, so a later run does not announce
 * them again and says forward_up when they answer. */
static void apply_saved(tunnel *t) {
        if (!t->forwards_down_saved || t->n_forwards == 0)
                return;
        for (char **e = t->forwards_down_saved; *e; e++)
                for (size_t i = 0; i < t->n_forwards; i++) {
                        forward_watch *w = &t->forwards[i];
                        const char *d = forward_direction_to_string(w->direction);
                        size_t dl = strlen(d);
                        if (strncmp(*e, d, dl) == 0 && (*e)[dl] == ' ' && streq(*e + dl + 1, w->label) && !w->primary)
                                w->health = (forward_health) { .state = FORWARD_DOWN, .announced_down = true };
                }
        strv_free(t->forwards_down_saved);
        t->forwards_down_saved = NULL;
}

int tunnel_forwards_rebuild(tunnel *t) {
        forward_watch *w = NULL;
        size_t n = 0;

        forwards_cancel(t);
        if (t->resolved && forward_watches_build(&t->ssh, t->forward, t->forwards, t->n_forwards, &w, &n) < 0)
                return -ENOMEM;
        free(t->forwards);
        t->forwards = w;
        t->n_forwards = n;
        apply_saved(t);
        return 0;
}

json_t *tunnel_forwards_down_to_json(const tunnel *t) {
        json_t *list = NULL;
        for (size_t i = 0; i < t->n_forwards; i++) {
                const forward_watch *w = &t->forwards[i];
                if (!w->health.announced_down)
                        continue;
                _cleanup_(freep) char *e = NULL;
                if ((!list && !(list = json_array())) ||
                    asprintf(&e, "%s %s", forward_direction_to_string(w->direction), w->label) < 0 ||
                    json_array_append_new(list, json_string(e)) < 0)
                        return json_decref(list), NULL;
        }
        return list;
}

void tunnel_forwards_down_restore(tunnel *t, json_t *list) {
        size_t i;
        json_t *v;
        if (!json_is_array(list))
                return;
        strv_free(t->forwards_down_saved);
        t->forwards_down_saved = NULL;
        json_array_foreach(list, i, v)
                if (json_is_string(v) && i < SSH_FORWARDS_MAX * 3 && strv_push(&t->forwards_down_saved, json_string_value(v)) < 0)
                        break;
        apply_saved(t);
}

static void on_part_result(probe *p, const probe_result *r, void *userdata) {
        forward_part_ctx *c = userdata;
        monitor *m = c->m;
        tunnel *t = c->t;
        forward_watch *w = &t->forwards[c->watch];
        unsigned k = c->part;

        w->running[k] = NULL;
        w->ctx[k] = NULL;
        w->part[k] = *r;
        /* The listener here is the second part: say which half failed. */
        if (k == 1 && r->status != PROBE_OK) {
                char d[sizeof r->detail];
                snprintf(d, sizeof d, "local listener: %.230s", r->detail);
                memcpy(w->part[k].detail, d, sizeof d);
        }
        part_ctx_free(c);
        if (++w->parts_done == w->parts) {
                forward_fold_parts(w->part, w->parts, &w->last);
                w->pending = true;
        }
        if (t->forward_probes_running > 0)
                t->forward_probes_running--;
        monitor_forward_part_done(m, t);
}

/* The expect of a forward: forward_expect when set ("" none), else monitor.expect where an sshd is the
 * target (port 22), else none: an opened channel is enough. */
static const char *expect_for(const tunnel *t, const forward_check *fc, uint16_t target_port) {
        if (fc && fc->expect)
                return fc->expect;
        return target_port == 22 ? t->settings->expect : NULL;
}

static void start_part(monitor *m, tunnel *t, size_t i, probe_kind kind, const char *host, uint16_t port,
                       const forward_check *fc, const char *expect) {
        forward_watch *w = &t->forwards[i];
        unsigned k = w->parts++;
        const ssh_resolved *s = &t->ssh;
        int r;

        forward_part_ctx *c = calloc(1, sizeof *c);
        if (!c)
                goto fail;
        *c = (forward_part_ctx) { .m = m, .t = t, .watch = i, .part = k };
        if (!isempty_str(expect)) {
                if (expect_compile(expect, &c->expect, NULL, 0) < 0)
                        goto fail;
                c->has_expect = true;
        }
        c->ssh = ssh_resolved_target(s);
        c->addr = (forward_address) { .listen_host = host, .listen_port = port };
        c->req = (probe_request) {
                .unit = t->name,
                .kind = kind,
                .ssh = &c->ssh,
                .forward = &c->addr,
                .expect = c->has_expect ? &c->expect : NULL,
                .send = fc ? fc->send : NULL,
                .send_len = fc ? fc->send_len : 0,
                .timeout = t->settings->timeout,
                .as = &t->as,
        };
        if (kind == PROBE_KIND_SOCKS && t->tcfg && t->tcfg->socks_probe) {
                hostport h;
                if (hostport_parse(t->tcfg->socks_probe, HOSTPORT_NAME, &h, NULL) >= 0) {
                        snprintf(c->socks_host, sizeof c->socks_host, "%s", h.host);
                        c->req.socks_host = c->socks_host;
                        c->req.socks_port = h.port;
                }
        }
        t->forward_probes_running++;
        w->ctx[k] = c;
        r = probe_start(m->event, &c->req, on_part_result, c, &w->running[k]);
        if (r >= 0)
                return;
        t->forward_probes_running--;
        w->ctx[k] = NULL;
        log_warning_errno(r, "%s: cannot probe forward %s: %m", t->name, w->label);
fail:
        part_ctx_free(c);
        w->part[k] = (probe_result) { .status = PROBE_ERROR, .kind = kind };
        snprintf(w->part[k].detail, sizeof w->part[k].detail, "probe could not start");
        if (++w->parts_done == w->parts) {
                forward_fold_parts(w->part, w->parts, &w->last);
                w->pending = true;
        }
}

void forwards_probe(monitor *m, tunnel *t, probe_kind k) {
        for (size_t i = 0; i < t->n_forwards; i++) {
                forward_watch *w = &t->forwards[i];
                const ssh_forward *f = w->fwd;
                const forward_check *fc = config_forward_check(t->tcfg, f->listen_host, f->listen_port);

                w->parts = w->parts_done = 0;
                w->pending = false;
                if (w->primary)
                        continue;
                switch (w->direction) {
                case FORWARD_REMOTE:
                        start_part(m, t, i, k, f->listen_host, f->listen_port, fc, expect_for(t, fc, f->target_port));
                        break;
                case FORWARD_LOCAL:
                        /* The destination as the bastion opens it: permitopen and an answer; then the listener. */
                        if (f->target_host && f->target_port > 0)
                                start_part(m, t, i, k, f->target_host, f->target_port, fc,
                                           expect_for(t, fc, f->target_port));
                        start_part(m, t, i, PROBE_KIND_TCP, f->listen_host, f->listen_port, NULL, NULL);
                        break;
                case FORWARD_DYNAMIC: {
                        uint16_t port = 0;
                        hostport h;
                        if (t->tcfg && t->tcfg->socks_probe &&
                            hostport_parse(t->tcfg->socks_probe, HOSTPORT_NAME, &h, NULL) >= 0)
                                port = h.port;
                        start_part(m, t, i, PROBE_KIND_SOCKS, f->listen_host, f->listen_port, fc,
                                   port ? expect_for(t, fc, port) : NULL);
                        break;
                }
                default:
                        break;
                }
        }
}

static void forward_emit(monitor *m, tunnel *t, forward_watch *w, unsigned ev) {
        if (ev & EVENT_FORWARD_DOWN)
                log_warning("%s: forward %s (%s) down: %s; the tunnel's own forward works, no restart", t->name,
                            w->label, forward_direction_to_string(w->direction), w->reason);
        if (ev & EVENT_FORWARD_UP)
                log_notice("%s: forward %s (%s) up again", t->name, w->label, forward_direction_to_string(w->direction));
        monitor_emit_forward(m, t, w->label, ev);
}

void forwards_record(monitor *m, tunnel *t, const probe_result *r) {
        bool tunnel_up = t->last_verdict.state == TUNNEL_UP;

        for (size_t i = 0; i < t->n_forwards; i++) {
                forward_watch *w = &t->forwards[i];
                /* The tunnel's own forward is what its probe saw; the others theirs, or (not probed: the unit,
                 * its process or the tunnel's own forward failed) what kept them from being probed. */
                bool probed = w->primary || w->pending;
                if (w->primary || !w->pending) {
                        w->last = *r;
                        if (!w->primary && r->status != PROBE_OK) {
                                char d[sizeof r->detail];
                                snprintf(d, sizeof d, "not probed, the tunnel is down: %.200s", r->detail);
                                memcpy(w->last.detail, d, sizeof d);
                        }
                }
                w->pending = false;
                w->probed = true;
                w->probes_total++;
                if (w->last.status != PROBE_OK) {
                        w->probe_failures[w->last.status]++;
                        snprintf(w->reason, sizeof w->reason, "%s%s%s", probe_status_to_string(w->last.status),
                                 *w->last.detail ? ": " : "", w->last.detail);
                }
                unsigned ev = forward_decide(&w->health, w->last.status, tunnel_up && probed, t->settings->failures,
                                             !w->primary);
                if (w->health.state == FORWARD_UP)
                        w->reason[0] = 0;
                if (ev)
                        forward_emit(m, t, w, ev);
        }
}
