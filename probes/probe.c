/* The generic half of every probe: deadline, duration, exactly one deferred callback, cancel.
 * Kinds (probe_tcp.c, probe_ssh.c, probe_mux.c) only do I/O and call probe_finish(). */
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "../monitor/base/duration.h"
#include "../monitor/base/log.h"
#include "mux_journal.h"
#include "probe.h"
#include "psi.h"

#define PROBE_DEFAULT_TIMEOUT (5 * USEC_PER_SEC)
/* sd-event's default timer accuracy is 250ms: far too coarse for a deadline of a few seconds. */
#define PROBE_TIMER_ACCURACY (1 * USEC_PER_MSEC)

struct probe {
        sd_event *event;
        const probe_request *request;
        probe_done_t done;
        void *userdata;

        const probe_ops *ops;
        void *state;
        bool kind_released; /* ops->cancel ran */

        usec_t started;     /* CLOCK_MONOTONIC */
        uint64_t psi_started; /* the host's CPU stall total as it began (psi.h); psi_known: it could be read */
        bool psi_known;
        usec_t timeout;
        sd_event_source *deadline;
        sd_event_source *deliver; /* allocated up front (off), so finishing never fails */

        bool finished;
        bool delivering; /* inside the done callback: a probe_cancel() there is a no-op */
        probe_result result;
        mux_journal *busy_lookup; /* after a failure: is the forward's port still held on the bastion? */
};

/* The result is known already (req->known): nothing to run, only the journal look of delivery. */
static int known_start(probe *p, void *state) {
        const probe_result *k = p->request->known;
        probe_finish(p, k->status, "%s", k->detail);
        return 0;
}

static const probe_ops probe_known_ops = { .size = 1, .start = known_start };

static const probe_ops *probe_ops_for(const probe_request *req) {
        if (req->known)
                return &probe_known_ops;
        switch (req->kind) {
        case PROBE_KIND_MUX:
                return &probe_mux_ops;
        case PROBE_KIND_SSH:
                return &probe_ssh_ops;
        case PROBE_KIND_TCP:
                return &probe_tcp_ops;
        case PROBE_KIND_SOCKS:
                return &probe_socks_ops;
        default:
                return NULL;
        }
}

probe_kind probe_kind_pick(probe_kind configured, const char *control_path) {
        struct stat st;

        if (configured != PROBE_KIND_AUTO)
                return configured;
        if (!control_path)
                return PROBE_KIND_SSH;
        if (stat(control_path, &st) >= 0 ? S_ISSOCK(st.st_mode) : errno == EACCES)
                return PROBE_KIND_MUX; /* a master we may not see is still one: the mux probe says so */
        return PROBE_KIND_SSH;
}

sd_event *probe_event(probe *p) {
        return p->event;
}

const probe_request *probe_get_request(probe *p) {
        return p->request;
}

static void probe_release_kind(probe *p) {
        if (p->kind_released)
                return;
        p->kind_released = true;
        if (p->ops && p->ops->cancel && p->state)
                p->ops->cancel(p, p->state);
}

static probe *probe_free(probe *p) {
        if (!p)
                return NULL;
        probe_release_kind(p);
        mux_journal_free(p->busy_lookup); /* kills its child by pid if it still looks */
        sd_event_source_disable_unref(p->deadline);
        sd_event_source_disable_unref(p->deliver);
        sd_event_unref(p->event);
        free(p->state);
        free(p);
        return NULL;
}

probe *probe_cancel(probe *p) {
        if (p && p->delivering)
                return NULL; /* freed by on_deliver() once the callback returns */
        return probe_free(p);
}

