/* The monitor: its tunnels, the bus, and the steps of a round shared by check, status and daemon. */
#include <jansson.h>
#include <time.h>

#include "../probes/probe.h"
#include "../probes/proc_stat.h"
#include "../probes/tcpinfo.h"
#include "heal.h"
#include "base/bus_names.h"
#include "base/log.h"
#include "monitor.h"

#define HEAL_TIMEOUT (90 * USEC_PER_SEC)
/* ssh asks for its -R forwards right after it logs in: a run older than this has logged any refusal. */
#define BUSY_SETTLE (5 * USEC_PER_SEC)

/* Lives as long as the probe: the probe keeps a pointer to the request. */
typedef struct probe_ctx {
        monitor *m;
        tunnel *t;
        probe_request req;
        ssh_target ssh;          /* borrowed from the tunnel's resolution, which outlives the probe */
        forward_address forward;
        /* monitor.expect compiled for this probe alone: glibc's regexec caches DFA states in the regex_t for
         * every new text it sees, so one kept for the daemon's life would grow with what peers send. */
        regex_t expect;
        bool has_expect;
        probe_result known;      /* the local verdict, when only the journal look runs */
        bool busy_settled;       /* a journal look that finds nothing rules the run out for good */
} probe_ctx;

static probe_ctx *probe_ctx_new(monitor *m, tunnel *t) {
        probe_ctx *c = malloc(sizeof *c);
        if (c)
                *c = (probe_ctx) { .m = m, .t = t };
        return c;
}

static void probe_ctx_free(probe_ctx *c) {
        if (c && c->has_expect)
                regfree(&c->expect);
        free(c);
}

tunnel *tunnel_free(tunnel *t) {
        if (!t)
                return NULL;
        probe_cancel(t->running);
        probe_ctx_free(t->probe_ctx);
        forwards_cancel(t);
        free(t->forwards);
        strv_free(t->forwards_down_saved);
        sd_event_source_disable_unref(t->next_probe);
        unit_info_done(&t->unit);
        ssh_resolved_done(&t->ssh);
        ssh_resolve_job_free(t->resolving);
        strv_free(t->resolved_for_argv);
        free(t->resolve_error);
        free(t->name);
        free(t);
        return NULL;
}

int monitor_new(const config *cfg, bool dry_run, sd_event *e, monitor **ret) {
        monitor *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->cfg = cfg;
        m->dry_run = dry_run;
        m->event = sd_event_ref(e);
        if (tcpinfo_new(&m->tcp) < 0) {
                monitor_free(m);
                return -ENOMEM;
        }
        if (gethostname(m->host, sizeof m->host - 1) < 0)
                snprintf(m->host, sizeof m->host, "localhost");
        *ret = m;
        return 0;
}

monitor *monitor_free(monitor *m) {
        if (!m)
                return NULL;
        m->discovery = discover_job_free(m->discovery);
        json_decref(m->other_units_state);
        strv_free(m->audit_logged);
        for (size_t i = 0; i < m->n_tunnels; i++)
                tunnel_free(m->tunnels[i]);
        free(m->tunnels);
        monitor_disconnect_bus(m);
        tcpinfo_free(m->tcp);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int monitor_connect_bus(monitor *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        (void) sd_bus_set_method_call_timeout(bus, m->cfg->monitor.timeout);
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                sd_bus_unref(bus);
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        }
        /* Subscribe() makes systemd send JobRemoved and unit signals to us. */
        r = sd_bus_call_method(bus, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH, SYSTEMD_MANAGER_INTERFACE, "Subscribe", &error,
                               NULL, NULL);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return log_error_errno(r, "Failed to talk to systemd over the system bus: %s",
                                       error.message ?: strerror(-r));
        }
        r = heal_tracker_new(bus, m->event, &m->heal);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return log_error_errno(r, "Failed to watch systemd jobs: %m");
        }
        m->bus = bus;
        m->dbus_up = true;
        return 0;
}

