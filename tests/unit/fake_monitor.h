/* A hand-built monitor for exporter tests and tests/unit/render_sample.c: no D-Bus, no loop. */
#pragma once

#include "../../exporters/alert.h"
#include "../../monitor/monitor.h"

typedef struct fake_tunnel {
        const char *name;
        const char *bastion;      /* NULL: unresolved */
        const char *forward;
        unit_active_state active;
        tunnel_state state;
        bool probed;
} fake_tunnel;

static inline tunnel *fake_tunnel_new(const fake_tunnel *f) {
        tunnel *t = calloc(1, sizeof(tunnel));
        if (!t)
                abort();
        t->name = strdup(f->name);
        t->unit.active_state = f->active;
        t->resolved = f->bastion != NULL;
        t->ssh.bastion = f->bastion ? strdup(f->bastion) : NULL;
        if (f->forward)
                snprintf(t->forward_label, sizeof(t->forward_label), "%s", f->forward);
        t->probed = f->probed;
        t->last_verdict.state = f->state;
        tunnel_health_init(&t->health);
        return t;
}

static inline void fake_tunnel_free(tunnel *t) {
        if (!t)
                return;
        free(t->name);
        free(t->ssh.bastion);
        free(t->forwards);
        free(t);
}

/* Appends to m->tunnels (realloc'ed). */
static inline tunnel *fake_monitor_add(monitor *m, const fake_tunnel *f) {
        tunnel **l = realloc(m->tunnels, (m->n_tunnels + 1) * sizeof(tunnel *));
        if (!l)
                abort();
        m->tunnels = l;
        return m->tunnels[m->n_tunnels++] = fake_tunnel_new(f);
}

/* A receiver's counters as its sender would own them, appended to m->alert_counters; the test sets them. */
static inline alert_counters *fake_monitor_add_receiver(monitor *m, const char *name) {
        const alert_counters **l = realloc((void *) m->alert_counters, (m->n_alert_counters + 1) * sizeof(alert_counters *));
        alert_counters *a = calloc(1, sizeof(alert_counters));
        char *copy = strdup(name);
        if (!l || !a || !copy)
                abort();
        a->receiver = copy;
        l[m->n_alert_counters++] = a;
        m->alert_counters = l;
        return a;
}

static inline void fake_monitor_done(monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                fake_tunnel_free(m->tunnels[i]);
        free(m->tunnels);
        for (size_t i = 0; i < m->n_alert_counters; i++) {
                free((char *) m->alert_counters[i]->receiver);
                free((alert_counters *) m->alert_counters[i]);
        }
        free((void *) m->alert_counters);
        *m = (monitor) {};
}
