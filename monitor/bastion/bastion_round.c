#include <time.h>

#include "../base/log.h"
#include "bastion_round.h"

typedef struct port_probe {
        bastion_round *round;
        size_t index;
        probe *running;
        forward_address forward;
        probe_request req;       /* the probe keeps a pointer to it until it ends */
        char detail[sizeof(((probe_result *) NULL)->detail)];
} port_probe;

struct bastion_round {
        sd_event *event;
        bastion_round_params params;
        regex_t expect;
        bool has_expect;
        tcpinfo *tcp;
        bastion_port *ports;
        port_probe *probes;
        size_t n;
        size_t outstanding;
        bool running;
        bool looked;             /* the listener table was read this round */
        usec_t started, duration;
        sd_event_source *finish; /* defers the end of a round without probes to the loop */
        bastion_port_events_t on_events;
        bastion_round_done_t on_done;
        void *userdata;
};

static usec_t realtime_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static usec_t mono_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static int ports_from(bastion_round *r, const fleet *f, bastion_port **ret_ports, port_probe **ret_probes) {
        size_t n = f->ports.n;
        _cleanup_(freep) bastion_port *ports = calloc(n + 1, sizeof *ports);
        _cleanup_(freep) port_probe *probes = calloc(n + 1, sizeof *probes);
        if (!ports || !probes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ports[i] = (bastion_port) { .entry = &f->ports.entries[i], .health.state = PORT_UNKNOWN,
                                            .probe = PROBE_OK };
                probes[i] = (port_probe) { .round = r, .index = i };
        }
        *ret_ports = TAKE_PTR(ports);
        *ret_probes = TAKE_PTR(probes);
        return 0;
}

int bastion_round_new(sd_event *e, const fleet *f, const bastion_round_params *params, bastion_round **ret) {
        _cleanup_(freep) bastion_round *r = calloc(1, sizeof *r);
        int k;
        if (!r)
                return -ENOMEM;
        r->event = e;
        r->params = *params;
        if (!isempty_str(params->expect)) {
                k = expect_compile(params->expect, &r->expect, NULL, 0);
                if (k < 0)
                        return k;
                r->has_expect = true;
        }
        k = tcpinfo_new(&r->tcp);
        if (k >= 0)
                k = ports_from(r, f, &r->ports, &r->probes);
        if (k < 0) {
                if (r->has_expect)
                        regfree(&r->expect);
                tcpinfo_free(r->tcp);
                return k;
        }
        r->n = f->ports.n;
        *ret = TAKE_PTR(r);
        return 0;
}

static void cancel_all(bastion_round *r) {
        for (size_t i = 0; i < r->n; i++)
                r->probes[i].running = probe_cancel(r->probes[i].running);
        r->outstanding = 0;
        r->running = false;
        r->finish = sd_event_source_disable_unref(r->finish);
}

bastion_round *bastion_round_free(bastion_round *r) {
        if (!r)
                return NULL;
        cancel_all(r);
        if (r->has_expect)
                regfree(&r->expect);
        tcpinfo_free(r->tcp);
        free(r->ports);
        free(r->probes);
        free(r);
        return NULL;
}

static bool same_port(const port_entry *a, const port_entry *b) {
        return a->port == b->port && streq(a->key->fingerprint, b->key->fingerprint) &&
                streq_ptr(a->key->comment, b->key->comment);
}

int bastion_round_reload(bastion_round *r, const fleet *f) {
        bastion_port *ports;
        port_probe *probes;
        int k = ports_from(r, f, &ports, &probes);
        if (k < 0)
                return k;
        cancel_all(r); /* a round in flight probes ports that may be gone: the next one starts clean */
        for (size_t i = 0; i < f->ports.n; i++)
                for (size_t j = 0; j < r->n; j++)
                        if (same_port(ports[i].entry, r->ports[j].entry)) {
                                const port_entry *e = ports[i].entry;
                                ports[i] = r->ports[j];
                                ports[i].entry = e;
                                break;
                        }
        free(r->ports);
        free(r->probes);
        r->ports = ports;
        r->probes = probes;
        r->n = f->ports.n;
        return 0;
}

