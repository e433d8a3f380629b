/* Delivers alerts from the event loop (libcurl multi on sd-event, curl_event.c): one ordered queue and
 * one request in flight per receiver, retries with backoff, Retry-After on 429, give-up after 1 h. */
#include <sys/random.h>
#include <time.h>

#include "curl_dl.h"
#include "curl_event.h"
#include "alert.h"

#ifndef VERSION
#define VERSION "0"
#endif

#define RETRY_CAP (5 * 60 * USEC_PER_SEC)
#define RETRY_AFTER_DEFAULT (30 * USEC_PER_SEC)
#define RETRY_AFTER_CAP (3600 * USEC_PER_SEC)
#define RESPONSE_LOG_MAX 200

typedef struct pending {
        alert_event ev;
        char *body;            /* the payload, built once */
        unsigned attempts;     /* requests started so far */
        usec_t first_try;      /* CLOCK_REALTIME when queued: the 1 h give-up counts from here */
} pending;

struct alert_sender {
        sd_event *event;
        const alert_receiver_config *rc;
        alert_counters counters;      /* ours; read through alert_sender_counters() */

        curl_event *loop;
        CURLM *multi;                 /* the loop's */

        pending *queue[ALERT_QUEUE_MAX]; /* ring */
        size_t head, n;

        CURL *easy;                   /* the request in flight for queue head, or NULL */
        struct curl_slist *headers;
        char response[RESPONSE_LOG_MAX + 1];
        size_t response_len;
        char errbuf[CURL_ERROR_SIZE];

        usec_t due;                   /* CLOCK_MONOTONIC when the head may be (re)sent */
        sd_event_source *retry_timer;
};

usec_t alert_retry_delay(unsigned attempt, uint64_t random) {
        if (attempt == 0)
                return 0;
        usec_t base = attempt > 20 ? RETRY_CAP : MIN(USEC_PER_SEC << (attempt - 1), RETRY_CAP);
        usec_t span = base / 5; /* +-20% keeps receivers of a fleet from being hit in lockstep */
        return MIN(base - span + random % (2 * span + 1), RETRY_CAP);
}

usec_t alert_retry_after(const char *value, usec_t now_realtime) {
        usec_t d = RETRY_AFTER_DEFAULT;
        if (value) {
                value += strspn(value, " \t");
                size_t digits = strspn(value, "0123456789");
                if (digits > 0 && value[digits + strspn(value + digits, " \t\r\n")] == 0) {
                        unsigned long long secs = strtoull(value, NULL, 10); /* ULLONG_MAX on overflow */
                        d = secs > RETRY_AFTER_CAP / USEC_PER_SEC ? RETRY_AFTER_CAP : secs * USEC_PER_SEC;
                } else if (curl_dl_open() >= 0) { /* an HTTP-date; curl parses those */
                        time_t t = curl_getdate(value, NULL);
                        if (t >= 0)
                                d = (usec_t) t * USEC_PER_SEC > now_realtime ?
                                        (usec_t) t * USEC_PER_SEC - now_realtime : 0;
                }
        }
        return MAX(MIN(d, RETRY_AFTER_CAP), USEC_PER_SEC);
}

void alert_event_from_monitor(const monitor *m, const monitor_event *ev, alert_event *ret) {
        const tunnel *t = ev->tunnel;
        *ret = (alert_event) {
                .event = ev->event,
                .name = t ? t->name : (char *) "",
                .bastion = t && t->resolved ? t->ssh.bastion : (char *) "",
                .forward = ev->forward ? (char *) ev->forward : t ? (char *) t->forward_label : (char *) "",
                .reason = (char *) ev->reason,
                .host = (char *) m->host,
                .restarts = t ? t->health.n_restarts : 0,
                .timestamp = ev->timestamp,
        };
}

static uint64_t random_u64(void) {
        uint64_t r;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
                r = now_usec(CLOCK_MONOTONIC) * 6364136223846793005ULL;
        return r;
}