void monitor_disconnect_bus(monitor *m) {
        m->discovery = discover_job_free(m->discovery); /* its replies would never come */
        m->heal = heal_tracker_free(m->heal);
        if (m->bus) {
                sd_bus_detach_event(m->bus);
                m->bus = sd_bus_flush_close_unref(m->bus);
        }
        m->dbus_up = false;
}

tunnel *monitor_find(monitor *m, const char *name) {
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (streq(m->tunnels[i]->name, name))
                        return m->tunnels[i];
        return NULL;
}

heal_policy monitor_policy(const monitor *m, const tunnel *t) {
        const monitor_settings *s = t->settings ?: &m->cfg->monitor;
        const heal_settings *h = &m->cfg->heal;
        return (heal_policy) {
                .failures = s->failures,
                .grace = s->grace,
                .enabled = h->enabled,
                .backoff = h->backoff,
                .backoff_max = h->backoff_max,
                .max_restarts = h->max_restarts,
                .window = h->window,
        };
}

/* A verdict and its consequences: counters, the journal line on a transition, events. Reads the result
 * and the tunnel, nothing else: what needed looking at, the probe step looked at. */
static void tunnel_record(monitor *m, tunnel *t, const probe_result *r) {
        usec_t now = now_usec(CLOCK_REALTIME);
        heal_policy p = monitor_policy(m, t);
        tunnel_state old = t->last_verdict.state;

        t->last_probe = *r;
        t->probed = true;
        t->probes_total++;
        /* The passive view of ssh's own connection the probe brought: exported, and it explains a failure. */
        char why[128] = "";
        t->tcp = r->tcp;
        if (probe_result_starved(r))
                snprintf(why, sizeof why, "the host was starved of CPU for %.0f %% of the probe, its connection "
                         "all acknowledged", r->cpu_stall * 100);
        else if (t->tcp.valid && r->status != PROBE_OK && tcpinfo_explain(&t->tcp, "bastion", why, sizeof why) <= 0 &&
                 t->tcp.last_ack_age_seconds * USEC_PER_SEC >= (double) t->settings->timeout)
                snprintf(why, sizeof why, "last ACK from bastion %.0f s ago", t->tcp.last_ack_age_seconds);

        if (r->status == PROBE_OK)
                t->last_success_realtime = now;
        else {
                t->probe_failures[r->status]++;
                /* A long detail may cut the TCP view off: the probe's own words matter more. */
                /* listen_busy is fixed on the bastion, not here: the alert says how. */
                const char *fix = r->status == PROBE_LISTEN_BUSY ? "; fix on the bastion: sshd ClientAliveInterval "
                        "(e.g. 15, CountMax 3), or rtun-monitor bastion daemon with bastion.reap = yes" : "";
                if (snprintf(t->reason_text, sizeof t->reason_text, "%s%s%s%s%s%s", probe_status_to_string(r->status),
                             *r->detail ? ": " : "", r->detail, fix, *why ? "; " : "", why) >=
                    (int) sizeof t->reason_text)
                        log_debug("%s: reason cut to %zu bytes", t->name, sizeof t->reason_text - 1);
        }

        observation o = {
                .probeable = t->resolved,
                .ours = r->ours,
                .active_state = t->unit.active_state,
                .start_limit_hit = streq_ptr(t->unit.result, "start-limit-hit"),
                .unit_started_at = t->unit.started_at,
                .status = r->status,
                .starved = probe_result_starved(r),
        };
        verdict v = decide(&t->health, &o, &p, now);
        t->last_verdict = v;
        if (v.state == TUNNEL_UP) {
                t->reason_text[0] = 0;
                t->would_restart = false;
        }
        if (!t->resolved)
                snprintf(t->reason_text, sizeof t->reason_text, "error: %s", strna(t->resolve_error));

        if (v.state != old && !(old == TUNNEL_UNKNOWN && v.state == TUNNEL_UP && !t->health.announced_down))
                log_full(v.state == TUNNEL_UP ? LOG_NOTICE : LOG_WARNING, "%s: %s -> %s (%s)%s%s", t->name,
                         tunnel_state_to_string(old), tunnel_state_to_string(v.state),
                         v.state == TUNNEL_UP ? "probe ok" : t->reason_text, v.why ? ", " : "", strempty(v.why));
        else
                log_debug("%s: %s, probe %s in %.3fs %s", t->name, tunnel_state_to_string(v.state),
                          probe_status_to_string(r->status), (double) r->duration / USEC_PER_SEC, r->detail);
        t->pending_events |= v.events;
        t->probed_at = now;
        t->verdict_began = t->probe_began;
}

