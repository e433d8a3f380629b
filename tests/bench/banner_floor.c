/* The far-side floor of a bastion round (issue 11, docs/benchmarks.md section 6): one plain SSH banner
 * fetch through every listener of PORTS_FILE (one port per line), all connects issued at once, as the
 * bastion role's probes are: TCP connect to 127.0.0.1:PORT, read until the first bytes start with "SSH-",
 * close. Nothing else: no key file, no sshd -T, no listener table, no /proc. What is left is what the far
 * side costs (the bastion sshd session moving the channel, the host's ssh, the host's sshd answering).
 * Prints "ok N/M wall_ms W p50_ms A p90_ms B max_ms C" (when the banners came) and exits 0 when every port answered "SSH-" within TIMEOUT seconds, else 1.
 * Usage: banner_floor PORTS_FILE [TIMEOUT_S] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORTS_MAX 65536

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

typedef struct conn {
        int fd;
        int port;
        size_t got;
        double at; /* ms after the start when the banner came (or the fetch ended) */
        char buf[8];
        bool done, ok;
} conn;

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: banner_floor PORTS_FILE [TIMEOUT_S]\n");
                return 2;
        }
        double timeout_ms = (argc > 2 ? atof(argv[2]) : 5) * 1e3;
        FILE *f = fopen(argv[1], "r");
        if (!f) {
                perror(argv[1]);
                return 2;
        }
        static conn c[PORTS_MAX];
        size_t n = 0;
        int port;
        while (n < PORTS_MAX && fscanf(f, "%d", &port) == 1)
                if (port > 0 && port < 65536)
                        c[n++] = (conn) { .fd = -1, .port = port };
        fclose(f);

        int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || n == 0)
                return 2;
        double start = now_ms();
        size_t left = n, ok = 0;
        for (size_t i = 0; i < n; i++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) c[i].port) };
                sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (c[i].fd < 0 || (connect(c[i].fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
                        c[i].done = true;
                        left--;
                        continue;
                }
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = i };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
                        return 2;
        }
        while (left > 0) {
                struct epoll_event evs[256];
                int wait = (int) (start + timeout_ms - now_ms());
                if (wait <= 0)
                        break;
                int k = epoll_wait(ep, evs, 256, wait);
                if (k < 0 && errno != EINTR)
                        return 2;
                for (int j = 0; j < k; j++) {
                        conn *x = &c[evs[j].data.u64];
                        if (x->done)
                                continue;
                        ssize_t r = read(x->fd, x->buf + x->got, sizeof x->buf - x->got);
                        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (r > 0)
                                x->got += (size_t) r;
                        if (r > 0 && x->got < 4 && memcmp(x->buf, "SSH-", x->got) == 0)
                                continue; /* "SS" so far: wait for the rest */
                        x->ok = x->got >= 4 && memcmp(x->buf, "SSH-", 4) == 0;
                        x->at = now_ms() - start;
                        x->done = true;
                        ok += x->ok;
                        left--;
                        close(x->fd);
                        x->fd = -1;
                }
        }
        double wall = now_ms() - start;
        for (size_t i = 0; i < n; i++)
                if (c[i].fd >= 0)
                        close(c[i].fd);
        /* When the banners came: a far side whose accept queue overflows answers in steps of the SYN
         * retransmission (1 s, 3 s, 7 s). */
        double *at = calloc(n, sizeof *at);
        size_t m = 0;
        for (size_t i = 0; at && i < n; i++)
                if (c[i].ok)
                        at[m++] = c[i].at;
        qsort(at, m, sizeof *at, cmp_double);
        printf("ok %zu/%zu wall_ms %.1f p50_ms %.1f p90_ms %.1f max_ms %.1f\n", ok, n, wall, m ? at[m / 2] : -1.0,
               m ? at[m * 9 / 10] : -1.0, m ? at[m - 1] : -1.0);
        free(at);
        if (ok < n) {
                fprintf(stderr, "banner_floor: no banner from port(s)");
                for (size_t i = 0; i < n; i++)
                        if (!c[i].ok)
                                fprintf(stderr, " %d", c[i].port);
                fputc('\n', stderr);
        }
        return ok == n ? 0 : 1;
}
