/* http_server on a real loop: a forked client speaks raw HTTP to 127.0.0.1:PORT while the parent runs
 * sd_event in small steps. Floods of idle and dripping connections (issue 9, defect 2) from the same
 * process, nonblocking, with the loop driven in between. Also the listen address parser and its loopback
 * predicate, bind errors and textfile_write. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <inttypes.h>
#include <time.h>
#include <zlib.h>
#include <cmocka.h>

#include "../../exporters/http_server.h"
#include "../../exporters/metrics.h"
#include "../../exporters/textfile.h"
#include "../../monitor/base/log.h"
#include "fake_monitor.h"

static const char *const requests[] = {
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: deflate, gzip\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b",
        "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0\r\nConnection: close\r\n\r\n",
};

typedef struct response {
        int status;
        char *head; /* status line and headers */
        char *body;
        size_t body_len;
} response;

static int connect_to(int port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        struct timeval tv = { .tv_sec = 5 };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* The child: a slow client holds a half-sent request open while every request is made in turn. */
static _Noreturn void client(int port, const char *dir) {
        int slow = connect_to(port);
        if (slow < 0 || write(slow, "GET /metrics HTTP/1.1\r\n", 23) != 23)
                _exit(10);
        for (size_t i = 0; i < ELEMENTSOF(requests); i++) {
                int fd = connect_to(port);
                if (fd < 0)
                        _exit(11);
                size_t n = strlen(requests[i]);
                if (write(fd, requests[i], n) != (ssize_t) n)
                        _exit(12);
                char path[512];
                snprintf(path, sizeof(path), "%s/%zu", dir, i);
                int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (out < 0)
                        _exit(13);
                char buf[65536];
                ssize_t k;
                while ((k = read(fd, buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t) k) != k)
                                _exit(14);
                if (k < 0)
                        _exit(15); /* timeout: the server did not answer */
                close(out);
                close(fd);
        }
        close(slow);
        _exit(0);
}

static char *read_file(const char *path, size_t *len) {
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        char *data = malloc(8 << 20);
        assert_non_null(data);
        *len = fread(data, 1, (8 << 20) - 1, f);
        data[*len] = 0;
        fclose(f);
        return data;
}

static response parse_response(const char *path) {
        size_t len;
        char *raw = read_file(path, &len);
        char *end = strstr(raw, "\r\n\r\n");
        assert_non_null(end);
        response r = {};
        r.head = strndup(raw, (size_t) (end - raw) + 2);
        r.body_len = len - (size_t) (end + 4 - raw);
        r.body = malloc(r.body_len + 1);
        memcpy(r.body, end + 4, r.body_len);
        r.body[r.body_len] = 0;
        assert_int_equal(sscanf(raw, "HTTP/1.%*d %d", &r.status), 1);
        free(raw);
        return r;
}

/* Value of header name (case-insensitive), or NULL; static buffer. */
static const char *header(const response *r, const char *name) {
        static char value[256];
        size_t n = strlen(name);
        for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
                if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
                        const char *v = p + 3 + n + strspn(p + 3 + n, " ");
                        snprintf(value, sizeof(value), "%.*s", (int) strcspn(v, "\r"), v);
                        return value;
                }
        return NULL;
}

static void response_done(response *r) {
        free(r->head);
        free(r->body);
}

static char *gunzip(const char *in, size_t len, size_t *ret_len) {
        size_t size = 8 << 20;
        char *out = malloc(size);
        z_stream z = { .next_in = (Bytef *) in, .avail_in = (uInt) len, .next_out = (Bytef *) out,
                       .avail_out = (uInt) size };
        assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        *ret_len = z.total_out;
        inflateEnd(&z);
        return out;
}

static void build(monitor *m) {
        *m = (monitor) { .dbus_up = true };
        tunnel *t = fake_monitor_add(m, &(fake_tunnel) {
                .name = "reverse-ssh@b1.service", .bastion = "b1.example.com", .forward = "localhost:21022",
                .active = UNIT_ACTIVE, .state = TUNNEL_UP, .probed = true });
        t->probes_total = 7;
}

