#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "capture.h"

static usec_t mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* Reads both pipes until both are at EOF, stdout is over max, or the deadline. */
static int drain(int out, int err, size_t max, usec_t deadline, capture *c) {
        struct pollfd p[2] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN } };
        size_t err_len = 0;

        while (p[0].fd >= 0 || p[1].fd >= 0) {
                usec_t now = mono();
                if (now >= deadline)
                        return -ETIMEDOUT;
                int n = poll(p, 2, (int) ((deadline - now + 999) / 1000));
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n > 0 && p[0].fd >= 0 && p[0].revents) {
                        ssize_t k = read(out, c->out + c->out_len, max + 1 - c->out_len);
                        if (k < 0 && errno != EINTR && errno != EAGAIN)
                                return -errno;
                        if (k == 0)
                                p[0].fd = -1;
                        else if (k > 0 && (c->out_len += (size_t) k) > max)
                                return -EFBIG;
                }
                if (n > 0 && p[1].fd >= 0 && p[1].revents) {
                        char scratch[1024];
                        ssize_t k = read(err, scratch, sizeof scratch);
                        if (k < 0 && errno != EINTR && errno != EAGAIN)
                                return -errno;
                        if (k == 0)
                                p[1].fd = -1;
                        else if (k > 0) { /* the start says why; the rest is read and dropped */
                                size_t keep = MIN((size_t) k, sizeof c->err - 1 - err_len);
                                memcpy(c->err + err_len, scratch, keep);
                                err_len += keep;
                        }
                }
        }
        return 0;
}

int capture_run(char *const *argv, const run_identity *as, size_t max, usec_t timeout, capture *ret) {
        _cleanup_(closep) int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
        int fds[2], r;
        pid_t pid;

        *ret = (capture) {};
        ret->out = malloc(max + 2);
        if (!ret->out)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0], out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0], err_w = fds[1];

        spawn_request req = { .argv = argv, .stdin_fd = -1, .stdout_fd = out_w, .stderr_fd = err_w, .as = as };
        r = spawn_child(&req, &pid);
        if (r < 0)
                return r;
        /* Only the child's copies keep the write ends open now: EOF when it is done. */
        closep(&out_w), out_w = -1;
        closep(&err_w), err_w = -1;

        r = drain(out_r, err_r, max, mono() + timeout, ret);
        if (r < 0)
                (void) kill(pid, SIGKILL); /* our own child, by pid */
        while (waitpid(pid, &ret->status, 0) < 0 && errno == EINTR)
                ;
        ret->out[MIN(ret->out_len, max + 1)] = 0;
        return r;
}

void capture_done(capture *c) {
        free(c->out);
        *c = (capture) {};
}