/* The tunnel's probe and its forwards' are all in: one verdict, then each forward's. */
static void probe_complete(monitor *m, tunnel *t, const probe_result *r) {
        if (m->probes_running > 0)
                m->probes_running--;
        tunnel_record(m, t, r);
        forwards_record(m, t, r);
        /* A restart seen while this probe ran: the new process gets its own `ssh -G` before its next probe. */
        tunnel_resolve_recheck(m, t);
        if (m->on_probed)
                m->on_probed(m, t, m->userdata);
}

static bool has_other_forwards(const tunnel *t) {
        for (size_t i = 0; i < t->n_forwards; i++)
                if (!t->forwards[i].primary)
                        return true;
        return false;
}

/* The tunnel's own probe is in. When it answered, its other forwards are probed now, after it: a refused
 * channel's reason is the newest "open failed" line in the unit's journal since the probe began, and a
 * forward's line (a -L that is prohibited) must never be read as the tunnel's. When it did not, they are
 * not probed: the tunnel is what is down. */
static void probe_finished(monitor *m, tunnel *t, const probe_result *r) {
        t->running = NULL;
        if (r->status == PROBE_OK && (r->kind == PROBE_KIND_MUX || r->kind == PROBE_KIND_SSH || r->kind == PROBE_KIND_TCP) &&
            has_other_forwards(t)) {
                t->main_result = *r;
                t->main_pending = true;
                forwards_probe(m, t, r->kind);
                if (t->forward_probes_running > 0)
                        return; /* monitor_forward_part_done() completes it */
                t->main_pending = false;
        }
        probe_complete(m, t, r);
}

void monitor_forward_part_done(monitor *m, tunnel *t) {
        if (t->forward_probes_running > 0 || !t->main_pending)
                return;
        t->main_pending = false;
        probe_result r = t->main_result;
        probe_complete(m, t, &r);
}

static void on_probe_result(probe *p, const probe_result *r, void *userdata) {
        probe_ctx *c = userdata;
        monitor *m = c->m;
        tunnel *t = c->t;
        /* A run whose journal had no refused forward will not get one: no fork per failed probe for it. */
        if (c->req.unit_started_at != 0 && probe_listen_busy_explains(r->status) && c->busy_settled)
                t->busy_ruled_out = c->req.unit_started_at;
        t->probe_ctx = NULL;
        probe_ctx_free(c);
        probe_finished(m, t, r);
}

/* Results known without touching the network: unit not active, ssh stopped or a zombie. */
static bool local_verdict(const tunnel *t, probe_result *r) {
        *r = (probe_result) { .kind = PROBE_KIND_NONE };
        if (!t->resolved) {
                r->status = PROBE_ERROR;
                snprintf(r->detail, sizeof r->detail, "%s", strna(t->resolve_error));
                return true;
        }
        if (t->unit.active_state != UNIT_ACTIVE && t->unit.active_state != UNIT_RELOADING) {
                r->status = PROBE_UNIT_DOWN;
                snprintf(r->detail, sizeof r->detail, "unit is %s (%s)",
                         strna(unit_active_state_to_string(t->unit.active_state)), strna(t->unit.sub_state));
                return true;
        }
        if (t->unit.main_pid <= 0) {
                r->status = PROBE_UNIT_DOWN;
                snprintf(r->detail, sizeof r->detail, "unit has no main process");
                return true;
        }
        r->status = proc_stat_check(t->unit.main_pid, r->detail, sizeof r->detail);
        return r->status != PROBE_OK;
}

