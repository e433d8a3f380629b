/* http_server with a web config, on a real loop: a forked client (raw HTTP, or GnuTLS) asks while the parent
 * runs sd_event in small steps. Basic auth (401 with WWW-Authenticate, 200, the refusal counters appended to
 * /metrics), the configured headers, and re-reading the file: users in place, then TLS on (libmicrohttpd
 * restarted on the same socket: plain HTTP refused and counted, a TLS client served), a broken file kept
 * out, TLS off again. The lab (tests/integration/test_web_tls.sh) does the same with curl and Prometheus. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "../../exporters/http_server.h"
#include "../../exporters/metrics.h"
#include "fake_monitor.h"
#include "test_files.h"
#include "web_fixtures.h"

/* "s3cret" at bcrypt cost 4. */
#define S3CRET_4 "$2b$04$Op5Nz3PccgTtoJZIIrF7T.wOWG71LEsjjGQ70bpTmFXc.5WowBaLu"
/* base64("prom:s3cret"), base64("prom:nope") */
#define AUTH_OK "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n"
#define AUTH_BAD "Authorization: Basic cHJvbTpub3Bl\r\n"

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

/* The child's side: one request, the whole answer into out (nothing on a refused TLS or closed socket). */
static int plain_request(int fd, const char *req, int out) {
        if (write(fd, req, strlen(req)) != (ssize_t) strlen(req))
                return 12;
        char buf[65536];
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) k) != k)
                        return 14;
        return 0;
}

static int tls_request(int fd, const char *req, int out) {
        gnutls_session_t s;
        gnutls_certificate_credentials_t cred;
        gnutls_datum_t ca = { (unsigned char *) cert_pem, sizeof(cert_pem) - 1 };
        if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
            gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM) != 1 ||
            gnutls_init(&s, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(s) < 0 ||
            gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
                return 20;
        gnutls_session_set_verify_cert(s, NULL, 0); /* the test certificate has no host name */
        gnutls_transport_set_int(s, fd);
        int r;
        do
                r = gnutls_handshake(s);
        while (r < 0 && !gnutls_error_is_fatal(r));
        if (r < 0)
                return 21;
        if (gnutls_record_send(s, req, strlen(req)) != (ssize_t) strlen(req))
                return 22;
        char buf[65536];
        ssize_t k;
        while ((k = gnutls_record_recv(s, buf, sizeof buf)) > 0 || k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                if (k > 0 && write(out, buf, (size_t) k) != k)
                        return 23;
        return 0;
}

/* Asks while the loop runs; the raw answer (malloc'ed, "" when the server refused). */
static char *ask(sd_event *e, int port, bool tls, const char *req) {
        const char *path = test_path("answer");
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(out >= 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = connect_to(port);
                _exit(fd < 0 ? 11 : tls ? tls_request(fd, req, out) : plain_request(fd, req, out));
        }
        close(out);
        int status = -1;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                assert_true(sd_event_run(e, 20 * USEC_PER_MSEC) >= 0);
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > 30) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        fail_msg("client did not finish");
                }
        }
        /* A refused TLS handshake is the child's 21; anything else must have gone through. */
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0 && !(tls && WEXITSTATUS(status) == 21))
                fail_msg("client exit %d", WEXITSTATUS(status));
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        char *data = calloc(1, 1 << 20);
        assert_non_null(data);
        size_t n = fread(data, 1, (1 << 20) - 1, f);
        data[n] = 0;
        fclose(f);
        return data;
}

static int status_of(const char *answer) {
        int st = 0;
        return sscanf(answer, "HTTP/1.%*d %d", &st) == 1 ? st : 0;
}

static web_config_loaded *load(const char *path) {
        web_config_loaded *w = NULL;
        char err[1024];
        if (web_config_load(path, &w, err, sizeof err) < 0)
                fail_msg("%s", err);
        return w;
}

/* Rewrites the file with a new inode and a later mtime: a change the stamps see. */
static void rewrite(const char *name, const char *text) {
        struct timespec t = { .tv_nsec = 5 * 1000 * 1000 };
        nanosleep(&t, NULL);
        const char *tmp = test_write_text("tmp.yml", text);
        assert_int_equal(rename(tmp, test_path(name)), 0);
}

static const char *const get_metrics = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";

static char *request(const char *extra) {
        char *r;
        assert_true(asprintf(&r, "%s%s\r\n", get_metrics, extra) > 0);
        return r;
}