static void test_serves_paths(void **state) {
        monitor m;
        build(&m);
        sd_event *e = NULL;
        http_server *s = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(metrics_serve(e, "127.0.0.1:0", NULL, &m, &s), 0);
        int port = http_server_port(s);
        assert_true(port > 0 && port < 65536);

        char dir[] = "/tmp/test-http-XXXXXX";
        assert_non_null(mkdtemp(dir));
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                client(port, dir);

        /* The loop runs in small steps until the client is done; a blocked loop would hang it. */
        int status = -1;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                assert_true(sd_event_run(e, 20 * USEC_PER_MSEC) >= 0);
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > 20) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        fail_msg("client did not finish");
                }
        }
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        char *expected = NULL;
        size_t expected_len;
        assert_int_equal(metrics_render(&m, &expected, &expected_len), 0);

        response r[ELEMENTSOF(requests)];
        for (size_t i = 0; i < ELEMENTSOF(requests); i++) {
                char path[512];
                snprintf(path, sizeof(path), "%s/%zu", dir, i);
                r[i] = parse_response(path);
                unlink(path);
        }
        rmdir(dir);

        /* / */
        assert_int_equal(r[0].status, 200);
        assert_string_equal(header(&r[0], "Content-Type"), "text/html; charset=utf-8");
        assert_non_null(strstr(r[0].body, "<a href=\"/metrics\">"));
        /* /metrics */
        assert_int_equal(r[1].status, 200);
        assert_string_equal(header(&r[1], "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
        assert_null(header(&r[1], "Content-Encoding"));
        assert_non_null(strstr(r[1].body, "\nrtun_probes_total{name=\"reverse-ssh@b1.service\",bastion=\"b1.example.com\","
                                          "forward=\"localhost:21022\"} 7\n"));
        assert_int_equal(r[1].body_len, expected_len);
        assert_memory_equal(r[1].body, expected, expected_len);
        /* gzip */
        assert_int_equal(r[2].status, 200);
        assert_string_equal(header(&r[2], "Content-Encoding"), "gzip");
        assert_string_equal(header(&r[2], "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
        assert_true(r[2].body_len < expected_len);
        size_t plain_len;
        char *plain = gunzip(r[2].body, r[2].body_len, &plain_len);
        assert_int_equal(plain_len, expected_len);
        assert_memory_equal(plain, expected, expected_len);
        free(plain);
        /* /healthz, 404, 405 */
        assert_int_equal(r[3].status, 200);
        assert_string_equal(r[3].body, "ok\n");
        assert_int_equal(r[4].status, 404);
        assert_int_equal(r[5].status, 405);
        assert_non_null(header(&r[5], "Allow"));
        assert_non_null(strstr(header(&r[5], "Allow"), "GET"));
        /* HEAD: headers only */
        assert_int_equal(r[6].status, 200);
        assert_int_equal(r[6].body_len, 0);
        assert_string_equal(header(&r[6], "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
        /* gzip;q=0 means no gzip */
        assert_int_equal(r[7].status, 200);
        assert_null(header(&r[7], "Content-Encoding"));
        assert_int_equal(r[7].body_len, expected_len);

        for (size_t i = 0; i < ELEMENTSOF(requests); i++)
                response_done(&r[i]);
        free(expected);
        assert_null(http_server_free(s));
        sd_event_unref(e);
        fake_monitor_done(&m);
}


/* ---- floods: nonblocking clients in this process, the server's loop run in between ---- */

#define FLOOD_SCRAPE_BOUND (15 * USEC_PER_SEC) /* the reviewer's bound on a scrape under a flood */
#define DROP_BOUND (10 * USEC_PER_SEC)         /* an incomplete request is dropped after this */
#define BUSY_SLACK (3 * USEC_PER_SEC)          /* what a loaded machine adds to a bound */
#define EVICT_BOUND (2 * USEC_PER_SEC)         /* a scrape makes room at once: this is only for a busy machine */

typedef struct flood_conn {
        int fd;
        usec_t opened, closed_at; /* closed_at: when the server's EOF or reset was seen, 0 before */
} flood_conn;

static usec_t max_iteration; /* the longest single sd_event_run(): the loop must never block */
/* The dripping flood, fed a header line per connection every DRIP_EVERY whenever the loop runs. */
#define DRIP_EVERY (2 * USEC_PER_SEC)
static flood_conn *drip;
static size_t n_drip;
static usec_t last_drip;

static void drip_feed(void) {
        if (!drip || now_usec(CLOCK_MONOTONIC) - last_drip < DRIP_EVERY)
                return;
        for (size_t i = 0; i < n_drip; i++)
                if (drip[i].closed_at == 0)
                        (void) !write(drip[i].fd, "X-Drip: 1\r\n", 11);
        last_drip = now_usec(CLOCK_MONOTONIC);
}

static void pump(sd_event *e, usec_t for_usec) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + for_usec;
        do {
                drip_feed();
                usec_t t0 = now_usec(CLOCK_MONOTONIC);
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                max_iteration = MAX(max_iteration, now_usec(CLOCK_MONOTONIC) - t0);
        } while (now_usec(CLOCK_MONOTONIC) < end);
}

static int connect_nb(int port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                fail_msg("precondition: connect to the server: %s", strerror(errno));
        return fd;
}

/* Opens n connections that each send half a request, then let the loop accept them. */
static flood_conn *flood_open(sd_event *e, int port, size_t n) {
        flood_conn *f = calloc(n, sizeof(flood_conn));
        assert_non_null(f);
        for (size_t i = 0; i < n; i++) {
                f[i].fd = connect_nb(port);
                f[i].opened = now_usec(CLOCK_MONOTONIC);
                pump(e, 0);
                struct pollfd p = { .fd = f[i].fd, .events = POLLOUT };
                if (poll(&p, 1, 2000) != 1 || write(f[i].fd, "GET /metrics HTTP/1.1\r\n", 23) != 23)
                        fail_msg("precondition: flood connection %zu could not send (%s)", i, strerror(errno));
        }
        pump(e, 300 * USEC_PER_MSEC);
        return f;
}

/* Notes every flood connection the server has closed; returns how many are closed. */
static size_t flood_poll(flood_conn *f, size_t n) {
        size_t closed = 0;
        for (size_t i = 0; i < n; i++) {
                if (f[i].closed_at == 0) {
                        char buf[4096];
                        ssize_t k = read(f[i].fd, buf, sizeof(buf));
                        if (k == 0 || (k < 0 && errno != EAGAIN))
                                f[i].closed_at = now_usec(CLOCK_MONOTONIC);
                }
                closed += f[i].closed_at != 0;
        }
        return closed;
}

static void flood_close(flood_conn *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                close(f[i].fd);
        free(f);
}

/* One GET /metrics on a new connection, the loop run meanwhile; returns the status (0: no answer within
 * bound, or closed without one) and the time it took in *waited. */
static int scrape(sd_event *e, int port, usec_t bound, usec_t *waited) {
        static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        usec_t start = now_usec(CLOCK_MONOTONIC);
        int fd = connect_nb(port), status = 0;
        bool sent = false;
        char buf[256];
        size_t got = 0;
        while (now_usec(CLOCK_MONOTONIC) - start < bound) {
                pump(e, 0);
                if (!sent) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
                                assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t) sizeof(req) - 1);
                                sent = true;
                        }
                        continue;
                }
                ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
                if (k > 0) {
                        got += (size_t) k;
                        buf[got] = 0;
                        if (strstr(buf, "\r\n") || got == sizeof(buf) - 1) {
                                (void) sscanf(buf, "HTTP/1.%*d %d", &status);
                                break;
                        }
                } else if (k == 0 || errno != EAGAIN)
                        break;
        }
        *waited = now_usec(CLOCK_MONOTONIC) - start;
        close(fd);
        return status;
}

