/* The forwards of a tunnel as watches, their names, and forward_decide(): pure, unit-tested. */
#include "forward.h"

static const char *const forward_direction_table[_FORWARD_DIRECTION_MAX] = {
        [FORWARD_REMOTE] = "remote",
        [FORWARD_LOCAL] = "local",
        [FORWARD_DYNAMIC] = "dynamic",
};

static const char *const forward_state_table[_FORWARD_STATE_MAX] = {
        [FORWARD_UP] = "up",
        [FORWARD_DOWN] = "down",
        [FORWARD_UNKNOWN] = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(forward_direction, forward_direction);
DEFINE_STRING_TABLE_LOOKUP(forward_state, forward_state);

unsigned forward_decide(forward_health *h, probe_status status, bool tunnel_up, unsigned failures, bool announce) {
        if (status == PROBE_OK) {
                unsigned ev = h->announced_down && announce ? EVENT_FORWARD_UP : 0;
                *h = (forward_health) { .state = FORWARD_UP };
                return ev;
        }
        /* Down with its tunnel, but on the tunnel's count: once the tunnel is back, only the forward's own
         * failures (monitor.failures of them) announce it. */
        if (!tunnel_up) {
                h->state = FORWARD_DOWN;
                h->consecutive_failures = 0;
                return 0;
        }
        if (h->consecutive_failures < UINT32_MAX)
                h->consecutive_failures++;
        if (h->consecutive_failures < MAX(failures, 1u))
                return 0; /* one failure is not an outage: the state stays what it was */
        h->state = FORWARD_DOWN;
        if (!announce || h->announced_down)
                return 0;
        h->announced_down = true;
        return EVENT_FORWARD_DOWN;
}

void forward_fold_parts(const probe_result *parts, unsigned n, probe_result *ret) {
        for (unsigned i = 0; i < n; i++)
                if (parts[i].status != PROBE_OK) {
                        *ret = parts[i];
                        return;
                }
        *ret = n > 0 ? parts[0] : (probe_result) { .status = PROBE_ERROR, .kind = PROBE_KIND_NONE };
        for (unsigned i = 1; i < n; i++)
                ret->duration = MAX(ret->duration, parts[i].duration);
}

static const forward_watch *find_old(const forward_watch *old, size_t n_old, forward_direction d, const char *label) {
        for (size_t i = 0; i < n_old; i++)
                if (old[i].direction == d && streq(old[i].label, label))
                        return &old[i];
        return NULL;
}

static void add(forward_watch *w, size_t *n, forward_direction d, const ssh_forward *f, bool primary,
                const forward_watch *old, size_t n_old) {
        forward_watch *x = &w[(*n)++];
        *x = (forward_watch) { .direction = d, .fwd = f, .primary = primary,
                               .health = { .state = FORWARD_UNKNOWN }, .last = { .kind = PROBE_KIND_NONE } };
        ssh_forward_format(f, x->label, sizeof x->label);
        const forward_watch *o = find_old(old, n_old, d, x->label);
        if (!o)
                return;
        x->health = o->health;
        x->last = o->last;
        x->probed = o->probed;
        x->probes_total = o->probes_total;
        memcpy(x->probe_failures, o->probe_failures, sizeof x->probe_failures);
        memcpy(x->reason, o->reason, sizeof x->reason);
}

int forward_watches_build(const ssh_resolved *r, const ssh_forward *primary, const forward_watch *old, size_t n_old,
                          forward_watch **ret, size_t *ret_n) {
        size_t total = r->n_forwards + r->n_local_forwards + r->n_dynamic_forwards, n = 0;
        forward_watch *w = calloc(total + 1, sizeof *w);
        if (!w)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_forwards; i++)
                add(w, &n, FORWARD_REMOTE, &r->forwards[i], &r->forwards[i] == primary, old, n_old);
        for (size_t i = 0; i < r->n_local_forwards; i++)
                add(w, &n, FORWARD_LOCAL, &r->local_forwards[i], false, old, n_old);
        for (size_t i = 0; i < r->n_dynamic_forwards; i++)
                add(w, &n, FORWARD_DYNAMIC, &r->dynamic_forwards[i], false, old, n_old);
        *ret = w;
        *ret_n = n;
        return 0;
}
