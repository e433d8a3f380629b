/* Alert sender: the retry schedule (pure), and delivery on a real sd-event loop against a real HTTP
 * receiver (tests/integration/receiver.py, started here on a free loopback port, killed by pid). */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "../../exporters/alert.h"

#define SEC USEC_PER_SEC

static void test_retry_delay(void **state) {
        assert_int_equal(alert_retry_delay(0, 12345), 0);
        static const struct { unsigned attempt; usec_t base; } t[] = {
                { 1, 1 * SEC }, { 2, 2 * SEC }, { 3, 4 * SEC }, { 4, 8 * SEC }, { 8, 128 * SEC },
                { 9, 256 * SEC }, { 10, 300 * SEC }, { 20, 300 * SEC }, { 64, 300 * SEC }, { 4000000000u, 300 * SEC },
        };
        for (unsigned i = 0; i < ELEMENTSOF(t); i++) {
                usec_t lo = t[i].base - t[i].base / 5, hi = MIN(t[i].base + t[i].base / 5, 300 * SEC);
                /* The extremes of the jitter are reachable and never exceeded. */
                assert_int_equal(alert_retry_delay(t[i].attempt, 0), lo);
                assert_int_equal(alert_retry_delay(t[i].attempt, 2 * (t[i].base / 5)), hi);
                usec_t min = UINT64_MAX, max = 0;
                uint64_t x = 88172645463325252ULL;
                for (unsigned k = 0; k < 2000; k++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        usec_t d = alert_retry_delay(t[i].attempt, x);
                        assert_true(d >= lo && d <= hi);
                        min = MIN(min, d), max = MAX(max, d);
                }
                /* Really jittered: the 2000 draws spread over most of the +-20% band. */
                assert_true(max - min > (hi - lo) / 2);
        }
}

static void test_retry_after(void **state) {
        usec_t now = 1795464062ULL * SEC; /* Mon, 23 Nov 2026 20:01:02 GMT */
        static const struct { const char *v; usec_t want; } t[] = {
                { NULL, 30 * SEC },
                { "2", 2 * SEC },
                { " 120 ", 120 * SEC },
                { "0", 1 * SEC },              /* never hammer */
                { "7200", 3600 * SEC },        /* capped at 1 h */
                { "0000003", 3 * SEC },
                { "3600", 3600 * SEC },
                { "99999999999999999999", 3600 * SEC },
                { "Mon, 23 Nov 2026 20:01:12 GMT", 10 * SEC },
                { "Mon, 23 Nov 2026 19:00:00 GMT", 1 * SEC }, /* in the past */
                { "Tue, 24 Nov 2026 20:01:02 GMT", 3600 * SEC },
                { "soon", 30 * SEC },
                { "-5", 30 * SEC },
                { "", 30 * SEC },
        };
        for (unsigned i = 0; i < ELEMENTSOF(t); i++) {
                usec_t got = alert_retry_after(t[i].v, now);
                if (got != t[i].want)
                        fail_msg("Retry-After \"%s\": got %" PRIu64 ", want %" PRIu64, strna(t[i].v), got, t[i].want);
        }
}

/* ---- a real receiver ---- */

typedef struct receiver {
        pid_t pid;
        unsigned port;
        char log[64];
} receiver;

/* Killed by the test's teardown when an assertion jumped out before receiver_stop(). */
static pid_t live_receiver;

static int teardown(void **state) {
        if (live_receiver > 0) {
                kill(live_receiver, SIGTERM);
                waitpid(live_receiver, NULL, 0);
                live_receiver = 0;
        }
        return 0;
}

static const char *receiver_path(void) {
        static char path[4096];
        const char *dir = getenv("RTUN_SRCDIR");
        if (dir)
                snprintf(path, sizeof path, "%s/tests/integration/receiver.py", dir);
        else /* __FILE__ is tests/unit/test_alert_sender.c, relative to the tree where make runs */
                snprintf(path, sizeof path, "%.*s/../integration/receiver.py",
                         (int) (strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ : 1),
                         strrchr(__FILE__, '/') ? __FILE__ : ".");
        return path;
}

static void receiver_start(receiver *r, const char *script) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        snprintf(r->log, sizeof r->log, "/tmp/rtun-alert-test-XXXXXX");
        int fd = mkostemp(r->log, O_CLOEXEC);
        assert_true(fd >= 0);
        close(fd);

        r->pid = fork();
        assert_true(r->pid >= 0);
        if (r->pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execlp("python3", "python3", receiver_path(), "--port", "0", "--log", r->log, "--script",
                       script, (char *) NULL);
                _exit(127);
        }
        live_receiver = r->pid;
        close(p[1]);
        /* receiver.py prints "PORT N" once it listens: no guessing of free ports, no race. Python starts in
         * well under a second; 30 s covers a machine loaded 6 times over (5 s did not, at load 12). */
        char buf[64] = "";
        size_t n = 0;
        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
        while (!memchr(buf, '\n', n) && n < sizeof buf - 1 && poll(&pfd, 1, 30000) > 0) {
                ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        close(p[0]);
        buf[n] = 0;
        if (sscanf(buf, "PORT %u", &r->port) != 1)
                fail_msg("receiver %s did not start: \"%s\"", receiver_path(), buf);
}

