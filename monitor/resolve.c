/* Resolution of a tunnel unit's ssh command line: OpenSSH's own `ssh -G`, run and read. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "resolve.h"
#include "spawn.h"

#define SSH_G_OUTPUT_MAX ((size_t) 256 * 1024) /* ssh -G prints ~5 KiB; more means something is wrong */

static const char *base_name(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

bool exec_is_ssh(const char *path, char *const *argv) {
        const char *binary = path && *path ? path : argv ? argv[0] : NULL;
        return binary && streq(base_name(binary), "ssh");
}

/* ssh's getopt string (9.2); letters followed by ':' take an argument. */
#define SSH_OPTSTRING "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"

/* -O is a control command to a master, -W a stdio forward that clears all forwards: neither a tunnel.
 * ssh parses options before and after the destination, so scan both, skipping option arguments. */
static int check_tunnel_argv(char *const *argv, char *err, size_t errlen) {
        bool host_seen = false;

        for (size_t i = 1; argv[i]; i++) {
                const char *a = argv[i];
                if (a[0] != '-' || a[1] == 0) {
                        if (host_seen)
                                break; /* the remote command starts here */
                        host_seen = true;
                        continue;
                }
                if (streq(a, "--")) {
                        if (host_seen || !argv[i + 1])
                                break;
                        i++;
                        host_seen = true;
                        continue;
                }
                for (const char *p = a + 1; *p; p++) {
                        if (*p == 'O')
                                return set_err(err, errlen, -EINVAL, "ssh -O (control command) is not a tunnel");
                        if (*p == 'W')
                                return set_err(err, errlen, -EINVAL, "ssh -W (stdio forwarding) is not a tunnel");
                        const char *o = *p != ':' ? strchr(SSH_OPTSTRING, *p) : NULL;
                        if (o && o[1] == ':') {
                                if (p[1] == 0 && argv[i + 1])
                                        i++; /* the argument is the next word */
                                break;
                        }
                }
        }
        return 0;
}

typedef struct buffer {
        char *data;
        size_t len;
        bool eof;
} buffer;

static int buffer_read(int fd, buffer *b) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0) {
                b->eof = true;
                return 0;
        }
        if (b->len + (size_t) n > SSH_G_OUTPUT_MAX)
                return -E2BIG;
        char *m = realloc(b->data, b->len + (size_t) n + 1);
        if (!m)
                return -ENOMEM;
        memcpy(m + b->len, chunk, (size_t) n);
        b->data = m;
        b->len += (size_t) n;
        b->data[b->len] = 0;
        return 0;
}

static int remaining_ms(usec_t deadline) {
        if (deadline == USEC_INFINITY)
                return -1;
        usec_t n = now_usec(CLOCK_MONOTONIC);
        if (n >= deadline)
                return 0;
        usec_t ms = (deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return (int) MIN(ms, (usec_t) INT32_MAX);
}

static void kill_and_reap(pid_t pid) {
        /* The child leads its own session: `Match exec` helpers go with it. */
        (void) kill(-pid, SIGKILL);
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* `ssh -G` with the unit's own arguments: argv[0] replaced by binary, -G inserted. */
static int ssh_g_argv(const char *binary, char *const *argv, char ***ret) {
        size_t n = strv_length(argv);
        char **args = calloc(n + 2, sizeof(char *));
        if (!args)
                return -ENOMEM;
        args[0] = (char *) binary;
        args[1] = (char *) "-G";
        for (size_t i = 1; i < n; i++)
                args[i + 1] = argv[i];
        *ret = args;
        return 0;
}

/* Reads both pipes to EOF and reaps the child, all before deadline. */
static int collect(pid_t pid, int out_fd, int err_fd, usec_t deadline, buffer *out, buffer *errb, int *ret_status) {
        int k;

        while (!out->eof || !errb->eof) {
                struct pollfd p[2] = {
                        { .fd = out->eof ? -1 : out_fd, .events = POLLIN },
                        { .fd = errb->eof ? -1 : err_fd, .events = POLLIN },
                };
                int ms = remaining_ms(deadline);
                if (ms == 0)
                        return -ETIMEDOUT;
                k = poll(p, 2, ms);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ETIMEDOUT;
                if (p[0].revents && (k = buffer_read(out_fd, out)) < 0)
                        return k;
                if (p[1].revents && (k = buffer_read(err_fd, errb)) < 0)
                        return k;
        }

        /* Both pipes closed: ssh is exiting; still bounded, in case something kept running. */
        for (;;) {
                pid_t w = waitpid(pid, ret_status, WNOHANG);
                if (w == pid)
                        return 0;
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (remaining_ms(deadline) == 0)
                        return -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 2 * 1000 * 1000 }, NULL);
        }
}

struct ssh_resolve_job {
        pid_t pid;
        int out_r, err_r;
        char binary[PATH_MAX];
};

