/* The monitor's in-memory state: one struct tunnel per discovered unit, owned by the round.
 * Exporters (metrics, textfile, alerts) only read it. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "decide.h"
#include "discover.h"
#include "forward.h"
#include "resolve.h"
#include "../probes/tcpinfo.h"

typedef enum restart_reason {
        RESTART_REASON_PROBE,
        RESTART_REASON_FAILED,
        RESTART_REASON_STOPPED,
        _RESTART_REASON_MAX,
} restart_reason;


typedef struct tunnel {
        char *name;                    /* unit name: the "name" label */
        unit_info unit;                /* from the last discovery */
        bool resolved;                 /* ssh and forward are valid */
        char *resolve_error;           /* why not, for status and logs */
        ssh_resolved ssh;
        char **resolved_for_argv;      /* ExecStart argv the resolution was made from (cache key) */
        usec_t resolved_for_start;     /* ... and the process it describes (ExecMainStartTimestamp; 0: none) */
        struct monitor *monitor;       /* the monitor it belongs to (callbacks on the loop get the tunnel) */
        struct ssh_resolve_job *resolving; /* `ssh -G` running on the loop */
        bool resolve_wanted;           /* needs `ssh -G`, waits for one of the RESOLVE_PARALLEL slots */
        bool resolve_recheck;          /* discovery came while it was probed: look at its resolution once done */
        usec_t resolve_retry_at;       /* CLOCK_MONOTONIC: its `ssh -G` ran out of time (a slow NSS, a loaded host):
                                        * tried again from then on, the same process or not; 0: no retry due */
        bool probe_deferred;           /* a probe was asked for while it resolved: runs once it has */
        run_identity as;               /* the unit's User=, as the resolution was made: its ssh and probes run as it */
        const ssh_forward *forward;    /* points into ssh.forwards */
        char forward_label[128];       /* "localhost:21022": the "forward" label */
        forward_watch *forwards;       /* every forward of the resolution, the tunnel's own among them */
        size_t n_forwards;
        size_t forward_probes_running; /* parts of the forwards' probes in flight */
        probe_result main_result;      /* the tunnel's probe, landed while forward probes still ran */
        bool main_pending;
        char **forwards_down_saved;    /* check: "DIRECTION LABEL" of forwards an earlier run announced down,
                                        * applied when the watches are (re)built */
        const monitor_settings *settings; /* effective monitor.* for this unit (points into config) */
        const tunnel_config *tcfg;     /* [tunnel "UNIT"] section or NULL */

        tunnel_health health;          /* decide()'s memory */
        verdict last_verdict;
        probe_result last_probe;       /* last probe (kind, status, duration, detail) */
        bool probed;                   /* at least one probe finished */
        char reason_text[512];         /* the last non-ok reason, human form, for status/alerts */
        bool would_restart;            /* dry run: a restart was decided but not done */

        /* counters (monotonic over the process lifetime; check mode loads nothing of these) */
        uint64_t probes_total;
        uint64_t probe_failures[_PROBE_STATUS_MAX];
        usec_t last_success_realtime;  /* 0: never */
        uint64_t restarts_total[_RESTART_REASON_MAX];
        tcp_view tcp;

        /* loop bookkeeping (owned by the round) */
        struct probe *running;
        void *probe_ctx;               /* the running probe's request and callback context */
        sd_event_source *next_probe;   /* daemon: this tunnel's fixed-rate probe timer */
        unsigned attempts;             /* probes in this sweep (a run of check or status) */
        bool probe_queued;             /* the sweep's: waits for a launch slot */
        usec_t probe_launched;         /* CLOCK_MONOTONIC of its last launch by the sweep */
        bool verify;                   /* check: restarted in this run, probed until it answers */
        bool healing;                  /* a restart job is in flight */
        unsigned pending_events;       /* raised by decide(), sent once the all-down guard has spoken */
        usec_t probed_at;              /* realtime of the last verdict */
        usec_t probe_began;            /* realtime the running (or last) probe began */
        usec_t busy_ruled_out;         /* the unit start (started_at) whose journal was read and had no refused
                                        * forward, once that run had ended or was past BUSY_SETTLE: not read again */
        usec_t verdict_began;          /* realtime the probe behind the last verdict began */
        bool guard_pending;            /* owes the running sweep a probe (the guard waits for it) */
        unsigned probe_after_refresh;  /* daemon: probe soon after the refresh of this number (0: none) */
        bool seen;                     /* found in the latest discovery */
        bool dirty;                    /* systemd said its properties changed: fetch them again */
} tunnel;

/* A resolution an earlier run made (the state file): taken for the unit of that name while it runs the
 * same command line in the same process, instead of running `ssh -G` again. */
