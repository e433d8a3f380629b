/* Discovery into tunnels: which units are tunnels now, what systemd says about each, and what their
 * ssh command lines resolve to (`ssh -G` on the loop). Discovery blocks for check and status, and runs on the
 * loop for the daemon. */
#include "discover.h"
#include "base/log.h"
#include "monitor.h"

static int tunnel_new(monitor *m, unit_info *u, tunnel **ret) {
        tunnel *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->name = strdup(u->name);
        if (!t->name) {
                free(t);
                return -ENOMEM;
        }
        t->monitor = m;
        t->settings = config_settings_for_unit(m->cfg, u->name);
        t->tcfg = config_tunnel_for_unit(m->cfg, u->name);
        tunnel_health_init(&t->health);
        t->last_verdict = (verdict) { .state = TUNNEL_UNKNOWN, .reason = PROBE_OK };
        *ret = t;
        return 0;
}

/* What the listing shows is enough unless something about the unit moved since its last full read. */
static bool want_details(const unit_info *listed, void *userdata) {
        monitor *m = userdata;
        tunnel *t = monitor_find(m, listed->name);
        return !t || t->dirty || t->healing || listed->start_pending || listed->active_state != t->unit.active_state ||
               !streq_ptr(listed->sub_state, t->unit.sub_state) || !streq_ptr(listed->load_state, t->unit.load_state);
}

/* A fresh listing (units taken): new units become tunnels, gone ones are dropped, then resolution. */
static int apply_units(monitor *m, unit_info *units, int n) {
        int r;

        for (size_t i = 0; i < m->n_tunnels; i++)
                m->tunnels[i]->seen = false;

        for (int i = 0; i < n; i++) {
                unit_info *u = &units[i];
                tunnel *t = monitor_find(m, u->name);
                if (!t) {
                        /* A unit that is merely referenced but not found is noise; one that failed to
                         * load is worth a line. */
                        if (streq_ptr(u->load_state, "not-found"))
                                continue;
                        r = tunnel_new(m, u, &t);
                        if (r < 0)
                                goto oom;
                        tunnel **a = realloc(m->tunnels, (m->n_tunnels + 1) * sizeof(tunnel *));
                        if (!a) {
                                tunnel_free(t);
                                goto oom;
                        }
                        m->tunnels = a;
                        m->tunnels[m->n_tunnels++] = t;
                        if (!streq_ptr(u->load_state, "loaded"))
                                log_warning("%s: matches %s but failed to load: %s", u->name, m->cfg->units[0],
                                            u->load_error ?: strna(u->load_state));
                        else
                                log_debug("%s: discovered", u->name);
                }
                if (u->details_skipped)
                        unit_info_keep_details(u, &t->unit);
                else
                        t->dirty = false;
                unit_info_done(&t->unit);
                t->unit = *u;
                *u = (unit_info) {};
                t->seen = true;
        }
        unit_info_free_array(units, (size_t) n);

        /* Units gone since the last discovery lose their tunnel (and so their series). */
        size_t k = 0;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                if (m->tunnels[i]->seen) {
                        m->tunnels[k++] = m->tunnels[i];
                        continue;
                }
                if ((tunnel_probing(m->tunnels[i]) || m->tunnels[i]->probe_deferred) && m->probes_running > 0)
                        m->probes_running--;
                tunnel_resolve_cancel(m, m->tunnels[i]);
                if (m->tunnels[i]->guard_pending && m->guard_outstanding > 0)
                        m->guard_outstanding--;
                log_info("%s: unit gone, no longer monitored", m->tunnels[i]->name);
                m->resolutions++;
                tunnel_free(m->tunnels[i]);
        }
        m->n_tunnels = k;
        tunnels_resolve(m);
        return 0;
oom:
        unit_info_free_array(units, (size_t) n);
        return log_oom();
}

int monitor_refresh(monitor *m, bool full) {
        unit_info *units = NULL;

        if (!m->bus)
                return -ENOTCONN;
        m->discovery = discover_job_free(m->discovery); /* this one is newer */
        int n = discover_units(m->bus, m->cfg->units, m->cfg->monitor.timeout, full ? NULL : want_details, m, &units);
        m->dbus_up = n >= 0;
        return n < 0 ? n : apply_units(m, units, n);
}

static void on_discovered(discover_job *j, int r, unit_info *units, size_t n, void *userdata) {
        monitor *m = userdata;

        m->discovery = discover_job_free(j);
        m->dbus_up = r >= 0;
        if (r >= 0)
                r = apply_units(m, units, (int) n);
        m->refresh_cb(m, r, m->refresh_userdata);
}

int monitor_refresh_async(monitor *m, bool full, monitor_refresh_cb cb, void *userdata) {
        if (!m->bus)
                return -ENOTCONN;
        if (m->discovery)
                return -EBUSY;
        m->refresh_cb = cb;
        m->refresh_userdata = userdata;
        return discover_units_async(m->bus, m->cfg->units, m->cfg->monitor.timeout, full ? NULL : want_details, m,
                                    on_discovered, m, &m->discovery);
}

bool monitor_refreshing(const monitor *m) {
        return m->discovery != NULL;
}