static void receiver_stop(receiver *r) {
        if (r->pid > 0) {
                kill(r->pid, SIGTERM);
                waitpid(r->pid, NULL, 0);
                r->pid = live_receiver = 0;
        }
        unlink(r->log);
}

/* Every request the receiver saw, as a JSON array of {"time","method","path","headers","body","answer"}. */
static json_t *receiver_requests(const receiver *r) {
        json_t *all = json_array();
        _cleanup_(fclosep) FILE *f = fopen(r->log, "re");
        assert_non_null(f);
        char line[16384];
        while (fgets(line, sizeof line, f)) {
                json_t *j = json_loads(line, 0, NULL);
                assert_non_null(j);
                json_array_append_new(all, j);
        }
        return all;
}

static const char *req_str(json_t *reqs, size_t i, const char *key) {
        return json_string_value(json_object_get(json_array_get(reqs, i), key));
}

static double req_time(json_t *reqs, size_t i) {
        return json_real_value(json_object_get(json_array_get(reqs, i), "time"));
}

/* The unit name inside request i's webhook body. */
static const char *req_unit(json_t *reqs, size_t i, json_t **keep) {
        *keep = json_loads(req_str(reqs, i, "body"), 0, NULL);
        assert_non_null(*keep);
        return json_string_value(json_object_get(*keep, "name"));
}

typedef struct fixture {
        sd_event *event;
        receiver rcv;
        char url[128];
        alert_receiver_config rc;
        const alert_counters *counters; /* the sender's own */
        alert_sender *sender;
        bool saw_backoff; /* the sender was idle with work pending: waiting to retry */
} fixture;

static void fixture_start(fixture *f, const char *script, const char *url) {
        *f = (fixture) {};
        assert_int_equal(sd_event_new(&f->event), 0);
        if (script) {
                receiver_start(&f->rcv, script);
                snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u/hook/T", f->rcv.port);
        } else
                snprintf(f->url, sizeof f->url, "%s", url);
        f->rc = (alert_receiver_config) { .name = (char *) "test", .type = ALERT_WEBHOOK, .url = f->url,
                                          .events = _EVENT_ALL };
        assert_int_equal(alert_sender_new(f->event, &f->rc, &f->sender), 0);
        f->counters = alert_sender_counters(f->sender);
        assert_string_equal(f->counters->receiver, "test");
}

static void fixture_stop(fixture *f) {
        f->sender = alert_sender_free(f->sender);
        f->event = sd_event_unref(f->event);
        receiver_stop(&f->rcv);
}

static void enqueue(fixture *f, tunnel_event e, const char *unit) {
        alert_event ev = { .event = e, .name = (char *) unit, .bastion = (char *) "b1", .forward = (char *) "localhost:21022",
                           .reason = (char *) "timeout", .host = (char *) "h1" };
        assert_int_equal(alert_sender_enqueue(f->sender, &ev), 1);
}

/* The caller's drain loop of check mode: run until nothing is pending, or the deadline. */
static void drain(fixture *f, usec_t timeout) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        while (alert_sender_pending(f->sender) > 0) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        fail_msg("alerts not drained in time, %zu pending", alert_sender_pending(f->sender));
                if (alert_sender_idle(f->sender)) {
                        f->saw_backoff = true;
                        assert_true(alert_sender_next_due(f->sender) != USEC_INFINITY);
                }
                assert_true(sd_event_run(f->event, MIN(deadline - now, 200 * USEC_PER_MSEC)) >= 0);
        }
        assert_true(alert_sender_idle(f->sender));
        assert_true(alert_sender_next_due(f->sender) == USEC_INFINITY);
}

