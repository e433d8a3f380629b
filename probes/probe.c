/* The generic half of every probe: deadline, duration, exactly one deferred callback, cancel.
 * Kinds (probe_tcp.c, probe_ssh.c, probe_mux.c) only do I/O and call probe_finish(). */
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "../monitor/base/duration.h"
#include "../monitor/base/log.h"
#include "probe.h"

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
        usec_t timeout;
        sd_event_source *deadline;
        sd_event_source *deliver; /* allocated up front (off), so finishing never fails */

        bool finished;
        bool delivering; /* inside the done callback: a probe_cancel() there is a no-op */
        probe_result result;
};

static const probe_ops *probe_ops_for(probe_kind kind) {
        switch (kind) {
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
        p->result.kind = p->request->kind;
        p->result.duration = now_usec(CLOCK_MONOTONIC) - p->started;
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

static int on_deliver(sd_event_source *s, void *userdata) {
        probe *p = userdata;

        /* Looked at now, as the result is handed over: the connection as the probe left it. */
        if (p->request->tcp && p->request->tcp_pid > 0)
                p->result.tcp = tcpinfo_view(p->request->tcp, p->request->tcp_pid, p->request->tcp_port);
        /* The callback may still read the request through p; the loop stays alive through our ref. */
        p->delivering = true;
        p->done(p, &p->result, p->userdata);
        probe_free(p);
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
        ops = probe_ops_for(req->kind);
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