static void start_server(monitor *m, sd_event **e, http_server **s, int *port) {
        build(m);
        assert_int_equal(sd_event_new(e), 0);
        assert_int_equal(metrics_serve(*e, "127.0.0.1:0", NULL, m, s), 0);
        *port = http_server_port(*s);
        assert_true(*port > 0);
        max_iteration = 0;
}

static void stop_server(monitor *m, sd_event *e, http_server *s) {
        assert_null(http_server_free(s));
        sd_event_unref(e);
        fake_monitor_done(m);
}

/* 70 idle half-sent requests from the scraper's own address: a scrape still gets in (at once: the
 * stalest connection makes room), and the flood is dropped within 10 s of accept. Before: no answer at
 * all (MHD at its limit stopped accepting, and once the idle ones timed out nothing re-armed it to take
 * its listen socket back). */
static void test_idle_flood(void **state) {
        monitor m;
        sd_event *e;
        http_server *s;
        int port;
        start_server(&m, &e, &s, &port);

        const size_t n = 70;
        flood_conn *f = flood_open(e, port, n);
        usec_t waited;
        int status = scrape(e, port, FLOOD_SCRAPE_BOUND, &waited);
        printf("idle flood of %zu: scrape answered %d after %.3f s\n", n, status, (double) waited / USEC_PER_SEC);
        if (status != 200)
                fail_msg("no answer to a scrape within %.1f s under an idle flood of %zu", (double) waited / USEC_PER_SEC, n);
        assert_true(waited < EVICT_BOUND);

        /* Every flood connection is closed by the server within the deadline (plus slack). */
        usec_t end = now_usec(CLOCK_MONOTONIC) + DROP_BOUND + BUSY_SLACK;
        while (flood_poll(f, n) < n && now_usec(CLOCK_MONOTONIC) < end)
                pump(e, 50 * USEC_PER_MSEC);
        usec_t slowest = 0;
        for (size_t i = 0; i < n; i++) {
                if (f[i].closed_at == 0)
                        fail_msg("idle connection %zu still open %.1f s after it was opened", i,
                                 (double) (now_usec(CLOCK_MONOTONIC) - f[i].opened) / USEC_PER_SEC);
                slowest = MAX(slowest, f[i].closed_at - f[i].opened);
        }
        printf("idle flood: every connection closed by the server, the last %.3f s after it was opened\n",
               (double) slowest / USEC_PER_SEC);
        assert_true(slowest <= DROP_BOUND + BUSY_SLACK);
        http_server_stats st;
        http_server_get_stats(s, &st);
        printf("idle flood: %" PRIu64 " evicted, %" PRIu64 " timed out\n", st.evicted, st.timed_out);
        assert_true(st.evicted >= n + 1 - 64);
        flood_close(f, n);
        printf("idle flood: longest loop iteration %.3f s\n", (double) max_iteration / USEC_PER_SEC);
        assert_true(max_iteration < USEC_PER_SEC);
        stop_server(&m, e, s);
}

