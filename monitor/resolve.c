/* Resolution of a tunnel unit's ssh command line: OpenSSH's own `ssh -G`, run and read. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

#include "base/child_watch.h"
#include "base/log.h"
#include "base/spawn.h"
#include "resolve.h"

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
} buffer;

static int buffer_append(buffer *b, const void *data, size_t n) {
        if (b->len + n > SSH_G_OUTPUT_MAX)
                return -E2BIG;
        char *m = realloc(b->data, b->len + n + 1);
        if (!m)
                return -ENOMEM;
        memcpy(m + b->len, data, n);
        b->data = m;
        b->len += n;
        b->data[b->len] = 0;
        return 0;
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

struct ssh_resolve_job {
        child_watch *child;    /* ssh -G and its stdout and stderr; NULL once concluded */
        char binary[PATH_MAX];
        buffer out, errb;
        sd_event_source *timer;
        ssh_resolve_done_t done;
        void *userdata;
        bool concluded;
};

static void job_release(ssh_resolve_job *j) {
        j->timer = sd_event_source_disable_unref(j->timer);
        j->child = child_watch_free(j->child); /* kills and reaps a child still running */
}

void ssh_resolve_job_free(ssh_resolve_job *j) {
        if (!j)
                return;
        job_release(j);
        free(j->out.data);
        free(j->errb.data);
        free(j);
}

/* The answer, once ssh -G has exited and both pipes are at EOF (status), or r < 0 (timeout, read error). */
static void job_conclude(ssh_resolve_job *j, int r, int status) {
        ssh_resolved resolved = {};
        char err[600] = "";

        if (j->concluded)
                return;
        j->concluded = true;
        job_release(j);
        if (r == -ETIMEDOUT)
                set_err(err, sizeof err, r, "%s -G did not finish in time", j->binary);
        else if (r < 0)
                set_err(err, sizeof err, r, "Failed to read %s -G output: %s", j->binary, strerror(-r));
        else if (WIFSIGNALED(status))
                r = set_err(err, sizeof err, -EINVAL, "%s -G killed by signal %d", j->binary, WTERMSIG(status));
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                const char *e = strempty(j->errb.data);
                int n = (int) MIN(strcspn(e, "\r\n"), (size_t) 512);
                r = n > 0 ? set_err(err, sizeof err, -EINVAL, "%.*s", n, e)
                          : set_err(err, sizeof err, -EINVAL, "%s -G failed with status %d", j->binary,
                                    WEXITSTATUS(status));
        } else
                r = ssh_resolved_parse(strempty(j->out.data), &resolved, err, sizeof err);
        if (r >= 0 && ssh_resolved_identity_warnings(strempty(j->errb.data), &resolved.identity_warnings) < 0)
                r = set_err(err, sizeof err, -ENOMEM, "Out of memory");
        if (r < 0)
                ssh_resolved_done(&resolved);
        j->done(j, r, r < 0 ? NULL : &resolved, err, j->userdata);
}

static int on_job_read(child_watch *w, child_stream s, const void *data, ssize_t n, void *userdata) {
        ssh_resolve_job *j = userdata;
        if (n <= 0)
                return (int) n; /* the end, or a read error that ends the job */
        return buffer_append(s == CHILD_STDOUT ? &j->out : &j->errb, data, (size_t) n);
}

static void on_job_ended(child_watch *w, int r, int status, void *userdata) {
        job_conclude(userdata, r, status);
}

static int on_job_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        job_conclude(userdata, -ETIMEDOUT, 0);
        return 0;
}

int ssh_resolve_watch(ssh_resolve_job *j, sd_event *e, usec_t deadline, ssh_resolve_done_t done, void *userdata) {
        static const child_watch_ops ops = { .read = on_job_read, .ended = on_job_ended };
        int r;

        j->done = done;
        j->userdata = userdata;
        /* Done once ssh -G has exited and both pipes are at EOF. */
        r = child_watch_attach(j->child, e, true, &ops, j);
        if (r < 0)
                return r;
        if (deadline != USEC_INFINITY) {
                r = sd_event_add_time(e, &j->timer, CLOCK_MONOTONIC, deadline, USEC_PER_MSEC, on_job_timeout, j);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(j->timer, "ssh-G-deadline");
        }
        return 0;
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
        pid_t pid;
        k = spawn_child(&(spawn_request) { .argv = args, .stdin_fd = -1, .stdout_fd = out_w, .stderr_fd = err_w,
                                           .as = as, .new_session = true },
                        &pid);
        if (k < 0) {
                free(j);
                return set_err(err, errlen, k, "Failed to run %s -G as %s: %s", binary, as ? as->name : "ourselves",
                               strerror(-k));
        }
        /* Our copies of the write ends must go, or we never see EOF. The watch takes the read ends. */
        k = child_watch_new(pid, TAKE_FD(out_r), TAKE_FD(err_r), &j->child);
        if (k < 0) {
                free(j);
                return set_err(err, errlen, k, "Out of memory");
        }
        *ret = j;
        return 0;
}

typedef struct sync_result {
        bool done;
        int r;
        ssh_resolved *ret;
        char *err;
        size_t errlen;
} sync_result;

static void on_sync_done(ssh_resolve_job *j, int r, ssh_resolved *resolved, const char *err, void *userdata) {
        sync_result *s = userdata;
        s->done = true;
        s->r = r;
        if (r >= 0)
                *s->ret = *resolved;
        else
                set_err(s->err, s->errlen, r, "%s", err);
}

/* The same watch on a loop of its own: one way of reading ssh -G, whether the caller waits or not. */
int ssh_resolve_finish(ssh_resolve_job *j, usec_t deadline, ssh_resolved *ret, char *err, size_t errlen) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sync_result s = { .ret = ret, .err = err, .errlen = errlen };
        sigset_t chld, saved;
        int r;

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        r = -pthread_sigmask(SIG_BLOCK, &chld, &saved);
        if (r == 0)
                r = sd_event_new(&e);
        if (r >= 0)
                r = ssh_resolve_watch(j, e, deadline, on_sync_done, &s);
        while (r >= 0 && !s.done)
                r = sd_event_run(e, UINT64_MAX);
        if (!s.done) {
                ssh_resolve_job_free(j);
                (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
                return set_err(err, errlen, r < 0 ? r : -EIO, "Failed to wait for ssh -G: %s", strerror(r < 0 ? -r : EIO));
        }
        ssh_resolve_job_free(j);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return s.r;
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
