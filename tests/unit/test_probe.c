/* The probe framework with the tcp probe against real loopback listeners, the ssh probe against fake
 * ssh binaries (shell scripts), and the /proc/PID/stat parser of the unit probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "../../probes/probe.h"
#include "../../probes/proc_stat.h"

/* probe_mux.c is written separately: a weak stand-in keeps this test linkable without it. */
static int dummy_mux_start(probe *p, void *state) {
        return -EOPNOTSUPP;
}
__attribute__((weak)) const probe_ops probe_mux_ops = { .size = 1, .start = dummy_mux_start };

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

typedef struct outcome {
        bool called;
        int calls;
        probe *p;
        probe_result r;
} outcome;

static void on_done(probe *p, const probe_result *r, void *userdata) {
        outcome *o = userdata;
        o->called = true;
        o->calls++;
        o->p = p;
        o->r = *r;
}

/* A callback that reads the request through p and cancels it: legal, and no double free. */
static void on_done_cancel(probe *p, const probe_result *r, void *userdata) {
        assert_int_equal(probe_get_request(p)->kind, PROBE_KIND_TCP);
        assert_null(probe_cancel(p));
        on_done(p, r, userdata);
}

static void run_until(sd_event *e, const bool *flag, usec_t max) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;
        while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 50 * MSEC) >= 0);
}

static void run_for(sd_event *e, usec_t t) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + t;
        while (now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 20 * MSEC) >= 0);
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* A tiny server on the test's own loop. */
typedef enum server_mode { SERVE_REPLY_CLOSE, SERVE_SILENT, SERVE_ECHO } server_mode;
typedef struct server {
        int fd;
        uint16_t port;
        server_mode mode;
        const char *reply;
        sd_event_source *accept_src, *echo_src;
        int client;
} server;

static int on_echo(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0)
                assert_int_equal(write(fd, buf, (size_t) n), n);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        server *srv = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(c >= 0);
        if (srv->mode == SERVE_ECHO) {
                srv->client = c;
                assert_int_equal(sd_event_add_io(sd_event_source_get_event(s), &srv->echo_src, c, EPOLLIN, on_echo, srv), 0);
                return 0;
        }
        if (srv->reply)
                assert_int_equal(write(c, srv->reply, strlen(srv->reply)), (ssize_t) strlen(srv->reply));
        close(c);
        return 0;
}

/* Listens on 127.0.0.1, ephemeral port; SERVE_SILENT never accepts (the kernel completes the handshake). */
static void server_start(sd_event *e, server *srv, server_mode mode, const char *reply) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;

        *srv = (server) { .mode = mode, .reply = reply, .client = -1 };
        srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(srv->fd >= 0);
        assert_int_equal(bind(srv->fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(srv->fd, 8), 0);
        assert_int_equal(getsockname(srv->fd, (struct sockaddr *) &a, &len), 0);
        srv->port = ntohs(a.sin_port);
        if (mode != SERVE_SILENT)
                assert_int_equal(sd_event_add_io(e, &srv->accept_src, srv->fd, EPOLLIN, on_accept, srv), 0);
}

static void server_stop(server *srv) {
        sd_event_source_disable_unref(srv->accept_src);
        sd_event_source_disable_unref(srv->echo_src);
        if (srv->client >= 0)
                close(srv->client);
        close(srv->fd);
}

/* A port where nothing listens: bound, then closed. */
static uint16_t closed_port(void) {
        server srv;
        server_start(NULL, &srv, SERVE_SILENT, NULL);
        uint16_t port = srv.port;
        server_stop(&srv);
        return port;
}

static regex_t ssh_re;

static void test_start_errors(void **state) {
        sd_event *e = NULL;
        outcome o = { 0 };
        probe *p = NULL;
        probe_request req = { .kind = PROBE_KIND_NONE, .timeout = SEC };

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), -EINVAL);
        req.kind = PROBE_KIND_AUTO;
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), -EINVAL);

        /* The kind cannot start (no forward): still exactly one callback, never from inside probe_start. */
        req.kind = PROBE_KIND_TCP;
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        assert_non_null(p);
        assert_false(o.called);
        run_until(e, &o.called, 2 * SEC);
        assert_int_equal(o.calls, 1);
        assert_ptr_equal(o.p, p);
        assert_int_equal(o.r.status, PROBE_ERROR);
        assert_int_equal(o.r.kind, PROBE_KIND_TCP);
        assert_non_null(strstr(o.r.detail, "failed to start tcp probe"));
        run_for(e, 50 * MSEC);
        assert_int_equal(o.calls, 1);

        o = (outcome) { 0 };
        assert_int_equal(probe_start(e, &req, on_done_cancel, &o, &p), 0);
        run_until(e, &o.called, 2 * SEC);
        assert_int_equal(o.calls, 1);
        sd_event_unref(e);
        assert_null(probe_cancel(NULL));
}

