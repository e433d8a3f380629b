/* `rtun-monitor bastion daemon`: the bastion round on a timer, /metrics and /sd, alerts for hosts that go
 * and come back and for keys about to expire, and the key files re-read when they change. */
#include <sys/inotify.h>
#include <systemd/sd-daemon.h>

#include "../../exporters/alert.h"
#include "../../exporters/bastion_metrics.h"
#include "../../exporters/http_sd.h"
#include "../../exporters/http_server.h"
#include "../../exporters/metrics.h"
#include "../base/log.h"
#include "../config.h"
#include "../oneshot.h"
#include "../round.h"
#include "bastion_main.h"
#include "bastion_status.h"
#include "reaper.h"
#include "sshd_log.h"

#define RELOAD_DELAY (200 * USEC_PER_MSEC) /* an editor's save is several events: read once they settle */
#define WATCH_MAX 256
#define CLAIM_RECHECK (1 * USEC_PER_SEC) /* rounds this far apart while a port is claimed (sshd_log.h) */

typedef struct bastion_daemon {
        const config *cfg;
        bool dry_run;
        sd_event *event;
        fleet fleet;
        bastion_round *round;
        unsigned findings[_AUDIT_CHECK_MAX][_AUDIT_SEVERITY_MAX];
        alert_sender **senders;
        size_t n_senders;
        http_server *http;
        sd_event_source *timer, *reload;
        struct file_watch {
                struct bastion_daemon *d;
                char *name;            /* the file's name in its directory: other files there are not ours */
                sd_event_source *source;
        } watches[WATCH_MAX];
        size_t n_watches;
        char **expiring;       /* fingerprints whose key_expiring was sent (strv) */
        char host[256];
        bool round_due;        /* the timer fired while a round was still running */
        reaper *reaper;
        uid_t *tunnel_uids;    /* bastion.users: only their sessions are ever ended */
        size_t n_tunnel_uids;
        sshd_log *sshd_log;    /* bastion.sshd_log: refused binds, the hosts asking for their ports back */
        sd_event_source *claim_timer;
} bastion_daemon;

