/* The bastion's look at listeners (probes/listen_view.c) against real sockets of this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../probes/listen_view.h"

static int listener(uint16_t *port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 4), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

static void test_listener_and_session(void **state) {
        tcpinfo *ti;
        uint16_t port, gone;
        int l = listener(&port), l2 = listener(&gone);
        close(l2); /* a port nobody listens on any more */

        /* A connection held by this process: its lowest-fd connection is the one the view reports. */
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port) };
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(c, (struct sockaddr *) &a, sizeof a), 0);
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(s >= 0);

        assert_int_equal(tcpinfo_new(&ti), 0);
        uint16_t ports[] = { port, gone, port };
        listen_view v[3];
        assert_int_equal(listen_view_look(ports, 3, ti, v), 0);
        for (int i = 0; i < 3; i += 2) {
                assert_true(v[i].listener);
                assert_int_equal(v[i].family, AF_INET);
                assert_int_equal(v[i].uid, getuid());
                assert_int_equal(v[i].session_pid, getpid());
                assert_true(v[i].tcp.valid);
                assert_int_equal(v[i].tcp.peer_family, AF_INET);
                usec_t now = (usec_t) time(NULL) * USEC_PER_SEC;
                /* this process started within the last hour (a test run), and not in the future */
                assert_true(v[i].session_start <= now + 2 * USEC_PER_SEC);
                assert_true(v[i].session_start + 3600 * USEC_PER_SEC > now);
        }
        assert_false(v[1].listener);
        assert_int_equal(v[1].session_pid, 0);
        assert_false(v[1].tcp.valid);
        close(s);
        close(c);
        close(l);
        tcpinfo_free(ti);
}

/* A child that holds a listener and one connection to it, as an sshd session holds its forward. */
static pid_t session_child(uint16_t *port) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                uint16_t lp;
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion must not leave it behind */
                int l = listener(&lp);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                         .sin_port = htons(lp) };
                int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (c < 0 || connect(c, (struct sockaddr *) &a, sizeof a) < 0 || accept4(l, NULL, NULL, SOCK_CLOEXEC) < 0 ||
                    write(p[1], &lp, sizeof lp) != sizeof lp)
                        _exit(1);
                pause();
                _exit(0);
        }
        close(p[1]);
        assert_int_equal(read(p[0], port, sizeof *port), sizeof *port);
        close(p[0]);
        return pid;
}

/* Many sessions, one look: the sockets table is dumped once per family, not once per session. */
static void test_sessions_one_dump(void **state) {
        enum { N = 6 };
        pid_t pids[N];
        uint16_t ports[N];
        listen_view v[N];
        tcpinfo *ti;

        for (int i = 0; i < N; i++)
                pids[i] = session_child(&ports[i]);
        assert_int_equal(tcpinfo_new(&ti), 0);
        assert_int_equal(listen_view_look(ports, N, ti, v), 0);
        for (int i = 0; i < N; i++) {
                assert_int_equal(v[i].session_pid, pids[i]);
                assert_true(v[i].tcp.valid);
        }
        assert_in_range(tcpinfo_dumps(ti), 1, 2);
        /* Looked at again (the daemon's next round): followed by address, no dump at all. */
        assert_int_equal(listen_view_look(ports, N, ti, v), 0);
        for (int i = 0; i < N; i++)
                assert_true(v[i].tcp.valid);
        assert_in_range(tcpinfo_dumps(ti), 1, 2);
        for (int i = 0; i < N; i++) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
        }
        tcpinfo_free(ti);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_listener_and_session),
                cmocka_unit_test(test_sessions_one_dump),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