static void test_auth_and_reload(void **state) {
        monitor m = { .dbus_up = true };
        fake_monitor_add(&m, &(fake_tunnel) { .name = "reverse-ssh@b1.service", .bastion = "b1.example.com",
                                              .forward = "localhost:21022", .active = UNIT_ACTIVE,
                                              .state = TUNNEL_UP, .probed = true });
        test_write_text("server.crt", cert_pem);
        test_write_text("server.key", key_pem);
        const char *plain_yml = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
                                "basic_auth_users:\n  prom: " S3CRET_4 "\n";
        const char *w = test_write_text("web.yml", plain_yml);

        sd_event *e = NULL;
        http_server *s = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(metrics_serve(e, "127.0.0.1:0", load(w), &m, &s), 0);
        int port = http_server_port(s);
        char *ok = request(AUTH_OK), *bad = request(AUTH_BAD), *none = request("");

        char *a = ask(e, port, false, none);
        assert_int_equal(status_of(a), 401);
        assert_non_null(strstr(a, "\r\nWWW-Authenticate: Basic\r\n"));
        assert_non_null(strstr(a, "\r\nX-Frame-Options: deny\r\n"));
        free(a);
        a = ask(e, port, false, bad);
        assert_int_equal(status_of(a), 401);
        free(a);
        a = ask(e, port, false, ok);
        assert_int_equal(status_of(a), 200);
        assert_non_null(strstr(a, "\r\nX-Frame-Options: deny\r\n"));
        assert_non_null(strstr(a, "\nrtun_tunnel_up{name=\"reverse-ssh@b1.service\""));
        assert_non_null(strstr(a, "\nrtun_http_refused_total{reason=\"no_auth\"} 1\n"));
        assert_non_null(strstr(a, "\nrtun_http_refused_total{reason=\"bad_auth\"} 1\n"));
        free(a);
        assert_int_equal(http_server_refusals(s)->count[HTTP_REFUSED_NO_AUTH], 1);

        /* Users change in place: prom gone, ops in (same hash). */
        rewrite("web.yml", "basic_auth_users:\n  ops: " S3CRET_4 "\n");
        a = ask(e, port, false, ok);
        assert_int_equal(status_of(a), 401);
        assert_null(strstr(a, "X-Frame-Options")); /* the headers went with the old file */
        free(a);
        a = ask(e, port, false, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                "Authorization: Basic b3BzOnMzY3JldA==\r\n\r\n"); /* ops:s3cret */
        assert_int_equal(status_of(a), 200);
        free(a);

        /* TLS on: the same port, now a TLS one. Plain HTTP is refused and counted; a TLS client is served. */
        rewrite("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                           "basic_auth_users:\n  prom: " S3CRET_4 "\n");
        a = ask(e, port, false, ok);
        assert_int_equal(status_of(a), 0);
        free(a);
        assert_int_equal(http_server_port(s), port);
        a = ask(e, port, true, ok);
        assert_int_equal(status_of(a), 200);
        assert_non_null(strstr(a, "\nrtun_http_refused_total{reason=\"tls_handshake\"} 1\n"));
        free(a);

        /* A broken file: the one before stays (TLS, prom). */
        rewrite("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n");
        a = ask(e, port, true, ok);
        assert_int_equal(status_of(a), 200);
        free(a);

        /* TLS off again. */
        rewrite("web.yml", plain_yml);
        a = ask(e, port, false, ok);
        assert_int_equal(status_of(a), 200);
        free(a);
        a = ask(e, port, true, ok);
        assert_int_equal(status_of(a), 0); /* a TLS client on a plain port: no HTTP answer */
        free(a);

        free(ok);
        free(bad);
        free(none);
        http_server_free(s);
        sd_event_unref(e);
        fake_monitor_done(&m);
}

/* A web config that libmicrohttpd cannot start with is refused, and the server keeps serving as before. */
static void test_set_failure_keeps_serving(void **state) {
        monitor m = { .dbus_up = true };
        sd_event *e = NULL;
        http_server *s = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(metrics_serve(e, "127.0.0.1:0", NULL, &m, &s), 0);
        int port = http_server_port(s);

        test_write_text("server.crt", cert_pem);
        test_write_text("server.key", key_pem);
        web_config_loaded *w = load(test_write_text("tls.yml", "tls_server_config:\n  cert_file: server.crt\n"
                                                                "  key_file: server.key\n"));
        /* A key libmicrohttpd refuses (the check at load time passed on the real one). */
        free(w->key_pem);
        w->key_pem = strdup("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        w->key_len = strlen(w->key_pem);
        assert_true(http_server_set_web_config(s, w) < 0);
        char *a = ask(e, port, false, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(status_of(a), 200);
        free(a);
        http_server_free(s);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auth_and_reload),
                cmocka_unit_test(test_set_failure_keeps_serving),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