static unsigned event_index(tunnel_event e) {
        return (unsigned) __builtin_ctz((unsigned) e);
}

static usec_t now_mono(alert_sender *s) {
        usec_t t;
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &t) < 0)
                t = now_usec(CLOCK_MONOTONIC);
        return t;
}

static pending *pending_free(pending *p) {
        if (!p)
                return NULL;
        alert_event_done(&p->ev);
        free(p->body);
        free(p);
        return NULL;
}

static pending **at(alert_sender *s, size_t i) {
        return &s->queue[(s->head + i) % ALERT_QUEUE_MAX];
}

static void pop(alert_sender *s) {
        pending_free(*at(s, 0));
        *at(s, 0) = NULL;
        s->head = (s->head + 1) % ALERT_QUEUE_MAX;
        s->n--;
        s->due = 0; /* the next event has its own schedule */
}

static const char *event_name(const pending *p) {
        return strna(tunnel_event_to_string(p->ev.event));
}

static void kick(alert_sender *s);
static void process_done(alert_sender *s);

static void on_curl_progress(void *userdata) {
        process_done(userdata);
}

/* ---- one request ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        alert_sender *s = userdata;
        size_t n = size * nmemb, room = RESPONSE_LOG_MAX - s->response_len;
        memcpy(s->response + s->response_len, data, MIN(n, room));
        s->response_len += MIN(n, room);
        s->response[s->response_len] = 0;
        return n; /* the rest is read and dropped */
}

static int request_start(alert_sender *s, pending *p) {
        CURL *c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        s->response_len = 0;
        s->response[0] = s->errbuf[0] = 0;
        if (curl_easy_setopt(c, CURLOPT_URL, s->rc->url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERAGENT, "rtun-monitor/" VERSION) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(p->body)) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->body) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, s) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
            curl_multi_add_handle(s->multi, c) != CURLM_OK) {
                curl_easy_cleanup(c);
                return -EIO;
        }
        s->easy = c;
        return 0;
}

static void give_up(alert_sender *s, const char *why) {
        pending *p = *at(s, 0);
        s->counters.failures++;
        log_error("Alert %s for %s to receiver %s given up: %s", event_name(p), strna(p->ev.name),
                  s->rc->name, why);
        pop(s);
}

/* A failed attempt that may succeed later: wait `delay`, but try a last time at the 1 h mark. */
static void retry_later(alert_sender *s, usec_t delay, const char *why) {
        pending *p = *at(s, 0);
        usec_t now_rt = now_usec(CLOCK_REALTIME), deadline = p->first_try + ALERT_GIVE_UP_USEC;
        if (now_rt >= deadline) {
                give_up(s, why);
                return;
        }
        delay = MIN(delay, deadline - now_rt);
        s->due = now_mono(s) + delay;
        if (p->attempts == 1)
                log_warning("Alert %s for %s to receiver %s failed (%s), retrying in %.1fs.", event_name(p),
                            strna(p->ev.name), s->rc->name, why, (double) delay / USEC_PER_SEC);
        else
                log_debug("Alert %s to receiver %s failed again (%s), attempt %u, retrying in %.1fs.",
                          event_name(p), s->rc->name, why, p->attempts, (double) delay / USEC_PER_SEC);
}

/* A URL curl cannot use is a configuration error: retrying for an hour would only hide it. With an
 * http(s) URL, "unsupported protocol" means the answer was not HTTP (curl's "HTTP/0.9"): the receiver's
 * fault, maybe passing, so retried. */
static bool curl_error_is_permanent(const alert_sender *s, CURLcode r) {
        if (r == CURLE_URL_MALFORMAT)
                return true;
        return r == CURLE_UNSUPPORTED_PROTOCOL && strncmp(s->rc->url, "http://", 7) != 0 &&
               strncmp(s->rc->url, "https://", 8) != 0;
}