/* "500,200": one retry after about 1 s, then three events delivered in the order queued. */
static void test_retry_5xx_keeps_order(void **state) {
        fixture f;
        fixture_start(&f, "500,200", NULL);
        enqueue(&f, EVENT_DOWN, "a.service");
        enqueue(&f, EVENT_RESTARTED, "b.service");
        enqueue(&f, EVENT_RECOVERED, "c.service");
        assert_int_equal(alert_sender_pending(f.sender), 3);
        drain(&f, 8 * SEC);

        json_auto_t *reqs = receiver_requests(&f.rcv);
        assert_int_equal(json_array_size(reqs), 4);
        static const char *const want_unit[] = { "a.service", "a.service", "b.service", "c.service" };
        static const char *const want_answer[] = { "500", "200", "200", "200" };
        for (size_t i = 0; i < 4; i++) {
                json_auto_t *body = NULL;
                assert_string_equal(req_unit(reqs, i, &body), want_unit[i]);
                assert_string_equal(req_str(reqs, i, "answer"), want_answer[i]);
                assert_string_equal(req_str(reqs, i, "method"), "POST");
                assert_string_equal(req_str(reqs, i, "path"), "/hook/T");
                json_t *h = json_object_get(json_array_get(reqs, i), "headers");
                assert_string_equal(json_string_value(json_object_get(h, "Content-Type")), "application/json");
        }
        double gap = req_time(reqs, 1) - req_time(reqs, 0);
        assert_true(gap >= 0.75 && gap < 2.0); /* 1 s +-20%, plus the loop's slack */
        assert_true(f.saw_backoff);
        assert_int_equal(f.counters->delivered[0], 1); /* down */
        assert_int_equal(f.counters->delivered[1], 1); /* recovered */
        assert_int_equal(f.counters->delivered[2], 1); /* restarted */
        assert_int_equal(f.counters->failures, 0);
        fixture_stop(&f);
}

static void test_retry_after_429(void **state) {
        fixture f;
        fixture_start(&f, "429:1,200", NULL);
        enqueue(&f, EVENT_GAVE_UP, "a.service");
        drain(&f, 5 * SEC);

        json_auto_t *reqs = receiver_requests(&f.rcv);
        assert_int_equal(json_array_size(reqs), 2);
        assert_true(req_time(reqs, 1) - req_time(reqs, 0) >= 1.0);
        assert_int_equal(f.counters->delivered[3], 1); /* gave_up */
        assert_int_equal(f.counters->failures, 0);
        fixture_stop(&f);
}

static void test_permanent_4xx(void **state) {
        fixture f;
        fixture_start(&f, "400", NULL);
        enqueue(&f, EVENT_DOWN, "a.service");
        enqueue(&f, EVENT_RECOVERED, "a.service"); /* the queue moves on after a permanent failure */
        drain(&f, 5 * SEC);

        json_auto_t *reqs = receiver_requests(&f.rcv);
        assert_int_equal(json_array_size(reqs), 2);
        assert_int_equal(f.counters->failures, 1);
        assert_int_equal(f.counters->delivered[0], 0);
        assert_int_equal(f.counters->delivered[1], 1);
        assert_false(f.saw_backoff);
        fixture_stop(&f);
}

/* A receiver that closes, resets or answers something that is not HTTP is retried, never given up on. */
static void test_connection_closed_retried(void **state) {
        fixture f;
        fixture_start(&f, "close,reset,garbage,200", NULL);
        enqueue(&f, EVENT_DOWN, "a.service");
        drain(&f, 12 * SEC);

        json_auto_t *reqs = receiver_requests(&f.rcv);
        assert_int_equal(json_array_size(reqs), 4);
        assert_string_equal(req_str(reqs, 0, "answer"), "close");
        assert_string_equal(req_str(reqs, 1, "answer"), "reset");
        assert_string_equal(req_str(reqs, 2, "answer"), "garbage");
        assert_string_equal(req_str(reqs, 3, "answer"), "200");
        assert_int_equal(f.counters->delivered[0], 1);
        assert_int_equal(f.counters->failures, 0);
        fixture_stop(&f);
}

/* An event restored from check mode's state file, first tried over an hour ago: one last try, then given up. */
static void test_give_up_after_an_hour(void **state) {
        fixture f;
        fixture_start(&f, "503", NULL);
        alert_event ev = { .event = EVENT_DOWN, .name = (char *) "old.service" };
        assert_int_equal(alert_sender_restore(f.sender, &ev, 7, now_usec(CLOCK_REALTIME) - 2 * 3600 * SEC), 0);
        drain(&f, 5 * SEC);

        json_auto_t *reqs = receiver_requests(&f.rcv);
        assert_int_equal(json_array_size(reqs), 1);
        assert_int_equal(f.counters->failures, 1);
        assert_int_equal(f.counters->delivered[0], 0);
        fixture_stop(&f);
}

/* Only http and https: anything else is a configuration error, given up at once. */
static void test_other_protocol_refused(void **state) {
        fixture f;
        fixture_start(&f, NULL, "file:///etc/passwd");
        enqueue(&f, EVENT_DOWN, "a.service");
        drain(&f, 2 * SEC);
        assert_int_equal(f.counters->failures, 1);
        assert_int_equal(f.counters->delivered[0], 0);
        fixture_stop(&f);
}

