/* tcpinfo: against a real loopback TCP connection made here (our own pid), and the explanation text. Each
 * test has its own tcpinfo (the lookups' memory), as each monitor has. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "../../monitor/base/macro.h"
#include "../../probes/tcpinfo.h"

typedef struct conn {
        int listener, client, server;
        uint16_t port;
} conn;

static bool conn_open(conn *c, int family) {
        struct sockaddr_storage ss = {};
        socklen_t len;

        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) &ss;
                in->sin_family = AF_INET;
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof *in;
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_addr = in6addr_loopback;
                len = sizeof *in6;
        }
        c->listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->listener < 0 || bind(c->listener, (struct sockaddr *) &ss, len) < 0 || listen(c->listener, 1) < 0) {
                if (c->listener >= 0)
                        close(c->listener);
                return false; /* no IPv6 here */
        }
        assert_int_equal(getsockname(c->listener, (struct sockaddr *) &ss, &len), 0);
        c->port = ntohs(family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                          : ((struct sockaddr_in6 *) &ss)->sin6_port);
        c->client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->client >= 0);
        assert_int_equal(connect(c->client, (struct sockaddr *) &ss, len), 0);
        c->server = accept4(c->listener, NULL, NULL, SOCK_CLOEXEC);
        assert_true(c->server >= 0);

        /* Some traffic, so rtt and the ACK clock have values. */
        char b[64] = "ping";
        assert_int_equal(write(c->client, b, 4), 4);
        assert_int_equal(read(c->server, b, sizeof b), 4);
        assert_int_equal(write(c->server, b, 4), 4);
        assert_int_equal(read(c->client, b, sizeof b), 4);
        return true;
}

static void conn_close(conn *c) {
        close(c->client);
        if (c->server >= 0)
                close(c->server);
        close(c->listener);
}

static void check_family(tcpinfo *ti, int family) {
        conn c;
        tcp_view v = {};

        if (!conn_open(&c, family)) {
                print_message("family %d unavailable, skipped\n", family);
                return;
        }
        /* By the server's port: the client end (its peer is the listener's port). */
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &v), 0);
        assert_true(v.valid);
        assert_true(v.rtt_seconds > 0 && v.rtt_seconds < 1.0);
        assert_int_equal(v.unacked, 0);
        assert_int_equal(v.retransmits_total, 0);
        assert_true(v.last_ack_age_seconds >= 0 && v.last_ack_age_seconds < 5.0);

        /* Any: the lowest fd, the client's (opened before the accepted one). */
        v = (tcp_view) {};
        assert_int_equal(tcpinfo_for_pid(ti, getpid(), &v), 0);
        assert_true(v.valid);

        /* A port nobody talks to. */
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), 1, &v), -ENOENT);
        conn_close(&c);
}

static void test_loopback_ipv4(void **state) {
        check_family(*state, AF_INET);
}

static void test_loopback_ipv6(void **state) {
        check_family(*state, AF_INET6);
}

/* Repeated lookups (the second one by the kernel's address lookup) follow the live connection. */
static void test_repeated(void **state) {
        tcpinfo *ti = *state;
        conn c;
        tcp_view a = {}, b = {};

        assert_true(conn_open(&c, AF_INET));
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &a), 0);
        usleep(300 * 1000);
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &b), 0);
        assert_true(b.valid);
        /* Fresh from the kernel, not a remembered copy: the last ACK has aged. */
        assert_true(b.last_ack_age_seconds >= a.last_ack_age_seconds + 0.2);

        /* The peer closed: CLOSE_WAIT is still a connection. */
        close(c.server);
        c.server = -1;
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &b), 0);

        /* Closed: gone, whatever was found before. */
        int fd = c.client;
        close(c.client);
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &b), -ENOENT);

        /* A new connection to the same port on the same fd number is found: a new socket there. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c.port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int n = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(n, fd);
        assert_int_equal(connect(n, (struct sockaddr *) &sa, sizeof sa), 0);
        int s = accept4(c.listener, NULL, NULL, SOCK_CLOEXEC);
        assert_true(s >= 0);
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &b), 0);
        assert_true(b.valid);
        close(n);
        close(s);
        close(c.listener);
}

/* Nothing to a port (remembered), then a connection to it: found at once, the process's sockets changed. */
static void test_not_found_then_connected(void **state) {
        tcpinfo *ti = *state;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        tcp_view v = {};

        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(l >= 0);
        assert_int_equal(bind(l, (struct sockaddr *) &sa, len), 0);
        assert_int_equal(listen(l, 1), 0);
        assert_int_equal(getsockname(l, (struct sockaddr *) &sa, &len), 0);
        uint16_t port = ntohs(sa.sin_port);

        /* A listener is not a connection. */
        for (int i = 0; i < 2; i++)
                assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), port, &v), -ENOENT);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c >= 0);
        assert_int_equal(connect(c, (struct sockaddr *) &sa, len), 0);
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(s >= 0);
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), port, &v), 0);
        assert_true(v.valid);
        close(c);
        close(s);
        close(l);
}