static bool strv_has(char **l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

static void send_alert(bastion_daemon *d, tunnel_event event, const char *name, const char *forward,
                       const char *reason) {
        alert_event ev = {
                .event = event,
                .name = (char *) name,
                .bastion = d->host,
                .forward = (char *) forward,
                .reason = (char *) reason,
                .host = (char *) name, /* the host the event is about; bastion says who saw it */
        };
        log_notice("%s: event %s%s%s", strna(name), tunnel_event_to_string(event), *reason ? ": " : "", reason);
        for (size_t i = 0; i < d->n_senders; i++)
                (void) alert_sender_enqueue(d->senders[i], &ev);
}

static void on_port_events(const bastion_port *p, unsigned events, void *userdata) {
        bastion_daemon *d = userdata;
        char forward[64];
        snprintf(forward, sizeof forward, "localhost:%d", p->entry->port);
        if (events & PORT_EVENT_HOST_DOWN)
                send_alert(d, EVENT_HOST_DOWN, p->entry->key->comment, forward, p->reason);
        if (events & PORT_EVENT_HOST_UP)
                send_alert(d, EVENT_HOST_UP, p->entry->key->comment, forward, "");
}

static void notify_status(bastion_daemon *d) {
        size_t n, up = 0;
        const bastion_port *p = bastion_round_ports(d->round, &n);
        for (size_t i = 0; i < n; i++)
                up += p[i].health.state == PORT_UP;
        (void) sd_notifyf(false, "STATUS=%zu ports, %zu up, %zu key lines", n, up, d->fleet.keys.n_lines);
}

static bool tunnel_uid(const bastion_daemon *d, uid_t uid) {
        for (size_t i = 0; i < d->n_tunnel_uids; i++)
                if (d->tunnel_uids[i] == uid)
                        return uid != 0;
        return false;
}

/* A stale port whose session the kernel shows dead: end that session, so the host's next attempt binds.
 * One session may hold several ports (ssh and metrics): ended once, counted for each. */
static void reap(bastion_daemon *d) {
        size_t n;
        bastion_port *p = bastion_round_ports_mut(d->round, &n);
        usec_t now = now_usec(CLOCK_REALTIME);
        bool dry = d->dry_run || d->cfg->bastion.reap == BASTION_REAP_DRY_RUN;
        pid_t ended[16];
        size_t n_ended = 0;

        for (size_t i = 0; i < n; i++) {
                char why[160], forward[64], reason[384];
                pid_t pid = p[i].view.session_pid;
                bool claimed = p[i].claimed_at != 0;
                port_state st = reap_state(p[i].health.state, p[i].view.listener, p[i].probe == PROBE_OK,
                                           p[i].claimed_at, now_usec(CLOCK_MONOTONIC));
                if (p[i].health.state == PORT_UP || st != PORT_STALE)
                        p[i].claimed_at = 0; /* answered, or the claim is over */
                if (p[i].health.state == PORT_UP)
                        p[i].ended_pid = 0;
                /* Ended already: a session on its way out (SIGKILL follows) is not ended, nor counted, twice. */
                if (pid && pid == p[i].ended_pid)
                        continue;
                if (!pid || !reap_evidence(st, &p[i].view.tcp, why, sizeof why)) {
                        if (st == PORT_STALE)
                                log_debug("%s port %d stale, session %d: no evidence (view %s, unacked %u, last ACK "
                                          "%.1f s ago, backoff %u).", strna(p[i].entry->key->comment),
                                          p[i].entry->port, (int) pid, p[i].view.tcp.valid ? "valid" : "none",
                                          p[i].view.tcp.unacked, p[i].view.tcp.last_ack_age_seconds,
                                          p[i].view.tcp.backoff);
                        continue;
                }
                const char *host = strna(p[i].entry->key->comment);
                if (!tunnel_uid(d, p[i].view.uid)) {
                        log_warning("%s port %d: session %d is uid %u's, not a tunnel user's: not ended.", host,
                                    p[i].entry->port, (int) pid, (unsigned) p[i].view.uid);
                        continue;
                }
                if (dry) {
                        if (p[i].dry_run_said != pid)
                                log_notice("%s port %d: would end session %d (dry run): %s.", host, p[i].entry->port,
                                           (int) pid, why);
                        p[i].dry_run_said = pid;
                        continue;
                }
                bool done = false;
                for (size_t j = 0; j < n_ended; j++)
                        done = done || ended[j] == pid;
                if (!done) {
                        if (!reap_budget_allows(&p[i].budget, now)) {
                                log_warning("%s port %d: session %d is dead (%s), but %d sessions were ended for it "
                                            "within the hour: left alone.", host, p[i].entry->port, (int) pid, why,
                                            REAP_BUDGET);
                                continue;
                        }
                        int k = reaper_end_session(d->reaper, pid, p[i].view.uid);
                        if (k < 0) {
                                log_warning_errno(k, "%s port %d: cannot end session %d: %m", host, p[i].entry->port,
                                                  (int) pid);
                                continue;
                        }
                        if (n_ended < ELEMENTSOF(ended))
                                ended[n_ended++] = pid;
                }
                reap_budget_spend(&p[i].budget, now);
                p[i].reaped++;
                p[i].ended_pid = pid;
                char peer[64] = "?";
                (void) bastion_port_peer(&p[i], peer, sizeof peer);
                snprintf(forward, sizeof forward, "localhost:%d", p[i].entry->port);
                snprintf(reason, sizeof reason, "session %d from %s ended: %s%s", (int) pid, peer, why,
                         claimed ? "; its host asked for the port back" : "");
                p[i].claimed_at = 0;
                send_alert(d, EVENT_REAPED, p[i].entry->key->comment, forward, reason);
        }
}

static bool claims_open(bastion_daemon *d) {
        size_t n;
        const bastion_port *p = bastion_round_ports(d->round, &n);
        for (size_t i = 0; i < n; i++)
                if (p[i].claimed_at != 0)
                        return true;
        return false;
}

static void on_round_done(bastion_round *r, void *userdata) {
        bastion_daemon *d = userdata;
        if (d->cfg->bastion.reap != BASTION_REAP_NO || d->dry_run)
                reap(d);
        /* A claimed port is looked at again shortly: its old session's connection shows dead within seconds. */
        if (claims_open(d) && sd_event_source_set_time_relative(d->claim_timer, CLAIM_RECHECK) >= 0)
                (void) sd_event_source_set_enabled(d->claim_timer, SD_EVENT_ONESHOT);
        notify_status(d);
        /* A slow round (probes waiting for their timeout) delays the next by no more than it lasted. */
        if (d->round_due) {
                d->round_due = false;
                (void) bastion_round_start(d->round, on_port_events, on_round_done, d);
        }
}

static void round_now(bastion_daemon *d) {
        if (!bastion_round_running(d->round))
                (void) bastion_round_start(d->round, on_port_events, on_round_done, d);
        else
                d->round_due = true;
}

static int on_claim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        round_now(userdata);
        return 0;
}