static void probe_vfinish(probe *p, probe_status status, const char *fmt, va_list ap) {
        if (p->finished)
                return;
        p->finished = true;

        p->result.status = status;
        p->result.kind = p->request->known ? PROBE_KIND_NONE : p->request->kind;
        p->result.duration = now_usec(CLOCK_MONOTONIC) - p->started;
        uint64_t psi_now;
        p->result.cpu_stall = p->psi_known && psi_cpu_some_total(&psi_now) >= 0 ?
                psi_share(p->psi_started, psi_now, p->result.duration) : -1;
        p->result.detail[0] = 0;
        if (fmt)
                (void) vsnprintf(p->result.detail, sizeof p->result.detail, fmt, ap);

        /* Nothing of the kind may outlive the verdict: sockets, sources, the spawned ssh. */
        probe_release_kind(p);
        p->deadline = sd_event_source_disable_unref(p->deadline);

        int r = sd_event_source_set_enabled(p->deliver, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Failed to schedule the result of the probe of %s: %m", strna(p->request->unit));
}

void probe_finish(probe *p, probe_status status, const char *detail_fmt, ...) {
        va_list ap;

        va_start(ap, detail_fmt);
        probe_vfinish(p, status, detail_fmt, ap);
        va_end(ap);
}

void probe_finish_ours(probe *p, const char *detail_fmt, ...) {
        va_list ap;

        if (p->finished)
                return;
        va_start(ap, detail_fmt);
        probe_vfinish(p, PROBE_ERROR, detail_fmt, ap);
        va_end(ap);
        p->result.ours = true;
}

bool probe_listen_busy_explains(probe_status s) {
        return s == PROBE_TIMEOUT || s == PROBE_REFUSED || s == PROBE_NO_MASTER || s == PROBE_UNIT_DOWN;
}

static void deliver(probe *p) {
        /* The callback may still read the request through p; the loop stays alive through our ref. */
        p->delivering = true;
        p->done(p, &p->result, p->userdata);
        probe_free(p);
}

/* The probe's own words after the journal's: what the bastion's side says comes first. */
static void detail_prepend(probe_result *r, const char *fmt, ...) _printf_(2, 3);
static void detail_prepend(probe_result *r, const char *fmt, ...) {
        char was[sizeof r->detail];
        va_list ap;

        snprintf(was, sizeof was, "%s", r->detail);
        va_start(ap, fmt);
        int n = vsnprintf(r->detail, sizeof r->detail, fmt, ap);
        va_end(ap);
        if (*was && n > 0 && (size_t) n < sizeof r->detail)
                (void) snprintf(r->detail + n, sizeof r->detail - (size_t) n, "; %.*s",
                                (int) (sizeof r->detail - (size_t) n), was);
}

static void on_busy_lookup(mux_journal *j, mux_open_failure f, const char *reason, void *userdata) {
        probe *p = userdata;

        p->busy_lookup = mux_journal_free(j);
        if (f == MUX_OPEN_FAILURE_LISTEN_BUSY) {
                p->result.status = PROBE_LISTEN_BUSY;
                detail_prepend(&p->result, "the bastion still holds %s from a dead session (ssh: remote port forwarding failed)",
                               reason);
        } else if (f == MUX_OPEN_FAILURE_HOST_KEY) {
                /* reason: "changed" or "not known", then ssh's own ssh-keygen line when it gave one. */
                const char *fix = strchr(reason, ';');
                bool changed = strncmp(reason, "changed", 7) == 0;
                p->result.status = PROBE_HOST_KEY_CHANGED;
                detail_prepend(&p->result, "ssh refuses the bastion's host key (%s); if the new key is legitimate: %s, then "
                               "systemctl restart %s",
                               changed ? "it changed" : "not in known_hosts",
                               fix ? fix + 2 : changed ? "remove the old one with ssh-keygen -R" : "add it to the unit's known_hosts",
                               p->request->unit);
        }
        deliver(p);
}

static int on_deliver(sd_event_source *s, void *userdata) {
        probe *p = userdata;
        const probe_request *req = p->request;

        /* Looked at now, as the result is handed over: the connection as the probe left it. */
        if (req->tcp && req->tcp_pid > 0)
                p->result.tcp = tcpinfo_view(req->tcp, req->tcp_pid, req->tcp_port);

        /* ssh's own line says whether a held port explains the failure: read off the loop, bounded. */
        if (req->unit && req->unit_started_at != 0 && probe_listen_busy_explains(p->result.status)) {
                const mux_journal_query q = {
                        .unit = req->unit,
                        .since = req->unit_started_at,
                        .deadline = now_usec(CLOCK_MONOTONIC) + PROBE_LISTEN_BUSY_LOOKUP_MAX,
                        .search = mux_journal_search_forward,
                        .tries = 2, /* the line of an ssh that just exited may still be on its way */
                };
                int r = mux_journal_start(p->event, &q, on_busy_lookup, p, &p->busy_lookup);
                if (r >= 0)
                        return 0;
                log_debug_errno(r, "%s: cannot look for a refused forward in the journal: %m", strna(req->unit));
        }
        deliver(p);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        probe *p = userdata;
        char buf[32];

        probe_finish(p, PROBE_TIMEOUT, "no answer within %s", format_duration(buf, sizeof buf, p->timeout));
        return 0;
}

int probe_start(sd_event *e, const probe_request *req, probe_done_t done, void *userdata, probe **ret) {
        const probe_ops *ops;
        int r;

        if (!e || !req || !done || !ret)
                return -EINVAL;
        ops = probe_ops_for(req);
        if (!ops)
                return -EINVAL;

        _cleanup_(freep) probe *p = calloc(1, sizeof(probe));
        if (!p)
                return -ENOMEM;
        *p = (probe) {
                .event = sd_event_ref(e),
                .request = req,
                .done = done,
                .userdata = userdata,
                .ops = ops,
                .started = now_usec(CLOCK_MONOTONIC),
                .timeout = req->timeout > 0 ? req->timeout : PROBE_DEFAULT_TIMEOUT,
        };
        p->psi_known = psi_cpu_some_total(&p->psi_started) >= 0;
        p->state = calloc(1, MAX(ops->size, (size_t) 1));
        if (!p->state) {
                probe_free(TAKE_PTR(p));
                return -ENOMEM;
        }

        r = sd_event_add_defer(e, &p->deliver, on_deliver, p);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->deliver, SD_EVENT_OFF);
        if (r >= 0 && p->timeout != USEC_INFINITY)
                r = sd_event_add_time_relative(e, &p->deadline, CLOCK_MONOTONIC, p->timeout,
                                               PROBE_TIMER_ACCURACY, on_deadline, p);
        if (r < 0) {
                p->kind_released = true; /* the kind never started: nothing to release */
                probe_free(TAKE_PTR(p));
                return r;
        }
        (void) sd_event_source_set_description(p->deliver, "probe-deliver");
        (void) sd_event_source_set_description(p->deadline, "probe-deadline");

        /* A kind may finish synchronously (e.g. connect refused at once): the callback is deferred anyway. */
        r = ops->start(p, p->state);
        if (r < 0)
                probe_finish(p, PROBE_ERROR, "failed to start %s probe: %s", probe_kind_to_string(req->kind),
                             strerror(-r));

        *ret = TAKE_PTR(p);
        return 0;
}