/* More (pid, port) pairs than the cache holds: entries are recycled, answers stay right. */
static void test_many_ports(void **state) {
        tcpinfo *ti = *state;
        conn c;
        tcp_view v = {};

        assert_true(conn_open(&c, AF_INET));
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &v), 0);
        for (unsigned p = 1; p <= 1100; p++)
                if (p != c.port)
                        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), (uint16_t) p, &v), -ENOENT);
        assert_int_equal(tcpinfo_for_pid_port(ti, getpid(), c.port, &v), 0);
        assert_true(v.valid);
        conn_close(&c);
}

/* A child process connected to c's listener (our end accepted into *ret_server), closing the inherited
 * fds listed first; it exits when *ret_release is closed. */
static pid_t child_connected_to(const conn *c, const int *inherited, size_t n_inherited, int *ret_release,
                                int *ret_server) {
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char ch;
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                for (size_t i = 0; i < n_inherited; i++)
                        close(inherited[i]);
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                close(p[1]);
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        _exit(1);
                /* waits for the parent to close its end; _FORTIFY_SOURCE wants the result used */
                _exit(read(p[0], &ch, 1) < 0);
        }
        close(p[0]);
        *ret_server = accept4(c->listener, NULL, NULL, SOCK_CLOEXEC);
        assert_true(*ret_server >= 0);
        *ret_release = p[1];
        return pid;
}

/* Another process's connection (the daemon's case), then that process gone. */
static void test_other_process(void **state) {
        tcpinfo *ti = *state;
        conn c;
        tcp_view v = {};

        assert_true(conn_open(&c, AF_INET));
        int release, s;
        pid_t pid = child_connected_to(&c, NULL, 0, &release, &s);
        for (int i = 0; i < 3; i++) {
                v = (tcp_view) {};
                assert_int_equal(tcpinfo_for_pid_port(ti, pid, c.port, &v), 0);
                assert_true(v.valid);
        }
        close(release);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_int_equal(tcpinfo_for_pid_port(ti, pid, c.port, &v), -ESRCH);
        close(s);
        conn_close(&c);
}

/* A round's first lookups at once: one dump per family and distinct port, then each found by address. */
static void test_prefetch(void **state) {
        tcpinfo *ti = *state;
        conn a, b;
        tcp_view v = {};

        assert_true(conn_open(&a, AF_INET));
        assert_true(conn_open(&b, AF_INET));
        /* Another process with a connection to a's port, and only that one. */
        const int inherited[] = { a.client, a.server, b.client, b.server };
        int release, s;
        pid_t pid = child_connected_to(&a, inherited, ELEMENTSOF(inherited), &release, &s);

        const tcpinfo_query q[] = {
                { getpid(), a.port }, { pid, a.port }, { getpid(), b.port },
                { pid, b.port },      /* the child has no connection there */
                { 0, a.port },        /* no process: skipped */
        };
        unsigned before = tcpinfo_dumps(ti);
        assert_int_equal(tcpinfo_prefetch(ti, q, ELEMENTSOF(q)), 0);
        /* a.port and b.port, IPv4 and IPv6 each. */
        assert_int_equal(tcpinfo_dumps(ti) - before, 4);

        before = tcpinfo_dumps(ti);
        for (size_t i = 0; i < 3; i++) {
                v = (tcp_view) {};
                assert_int_equal(tcpinfo_for_pid_port(ti, q[i].pid, q[i].remote_port, &v), 0);
                assert_true(v.valid);
                assert_true(v.rtt_seconds > 0 && v.rtt_seconds < 1.0);
        }
        /* All three by address; the one with nothing is remembered as nothing. */
        assert_int_equal(tcpinfo_for_pid_port(ti, pid, b.port, &v), -ENOENT);
        assert_int_equal(tcpinfo_dumps(ti) - before, 0);

        /* Nothing left to find: no dump at all. */
        before = tcpinfo_dumps(ti);
        assert_int_equal(tcpinfo_prefetch(ti, q, 3), 0);
        assert_int_equal(tcpinfo_prefetch(ti, NULL, 0), 0);
        assert_int_equal(tcpinfo_dumps(ti) - before, 0);

        close(release);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        close(s);
        conn_close(&a);
        conn_close(&b);
}