/* All probes are in: decide every port, then report. */
static void round_end(bastion_round *r) {
        usec_t now = realtime_now();
        r->running = false;
        r->duration = mono_now() - r->started;
        for (size_t i = 0; i < r->n; i++) {
                bastion_port *p = &r->ports[i];
                port_observation o = { .looked = r->looked, .listener = p->view.listener, .probe_ok = p->probe == PROBE_OK };
                unsigned ev = port_decide(&p->health, &o, r->params.failures);
                bastion_port_explain(p, r->probes[i].detail, now);
                if (ev && p->entry->kind == PORT_KIND_SSH && r->on_events)
                        r->on_events(p, ev, r->userdata);
        }
        if (r->on_done)
                r->on_done(r, r->userdata);
}

static void on_probe_done(probe *pr, const probe_result *res, void *userdata) {
        port_probe *pp = userdata;
        bastion_round *r = pp->round;
        bastion_port *p = &r->ports[pp->index];

        pp->running = NULL;
        p->probe = res->status;
        p->probe_duration = res->duration;
        snprintf(pp->detail, sizeof pp->detail, "%s", res->detail);
        if (r->outstanding > 0 && --r->outstanding == 0)
                round_end(r);
}

static int on_finish(sd_event_source *s, void *userdata) {
        bastion_round *r = userdata;
        r->finish = sd_event_source_disable_unref(r->finish);
        round_end(r);
        return 0;
}

static int probe_port(bastion_round *r, size_t i) {
        port_probe *pp = &r->probes[i];
        bastion_port *p = &r->ports[i];
        bool ssh = p->entry->kind == PORT_KIND_SSH;

        /* sshd's "localhost" binds both loopbacks: the probe tries them as ssh -R binds them. */
        pp->forward = (forward_address) { .listen_host = "localhost", .listen_port = (uint16_t) p->entry->port };
        pp->req = (probe_request) {
                .unit = strempty(p->entry->key->comment),
                .kind = PROBE_KIND_TCP,
                .forward = &pp->forward,
                .expect = ssh && r->has_expect ? &r->expect : NULL,
                .timeout = r->params.timeout,
        };
        pp->detail[0] = 0;
        int k = probe_start(r->event, &pp->req, on_probe_done, pp, &pp->running);
        if (k < 0) {
                p->probe = PROBE_ERROR;
                snprintf(pp->detail, sizeof pp->detail, "cannot start the probe: %s", strerror(-k));
                return k;
        }
        r->outstanding++;
        return 0;
}

int bastion_round_start(bastion_round *r, bastion_port_events_t events, bastion_round_done_t done, void *userdata) {
        if (r->running)
                return -EBUSY;
        r->running = true;
        r->started = mono_now();
        r->on_events = events;
        r->on_done = done;
        r->userdata = userdata;

        _cleanup_(freep) uint16_t *ports = calloc(r->n + 1, sizeof *ports);
        _cleanup_(freep) listen_view *views = calloc(r->n + 1, sizeof *views);
        if (!ports || !views)
                return log_oom();
        for (size_t i = 0; i < r->n; i++)
                ports[i] = (uint16_t) r->ports[i].entry->port;
        int k = listen_view_look(ports, r->n, r->tcp, views);
        if (k < 0)
                log_warning_errno(k, "Cannot read the listening sockets: %m");
        r->looked = k >= 0;
        for (size_t i = 0; i < r->n; i++) {
                bastion_port *p = &r->ports[i];
                p->view = k < 0 ? (listen_view) {} : views[i];
                p->probe = PROBE_REFUSED;
                r->probes[i].detail[0] = 0;
                if (k >= 0 && p->view.listener)
                        (void) probe_port(r, i);
        }
        if (r->outstanding == 0) {
                int e = sd_event_add_defer(r->event, &r->finish, on_finish, r);
                if (e < 0) {
                        r->running = false;
                        return log_error_errno(e, "Cannot schedule the end of the round: %m");
                }
        }
        return 0;
}

bool bastion_round_running(const bastion_round *r) {
        return r->running;
}

const bastion_port *bastion_round_ports(const bastion_round *r, size_t *n) {
        *n = r->n;
        return r->ports;
}

usec_t bastion_round_duration(const bastion_round *r) {
        return r->duration;
}

bastion_port *bastion_round_ports_mut(bastion_round *r, size_t *n) {
        *n = r->n;
        return r->ports;
}