/* sshd refused a new session the port: the host asks for it back. A look now, not at the next round; the
 * line only says when (anyone can put words in sshd's log), the kernel still says whether. */
static void on_refused_bind(int port, void *userdata) {
        bastion_daemon *d = userdata;
        size_t n;
        bastion_port *p = bastion_round_ports_mut(d->round, &n);
        usec_t now = now_usec(CLOCK_MONOTONIC);
        bool ours = false;

        if (d->cfg->bastion.reap == BASTION_REAP_NO && !d->dry_run)
                return; /* nothing to hurry for */
        for (size_t i = 0; i < n; i++) {
                if (p[i].entry->port != port)
                        continue;
                if (p[i].claimed_at == 0)
                        log_info("%s port %d: sshd refused a new session this port (its host asks for it back): "
                                 "looking at the session that holds it now.", strna(p[i].entry->key->comment), port);
                p[i].claimed_at = now;
                ours = true;
        }
        if (ours)
                round_now(d);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        bastion_daemon *d = userdata;
        sshd_log_poll(d->sshd_log);
        if (!bastion_round_running(d->round))
                (void) bastion_round_start(d->round, on_port_events, on_round_done, d);
        else
                d->round_due = true;
        (void) sd_event_source_set_time_relative(s, d->cfg->monitor.interval);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* key_expiring once per key (by fingerprint) for as long as the daemon runs: a warning, not a page a day. */
static void check_expiry(bastion_daemon *d) {
        usec_t now = now_usec(CLOCK_REALTIME);
        for (size_t i = 0; i < d->fleet.keys.n_lines; i++) {
                const authkey_line *k = &d->fleet.keys.lines[i];
                if (!k->has_expiry || k->expiry * USEC_PER_SEC > now + d->cfg->bastion.settings.expiry_warning ||
                    strv_has(d->expiring, k->fingerprint))
                        continue;
                char why[160];
                long long days = ((long long) k->expiry * USEC_PER_SEC - (long long) now) / (long long) (86400 * USEC_PER_SEC);
                if (k->expiry * USEC_PER_SEC <= now)
                        snprintf(why, sizeof why, "the key (%s) has expired: sshd refuses it", k->fingerprint);
                else
                        snprintf(why, sizeof why, "the key (%s) expires in %lld day%s", k->fingerprint, days,
                                 days == 1 ? "" : "s");
                send_alert(d, EVENT_KEY_EXPIRING, k->comment, "", why);
                (void) strv_push(&d->expiring, k->fingerprint);
        }
}

static void count_findings(bastion_daemon *d) {
        _cleanup_(audit_findings_done) audit_findings a = {};
        memset(d->findings, 0, sizeof d->findings);
        if (bastion_audit(d->cfg, &d->fleet, &a) >= 0)
                audit_findings_count(&a, d->findings);
}

static int watch_files(bastion_daemon *d);

/* The key files changed: the new fleet replaces the old, ports that stay keep their health. */
static int on_reload(sd_event_source *s, uint64_t usec, void *userdata) {
        bastion_daemon *d = userdata;
        fleet next = {};
        fleet_sources src = bastion_sources(d->cfg);
        if (fleet_load(&src, &d->cfg->bastion.settings, &next) < 0) {
                log_oom();
                return 0;
        }
        (void) bastion_report_sources(&next);
        if (bastion_round_reload(d->round, &next) < 0) {
                fleet_done(&next);
                log_oom();
                return 0;
        }
        fleet_done(&d->fleet);
        d->fleet = next;
        log_info("Key lines read again: %zu key lines, %zu ports.", d->fleet.keys.n_lines, d->fleet.ports.n);
        count_findings(d);
        check_expiry(d);
        (void) watch_files(d);
        (void) bastion_round_start(d->round, on_port_events, on_round_done, d);
        return 0;
}

static int on_change(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct file_watch *w = userdata;
        if (ev->len == 0 || !streq(ev->name, w->name))
                return 0;
        (void) sd_event_source_set_time_relative(w->d->reload, RELOAD_DELAY);
        (void) sd_event_source_set_enabled(w->d->reload, SD_EVENT_ONESHOT);
        return 0;
}

static void unwatch(bastion_daemon *d) {
        for (size_t i = 0; i < d->n_watches; i++) {
                d->watches[i].source = sd_event_source_disable_unref(d->watches[i].source);
                d->watches[i].name = mfree(d->watches[i].name);
        }
        d->n_watches = 0;
}

/* Each key file and sshd_config, through its directory (an editor replaces a file by renaming over it),
 * filtered to its own name: a busy directory's other files do not make us read the keys again. */
static int watch_files(bastion_daemon *d) {
        unwatch(d);
        for (size_t i = 0; i <= d->fleet.n_files && d->n_watches < WATCH_MAX; i++) {
                const char *f = i < d->fleet.n_files ? d->fleet.files[i] : d->cfg->bastion.sshd_config;
                _cleanup_(freep) char *dir = strdup(f);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (!slash || !slash[1])
                        continue;
                struct file_watch *w = &d->watches[d->n_watches];
                *w = (struct file_watch) { .d = d, .name = strdup(slash + 1) };
                *slash = 0;
                if (w->name && sd_event_add_inotify(d->event, &w->source, *dir ? dir : "/",
                                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                                    IN_ONLYDIR, on_change, w) >= 0)
                        d->n_watches++;
                else
                        w->name = mfree(w->name);
        }
        return 0;
}

static int render_metrics(void *userdata, char **ret, size_t *len) {
        bastion_daemon *d = userdata;
        size_t n;
        bastion_metrics_input in = {
                .ports = bastion_round_ports(d->round, &n),
                .keys = &d->fleet.keys,
                .findings = d->findings,
                .round_duration = bastion_round_duration(d->round),
        };
        in.n_ports = n;
        return bastion_metrics_render(&in, ret, len);
}

static int render_sd(void *userdata, char **ret, size_t *len) {
        bastion_daemon *d = userdata;
        return http_sd_render(&d->fleet.ports, ret, len);
}

static const http_route routes[] = {
        { "/metrics", METRICS_CONTENT_TYPE, render_metrics, true },
        { "/sd", "application/json", render_sd, false },
};

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, exiting.", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* /metrics and /sd, with bastion.web_config's TLS and users. */
static int setup_http(bastion_daemon *d) {
        web_config_loaded *web = NULL;
        int r;

        if (d->cfg->bastion.web_config) {
                char err[1024];
                r = web_config_load(d->cfg->bastion.web_config, &web, err, sizeof err);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_error("%s", err);
                        return -EINVAL; /* changed since the configuration was read: still bad usage */
                }
        }
        r = http_server_start_web(d->event, d->cfg->bastion.listen, web, routes, ELEMENTSOF(routes), d, &d->http);
        if (r < 0)
                return log_error_errno(r, "Cannot serve on %s: %m", d->cfg->bastion.listen);
        return 0;
}