static void test_tcp_table(void **state) {
        static const struct {
                const char *name;
                server_mode mode;     /* -1: closed port */
                const char *reply;
                const char *host;
                bool expect;
                const char *send;
                usec_t timeout;
                probe_status status;
                const char *detail;
        } t[] = {
                { "banner", SERVE_REPLY_CLOSE, "SSH-2.0-test\r\n", "localhost", true, NULL, 2 * SEC, PROBE_OK,
                  "answered \"SSH-2.0-test\\r\\n\"" },
                { "banner-numeric", SERVE_REPLY_CLOSE, "SSH-2.0-test\r\n", "127.0.0.1", true, NULL, 2 * SEC,
                  PROBE_OK, "answered" },
                { "http", SERVE_REPLY_CLOSE, "HTTP/1.0 400\r\n", "127.0.0.1", true, NULL, 2 * SEC,
                  PROBE_BAD_RESPONSE, "bad answer: \"HTTP/1.0 400\\r\\n\"" },
                { "mute-close", SERVE_REPLY_CLOSE, NULL, "127.0.0.1", true, NULL, 2 * SEC, PROBE_BAD_RESPONSE,
                  "closed without answer" },
                { "refused", (server_mode) -1, NULL, "127.0.0.1", true, NULL, 2 * SEC, PROBE_REFUSED,
                  "connection refused by 127.0.0.1:" },
                { "refused-localhost", (server_mode) -1, NULL, "localhost", true, NULL, 2 * SEC, PROBE_REFUSED,
                  "connection refused by localhost:" },
                { "open-is-enough", SERVE_SILENT, NULL, "127.0.0.1", false, NULL, 2 * SEC, PROBE_OK,
                  "connected to 127.0.0.1:" },
                { "send-echo", SERVE_ECHO, NULL, "127.0.0.1", true, "SSH-ping\r\n", 2 * SEC, PROBE_OK,
                  "answered \"SSH-ping" },
                { "silent", SERVE_SILENT, NULL, "127.0.0.1", true, NULL, 300 * MSEC, PROBE_TIMEOUT,
                  "no answer within 300ms" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                sd_event *e = NULL;
                server srv = { .fd = -1, .client = -1 };
                outcome o = { 0 };
                probe *p = NULL;
                int fds = count_fds();

                assert_int_equal(sd_event_new(&e), 0);
                uint16_t port;
                if ((int) t[i].mode < 0)
                        port = closed_port();
                else {
                        server_start(e, &srv, t[i].mode, t[i].reply);
                        port = srv.port;
                }

                forward_address fwd = { .listen_host = (char *) t[i].host, .listen_port = port };
                probe_request req = {
                        .unit = "reverse-ssh@test.service",
                        .kind = PROBE_KIND_TCP,
                        .forward = &fwd,
                        .expect = t[i].expect ? &ssh_re : NULL,
                        .send = t[i].send,
                        .send_len = t[i].send ? strlen(t[i].send) : 0,
                        .timeout = t[i].timeout,
                };

                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                assert_false(o.called);
                run_until(e, &o.called, 5 * SEC);
                if (!o.called || o.r.status != t[i].status || !strstr(o.r.detail, t[i].detail))
                        fail_msg("%s: called=%d status=%s detail=\"%s\"", t[i].name, o.called,
                                 strna(probe_status_to_string(o.r.status)), o.r.detail);
                assert_int_equal(o.calls, 1);
                assert_ptr_equal(o.p, p);
                assert_int_equal(o.r.kind, PROBE_KIND_TCP);
                if (t[i].status == PROBE_TIMEOUT) {
                        assert_true(o.r.duration >= t[i].timeout);
                        assert_true(o.r.duration < 2 * SEC);
                } else
                        assert_true(o.r.duration < t[i].timeout);

                if ((int) t[i].mode >= 0)
                        server_stop(&srv);
                sd_event_unref(e);
                assert_int_equal(count_fds(), fds);
        }
}

static void test_tcp_cancel(void **state) {
        sd_event *e = NULL;
        server srv;
        outcome o = { 0 };
        probe *p = NULL;
        int fds = count_fds();

        assert_int_equal(sd_event_new(&e), 0);
        server_start(e, &srv, SERVE_SILENT, NULL);
        forward_address fwd = { .listen_host = (char *) "127.0.0.1", .listen_port = srv.port };
        probe_request req = { .kind = PROBE_KIND_TCP, .forward = &fwd, .expect = &ssh_re, .timeout = 200 * MSEC };

        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        run_for(e, 50 * MSEC);
        assert_false(o.called);
        assert_null(probe_cancel(p));
        /* Past the deadline: a cancelled probe never calls back. */
        run_for(e, 400 * MSEC);
        assert_false(o.called);

        server_stop(&srv);
        sd_event_unref(e);
        assert_int_equal(count_fds(), fds);
}

/* The result carries the passive view of a process's connection (the tunnel's ssh to its bastion) as the
 * probe ended, when asked for; not when it is not asked for or there is no such connection. */
static void test_result_carries_connection(void **state) {
        sd_event *e = NULL;
        server bastion, srv;
        tcpinfo *ti = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(tcpinfo_new(&ti), 0);
        server_start(e, &bastion, SERVE_SILENT, NULL);
        server_start(e, &srv, SERVE_REPLY_CLOSE, "SSH-2.0-test\r\n");
        /* This process plays the tunnel's ssh: one connection to its bastion. */
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(bastion.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int ssh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(ssh >= 0);
        assert_int_equal(connect(ssh, (struct sockaddr *) &a, sizeof a), 0);

        const struct {
                tcpinfo *tcp;
                pid_t pid;
                uint16_t port;
                bool valid;
        } t[] = {
                { ti, getpid(), bastion.port, true },
                { NULL, getpid(), bastion.port, false }, /* not asked for */
                { ti, 0, bastion.port, false },          /* no process */
                { ti, getpid(), closed_port(), false },  /* no such connection */
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                outcome o = { 0 };
                probe *p = NULL;
                forward_address fwd = { .listen_host = "127.0.0.1", .listen_port = srv.port };
                probe_request req = { .kind = PROBE_KIND_TCP, .forward = &fwd, .expect = &ssh_re, .timeout = 2 * SEC,
                                      .tcp = t[i].tcp, .tcp_pid = t[i].pid, .tcp_port = t[i].port };

                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                run_until(e, &o.called, 5 * SEC);
                assert_int_equal(o.r.status, PROBE_OK);
                assert_int_equal(o.r.tcp.valid, t[i].valid);
                if (t[i].valid)
                        assert_true(o.r.tcp.rtt_seconds > 0 && o.r.tcp.rtt_seconds < 1.0);
        }

        close(ssh);
        server_stop(&srv);
        server_stop(&bastion);
        tcpinfo_free(ti);
        sd_event_unref(e);
}

/* AUTO is mux only where a ControlMaster's socket is; a kind asked for is kept. */
static void test_kind_pick(void **state) {
        char dir[] = "/tmp/test-probe-kind-XXXXXX", sock[64], file[64];

        assert_non_null(mkdtemp(dir));
        snprintf(sock, sizeof sock, "%s/ctl", dir);
        snprintf(file, sizeof file, "%s/file", dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        int f = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(f >= 0);
        close(f);

        assert_int_equal(probe_kind_pick(PROBE_KIND_AUTO, sock), PROBE_KIND_MUX);
        assert_int_equal(probe_kind_pick(PROBE_KIND_AUTO, file), PROBE_KIND_SSH);
        assert_int_equal(probe_kind_pick(PROBE_KIND_AUTO, "/nonexistent/ctl"), PROBE_KIND_SSH);
        assert_int_equal(probe_kind_pick(PROBE_KIND_AUTO, NULL), PROBE_KIND_SSH);
        assert_int_equal(probe_kind_pick(PROBE_KIND_TCP, sock), PROBE_KIND_TCP);
        assert_int_equal(probe_kind_pick(PROBE_KIND_NONE, sock), PROBE_KIND_NONE);

        close(fd);
        assert_int_equal(unlink(sock), 0);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* The ssh probe against fake ssh binaries that record their pid and arguments. */
static char fake_dir[] = "/tmp/test-probe-XXXXXX";

static void write_fake(const char *name, const char *body) {
        char path[256];
        FILE *f;

        (void) snprintf(path, sizeof path, "%s/%s", fake_dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\necho $$ > %s/pid\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > %s/args\n%s\n",
                fake_dir, fake_dir, body);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, 0755), 0);
}

static pid_t read_fake_pid(void) {
        char path[256];
        int pid = 0;
        (void) snprintf(path, sizeof path, "%s/pid", fake_dir);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%d", &pid), 1);
        fclose(f);
        return pid;
}

static char **read_fake_args(void) {
        char path[256], line[512];
        char **l = NULL;
        (void) snprintf(path, sizeof path, "%s/args", fake_dir);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                assert_int_equal(strv_push(&l, line), 0);
        }
        fclose(f);
        return l;
}

/* Does argv hold `a` directly followed by `b` (or just `a` when b is NULL)? */
static bool has_arg(char **argv, const char *a, const char *b) {
        for (size_t i = 0; argv && argv[i]; i++)
                if (streq(argv[i], a) && (!b || (argv[i + 1] && streq(argv[i + 1], b))))
                        return true;
        return false;
}

static void test_ssh_table(void **state) {
        static const struct {
                const char *name;
                const char *body;
                bool expect;
                const char *send;
                usec_t timeout;
                probe_status status;
                const char *detail;
        } t[] = {
                { "ok", "printf 'SSH-2.0-fake\\r\\n'; exec sleep 30", true, NULL, 3 * SEC, PROBE_OK,
                  "answered \"SSH-2.0-fake\\r\\n\"" },
                { "prohibited",
                  "echo 'channel 0: open failed: administratively prohibited: open failed' >&2\n"
                  "echo 'stdio forwarding failed' >&2; exit 255",
                  true, NULL, 3 * SEC, PROBE_PROHIBITED, "channel open refused by bastion: administratively prohibited" },
                { "refused",
                  "echo 'channel 0: open failed: connect failed: Connection refused' >&2\n"
                  "echo 'stdio forwarding failed' >&2; exit 255",
                  true, NULL, 3 * SEC, PROBE_REFUSED, "bastion has no listener on localhost:21022" },
                { "denied", "echo 'tunnel@bastion.example: Permission denied (publickey).' >&2; exit 255", true, NULL,
                  3 * SEC, PROBE_ERROR, "ssh: tunnel@bastion.example: Permission denied (publickey)." },
                { "bastion-refused",
                  "echo 'ssh: connect to host bastion.example port 2222: Connection refused' >&2; exit 255", true,
                  NULL, 3 * SEC, PROBE_ERROR, "ssh: ssh: connect to host bastion.example port 2222: Connection refused" },
                { "http", "printf 'HTTP/1.0 400\\r\\n'; exit 0", true, NULL, 3 * SEC, PROBE_BAD_RESPONSE,
                  "bad answer: \"HTTP/1.0 400\\r\\n\"" },
                { "mute", "exit 0", true, NULL, 3 * SEC, PROBE_BAD_RESPONSE, "closed without answer" },
                { "send-echo", "exec head -c 10", true, "SSH-ping\r\n", 3 * SEC, PROBE_OK, "answered \"SSH-ping" },
                { "any-byte", "printf 'x'; exec sleep 30", false, NULL, 3 * SEC, PROBE_OK, "answered \"x\"" },
                { "timeout", "exec sleep 30", true, NULL, 300 * MSEC, PROBE_TIMEOUT, "no answer within 300ms" },
        };

        static char *ids[] = { (char *) "/tmp/id_test", (char *) "/tmp/id_other", NULL };
        ssh_target cfg = {
                .hostname = (char *) "bastion.example",
                .port = 2222,
                .user = (char *) "tunnel",
                .identity_files = ids,
                .user_known_hosts_file = (char *) "/etc/rtun/known_hosts",
                .strict_host_key_checking = (char *) "yes",
        };
        forward_address fwd = { .listen_host = (char *) "localhost", .listen_port = 21022 };

        assert_non_null(mkdtemp(fake_dir));
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                sd_event *e = NULL;
                outcome o = { 0 };
                probe *p = NULL;
                char bin[256];
                int fds = count_fds();

                write_fake(t[i].name, t[i].body);
                (void) snprintf(bin, sizeof bin, "%s/%s", fake_dir, t[i].name);
                probe_request req = {
                        .unit = "reverse-ssh@test.service",
                        .kind = PROBE_KIND_SSH,
                        .ssh = &cfg,
                        .forward = &fwd,
                        .expect = t[i].expect ? &ssh_re : NULL,
                        .send = t[i].send,
                        .send_len = t[i].send ? strlen(t[i].send) : 0,
                        .timeout = t[i].timeout,
                        .ssh_binary = bin,
                };

                assert_int_equal(sd_event_new(&e), 0);
                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                assert_false(o.called);
                run_until(e, &o.called, 5 * SEC);
                if (!o.called || o.r.status != t[i].status || !strstr(o.r.detail, t[i].detail))
                        fail_msg("%s: called=%d status=%s detail=\"%s\"", t[i].name, o.called,
                                 strna(probe_status_to_string(o.r.status)), o.r.detail);
                assert_int_equal(o.calls, 1);
                assert_int_equal(o.r.kind, PROBE_KIND_SSH);
                if (t[i].status == PROBE_TIMEOUT)
                        assert_true(o.r.duration >= t[i].timeout && o.r.duration < 2 * SEC);

                /* Whatever the outcome, the child is gone: killed if need be, and reaped. */
                pid_t pid = read_fake_pid();
                assert_true(pid > 0);
                assert_int_equal(kill(pid, 0), -1);
                assert_int_equal(errno, ESRCH);

                _cleanup_(strv_freep) char **args = read_fake_args();
                assert_true(has_arg(args, "-W", "localhost:21022"));
                assert_true(has_arg(args, "-p", "2222"));
                assert_true(has_arg(args, "-l", "tunnel"));
                assert_true(has_arg(args, "-i", "/tmp/id_test"));
                assert_true(has_arg(args, "-i", "/tmp/id_other"));
                assert_true(has_arg(args, "-F", "/dev/null"));
                assert_true(has_arg(args, "-oBatchMode=yes", NULL));
                assert_true(has_arg(args, "-oIdentitiesOnly=yes", NULL));
                assert_true(has_arg(args, "-oControlPath=none", NULL));
                assert_true(has_arg(args, "-oLogLevel=INFO", NULL));
                assert_true(has_arg(args, "-oUserKnownHostsFile=/etc/rtun/known_hosts", NULL));
                assert_true(has_arg(args, "-oStrictHostKeyChecking=yes", NULL));
                assert_false(has_arg(args, "-oProxyJump=none", NULL));
                assert_string_equal(args[strv_length(args) - 1], "bastion.example");

                sd_event_unref(e);
                assert_int_equal(count_fds(), fds);
        }
}