typedef struct resolve_seed {
        char *name;
        char **argv;
        usec_t started_at;
        char *ssh_g;                   /* ssh_resolved_format() text */
} resolve_seed;

struct alert_counters;
struct heal_tracker;
struct monitor;
typedef void (*monitor_tunnel_cb)(struct monitor *m, tunnel *t, void *userdata);

/* One event as it leaves the round (contract.md "Alerts"), handed to the sink the mode set. */
typedef struct monitor_event {
        tunnel_event event;            /* exactly one bit */
        const tunnel *tunnel;          /* NULL: host-wide (network_down, network_up) */
        const char *reason;            /* never NULL */
        usec_t timestamp;              /* CLOCK_REALTIME */
        const char *forward;           /* forward_down/up: the forward's label; NULL: the tunnel's */
} monitor_event;
typedef void (*monitor_event_sink)(const struct monitor *m, const monitor_event *ev, void *userdata);

typedef struct monitor {
        const config *cfg;
        bool dry_run;
        sd_event *event;
        sd_bus *bus;
        bool dbus_up;

        tunnel **tunnels;
        size_t n_tunnels;
        guard_state guard;
        usec_t all_down_seen_at;       /* realtime the guard last found every tunnel down (0: not in this process) */

        usec_t round_duration;         /* of the last full round */
        usec_t last_round_end;         /* realtime */
        /* Each alert receiver's counters, for the reports: owned by its sender (exporters/alert.h), which
         * the running mode owns; borrowed here so /metrics and the textfile show them. */
        const struct alert_counters *const *alert_counters;
        size_t n_alert_counters;
        struct heal_tracker *heal;
        tcpinfo *tcp;                  /* where each tunnel's ssh connection was found (probes/tcpinfo.h) */
        const resolve_seed *seeds;     /* for the first discovery only (borrowed) */
        struct discover_job *discovery; /* monitor_refresh_async() in flight */
        void (*refresh_cb)(struct monitor *m, int r, void *userdata); /* ... and who hears of it: kept here, */
        void *refresh_userdata;         /* not in the job, so a job cancelled at exit leaks nothing */
        struct json_t *other_units_state; /* state file entries of units outside monitor.units (owned) */
        char **audit_logged;           /* the audit's errors already in the journal ("UNIT: error: ..."); kept in
                                        * the state file, so check logs each once per change, not every run */
        unsigned resolutions;          /* bumped by every resolution and every unit gone: audit again */
        unsigned audited;              /* m->resolutions when the audit was last logged (+1: never) */
        size_t n_seeds;
        char host[256];                /* this host's name, for alerts */

        /* Where events leave the round (monitor_emit): the mode's alert senders; NULL: the journal only. */
        monitor_event_sink sink;
        void *sink_userdata;

        /* what the round driver (round.c) does when a probe, a restart or a resolution finished */
        void *userdata;                /* the driver's, handed to on_probed, on_healed and on_resolved */
        monitor_tunnel_cb on_probed;
        monitor_tunnel_cb on_healed;
        size_t probes_running;         /* counts deferred probes too: they are owed a callback */
        size_t resolves_running;       /* `ssh -G` on the loop */
        monitor_tunnel_cb on_resolved; /* a tunnel's resolution landed (a sweep launches what waited for it) */
        size_t heals_running;
        size_t guard_outstanding;      /* tunnels that owe the running sweep a probe (guard_pending) */
} monitor;

int monitor_new(const config *cfg, bool dry_run, sd_event *e, monitor **ret);
monitor *monitor_free(monitor *m);
/* Opens the system bus (attached to the loop, Subscribe()d). -errno when unreachable. */
int monitor_connect_bus(monitor *m);
void monitor_disconnect_bus(monitor *m);
/* Discovery + resolution (discover_tunnels.c): brings m->tunnels in line with the units systemd has now.
 * full: fetch every unit's properties; otherwise only those of new units, units whose state or job changed,
 * and units marked dirty (PropertiesChanged), the listing tells the rest. */
int monitor_refresh(monitor *m, bool full);
/* The same on the loop (the daemon): cb runs when it is done (r < 0: discovery failed, tunnels as they
 * were). -EBUSY while one is in flight; monitor_disconnect_bus() drops it without calling cb. */
typedef void (*monitor_refresh_cb)(struct monitor *m, int r, void *userdata);
int monitor_refresh_async(monitor *m, bool full, monitor_refresh_cb cb, void *userdata);
bool monitor_refreshing(const monitor *m);
/* Starts one probe of t (unit and process state first, then the end-to-end probe). m->on_probed is
 * called when t->last_verdict holds the new verdict. */