/* The round's timer now; the key file's reload and the claimed ports' recheck off until wanted. */
static int setup_timers(bastion_daemon *d) {
        int r = sd_event_add_time_relative(d->event, &d->reload, CLOCK_MONOTONIC, RELOAD_DELAY, 0, on_reload, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->reload, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->timer, CLOCK_MONOTONIC, 0, 0, on_timer, d);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->claim_timer, CLOCK_MONOTONIC, CLAIM_RECHECK, 0,
                                               on_claim_timer, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->claim_timer, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the timers: %m");
        return 0;
}

static int setup(bastion_daemon *d) {
        int r;
        fleet_sources src = bastion_sources(d->cfg);
        bastion_round_params params = bastion_params(d->cfg);

        if (fleet_load(&src, &d->cfg->bastion.settings, &d->fleet) < 0)
                return log_oom();
        /* Without sshd's settings or a user, the fleet cannot be known: that is configuration. An unreadable
         * key file may be fixed while we run: it is read again on change. */
        for (size_t i = 0; i < d->fleet.n_errors; i++)
                if (!d->fleet.have_sshd || strstr(d->fleet.errors[i], "bastion.users"))
                        return bastion_report_sources(&d->fleet), -EINVAL;
        (void) bastion_report_sources(&d->fleet);
        count_findings(d);

        d->tunnel_uids = calloc(strv_length(d->cfg->bastion.users) + 1, sizeof(uid_t));
        if (!d->tunnel_uids)
                return log_oom();
        for (char **u = d->cfg->bastion.users; u && *u; u++) {
                run_identity id;
                if (run_identity_for_user(*u, &id) >= 0)
                        d->tunnel_uids[d->n_tunnel_uids++] = id.uid;
        }
        r = reaper_new(d->event, &d->reaper);
        if (r < 0)
                return log_oom();
        r = bastion_round_new(d->event, &d->fleet, &params, &d->round);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the round: %m");
        d->senders = calloc(d->cfg->n_alerts + 1, sizeof *d->senders);
        if (!d->senders)
                return log_oom();
        for (size_t i = 0; i < d->cfg->n_alerts; i++) {
                r = alert_sender_new(d->event, &d->cfg->alerts[i], &d->senders[d->n_senders]);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up alert receiver %s: %m", d->cfg->alerts[i].name);
                d->n_senders++;
        }
        if (sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, NULL) < 0 ||
            sd_event_add_signal(d->event, NULL, SIGINT, on_signal, NULL) < 0)
                return log_error_errno(EINVAL, "Cannot watch SIGTERM and SIGINT.");
        r = sd_event_set_watchdog(d->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");
        r = setup_http(d);
        if (r < 0)
                return r;
        r = setup_timers(d);
        if (r < 0)
                return r;
        if (!streq(d->cfg->bastion.sshd_log, SSHD_LOG_NONE)) {
                r = sshd_log_open(d->event, d->cfg->bastion.sshd_log, on_refused_bind, d, &d->sshd_log);
                if (r < 0) /* the fast path only: the rounds still reap */
                        log_warning_errno(r, "Cannot follow sshd's log (%s): refused binds not seen: %m",
                                          d->cfg->bastion.sshd_log);
        }
        (void) watch_files(d);
        check_expiry(d);
        return 0;
}