/* A flood closed by its client: the next scrape is answered at once. Before: never (the closes left MHD
 * without its listen socket and without a timeout, and the timer was switched off for good). */
static void test_flood_closed(void **state) {
        monitor m;
        sd_event *e;
        http_server *s;
        int port;
        start_server(&m, &e, &s, &port);

        const size_t n = 70;
        flood_conn *f = flood_open(e, port, n);
        flood_close(f, n);
        usec_t waited;
        int status = scrape(e, port, FLOOD_SCRAPE_BOUND, &waited);
        printf("after a closed flood: scrape answered %d after %.3f s\n", status, (double) waited / USEC_PER_SEC);
        if (status != 200)
                fail_msg("no answer to a scrape within %.1f s after the flood closed", (double) waited / USEC_PER_SEC);
        assert_true(waited < USEC_PER_SEC);
        pump(e, 100 * USEC_PER_MSEC);
        http_server_stats st;
        http_server_get_stats(s, &st);
        assert_int_equal(st.connections, 0);

        stop_server(&m, e, s);
}

/* 64 connections each dripping a header line every 2 s: MHD's idle timeout never fires on them, but the
 * request deadline does; scrapes are answered all along. Before: none was. */
static void test_drip_flood(void **state) {
        monitor m;
        sd_event *e;
        http_server *s;
        int port;
        start_server(&m, &e, &s, &port);

        const size_t n = 64;
        flood_conn *f = flood_open(e, port, n);
        drip = f, n_drip = n, last_drip = now_usec(CLOCK_MONOTONIC);
        usec_t start = now_usec(CLOCK_MONOTONIC), worst = 0;
        unsigned answered = 0, asked = 0;
        while (now_usec(CLOCK_MONOTONIC) - start < 12 * USEC_PER_SEC) {
                usec_t waited;
                int status = scrape(e, port, FLOOD_SCRAPE_BOUND, &waited);
                asked++;
                answered += status == 200;
                worst = MAX(worst, waited);
                if (status != 200)
                        break;
                (void) flood_poll(f, n);
                pump(e, 500 * USEC_PER_MSEC);
        }
        drip = NULL;
        printf("drip flood of %zu: %u of %u scrapes answered, the slowest after %.3f s\n", n, answered, asked,
               (double) worst / USEC_PER_SEC);
        if (answered != asked)
                fail_msg("a scrape went unanswered for %.1f s under a drip flood", (double) worst / USEC_PER_SEC);
        assert_true(worst < EVICT_BOUND);

        size_t closed = flood_poll(f, n);
        usec_t slowest = 0;
        for (size_t i = 0; i < n; i++)
                if (f[i].closed_at)
                        slowest = MAX(slowest, f[i].closed_at - f[i].opened);
        printf("drip flood: %zu of %zu dripping connections closed by the server, the last %.3f s after it was opened\n",
               closed, n, (double) slowest / USEC_PER_SEC);
        if (closed != n)
                fail_msg("%zu dripping connections still open after 12 s", n - closed);
        assert_true(slowest <= DROP_BOUND + BUSY_SLACK);
        printf("drip flood: longest loop iteration %.3f s\n", (double) max_iteration / USEC_PER_SEC);
        assert_true(max_iteration < USEC_PER_SEC);
        flood_close(f, n);
        stop_server(&m, e, s);
}