static void request_done(alert_sender *s, CURLcode result) {
        pending *p = *at(s, 0);
        long code = 0;
        char why[64 + CURL_ERROR_SIZE];

        (void) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        struct curl_header *h = NULL;
        const char *retry_after = NULL;
        if (result == CURLE_OK && code == 429 &&
            curl_easy_header(s->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
                retry_after = h->value;
        usec_t wait_429 = alert_retry_after(retry_after, now_usec(CLOCK_REALTIME));

        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;

        if (result != CURLE_OK) {
                snprintf(why, sizeof why, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
                if (curl_error_is_permanent(s, result))
                        give_up(s, why);
                else
                        retry_later(s, alert_retry_delay(p->attempts, random_u64()), why);
        } else if (code >= 200 && code < 300) {
                s->counters.delivered[event_index(p->ev.event)]++;
                log_debug("Alert %s for %s delivered to receiver %s.", event_name(p), strna(p->ev.name),
                          s->rc->name);
                pop(s);
        } else if (code == 429)
                retry_later(s, wait_429, "HTTP 429");
        else if (code >= 500) {
                snprintf(why, sizeof why, "HTTP %ld", code);
                retry_later(s, alert_retry_delay(p->attempts, random_u64()), why);
        } else {
                /* Anything else (4xx, an unfollowed redirect) will not get better by repeating it. */
                for (char *c = s->response; *c; c++)
                        if ((unsigned char) *c < ' ')
                                *c = ' ';
                snprintf(why, sizeof why, "HTTP %ld: %s", code, s->response);
                give_up(s, why);
        }
}

static void process_done(alert_sender *s) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left)))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->easy)
                        request_done(s, msg->data.result);
        kick(s);
}

static int on_retry_timer(sd_event_source *src, usec_t usec, void *userdata) {
        kick(userdata);
        return 0;
}

static int arm_retry_timer(alert_sender *s) {
        int r;
        if (!s->retry_timer) {
                r = sd_event_add_time(s->event, &s->retry_timer, CLOCK_MONOTONIC, s->due, 10 * USEC_PER_MSEC,
                                      on_retry_timer, s);
                if (r >= 0)
                        (void) sd_event_source_set_description(s->retry_timer, "alert-retry");
                return r;
        }
        r = sd_event_source_set_time(s->retry_timer, s->due);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->retry_timer, SD_EVENT_ONESHOT);
}

/* Starts the head's request when it is due; otherwise makes sure the loop wakes up when it is. */
static void kick(alert_sender *s) {
        while (s->n > 0 && !s->easy) {
                pending *p = *at(s, 0);
                if (s->due > now_mono(s)) {
                        int r = arm_retry_timer(s);
                        if (r < 0)
                                log_error_errno(r, "Alert receiver %s: failed to arm retry timer: %m", s->rc->name);
                        return;
                }
                p->attempts++;
                int r = request_start(s, p);
                if (r >= 0)
                        return;
                log_warning_errno(r, "Alert receiver %s: failed to start request: %m", s->rc->name);
                retry_later(s, alert_retry_delay(p->attempts, random_u64()), "request setup failed");
        }
}

static int push(alert_sender *s, pending *p) {
        if (s->n == ALERT_QUEUE_MAX) {
                /* Drop the oldest event that is not in flight: the in-flight one keeps its slot at the head. */
                pending **victim = at(s, s->easy ? 1 : 0);
                s->counters.failures++;
                log_warning("Alert queue of receiver %s full (%u), dropping the oldest alert: %s for %s.",
                            s->rc->name, ALERT_QUEUE_MAX, event_name(*victim), strna((*victim)->ev.name));
                pending_free(*victim);
                if (s->easy)
                        *victim = *at(s, 0);
                else
                        s->due = 0;
                *at(s, 0) = NULL;
                s->head = (s->head + 1) % ALERT_QUEUE_MAX;
                s->n--;
        }
        *at(s, s->n) = p;
        s->n++;
        kick(s);
        return 0;
}

