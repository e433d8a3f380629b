/* Cost of one probe of each kind against one lab tunnel (benchmarks.md, issue 5): runs N probes one
 * after another on an sd-event loop and prints, per probe, its wall time and the CPU it took in this
 * process (RUSAGE_SELF) and in the children it spawned (RUSAGE_CHILDREN; spawned children are reaped
 * before the result is delivered, so their CPU is counted in the same probe).
 *
 *   probe_cost KIND N CTLPATH BASTION_PORT LISTEN_PORT IDENTITY
 *   KIND: mux      the native probe (probes/probe_mux.c) on the unit's ControlPath
 *         ssh      the product's fallback: a fresh `ssh -W` connection (probes/probe_ssh.c)
 *         ssh-mux  the peer: `ssh -S CTLPATH -W localhost:LISTEN_PORT` spawned through the master
 * Output: one line per probe: "KIND WALL_US SELF_CPU_US CHILD_CPU_US STATUS". Exit 1 on a failed probe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../probes/probe.h"

#define PROBE_TIMEOUT (5 * USEC_PER_SEC)

static uint64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t tv_us(struct timeval tv) {
        return (uint64_t) tv.tv_sec * 1000000 + (uint64_t) tv.tv_usec;
}

static uint64_t cpu_us(int who) {
        struct rusage ru;
        if (getrusage(who, &ru) < 0)
                return 0;
        return tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
}

typedef struct run {
        probe_status status;
        bool done;
} run;

static void on_done(probe *p, const probe_result *r, void *userdata) {
        run *x = userdata;
        x->status = r->status;
        x->done = true;
}

/* One product probe (mux or ssh) on the loop. */
static int product_probe(sd_event *e, const probe_request *req, probe_status *ret) {
        run x = {};
        probe *p = NULL;
        int r = probe_start(e, req, on_done, &x, &p);
        if (r < 0)
                return r;
        /* sd_event_run, not sd_event_loop: an exited loop cannot run again for the next probe. */
        while (!x.done) {
                r = sd_event_run(e, UINT64_MAX);
                if (r < 0) {
                        probe_cancel(p);
                        return r;
                }
        }
        *ret = x.status;
        return 0;
}

/* The peer: `ssh -S CTL -W localhost:PORT` through the running master, first line must be "SSH-". */
static int spawned_mux_probe(const char *ctl, const char *listen, probe_status *ret) {
        int out[2];
        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
                    dup2(devnull, STDERR_FILENO) < 0)
                        _exit(127);
                execl("/usr/bin/ssh", "ssh", "-S", ctl, "-o", "ControlMaster=no", "-o", "BatchMode=yes", "-W",
                      listen, "bastion", (char *) NULL);
                _exit(127);
        }
        close(out[1]);

        char buf[512];
        size_t len = 0;
        uint64_t end = mono_us() + PROBE_TIMEOUT;
        *ret = PROBE_TIMEOUT;
        for (;;) {
                uint64_t now = mono_us();
                if (now >= end)
                        break;
                struct pollfd pfd = { .fd = out[0], .events = POLLIN };
                int n = poll(&pfd, 1, (int) ((end - now) / 1000) + 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                ssize_t k = read(out[0], buf + len, sizeof buf - 1 - len);
                if (k <= 0) {
                        *ret = PROBE_BAD_RESPONSE;
                        break;
                }
                len += (size_t) k;
                buf[len] = 0;
                if (strchr(buf, '\n') || len == sizeof buf - 1) {
                        *ret = strncmp(buf, "SSH-", 4) == 0 ? PROBE_OK : PROBE_BAD_RESPONSE;
                        break;
                }
        }
        close(out[0]);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 7) {
                fprintf(stderr, "usage: %s mux|ssh|ssh-mux N CTLPATH BASTION_PORT LISTEN_PORT IDENTITY\n", argv[0]);
                return 2;
        }
        const char *kind = argv[1], *ctl = argv[3], *identity = argv[6];
        int n = atoi(argv[2]);
        uint16_t bport = (uint16_t) atoi(argv[4]), lport = (uint16_t) atoi(argv[5]);

        /* sd_event_add_child() needs SIGCHLD blocked. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        regex_t expect;
        if (regcomp(&expect, "^SSH-", REG_EXTENDED | REG_NOSUB) != 0)
                return 2;
        char *ids[] = { (char *) identity, NULL };
        forward_address fwd = { .listen_host = (char *) "localhost", .listen_port = lport };
        ssh_target res = {
                .hostname = (char *) "127.0.0.1",
                .port = bport,
                .user = (char *) "reverse-ssh",
                .identity_files = ids,
                .control_path = (char *) ctl,
                .strict_host_key_checking = (char *) "no",
                .user_known_hosts_file = (char *) "/dev/null",
        };
        probe_request req = {
                .unit = "bench",
                .ssh = &res,
                .forward = &fwd,
                .expect = &expect,
                .timeout = PROBE_TIMEOUT,
        };
        bool spawned = strcmp(kind, "ssh-mux") == 0;
        if (strcmp(kind, "mux") == 0)
                req.kind = PROBE_KIND_MUX;
        else if (strcmp(kind, "ssh") == 0)
                req.kind = PROBE_KIND_SSH;
        else if (!spawned) {
                fprintf(stderr, "unknown kind %s\n", kind);
                return 2;
        }
        char listen[64];
        snprintf(listen, sizeof listen, "localhost:%u", (unsigned) lport);

        sd_event *e = NULL;
        if (sd_event_new(&e) < 0)
                return 2;
        int failed = 0;
        for (int i = 0; i < n; i++) {
                probe_status st = PROBE_ERROR;
                uint64_t s0 = cpu_us(RUSAGE_SELF), c0 = cpu_us(RUSAGE_CHILDREN), w0 = mono_us();
                int r = spawned ? spawned_mux_probe(ctl, listen, &st) : product_probe(e, &req, &st);
                uint64_t w1 = mono_us(), s1 = cpu_us(RUSAGE_SELF), c1 = cpu_us(RUSAGE_CHILDREN);
                if (r < 0) {
                        fprintf(stderr, "probe %d: %s\n", i, strerror(-r));
                        return 1;
                }
                failed += st != PROBE_OK;
                printf("%s %llu %llu %llu %s\n", kind, (unsigned long long) (w1 - w0), (unsigned long long) (s1 - s0),
                       (unsigned long long) (c1 - c0), probe_status_to_string(st));
        }
        sd_event_unref(e);
        regfree(&expect);
        return failed ? 1 : 0;
}