void monitor_prefetch_tcp(monitor *m) {
        _cleanup_(freep) tcpinfo_query *q = calloc(m->n_tunnels + 1, sizeof *q);
        size_t n = 0;

        if (!q)
                return; /* each verdict looks for its own */
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                if (t->resolved && t->unit.main_pid > 0)
                        q[n++] = (tcpinfo_query) { .pid = t->unit.main_pid, .remote_port = t->ssh.port };
        }
        int r = tcpinfo_prefetch(m->tcp, q, n);
        if (r < 0)
                log_debug_errno(r, "TCP connections not looked up at once (each verdict will): %m");
}

static int probe_now(monitor *m, tunnel *t);

/* A unit that systemd is restarting (or gave up on) may have exited on a refused forward: its journal says
 * (an administrator's stop, or a start we do not know, says nothing of the kind). */
static bool looks_for_busy_port(const tunnel *t, const probe_result *r) {
        return r->status == PROBE_UNIT_DOWN && t->resolved && t->unit.started_at != 0 &&
                t->unit.active_state != UNIT_INACTIVE && t->unit.started_at != t->busy_ruled_out;
}

int monitor_probe(monitor *m, tunnel *t) {
        if (tunnel_probing(t) || t->probe_deferred)
                return -EBUSY;
        m->probes_running++;
        /* `ssh -G` is running for it: probing what was resolved before would probe the wrong thing. */
        if (tunnel_resolving(t)) {
                t->probe_deferred = true;
                return 0;
        }
        return probe_now(m, t);
}

void monitor_probe_deferred(monitor *m, tunnel *t) {
        (void) probe_now(m, t);
}

/* What the probe goes through, in the probes' terms: the tunnel's resolution, borrowed. */
static void probe_ctx_target(probe_ctx *c, const tunnel *t) {
        const ssh_resolved *s = &t->ssh;

        c->ssh = ssh_resolved_target(s);
        if (t->forward)
                c->forward = (forward_address) { .listen_host = t->forward->listen_host,
                                                 .listen_port = t->forward->listen_port };
}

/* The probe itself; m->probes_running already counts it. */
static int probe_now(monitor *m, tunnel *t) {
        probe_result r;
        probe_kind k = PROBE_KIND_NONE;
        probe_ctx *c = NULL;

        t->probe_began = now_usec(CLOCK_REALTIME);
        bool known = local_verdict(t, &r);
        if (known && (!looks_for_busy_port(t, &r) || !(c = probe_ctx_new(m, t)))) {
                if (t->resolved && t->unit.main_pid > 0)
                        r.tcp = tcpinfo_view(m->tcp, t->unit.main_pid, t->ssh.port);
                probe_finished(m, t, &r);
                return 0;
        }
        if (!known && (k = probe_kind_pick(t->settings->probe, t->ssh.control_path)) == PROBE_KIND_NONE) {
                /* The passive view all the same, as a probe brings it: a stopped ssh's connection explains. */
                if (t->resolved && t->unit.main_pid > 0)
                        r.tcp = tcpinfo_view(m->tcp, t->unit.main_pid, t->ssh.port);
                /* Still delivered through the loop, so callers see one shape of completion. */
                probe_finished(m, t, &r);
                return 0;
        }

        if (!c)
                c = probe_ctx_new(m, t);
        if (!c) {
                m->probes_running--;
                return log_oom();
        }
        if (known) {
                /* Only the journal look: is the forward's port still held? (The unit is not active.) */
                c->known = r;
                c->req.known = &c->known;
        } else if (!isempty_str(t->settings->expect)) {
                /* Validated when the config was read: this cannot fail but for memory. */
                int e = expect_compile(t->settings->expect, &c->expect, NULL, 0);
                if (e < 0) {
                        free(c);
                        m->probes_running--;
                        return log_error_errno(e, "%s: failed to compile monitor.expect: %m", t->name);
                }
                c->has_expect = true;
        }
        probe_ctx_target(c, t);
        /* journald may still be taking in a refusal logged just now: only a settled run is ruled out for good. */
        c->busy_settled = t->probe_began >= t->unit.started_at + BUSY_SETTLE;
        c->req = (probe_request) {
                .unit = t->name,
                .kind = k,
                .unit_started_at = t->unit.started_at != t->busy_ruled_out ? t->unit.started_at : 0,
                .known = c->req.known,
                .ssh = &c->ssh,
                .forward = t->forward ? &c->forward : NULL,
                .expect = c->has_expect ? &c->expect : NULL,
                .send = t->tcfg ? t->tcfg->send : NULL,
                .send_len = t->tcfg ? t->tcfg->send_len : 0,
                .timeout = t->settings->timeout,
                .as = &t->as,
                .tcp = m->tcp,
                .tcp_pid = t->unit.main_pid,
                .tcp_port = t->ssh.port,
        };
        int ret = probe_start(m->event, &c->req, on_probe_result, c, &t->running);
        if (ret >= 0)
                t->probe_ctx = c;
        if (ret < 0) {
                probe_ctx_free(c);
                m->probes_running--;
                return log_error_errno(ret, "%s: failed to start probe: %m", t->name);
        }
        return 0;
}