int monitor_probe(monitor *m, tunnel *t);
/* Before a round over many tunnels none has been looked at yet (a check run): finds every tunnel's TCP
 * connection to its bastion at once, so the verdicts that follow do not each walk the host's sockets. */
void monitor_prefetch_tcp(monitor *m);
/* Carries out t->last_verdict.action (or only reports it under --dry-run); m->on_healed afterwards. */
int monitor_heal(monitor *m, tunnel *t);
/* The all-down guard over every tunnel's last probe; cancels pending actions when it holds. */
void monitor_guard(monitor *m);
/* The journal line and the sink for events of t (NULL for host-wide events). */
void monitor_emit(monitor *m, tunnel *t, unsigned events);
/* The same for events of one of t's forwards (forward_down, forward_up), named by its label. */
void monitor_emit_forward(monitor *m, tunnel *t, const char *forward, unsigned events);
/* Sends the tunnels' pending events. While the local network is suspected (all down), each tunnel's
 * own down/recovered is folded into the one network_down/network_up; a tunnel still down when the
 * network is back gets its down then. monitor_guard() calls it. */
void monitor_flush_events(monitor *m);
tunnel *monitor_find(monitor *m, const char *name);
/* A probe of t is in flight: its own, or one of its forwards', or its verdict waits for them. */
static inline bool tunnel_probing(const tunnel *t) {
        return t->running || t->forward_probes_running > 0 || t->main_pending;
}
/* The forwards' probes (forward_probe.c). Starts one per forward but the tunnel's own, once the tunnel's
 * probe of kind k answered (each part counted in t->forward_probes_running; monitor_forward_part_done()
 * lands each). */
void forwards_probe(monitor *m, tunnel *t, probe_kind k);
/* Stops them; no callback. */
void forwards_cancel(tunnel *t);
/* The tunnel's verdict is in (r is its probe): each forward's result recorded, decided, announced. */
void forwards_record(monitor *m, tunnel *t, const probe_result *r);
/* One part of a forward's probe landed (monitor.c finishes the tunnel's probe when it was the last). */
void monitor_forward_part_done(monitor *m, tunnel *t);
/* (Re)builds t->forwards from t->ssh (resolve_apply), keeping what carries over. -ENOMEM. */
int tunnel_forwards_rebuild(tunnel *t);
/* The forwards announced down, as "DIRECTION LABEL" (the state file's "forwards_down"); NULL: none. And back:
 * the saved list applied to the watches there are (kept for a rebuild when there are none yet). */
struct json_t *tunnel_forwards_down_to_json(const tunnel *t);
void tunnel_forwards_down_restore(tunnel *t, struct json_t *list);
/* Frees a tunnel, cancelling its probe and timer (monitor.c; discover_tunnels.c drops tunnels whose unit went). */
tunnel *tunnel_free(tunnel *t);
/* Resolves each unit's ExecStart into t->ssh and t->forward, several `ssh -G` at once; on failure
 * t->resolve_error says why and the tunnel is UNKNOWN, never acted on. A resolution describes the running
 * ssh process (which read its ssh_config when it started): it is kept while the command line and the
 * process stay the same, and a seed of the same name and key stands in for `ssh -G`. */
/* Resolution on the loop: decides which tunnels need `ssh -G` (ExecStart or process changed) and starts
 * them, RESOLVE_PARALLEL at once; each lands through m->on_resolved. A tunnel resolving is not probed: a
 * probe asked for meanwhile waits for it (monitor_probe). */
void tunnels_resolve(monitor *m);
bool tunnel_resolving(const tunnel *t);
/* The state to show (status, metrics): unknown before the first probe and while a resolution runs. */
tunnel_state tunnel_shown_state(const tunnel *t);
/* The cache rule: a resolution made from resolved_argv for the process started at resolved_start still
 * describes a unit now running argv in the process started at started_at (main_pid <= 0: not running). */
bool resolution_current(char *const *resolved_argv, usec_t resolved_start, char *const *argv, pid_t main_pid,
                        usec_t started_at);
/* Stops t's resolution, if any (its unit went away, or changed under it). */
void tunnel_resolve_cancel(monitor *m, tunnel *t);
/* Its probe is done: the resolution check a discovery skipped meanwhile (a new process) runs now. */
void tunnel_resolve_recheck(monitor *m, tunnel *t);
/* Starts the probe monitor_probe() deferred while t resolved (probes_running already counts it). */
void monitor_probe_deferred(monitor *m, tunnel *t);
size_t monitor_count_down(const monitor *m);
heal_policy monitor_policy(const monitor *m, const tunnel *t);

const char *restart_reason_to_string(restart_reason r);
restart_reason restart_reason_from_string(const char *s);