static void test_ssh_cancel_and_missing(void **state) {
        ssh_target cfg = { .hostname = (char *) "bastion.example", .port = 22, .user = (char *) "u" };
        forward_address fwd = { .listen_host = (char *) "::1", .listen_port = 2323 };
        probe_request req = { .kind = PROBE_KIND_SSH, .ssh = &cfg, .forward = &fwd, .expect = &ssh_re,
                              .timeout = 2 * SEC };
        char bin[256];
        sd_event *e = NULL;
        outcome o = { 0 };
        probe *p = NULL;
        int fds = count_fds();

        write_fake("cancel", "exec sleep 30");
        (void) snprintf(bin, sizeof bin, "%s/cancel", fake_dir);
        req.ssh_binary = bin;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        run_for(e, 200 * MSEC);
        assert_false(o.called);
        pid_t pid = read_fake_pid();
        assert_int_equal(kill(pid, 0), 0);
        assert_null(probe_cancel(p));
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
        _cleanup_(strv_freep) char **args = read_fake_args();
        assert_true(has_arg(args, "-W", "[::1]:2323"));
        assert_false(has_arg(args, "-i", NULL));
        assert_false(has_arg(args, "-oIdentitiesOnly=yes", NULL));
        run_for(e, 100 * MSEC);
        assert_false(o.called);

        /* A refused channel names the IPv6 listen address as ssh -W does, in brackets. */
        write_fake("refused6", "echo 'channel 0: open failed: connect failed: Connection refused' >&2; exit 255");
        (void) snprintf(bin, sizeof bin, "%s/refused6", fake_dir);
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        run_until(e, &o.called, 2 * SEC);
        assert_int_equal(o.r.status, PROBE_REFUSED);
        assert_string_equal(o.r.detail, "bastion has no listener on [::1]:2323 (connect failed)");
        o = (outcome) { 0 };

        /* A binary that is not there: an error result, delivered later. */
        req.ssh_binary = "/nonexistent/ssh";
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        assert_false(o.called);
        run_until(e, &o.called, 2 * SEC);
        assert_int_equal(o.r.status, PROBE_ERROR);
        assert_non_null(strstr(o.r.detail, "No such file"));

        sd_event_unref(e);
        assert_int_equal(count_fds(), fds);
}

