/* The ssh probe, fallback for units without a ControlPath: a fresh `ssh -W LISTEN:PORT` to the bastion
 * with the unit's own resolved identity, user, host and port; its stdout must answer monitor.expect.
 * Why a channel failed is only in ssh's stderr at LogLevel INFO ("administratively prohibited" versus
 * "connect failed: Connection refused"), so stderr is kept and read when ssh gives up.
 * Requires SIGCHLD blocked in the whole program (sd_event_add_child). */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../monitor/base/child_watch.h"
#include "../monitor/base/hostport.h"
#include "probe.h"

#define SSH_DEFAULT_BINARY "/usr/bin/ssh"

typedef struct ssh_state {
        probe *probe;
        /* ssh, its stdout (our end of the socketpair that is also its stdin) and its stderr (a pipe). The
         * child leads its own session: cancelling takes ProxyCommand helpers down with it. */
        child_watch *child;
        int exit_status; /* of the child, -1 until known; 128+N when killed by signal N */

        expect_buffer answer;
        char err[4096];
        size_t err_len;
} ssh_state;

static void ssh_cancel(probe *p, void *userdata) {
        ssh_state *st = userdata;

        st->child = child_watch_free(st->child);
}

static int argv_add(char ***argv, const char *a) {
        return strv_push(argv, a);
}

static int argv_addf(char ***argv, const char *fmt, ...) _printf_(2, 3);
static int argv_addf(char ***argv, const char *fmt, ...) {
        _cleanup_(freep) char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_push(argv, s);
}

/* ssh -G already resolved the unit's config: pass every value explicitly and read no config file, so
 * nothing (a ControlMaster, forwards, LocalCommand) of the user's ssh_config leaks into the probe. */