/* Out of fds under a flood (accept() fails with EMFILE): MHD takes its listen socket out of its epoll
 * until a connection closes, and puts it back only at the start of a later run, a run nothing asked for
 * once no connection was left to time out. The closes must trigger that run: the next scrape is answered
 * at once. */
/* The fd limit that leaves exactly n fds free (inherited fds may sit anywhere). */
static rlim_t limit_leaving(size_t n) {
        int fd = 0;
        for (size_t free_fds = 0; free_fds < n; fd++)
                free_fds += fcntl(fd, F_GETFD) < 0;
        return (rlim_t) fd;
}

static struct rlimit saved_nofile;

static int restore_nofile(void **state) {
        (void) setrlimit(RLIMIT_NOFILE, &saved_nofile);
        return 0;
}

static void test_fd_exhaustion(void **state) {
        monitor m;
        sd_event *e;
        http_server *s;
        int port;
        start_server(&m, &e, &s, &port);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);

        /* 30 clients connect first; the server is left 15 fds for them. */
        const size_t n = 30;
        struct rlimit low = { .rlim_cur = limit_leaving(n + 15), .rlim_max = saved_nofile.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        int fds[30];
        for (size_t i = 0; i < n; i++)
                fds[i] = connect_nb(port);
        pump(e, 300 * USEC_PER_MSEC);
        http_server_stats st;
        http_server_get_stats(s, &st);
        printf("fd exhaustion: the server holds %u connections of %zu\n", st.connections, n);
        if (st.connections >= n)
                fail_msg("precondition: the server never ran out of fds");
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
        pump(e, 100 * USEC_PER_MSEC);

        usec_t waited;
        int status = scrape(e, port, 5 * USEC_PER_SEC, &waited);
        printf("fd exhaustion, clients gone: scrape answered %d after %.3f s\n", status, (double) waited / USEC_PER_SEC);
        assert_int_equal(restore_nofile(NULL), 0);
        if (status != 200)
                fail_msg("no answer to a scrape within %.1f s once the fds were back", (double) waited / USEC_PER_SEC);
        assert_true(waited < USEC_PER_SEC);
        stop_server(&m, e, s);
}