static void test_no_connection(void **state) {
        tcpinfo *ti = *state;
        tcp_view v = {};
        int p[2];

        /* A child with no TCP socket at all. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char ch;
                close(p[1]);
                /* waits for the parent to close its end; _FORTIFY_SOURCE wants the result used */
                _exit(read(p[0], &ch, 1) < 0);
        }
        close(p[0]);
        assert_int_equal(tcpinfo_for_pid(ti, pid, &v), -ENOENT);
        assert_false(v.valid);
        close(p[1]);
        assert_int_equal(waitpid(pid, NULL, 0), pid);

        /* Gone. */
        assert_int_equal(tcpinfo_for_pid(ti, pid, &v), -ESRCH);
        assert_int_equal(tcpinfo_for_pid(ti, 0, &v), -EINVAL);
        assert_int_equal(tcpinfo_for_pid(ti, getpid(), NULL), -EINVAL);
        assert_int_equal(tcpinfo_for_pid(NULL, getpid(), &v), -EINVAL);
}

static void test_explain(void **state) {
        static const struct {
                tcp_view v;
                const char *want;
        } t[] = {
                { { .valid = true, .unacked = 3, .last_ack_age_seconds = 12.4 }, "no ACK from bastion for 12 s, 3 segments unacked" },
                { { .valid = true, .unacked = 1, .last_ack_age_seconds = 2.0 }, "no ACK from bastion for 2 s, 1 segment unacked" },
                { { .valid = true, .unacked = 7, .last_ack_age_seconds = 125.6, .retransmits_total = 9 },
                  "no ACK from bastion for 126 s, 7 segments unacked" },
                { { .valid = true, .unacked = 3, .last_ack_age_seconds = 1.99 }, "" },  /* fresh enough */
                { { .valid = true, .unacked = 0, .last_ack_age_seconds = 300 }, "" },   /* idle, nothing owed */
                { { .valid = false, .unacked = 3, .last_ack_age_seconds = 30 }, "" },   /* no data */
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char buf[128] = "garbage";
                int n = tcpinfo_explain(&t[i].v, "bastion", buf, sizeof buf);
                assert_string_equal(buf, t[i].want);
                assert_int_equal(n, strlen(t[i].want));
        }

        char small[10];
        assert_int_equal(tcpinfo_explain(&t[0].v, "bastion", small, sizeof small), 9);
        assert_string_equal(small, "no ACK fr");
        assert_int_equal(tcpinfo_explain(NULL, "bastion", small, sizeof small), 0);
        assert_string_equal(small, "");
        assert_int_equal(tcpinfo_explain(&t[0].v, "bastion", NULL, 0), 0);
}

/* Each test its own lookup memory, as each monitor has its own. */
static int tracker_new(void **state) {
        return tcpinfo_new((tcpinfo **) state);
}

static int tracker_free(void **state) {
        *state = tcpinfo_free(*state);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_loopback_ipv4, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_loopback_ipv6, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_repeated, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_not_found_then_connected, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_many_ports, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_other_process, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_prefetch, tracker_new, tracker_free),
                cmocka_unit_test_setup_teardown(test_no_connection, tracker_new, tracker_free),
                cmocka_unit_test(test_explain),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
