/* libcurl multi on sd-event: sockets as io sources, the timer as a time source. */
#include <sys/epoll.h>

#include "../monitor/base/log.h"
#include "curl_event.h"

struct curl_event {
        sd_event *event;
        char *name;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source **ios;        /* one per socket curl watches, freed after curl_multi_cleanup */
        size_t n_ios;
        curl_event_progress_t progress;
        void *userdata;
};

static usec_t now_mono(sd_event *e) {
        usec_t t;
        if (sd_event_now(e, CLOCK_MONOTONIC, &t) < 0)
                t = now_usec(CLOCK_MONOTONIC);
        return t;
}

static void io_forget(curl_event *s, sd_event_source *io) {
        for (size_t i = 0; i < s->n_ios; i++)
                if (s->ios[i] == io) {
                        s->ios[i] = s->ios[--s->n_ios];
                        break;
                }
        sd_event_source_disable_unref(io);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        curl_event *s = userdata;
        int action = (revents & EPOLLIN ? CURL_CSELECT_IN : 0) | (revents & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (revents & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        int running;
        if (curl_multi_socket_action(s->multi, fd, action, &running) != CURLM_OK)
                log_warning("%s: curl socket action failed.", s->name);
        s->progress(s->userdata);
        return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        curl_event *s = userdata;
        sd_event_source *io = socketp;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        curl_multi_assign(s->multi, fd, NULL);
                        io_forget(s, io);
                }
                return 0;
        }
        uint32_t events = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EPOLLIN : 0) |
                          (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EPOLLOUT : 0);
        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0 ||
                    sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        sd_event_source **m = realloc(s->ios, (s->n_ios + 1) * sizeof *m);
        if (!m)
                return -1;
        s->ios = m;
        if (sd_event_add_io(s->event, &io, fd, events, on_io, s) < 0)
                return -1;
        (void) sd_event_source_set_description(io, "curl-io");
        s->ios[s->n_ios++] = io;
        if (curl_multi_assign(s->multi, fd, io) != CURLM_OK) {
                io_forget(s, io);
                return -1;
        }
        return 0;
}

static int on_curl_timer(sd_event_source *src, usec_t usec, void *userdata) {
        curl_event *s = userdata;
        int running;
        if (curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_warning("%s: curl timeout action failed.", s->name);
        s->progress(s->userdata);
        return 0;
}

/* timeout_ms: -1 disables the timer, 0 means as soon as possible. */
static int on_curl_timer_set(CURLM *multi, long timeout_ms, void *userdata) {
        curl_event *s = userdata;
        if (timeout_ms < 0)
                return s->timer && sd_event_source_set_enabled(s->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        usec_t t = now_mono(s->event) + (usec_t) timeout_ms * USEC_PER_MSEC;
        if (!s->timer) {
                if (sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, t, USEC_PER_MSEC,
                                      on_curl_timer, s) < 0)
                        return -1;
                (void) sd_event_source_set_description(s->timer, "curl-timer");
                return 0;
        }
        if (sd_event_source_set_time(s->timer, t) < 0 ||
            sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int curl_event_new(sd_event *e, const char *name, curl_event_progress_t progress, void *userdata,
                   curl_event **ret) {
        _cleanup_(freep) curl_event *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->name = strdup(name);
        s->multi = curl_multi_init();
        if (!s->name || !s->multi) {
                if (s->multi)
                        curl_multi_cleanup(s->multi);
                free(s->name);
                return -ENOMEM;
        }
        s->event = sd_event_ref(e);
        s->progress = progress;
        s->userdata = userdata;
        if (curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
            curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s) != CURLM_OK ||
            curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer_set) != CURLM_OK ||
            curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s) != CURLM_OK) {
                curl_event_free(TAKE_PTR(s));
                return -EIO;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

CURLM *curl_event_multi(curl_event *c) {
        return c->multi;
}

curl_event *curl_event_free(curl_event *s) {
        if (!s)
                return NULL;
        /* curl may still report sockets as removed while cleaning up: the glue must stay valid until then. */
        if (s->multi)
                curl_multi_cleanup(s->multi);
        while (s->n_ios > 0)
                io_forget(s, s->ios[s->n_ios - 1]);
        free(s->ios);
        sd_event_source_disable_unref(s->timer);
        sd_event_unref(s->event);
        free(s->name);
        free(s);
        return NULL;
}