static void test_listen_loopback(void **state) {
        static const struct {
                const char *s;
                bool loopback;
        } cases[] = {
                { "127.0.0.1:10122", true }, { "[::1]:10122", true }, { "127.8.9.10:10122", true },
                { "[::ffff:127.0.0.1]:10122", true }, { "0.0.0.0:10122", false }, { "[::]:10122", false },
                { "192.0.2.1:10122", false }, { "[2001:db8::1]:10122", false }, { "128.0.0.1:10122", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct sockaddr_storage ss;
                socklen_t sl;
                assert_int_equal(http_listen_parse(cases[i].s, &ss, &sl), 0);
                if (http_listen_is_loopback(&ss) != cases[i].loopback)
                        fail_msg("%s classified as %s", cases[i].s, cases[i].loopback ? "public" : "loopback");
        }
}

static void test_listen_parse(void **state) {
        static const struct {
                const char *s;
                int family;
                uint16_t port;
        } good[] = {
                { "127.0.0.1:10122", AF_INET, 10122 },
                { "0.0.0.0:10122", AF_INET, 10122 },
                { "[::1]:10122", AF_INET6, 10122 },
                { "[::]:0", AF_INET6, 0 },
                { "127.0.0.1:65535", AF_INET, 65535 },
        };
        static const char *const bad[] = {
                "", "10122", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:1x",
                "localhost:10122", "::1:10122", "[::1]10122", "[::1]:", "[127.0.0.1]:80", "1.2.3:80",
                "127.0.0.1:123456",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct sockaddr_storage ss;
                socklen_t sl;
                assert_int_equal(http_listen_parse(good[i].s, &ss, &sl), 0);
                assert_int_equal(ss.ss_family, good[i].family);
                uint16_t port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                                              : ((struct sockaddr_in6 *) &ss)->sin6_port);
                assert_int_equal(port, good[i].port);
                assert_int_equal(sl, good[i].family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct sockaddr_storage ss;
                socklen_t sl;
                if (http_listen_parse(bad[i], &ss, &sl) != -EINVAL)
                        fail_msg("\"%s\" parsed", bad[i]);
        }
}

static void test_start_errors(void **state) {
        monitor m = {};
        sd_event *e = NULL;
        http_server *a = NULL, *b = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(metrics_serve(e, "nonsense", NULL, &m, &a), -EINVAL);
        assert_null(a);

        /* The port is ours alone: a second server on it fails (no SO_REUSEPORT). */
        assert_int_equal(metrics_serve(e, "127.0.0.1:0", NULL, &m, &a), 0);
        char addr[64];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_server_port(a));
        int r = metrics_serve(e, addr, NULL, &m, &b);
        assert_int_equal(r, -EADDRINUSE);
        assert_null(b);

        /* IPv6 loopback, when the host has it. */
        r = metrics_serve(e, "[::1]:0", NULL, &m, &b);
        if (r == 0) {
                assert_true(http_server_port(b) > 0);
                b = http_server_free(b);
        } else
                assert_true(r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT);

        assert_null(http_server_free(a));
        assert_null(http_server_free(NULL));
        assert_int_equal(http_server_port(NULL), -EINVAL);
        sd_event_unref(e);
}

static void test_textfile(void **state) {
        char dir[] = "/tmp/test-textfile-XXXXXX", path[256], missing[256];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/rtun.prom", dir);
        snprintf(missing, sizeof(missing), "%s/nodir/rtun.prom", dir);

        assert_int_equal(textfile_write(path, "a 1\n", 4), 0);
        size_t len;
        char *data = read_file(path, &len);
        assert_string_equal(data, "a 1\n");
        free(data);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        ino_t first = st.st_ino;

        /* Replaced by rename: a new inode, never the old file rewritten in place. */
        assert_int_equal(textfile_write(path, "b 22\n", 5), 0);
        data = read_file(path, &len);
        assert_string_equal(data, "b 22\n");
        free(data);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_ino != first);

        assert_int_equal(textfile_write(missing, "x", 1), -ENOENT);
        assert_int_equal(textfile_write(path, "", 0), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 0);

        /* No temporary file left behind. */
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "test \"$(ls -A %s)\" = rtun.prom", dir);
        assert_int_equal(system(cmd), 0);
        unlink(path);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        log_set_max_level(LOG_CRIT); /* expected failures below would only add noise */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_serves_paths),
                cmocka_unit_test(test_idle_flood),
                cmocka_unit_test(test_flood_closed),
                cmocka_unit_test(test_drip_flood),
                cmocka_unit_test_teardown(test_fd_exhaustion, restore_nofile),
                cmocka_unit_test(test_listen_parse),
                cmocka_unit_test(test_listen_loopback),
                cmocka_unit_test(test_start_errors),
                cmocka_unit_test(test_textfile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