static void test_filter(void **state) {
        fixture f;
        fixture_start(&f, NULL, "http://127.0.0.1:1/");
        f.rc.events = EVENT_DOWN | EVENT_GAVE_UP;
        alert_event ev = { .event = EVENT_RESTARTED, .name = (char *) "a.service" };
        assert_int_equal(alert_sender_enqueue(f.sender, &ev), 0);
        assert_int_equal(alert_sender_pending(f.sender), 0);
        assert_true(alert_sender_idle(f.sender));
        fixture_stop(&f);
}

typedef struct seen {
        unsigned n;
        uint64_t ids[ALERT_QUEUE_MAX + 1];
        unsigned attempts[ALERT_QUEUE_MAX + 1];
        usec_t first_try[ALERT_QUEUE_MAX + 1];
} seen;

static int collect(const alert_event *ev, unsigned attempts, usec_t first_try, void *userdata) {
        seen *s = userdata;
        s->ids[s->n] = ev->id;
        s->attempts[s->n] = attempts;
        s->first_try[s->n] = first_try;
        s->n++;
        assert_non_null(ev->host); /* filled in at enqueue time */
        assert_true(ev->timestamp > 0);
        return 0;
}

/* A full queue drops its oldest waiting event (not the one in flight) and counts it. No loop runs
 * here: the first request is only registered with curl, nothing is sent. */
static void test_overflow_and_foreach(void **state) {
        fixture f;
        fixture_start(&f, NULL, "http://127.0.0.1:1/");
        alert_event ev = { .event = EVENT_DOWN, .name = (char *) "a.service", .host = NULL };
        for (uint64_t i = 0; i <= ALERT_QUEUE_MAX; i++) {
                ev.id = i;
                assert_int_equal(alert_sender_enqueue(f.sender, &ev), 1);
        }
        assert_int_equal(alert_sender_pending(f.sender), ALERT_QUEUE_MAX);
        assert_int_equal(f.counters->failures, 1);
        assert_false(alert_sender_idle(f.sender)); /* a request is in flight */

        _cleanup_(freep) seen *s = calloc(1, sizeof *s);
        assert_int_equal(alert_sender_foreach_pending(f.sender, collect, s), 0);
        assert_int_equal(s->n, ALERT_QUEUE_MAX);
        assert_int_equal(s->ids[0], 0);   /* in flight, kept */
        assert_int_equal(s->attempts[0], 1);
        assert_int_equal(s->ids[1], 2);   /* 1 was dropped */
        assert_int_equal(s->attempts[1], 0);
        assert_int_equal(s->ids[ALERT_QUEUE_MAX - 1], ALERT_QUEUE_MAX);
        assert_true(s->first_try[0] > 0);

        /* Restored events keep their history and go to the back. */
        usec_t t0 = now_usec(CLOCK_REALTIME) - 60 * SEC;
        ev.id = 9999;
        assert_int_equal(alert_sender_restore(f.sender, &ev, 5, t0), 0);
        assert_int_equal(f.counters->failures, 2);
        memset(s, 0, sizeof *s);
        assert_int_equal(alert_sender_foreach_pending(f.sender, collect, s), 0);
        assert_int_equal(s->ids[1], 3);
        assert_int_equal(s->ids[s->n - 1], 9999);
        assert_int_equal(s->attempts[s->n - 1], 5);
        assert_int_equal(s->first_try[s->n - 1], t0);

        /* Once persisted (check mode), dropped without counting as failures; the sender stays usable. */
        alert_sender_discard(f.sender);
        assert_int_equal(alert_sender_pending(f.sender), 0);
        assert_true(alert_sender_idle(f.sender));
        assert_true(alert_sender_next_due(f.sender) == USEC_INFINITY);
        assert_int_equal(f.counters->failures, 2);
        assert_int_equal(alert_sender_enqueue(f.sender, &ev), 1);
        assert_int_equal(alert_sender_pending(f.sender), 1);
        fixture_stop(&f);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_retry_delay),
                cmocka_unit_test(test_retry_after),
                cmocka_unit_test_teardown(test_retry_5xx_keeps_order, teardown),
                cmocka_unit_test_teardown(test_retry_after_429, teardown),
                cmocka_unit_test_teardown(test_permanent_4xx, teardown),
                cmocka_unit_test_teardown(test_connection_closed_retried, teardown),
                cmocka_unit_test_teardown(test_give_up_after_an_hour, teardown),
                cmocka_unit_test(test_other_protocol_refused),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_overflow_and_foreach),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