static int ssh_build_argv(const probe_request *req, char ***ret) {
        const ssh_target *c = req->ssh;
        _cleanup_(strv_freep) char **a = NULL;
        int r = 0;

        if (!c || isempty_str(c->hostname) || !req->forward || req->forward->listen_port == 0)
                return -EINVAL;

        usec_t t = req->timeout > 0 && req->timeout != USEC_INFINITY ? req->timeout : 5 * USEC_PER_SEC;
        unsigned long connect_timeout = MAX((t + USEC_PER_SEC - 1) / USEC_PER_SEC, 1ULL);
        char target[300];
        hostport_format(forward_connect_host(req->forward->listen_host), req->forward->listen_port, target,
                        sizeof target);

        r = r ?: argv_add(&a, req->ssh_binary ?: SSH_DEFAULT_BINARY);
        r = r ?: argv_add(&a, "-F");
        r = r ?: argv_add(&a, "/dev/null");
        r = r ?: argv_addf(&a, "-oHostName=%s", c->hostname);
        if (c->port > 0) {
                r = r ?: argv_add(&a, "-p");
                r = r ?: argv_addf(&a, "%u", (unsigned) c->port);
        }
        if (!isempty_str(c->user)) {
                r = r ?: argv_add(&a, "-l");
                r = r ?: argv_add(&a, c->user);
        }
        for (char *const *i = c->identity_files; i && *i; i++) {
                r = r ?: argv_add(&a, "-i");
                r = r ?: argv_add(&a, *i);
        }
        if (c->identity_files && c->identity_files[0])
                r = r ?: argv_add(&a, "-oIdentitiesOnly=yes");
        if (!isempty_str(c->user_known_hosts_file))
                r = r ?: argv_addf(&a, "-oUserKnownHostsFile=%s", c->user_known_hosts_file);
        if (!isempty_str(c->global_known_hosts_file))
                r = r ?: argv_addf(&a, "-oGlobalKnownHostsFile=%s", c->global_known_hosts_file);
        if (!isempty_str(c->strict_host_key_checking))
                r = r ?: argv_addf(&a, "-oStrictHostKeyChecking=%s", c->strict_host_key_checking);
        if (!isempty_str(c->host_key_alias))
                r = r ?: argv_addf(&a, "-oHostKeyAlias=%s", c->host_key_alias);
        if (!isempty_str(c->proxy_jump) && !streq(c->proxy_jump, "none"))
                r = r ?: argv_addf(&a, "-oProxyJump=%s", c->proxy_jump);
        if (!isempty_str(c->proxy_command) && !streq(c->proxy_command, "none"))
                r = r ?: argv_addf(&a, "-oProxyCommand=%s", c->proxy_command);
        r = r ?: argv_add(&a, "-oBatchMode=yes");
        r = r ?: argv_add(&a, "-oControlMaster=no");
        r = r ?: argv_add(&a, "-oControlPath=none");
        r = r ?: argv_add(&a, "-oClearAllForwardings=yes");
        r = r ?: argv_addf(&a, "-oConnectTimeout=%lu", connect_timeout);
        /* Only at INFO does ssh say why a channel failed: prohibited versus refused. */
        r = r ?: argv_add(&a, "-oLogLevel=INFO");
        r = r ?: argv_add(&a, "-W");
        r = r ?: argv_add(&a, target);
        r = r ?: argv_add(&a, "--");
        r = r ?: argv_add(&a, c->hostname);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

/* Lines that say nothing about why ssh failed. */
static bool ssh_line_is_noise(const char *l) {
        static const char *const prefixes[] = {
                "stdio forwarding failed", "Warning: Permanently added", "Warning: Identity file",
                "Authenticated to", "Transferred:", "Bytes per second", "Killed by signal",
        };
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(l, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

/* The last meaningful line of ssh's stderr, trimmed, into buf ("" if none). */
static char *ssh_last_error_line(const char *text, char *buf, size_t size) {
        buf[0] = 0;
        for (const char *l = text; *l;) {
                size_t n = strcspn(l, "\n");
                size_t m = n;
                while (m > 0 && (l[m - 1] == '\r' || l[m - 1] == ' '))
                        m--;
                if (m > 0 && size > 0) {
                        char line[512];
                        (void) snprintf(line, sizeof line, "%.*s", (int) MIN(m, sizeof line - 1), l);
                        if (!ssh_line_is_noise(line)) {
                                size_t k = MIN(strlen(line), size - 1);
                                memcpy(buf, line, k);
                                buf[k] = 0;
                        }
                }
                l += n;
                if (*l)
                        l++;
        }
        return buf;
}

/* ssh gave up (exited, or closed the forward) without the expected answer: say why. */
static void ssh_conclude(ssh_state *st) {
        const probe_request *req = probe_get_request(st->probe);
        char line[200], ex[256], where[300];

        st->err[st->err_len] = 0;
        hostport_format(forward_connect_host(req->forward->listen_host), req->forward->listen_port, where,
                        sizeof where);

        if (strstr(st->err, "administratively prohibited")) {
                probe_finish(st->probe, PROBE_PROHIBITED,
                             "channel open refused by bastion: administratively prohibited");
                return;
        }
        const char *of = strstr(st->err, "open failed");
        if (of && (strstr(of, "Connection refused") || strstr(of, "connect failed"))) {
                probe_finish(st->probe, PROBE_REFUSED, "bastion has no listener on %s (connect failed)", where);
                return;
        }
        if (st->answer.len > 0) {
                probe_finish(st->probe, PROBE_BAD_RESPONSE, "bad answer: \"%s\"",
                             expect_excerpt(&st->answer, ex, sizeof ex));
                return;
        }
        if (*ssh_last_error_line(st->err, line, sizeof line)) {
                probe_finish(st->probe, PROBE_ERROR, "ssh: %s", line);
                return;
        }
        if (st->exit_status > 0)
                probe_finish(st->probe, PROBE_ERROR, "ssh exited with status %d", st->exit_status);
        else
                probe_finish(st->probe, PROBE_BAD_RESPONSE, "closed without answer");
}

/* Keeps the newest bytes when ssh talks a lot: the reason comes last. */
static void ssh_keep_err(ssh_state *st, const char *data, size_t n) {
        size_t cap = sizeof st->err - 1;

        if (n >= cap) {
                memcpy(st->err, data + n - cap, cap);
                st->err_len = cap;
                return;
        }
        if (st->err_len + n > cap) {
                size_t drop = st->err_len + n - cap;
                memmove(st->err, st->err + drop, st->err_len - drop);
                st->err_len -= drop;
        }
        memcpy(st->err + st->err_len, data, n);
        st->err_len += n;
}

/* The forward's answer as it comes; finishes the probe once it matches or cannot. */
static void ssh_feed_answer(ssh_state *st, const void *data, size_t n) {
        const probe_request *req = probe_get_request(st->probe);
        char detail[300];
        probe_status status;

        if (expect_answer(&st->answer, req->expect, data, n, &status, detail, sizeof detail))
                probe_finish(st->probe, status, "%s", detail);
}

/* A read error counts as the stream's end: ssh exits right after, and its exit says the rest. EOF on stdout:
 * ssh closes the forward right before exiting; the verdict waits for the exit (and stderr). */
static int ssh_on_read(child_watch *w, child_stream s, const void *data, ssize_t n, void *userdata) {
        ssh_state *st = userdata;

        if (n <= 0)
                return 0;
        if (s == CHILD_STDOUT)
                ssh_feed_answer(st, data, (size_t) n);
        else
                ssh_keep_err(st, data, (size_t) n);
        return 0;
}

/* ssh exited without the answer (what it printed before is read by now). */
static void ssh_on_ended(child_watch *w, int r, int status, void *userdata) {
        ssh_state *st = userdata;

        st->child = child_watch_free(st->child);
        st->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ssh_conclude(st);
}

static int ssh_start(probe *p, void *userdata) {
        ssh_state *st = userdata;
        const probe_request *req = probe_get_request(p);
        _cleanup_(strv_freep) char **argv = NULL;
        _cleanup_(closep) int out_fd = -1, err_fd = -1, child_io = -1, child_err = -1;
        int sp[2], pp[2], r;

        st->probe = p;
        st->exit_status = -1;

        /* ssh reads the user's identity and known_hosts files and runs its ProxyCommand: as that user, or not at all. */
        if (!run_identity_reachable(req->as)) {
                probe_finish_ours(p, "run as root: the ssh probe runs as the unit's user %s", req->as->name);
                return 0;
        }
        r = ssh_build_argv(req, &argv);
        if (r < 0)
                return r;
        if (access(argv[0], X_OK) < 0)
                return -errno;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        out_fd = sp[0];
        child_io = sp[1];
        if (pipe2(pp, O_CLOEXEC) < 0)
                return -errno;
        err_fd = pp[0];
        child_err = pp[1];

        /* Sent before the child starts: the socket buffer holds it, and a short write is an error. */
        if (req->send && req->send_len > 0) {
                ssize_t n = send(out_fd, req->send, req->send_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0)
                        return -errno;
                if ((size_t) n < req->send_len)
                        return -EMSGSIZE;
        }

        pid_t pid;
        r = spawn_child(&(spawn_request) { .argv = argv, .stdin_fd = child_io, .stdout_fd = child_io,
                                           .stderr_fd = child_err, .as = req->as, .new_session = true },
                        &pid);
        if (r < 0)
                return r;
        r = child_watch_new(pid, TAKE_FD(out_fd), TAKE_FD(err_fd), &st->child);
        if (r < 0)
                return r;
        /* Concluded at the exit: a ProxyCommand helper that keeps stderr open must not hold the verdict. */
        static const child_watch_ops ops = { .read = ssh_on_read, .ended = ssh_on_ended };
        return child_watch_attach(st->child, probe_event(p), false, &ops, st); /* -EBUSY: SIGCHLD not blocked */
}

const probe_ops probe_ssh_ops = {
        .size = sizeof(ssh_state),
        .start = ssh_start,
        .cancel = ssh_cancel,
};