static void on_heal_done(const char *unit, int result, const char *job_result, void *userdata) {
        monitor *m = userdata;
        tunnel *t = monitor_find(m, unit);

        if (m->heals_running > 0)
                m->heals_running--;
        if (!t)
                return; /* the unit vanished meanwhile */
        t->healing = false;
        t->dirty = true; /* new MainPID and start time: read them at the next discovery */
        if (result < 0) {
                log_error("%s: restart failed (%s)", unit, job_result ?: strerror(-result));
                t->last_verdict.why = "restart failed";
        } else {
                heal_policy p = monitor_policy(m, t);
                restart_reason rr = restart_reason_from_string(t->last_verdict.restart_reason);
                if (rr >= 0 && rr < _RESTART_REASON_MAX)
                        t->restarts_total[rr]++;
                t->last_verdict.state = TUNNEL_STARTING;
                log_notice("%s: restarted (%s)", unit, strna(t->last_verdict.restart_reason));
                monitor_emit(m, t, decide_restarted(&t->health, &p, now_usec(CLOCK_REALTIME)));
        }
        t->last_verdict.action = HEAL_NONE;
        if (m->on_healed)
                m->on_healed(m, t, m->userdata);
}

int monitor_heal(monitor *m, tunnel *t) {
        verdict *v = &t->last_verdict;

        if (v->action == HEAL_NONE || t->healing)
                return 0;
        if (m->dry_run) {
                if (!t->would_restart) /* once per outage, not once per probe */
                        log_notice("%s: would restart (%s), dry run", t->name, strna(v->restart_reason));
                t->would_restart = true;
                v->action = HEAL_NONE;
                return 0;
        }
        if (!m->heal)
                return log_error_errno(ENOTCONN, "%s: cannot restart, no bus connection", t->name);
        int r = heal_start(m->heal, t->name, v->action, HEAL_TIMEOUT, on_heal_done, m);
        if (r < 0)
                return log_error_errno(r, "%s: failed to request restart: %m", t->name);
        m->heals_running++;
        t->healing = true;
        return 1;
}