static void teardown(bastion_daemon *d) {
        unwatch(d);
        sd_event_source_disable_unref(d->timer);
        sd_event_source_disable_unref(d->reload);
        sd_event_source_disable_unref(d->claim_timer);
        sshd_log_free(d->sshd_log);
        http_server_free(d->http);
        for (size_t i = 0; i < d->n_senders; i++)
                alert_sender_free(d->senders[i]);
        free(d->senders);
        bastion_round_free(d->round);
        reaper_free(d->reaper);
        free(d->tunnel_uids);
        fleet_done(&d->fleet);
        strv_free(d->expiring);
}

int bastion_daemon_run(const config *cfg, bool dry_run) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        bastion_daemon d = { .cfg = cfg, .dry_run = dry_run };
        int r;

        round_block_signals(true);
        if (gethostname(d.host, sizeof d.host - 1) < 0)
                snprintf(d.host, sizeof d.host, "bastion");
        r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m"), RTUN_EXIT_FAILURE;
        d.event = e;
        r = setup(&d);
        if (r >= 0) {
                log_info("Watching %zu port%s of %zu key line%s, every %.3gs; serving %s.", d.fleet.ports.n,
                         d.fleet.ports.n == 1 ? "" : "s", d.fleet.keys.n_lines, d.fleet.keys.n_lines == 1 ? "" : "s",
                         (double) cfg->monitor.interval / USEC_PER_SEC, cfg->bastion.listen);
                (void) sd_notify(false, "READY=1");
                r = sd_event_loop(e);
        }
        teardown(&d);
        return r == -EINVAL ? RTUN_EXIT_USAGE : r < 0 ? RTUN_EXIT_FAILURE : RTUN_EXIT_OK;
}