/* "UID GID FD FD ..." of a running child, read from its /proc entry: real uid and gid, open fds in order. */
static void child_self(pid_t pid, char *buf, size_t size) {
        char path[64], line[256];
        unsigned uid = ~0U, gid = ~0U;
        bool fds[1024] = {};

        (void) snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
                (void) sscanf(line, "Uid: %u", &uid);
                (void) sscanf(line, "Gid: %u", &gid);
        }
        fclose(f);
        (void) snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] != '.' && fd >= 0 && fd < (int) ELEMENTSOF(fds))
                        fds[fd] = true;
        }
        closedir(d);
        size_t o = (size_t) snprintf(buf, size, "%u %u", uid, gid);
        for (int fd = 0; fd < (int) ELEMENTSOF(fds) && o < size; fd++)
                if (fds[fd])
                        o += (size_t) snprintf(buf + o, size - o, " %d", fd);
}

/* Is pid blocked in a sleep (nanosleep or clock_nanosleep)? Before that, sleep(1) may still be setting
 * itself up (a locale file open for a moment), and its fds would not yet be only what it inherited. */
static bool sleeping(pid_t pid) {
        char path[64];
        long nr = -1;
        (void) snprintf(path, sizeof path, "/proc/%d/syscall", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        if (fscanf(f, "%ld", &nr) != 1)
                nr = -1;
        fclose(f);
        return nr == SYS_nanosleep || nr == SYS_clock_nanosleep;
}

/* Waits until the fake ssh has exec'd its last command (its comm is then that command's) and, for sleep,
 * until that is asleep. */
static pid_t wait_fake_exec(sd_event *e, const char *comm) {
        char path[256], name[64] = "";
        usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * SEC;

        (void) snprintf(path, sizeof path, "%s/pid", fake_dir);
        while (now_usec(CLOCK_MONOTONIC) < end) {
                run_for(e, 20 * MSEC);
                struct stat st;
                if (stat(path, &st) < 0 || st.st_size == 0)
                        continue;
                pid_t pid = read_fake_pid();
                char cpath[64];
                (void) snprintf(cpath, sizeof cpath, "/proc/%d/comm", (int) pid);
                FILE *f = fopen(cpath, "re");
                if (!f)
                        continue;
                bool got = fgets(name, sizeof name, f) != NULL;
                fclose(f);
                if (got && strncmp(name, comm, strlen(comm)) == 0 && (!streq(comm, "sleep") || sleeping(pid)))
                        return pid;
        }
        fail_msg("the fake ssh never ran %s (last comm \"%s\")", comm, name);
        return -1;
}

/* The ssh probe's child runs as the unit's User= (its ProxyCommand and identity files are that user's)
 * and holds fds 0-2 only, even when we hold fds without close-on-exec (libcurl's sockets). */
static void test_ssh_child_identity_and_fds(void **state) {
        ssh_target cfg = { .hostname = (char *) "bastion.example", .port = 22, .user = (char *) "u" };
        forward_address fwd = { .listen_host = (char *) "localhost", .listen_port = 21022 };
        run_identity nobody;
        char bin[256], self[256], want[64], pidfile[256];

        if (geteuid() != 0)
                fail_msg("needs root (a switch to the unit's user is only possible as root)");
        assert_int_equal(run_identity_for_user("nobody", &nobody), 0);
        /* The fake writes its pid and arguments beside itself, also as nobody. */
        assert_int_equal(chmod(fake_dir, 0777), 0);
        write_fake("self", "exec sleep 30");
        (void) snprintf(bin, sizeof bin, "%s/self", fake_dir);
        (void) snprintf(pidfile, sizeof pidfile, "%s/pid", fake_dir);

        /* What libcurl 7.88 does with its sockets: no SOCK_CLOEXEC. */
        int leaky_sock = socket(AF_INET, SOCK_STREAM, 0), leaky_file = open("/dev/null", O_RDONLY);
        assert_true(leaky_sock >= 0 && leaky_file >= 0);

        const run_identity *as[] = { NULL, &nobody };
        for (size_t i = 0; i < ELEMENTSOF(as); i++) {
                probe_request req = { .unit = "reverse-ssh@test.service", .kind = PROBE_KIND_SSH, .ssh = &cfg,
                                      .forward = &fwd, .expect = &ssh_re, .timeout = 20 * SEC, .ssh_binary = bin,
                                      .as = as[i] };
                sd_event *e = NULL;
                outcome o = { 0 };
                probe *p = NULL;

                (void) unlink(pidfile);
                assert_int_equal(sd_event_new(&e), 0);
                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                pid_t pid = wait_fake_exec(e, "sleep");
                child_self(pid, self, sizeof self);
                (void) snprintf(want, sizeof want, "%u %u 0 1 2", as[i] ? (unsigned) as[i]->uid : 0,
                                as[i] ? (unsigned) as[i]->gid : 0);
                if (!streq(self, want))
                        fail_msg("as %s: the child is \"%s\", want \"%s\" (uid gid fds)",
                                 as[i] ? as[i]->name : "root", self, want);
                assert_false(o.called);
                assert_null(probe_cancel(p));
                sd_event_unref(e);
        }
        close(leaky_sock);
        close(leaky_file);
        assert_int_equal(chmod(fake_dir, 0700), 0);
}

/* Not root and not the unit's user: the probe cannot speak for the tunnel, and says so as ours. */
static void test_ssh_not_reachable(void **state) {
        ssh_target cfg = { .hostname = (char *) "bastion.example", .port = 22, .user = (char *) "u" };
        forward_address fwd = { .listen_host = (char *) "localhost", .listen_port = 21022 };
        run_identity other = { .uid = geteuid() + 4242, .gid = 4242 };
        strcpy(other.name, "someone-else");
        probe_request req = { .kind = PROBE_KIND_SSH, .ssh = &cfg, .forward = &fwd, .timeout = 2 * SEC,
                              .ssh_binary = "/bin/true", .as = &other };
        sd_event *e = NULL;
        outcome o = { 0 };
        probe *p = NULL;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* As an operator without root would run `status`. */
                if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
                        _exit(10);
                if (sd_event_new(&e) < 0 || probe_start(e, &req, on_done, &o, &p) < 0)
                        _exit(11);
                usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * SEC;
                while (!o.called && now_usec(CLOCK_MONOTONIC) < end)
                        (void) sd_event_run(e, 50 * MSEC);
                _exit(!o.called ? 12 : o.r.status != PROBE_ERROR ? 13 : !o.r.ours ? 14 :
                      !strstr(o.r.detail, "run as root") ? 15 : 0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_parse_stat(void **state) {
        static const struct {
                const char *line;
                probe_status status;
                char state;
        } t[] = {
                { "1234 (ssh) S 1 1234 1234 0 -1 4194560 ...", PROBE_OK, 'S' },
                { "1234 (ssh) T 1 1234", PROBE_OK, 'T' },
                { "1234 (a) (b) Z 1 2 3", PROBE_OK, 'Z' },
                { "1234 (x) R (y) t 1 2 3", PROBE_OK, 't' },
                { "1234 (sp ace) ) X 0", PROBE_OK, 'X' },
                { "1234 ()) R 0", PROBE_OK, 'R' },
                { "1234 (ssh) S\n", PROBE_OK, 'S' },
                { "1234 (ssh)", PROBE_ERROR, 0 },
                { "1234 (ssh) ", PROBE_ERROR, 0 },
                { "1234 (ssh)S 1", PROBE_ERROR, 0 },
                { "1234 ssh S 1", PROBE_ERROR, 0 },
                { "1234 (ssh) SS 1", PROBE_ERROR, 0 },
                { "", PROBE_ERROR, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char s = 0;
                if (proc_stat_parse_state(t[i].line, &s) != t[i].status)
                        fail_msg("case %zu: \"%s\"", i, t[i].line);
                if (t[i].status == PROBE_OK)
                        assert_int_equal(s, t[i].state);
        }
        assert_int_equal(proc_stat_parse_state(NULL, &(char) { 0 }), PROBE_ERROR);
}

static void test_process_check(void **state) {
        char detail[128];
        int status;

        assert_int_equal(proc_stat_check(getpid(), detail, sizeof detail), PROBE_OK);
        assert_int_equal(proc_stat_check(0, NULL, 0), PROBE_UNIT_DOWN);

        /* A stopped child, then the same child as a zombie, then gone. */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                pause();
                _exit(0);
        }
        assert_int_equal(kill(pid, SIGSTOP), 0);
        assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
        assert_int_equal(proc_stat_check(pid, detail, sizeof detail), PROBE_PROCESS_STOPPED);
        assert_non_null(strstr(detail, "is stopped"));

        assert_int_equal(kill(pid, SIGKILL), 0);
        siginfo_t si;
        assert_int_equal(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
        assert_int_equal(proc_stat_check(pid, detail, sizeof detail), PROBE_PROCESS_STOPPED);
        assert_non_null(strstr(detail, "is a zombie"));

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(proc_stat_check(pid, detail, sizeof detail), PROBE_UNIT_DOWN);
}

static int setup(void **state) {
        return regcomp(&ssh_re, "^SSH-", REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
}

static int teardown(void **state) {
        char cmd[300];
        regfree(&ssh_re);
        if (!strstr(fake_dir, "XXXXXX")) {
                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", fake_dir);
                (void) !system(cmd);
        }
        return 0;
}

/* Processes (zombies included) whose parent is this one. */
static int count_children(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;
        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[300], buf[512];
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t k = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (k <= 0)
                        continue;
                buf[k] = 0;
                const char *rp = strrchr(buf, ')');
                int ppid = 0;
                if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
                        n++;
        }
        closedir(d);
        return n;
}

/* A result known without the network (the unit is not active) goes through the same delivery: after the
 * journal look for a refused forward, which here (no such unit in any journal) finds nothing and changes
 * nothing, within its bound. Which failures are worth that look. */
static void test_known_result_and_busy_lookup(void **state) {
        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        probe_result known = { .status = PROBE_UNIT_DOWN };
        snprintf(known.detail, sizeof known.detail, "unit is activating (auto-restart)");
        probe_request req = {
                .unit = "reverse-ssh@no-such-unit-in-any-journal.service",
                .kind = PROBE_KIND_NONE,
                .known = &known,
                .unit_started_at = now_usec(CLOCK_REALTIME) - 60 * SEC,
        };
        outcome o = {};
        probe *p = NULL;
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        run_until(e, &o.called, PROBE_LISTEN_BUSY_LOOKUP_MAX + 3 * SEC);
        assert_true(o.called);
        assert_int_equal(o.calls, 1);
        assert_int_equal(o.r.status, PROBE_UNIT_DOWN);
        assert_int_equal(o.r.kind, PROBE_KIND_NONE);
        assert_string_equal(o.r.detail, "unit is activating (auto-restart)");
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < PROBE_LISTEN_BUSY_LOOKUP_MAX + 2 * SEC);

        /* Cancelled while the look runs: no callback, the child killed and reaped (no zombie left). */
        int before = count_children();
        o = (outcome) {};
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        assert_true(sd_event_run(e, 0) >= 0); /* delivery starts the look */
        p = probe_cancel(p);
        run_for(e, 200 * MSEC);
        assert_false(o.called);
        assert_int_equal(count_children(), before); /* not even a zombie */

        assert_true(probe_listen_busy_explains(PROBE_TIMEOUT));
        assert_true(probe_listen_busy_explains(PROBE_REFUSED));
        assert_true(probe_listen_busy_explains(PROBE_NO_MASTER));
        assert_true(probe_listen_busy_explains(PROBE_UNIT_DOWN));
        assert_false(probe_listen_busy_explains(PROBE_OK));
        assert_false(probe_listen_busy_explains(PROBE_PROHIBITED));
        assert_false(probe_listen_busy_explains(PROBE_PROCESS_STOPPED));
        assert_false(probe_listen_busy_explains(PROBE_BAD_RESPONSE));
        assert_false(probe_listen_busy_explains(PROBE_ERROR));
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start_errors),
                cmocka_unit_test(test_tcp_table),
                cmocka_unit_test(test_tcp_cancel),
                cmocka_unit_test(test_result_carries_connection),
                cmocka_unit_test(test_kind_pick),
                cmocka_unit_test(test_ssh_table),
                cmocka_unit_test(test_ssh_cancel_and_missing),
                cmocka_unit_test(test_ssh_child_identity_and_fds),
                cmocka_unit_test(test_ssh_not_reachable),
                cmocka_unit_test(test_parse_stat),
                cmocka_unit_test(test_process_check),
                cmocka_unit_test(test_known_result_and_busy_lookup),
        };
        sigset_t chld;

        /* sd_event_add_child() requires SIGCHLD blocked before any child exists; so does the daemon. */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);

        return cmocka_run_group_tests(tests, setup, teardown);
}