void monitor_guard(monitor *m) {
        _cleanup_(freep) verdict *v = calloc(m->n_tunnels + 1, sizeof(verdict));
        if (!v)
                return;
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                v[i] = decide_guard_view(t->last_verdict, t->probed && t->resolved && !t->last_probe.ours &&
                                                 !probe_result_starved(&t->last_probe),
                                         t->last_probe.status);
        }
        unsigned events = decide_all_down(&m->guard, v, m->n_tunnels, m->cfg->heal.all_down_guard);
        /* The spell lasted until now when it ends here: a probe that began after the guard last looked but
         * before this moment still ran through it (the guard looks only when a verdict comes in). */
        if (m->guard.network_down || (events & EVENT_NETWORK_UP))
                m->all_down_seen_at = now_usec(CLOCK_REALTIME);
        if (!m->guard.network_down)
                for (size_t i = 0; i < m->n_tunnels; i++)
                        (void) decide_hold_after_spell(&v[i], m->tunnels[i]->verdict_began, m->all_down_seen_at);
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (v[i].action == HEAL_NONE && m->tunnels[i]->last_verdict.action != HEAL_NONE) {
                        m->tunnels[i]->last_verdict.action = HEAL_NONE;
                        m->tunnels[i]->last_verdict.why = v[i].why;
                }
        if (events & EVENT_NETWORK_DOWN)
                log_warning("All %zu tunnels are down at once: local network suspected, restarting none.",
                            m->n_tunnels);
        if (events & EVENT_NETWORK_UP)
                log_notice("Not every tunnel is down any more: healing resumes.");
        monitor_emit(m, NULL, events);
        monitor_flush_events(m);
}

void monitor_flush_events(monitor *m) {
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                unsigned ev = decide_fold_events(t->pending_events, &t->health, t->last_verdict.state,
                                                 m->guard.network_down, t->verdict_began > m->all_down_seen_at);
                t->pending_events = 0;
                monitor_emit(m, t, ev);
        }
}

void monitor_emit_forward(monitor *m, tunnel *t, const char *forward, unsigned events) {
        for (unsigned bit = EVENT_FORWARD_DOWN; bit <= EVENT_FORWARD_UP; bit <<= 1) {
                if (!(events & bit))
                        continue;
                const forward_watch *w = NULL;
                for (size_t i = 0; i < t->n_forwards && !w; i++)
                        if (streq(t->forwards[i].label, forward))
                                w = &t->forwards[i];
                monitor_event ev = {
                        .event = (tunnel_event) bit,
                        .tunnel = t,
                        .reason = w && bit == EVENT_FORWARD_DOWN ? w->reason : "",
                        .timestamp = now_usec(CLOCK_REALTIME),
                        .forward = forward,
                };
                log_info("%s: event %s (forward %s)", t->name, tunnel_event_to_string(bit), forward);
                if (m->sink)
                        m->sink(m, &ev, m->sink_userdata);
        }
}

void monitor_emit(monitor *m, tunnel *t, unsigned events) {
        for (unsigned bit = 1; bit && bit <= (unsigned) _EVENT_ALL; bit <<= 1) {
                if (!(events & bit))
                        continue;
                monitor_event ev = {
                        .event = (tunnel_event) bit,
                        .tunnel = t,
                        .reason = t ? t->reason_text : "",
                        .timestamp = now_usec(CLOCK_REALTIME),
                };
                if (!t && bit == EVENT_NETWORK_DOWN)
                        ev.reason = "every tunnel failed its probe at once";
                /* --dry-run: the alert says what would have been done (contract.md). */
                char dry[sizeof t->reason_text + 32];
                if (t && bit == EVENT_DOWN && m->dry_run && t->last_verdict.action != HEAL_NONE) {
                        snprintf(dry, sizeof dry, "%s (dry run: would restart)", t->reason_text);
                        ev.reason = dry;
                }
                log_info("%s%sevent %s", t ? t->name : "", t ? ": " : "", tunnel_event_to_string(bit));
                if (m->sink)
                        m->sink(m, &ev, m->sink_userdata);
        }
}

size_t monitor_count_down(const monitor *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_tunnels; i++)
                if (m->tunnels[i]->last_verdict.state != TUNNEL_UP)
                        n++;
        return n;
}