void ssh_resolve_job_free(ssh_resolve_job *j) {
        if (!j)
                return;
        if (j->pid > 0)
                kill_and_reap(j->pid);
        if (j->out_r >= 0)
                close(j->out_r);
        if (j->err_r >= 0)
                close(j->err_r);
        free(j);
}

int ssh_resolve_start(const char *path, char *const *argv, ssh_resolve_job **ret, char *err, size_t errlen) {
        return ssh_resolve_start_as(path, argv, NULL, ret, err, errlen);
}

int ssh_resolve_start_as(const char *path, char *const *argv, const run_identity *as, ssh_resolve_job **ret,
                         char *err, size_t errlen) {
        _cleanup_(freep) char **args = NULL;
        int k;

        if (!argv || !argv[0] || !exec_is_ssh(path, argv))
                return set_err(err, errlen, -EINVAL, "Not an ssh command: %s", strna(path ?: argv ? argv[0] : NULL));
        const char *binary = path && *path ? path : argv[0];
        if (binary[0] != '/')
                return set_err(err, errlen, -EINVAL, "ssh binary path is not absolute: %s", binary);
        if (strlen(binary) >= PATH_MAX)
                return set_err(err, errlen, -ENAMETOOLONG, "ssh binary path too long");
        if (access(binary, X_OK) < 0)
                return set_err(err, errlen, -errno, "Cannot execute %s: %m", binary);
        k = check_tunnel_argv(argv, err, errlen);
        if (k < 0)
                return k;
        /* Not root (an operator's `status`): resolve as ourselves, with no more rights than we have; the probe
         * that follows cannot act for the unit either and says so. */
        if (!run_identity_reachable(as))
                as = NULL;
        if (ssh_g_argv(binary, argv, &args) < 0)
                return set_err(err, errlen, -ENOMEM, "Out of memory");

        _cleanup_(closep) int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return set_err(err, errlen, -errno, "Failed to create pipe: %m");
        out_r = fds[0], out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return set_err(err, errlen, -errno, "Failed to create pipe: %m");
        err_r = fds[0], err_w = fds[1];

        ssh_resolve_job *j = calloc(1, sizeof *j);
        if (!j)
                return set_err(err, errlen, -ENOMEM, "Out of memory");
        snprintf(j->binary, sizeof j->binary, "%s", binary);
        k = spawn_child(&(spawn_request) { .argv = args, .stdin_fd = -1, .stdout_fd = out_w, .stderr_fd = err_w,
                                           .as = as, .new_session = true },
                        &j->pid);
        if (k < 0) {
                free(j);
                return set_err(err, errlen, k, "Failed to run %s -G as %s: %s", binary, as ? as->name : "ourselves",
                               strerror(-k));
        }
        /* Our copies of the write ends must go, or we never see EOF. */
        j->out_r = TAKE_FD(out_r);
        j->err_r = TAKE_FD(err_r);
        *ret = j;
        return 0;
}

int ssh_resolve_finish(ssh_resolve_job *j, usec_t deadline, ssh_resolved *ret, char *err, size_t errlen) {
        const char *binary = j->binary;
        buffer out = {}, errb = {};
        int status = 0, k;

        k = collect(j->pid, j->out_r, j->err_r, deadline, &out, &errb, &status);
        if (k < 0) {
                if (k == -ETIMEDOUT)
                        set_err(err, errlen, k, "%s -G did not finish in time", binary);
                else
                        set_err(err, errlen, k, "Failed to read %s -G output: %s", binary, strerror(-k));
                goto finish;
        }
        j->pid = 0; /* reaped by collect() */

        if (WIFSIGNALED(status)) {
                k = set_err(err, errlen, -EINVAL, "%s -G killed by signal %d", binary, WTERMSIG(status));
                goto finish;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                const char *e = strempty(errb.data);
                int n = (int) MIN(strcspn(e, "\r\n"), (size_t) 512);
                k = n > 0 ? set_err(err, errlen, -EINVAL, "%.*s", n, e)
                          : set_err(err, errlen, -EINVAL, "%s -G failed with status %d", binary, WEXITSTATUS(status));
                goto finish;
        }

        k = ssh_config_parse(strempty(out.data), ret, err, errlen);
finish:
        free(out.data);
        free(errb.data);
        ssh_resolve_job_free(j); /* kills and reaps a child still running */
        return k;
}

int ssh_resolve_exec(const char *path, char *const *argv, usec_t timeout, ssh_resolved *ret, char *err,
                     size_t errlen) {
        ssh_resolve_job *j = NULL;
        usec_t deadline = timeout == USEC_INFINITY ? USEC_INFINITY : now_usec(CLOCK_MONOTONIC) + timeout;
        int k = ssh_resolve_start(path, argv, &j, err, errlen);
        if (k < 0)
                return k;
        return ssh_resolve_finish(j, deadline, ret, err, errlen);
}