static int pending_new(alert_sender *s, const alert_event *ev, pending **ret) {
        _cleanup_(freep) pending *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        int r = alert_event_copy(&p->ev, ev);
        if (r < 0)
                return r;
        if (!p->ev.host) {
                char host[256] = "";
                (void) gethostname(host, sizeof host - 1);
                p->ev.host = strdup(host);
        }
        if (p->ev.timestamp == 0)
                p->ev.timestamp = now_usec(CLOCK_REALTIME);
        r = p->ev.host ? alert_payload(s->rc->type, &p->ev, &p->body) : -ENOMEM;
        if (r < 0) {
                alert_event_done(&p->ev);
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int alert_sender_enqueue(alert_sender *s, const alert_event *ev) {
        if (!(s->rc->events & ev->event))
                return 0;
        pending *p;
        int r = pending_new(s, ev, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to build %s alert for receiver %s: %m",
                                       strna(tunnel_event_to_string(ev->event)), s->rc->name);
        p->first_try = now_usec(CLOCK_REALTIME);
        push(s, p);
        return 1;
}

int alert_sender_restore(alert_sender *s, const alert_event *ev, unsigned attempts, usec_t first_try) {
        pending *p;
        int r = pending_new(s, ev, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to rebuild %s alert for receiver %s: %m",
                                       strna(tunnel_event_to_string(ev->event)), s->rc->name);
        p->attempts = attempts;
        p->first_try = first_try ?: now_usec(CLOCK_REALTIME);
        return push(s, p);
}

size_t alert_sender_pending(alert_sender *s) {
        return s ? s->n : 0;
}

int alert_sender_foreach_pending(alert_sender *s,
                                 int (*cb)(const alert_event *ev, unsigned attempts, usec_t first_try, void *userdata),
                                 void *userdata) {
        for (size_t i = 0; s && i < s->n; i++) {
                const pending *p = *at(s, i);
                int r = cb(&p->ev, p->attempts, p->first_try, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void request_abort(alert_sender *s) {
        if (!s->easy)
                return;
        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
}

void alert_sender_discard(alert_sender *s) {
        if (!s)
                return;
        request_abort(s);
        while (s->n > 0)
                pop(s);
}

const alert_counters *alert_sender_counters(const alert_sender *s) {
        return &s->counters;
}

const char *alert_sender_receiver(const alert_sender *s) {
        return s->rc->name;
}

bool alert_sender_idle(alert_sender *s) {
        return !s || (!s->easy && (s->n == 0 || s->due > now_mono(s)));
}

usec_t alert_sender_next_due(alert_sender *s) {
        if (!s || s->n == 0 || s->easy)
                return USEC_INFINITY;
        return MAX(s->due, now_mono(s));
}

int alert_sender_new(sd_event *e, const alert_receiver_config *rc, alert_sender **ret) {
        if (!e || !rc || !rc->url || !ret)
                return -EINVAL;
        int r = curl_dl_open();
        if (r < 0)
                return r;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) /* refcounted; idempotent since 7.84 */
                return -EIO;

        _cleanup_(alert_sender_freep) alert_sender *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->rc = rc;
        s->counters.receiver = rc->name;

        s->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (s->headers) {
                /* No "Expect: 100-continue" round trip for payloads over 1 KiB. */
                struct curl_slist *l = curl_slist_append(s->headers, "Expect:");
                if (!l)
                        return -ENOMEM;
                s->headers = l;
        }
        if (!s->headers)
                return -ENOMEM;
        r = curl_event_new(e, rc->name, on_curl_progress, s, &s->loop);
        if (r < 0)
                return r;
        s->multi = curl_event_multi(s->loop);

        *ret = TAKE_PTR(s);
        return 0;
}

alert_sender *alert_sender_free(alert_sender *s) {
        if (!s)
                return NULL;
        if (s->n > 0)
                log_warning("Alert receiver %s: %zu alert(s) not delivered.", s->rc->name, s->n);
        alert_sender_discard(s);
        s->loop = curl_event_free(s->loop);
        sd_event_source_disable_unref(s->retry_timer);
        curl_slist_free_all(s->headers);
        sd_event_unref(s->event);
        free(s);
        curl_global_cleanup();
        return NULL;
}
