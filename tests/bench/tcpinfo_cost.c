/* Cost of one tcpinfo_for_pid_port() call (benchmarks.md, finding F3) on a host with many sockets: a
 * child holds one TCP connection to a "bastion" listener (the tunnel's ssh), this process opens OTHER
 * unrelated loopback connections (2 sockets each) and SIBLINGS more connections to the same bastion port
 * (the other tunnels' ssh), then times CALLS lookups of the child's connection.
 *
 *   tcpinfo_cost [CALLS [OTHER [SIBLINGS]]]      defaults: 1000 2000 100
 * Output: "calls=N sockets=M cpu_us_per_call=X wall_us_per_call=Y" (CPU: user+system of this process,
 * which is where the kernel's dump work is accounted). Exit 1 if a lookup fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../probes/tcpinfo.h"

static uint64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t cpu_us(void) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int listener(uint16_t *ret_port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, len) < 0 || listen(fd, 4096) < 0 ||
            getsockname(fd, (struct sockaddr *) &a, &len) < 0) {
                perror("listener");
                exit(2);
        }
        *ret_port = ntohs(a.sin_port);
        return fd;
}

/* Closed with a reset, not into TIME_WAIT: thousands of those would slow every later dump on the host. */
static void no_linger(int fd) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* One connection to port, accepted on l (the accepted end stays open too: a full pair per call). */
static void connect_to(int l, uint16_t port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

        if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof a) < 0 || (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
                perror("connect");
                exit(2);
        }
        no_linger(fd);
        no_linger(s);
}

int main(int argc, char **argv) {
        int calls = argc > 1 ? atoi(argv[1]) : 1000;
        int other = argc > 2 ? atoi(argv[2]) : 2000;
        int siblings = argc > 3 ? atoi(argv[3]) : 100;
        struct rlimit rl = { 4 * (other + siblings) + 64, 4 * (other + siblings) + 64 };
        uint16_t bastion_port, other_port;
        int p[2];

        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                perror("setrlimit");
                return 2;
        }
        int lb = listener(&bastion_port), lo = listener(&other_port);

        if (pipe2(p, O_CLOEXEC) < 0)
                return 2;
        pid_t pid = fork();
        if (pid < 0)
                return 2;
        if (pid == 0) {
                /* The tunnel's ssh: a few fds and one connection to its bastion. */
                char ch;
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(bastion_port),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                close(p[1]);
                if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof a) < 0)
                        _exit(2);
                no_linger(fd);
                (void) read(p[0], &ch, 1);
                _exit(0);
        }
        close(p[0]);
        int s = accept4(lb, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0)
                return 2;
        no_linger(s);
        for (int i = 0; i < siblings; i++)
                connect_to(lb, bastion_port);
        for (int i = 0; i < other; i++)
                connect_to(lo, other_port);

        tcp_view v = {};
        tcpinfo *ti = NULL;
        if (tcpinfo_new(&ti) < 0)
                return 2;
        int r = tcpinfo_for_pid_port(ti, pid, bastion_port, &v); /* warm up */
        uint64_t c0 = cpu_us(), w0 = mono_us();
        for (int i = 0; i < calls && r >= 0; i++)
                r = tcpinfo_for_pid_port(ti, pid, bastion_port, &v);
        uint64_t c1 = cpu_us(), w1 = mono_us();

        close(p[1]);
        (void) waitpid(pid, NULL, 0);
        tcpinfo_free(ti);
        if (r < 0 || !v.valid) {
                fprintf(stderr, "tcpinfo_for_pid_port: %s\n", strerror(-r));
                return 1;
        }
        printf("calls=%d sockets=%d cpu_us_per_call=%.1f wall_us_per_call=%.1f\n", calls,
               2 * (other + siblings + 1) + 2, (double) (c1 - c0) / calls, (double) (w1 - w0) / calls);
        return 0;
}
