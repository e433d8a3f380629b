/* The native probe: speak OpenSSH's mux protocol on the unit's ControlPath socket and open a stdio
 * forward to the -R forward's listen address on the bastion, through the live tunnel connection. The
 * bytes of the far end's answer cross that connection twice, so a dead path shows up as a timeout. Why the
 * bastion refused a channel is looked up off the loop (mux_journal.c). Requires SIGCHLD blocked. */
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "../monitor/base/hostport.h"
#include "../monitor/base/log.h"
#include "mux_journal.h"
#include "mux_proto.h"
#include "probe.h"

#define DEFAULT_TIMEOUT (5 * USEC_PER_SEC)
#define JOURNAL_SLACK (250 * USEC_PER_MSEC)

typedef enum mux_state {
        MUX_HELLO,   /* HELLO sent, waiting for the master's */
        MUX_REQUEST, /* NEW_STDIO_FWD and both fds sent, waiting for the reply */
        MUX_SESSION, /* forward open: writing req->send, reading the far end through the socketpair */
        MUX_JOURNAL, /* refused by the bastion: looking for the master's reason in the unit's journal */
        MUX_DONE,
} mux_state;

static const char *const mux_state_table[] = {
        [MUX_HELLO] = "waiting for the master's HELLO",
        [MUX_REQUEST] = "waiting for the bastion to open the channel",
        [MUX_SESSION] = "waiting for the far end's answer",
        [MUX_JOURNAL] = "reading the journal",
        [MUX_DONE] = "done",
};

typedef struct mux_probe {
        probe *probe;
        const probe_request *req;
        mux_state state;
        uint32_t request_id;

        int ctl_fd;  /* the ControlMaster's socket */
        int pair[2]; /* [0] ours, [1] handed to the master as the forward's stdin and stdout */
        sd_event_source *ctl_io, *pair_io;

        uint8_t out[1100]; /* one outgoing message: HELLO or NEW_STDIO_FWD (host <= 1024) */
        size_t out_len, out_off;
        unsigned fds_to_pass;
        uint8_t *in;       /* MUX_FRAME_MAX bytes */
        size_t in_len;

        size_t sent;       /* of req->send */
        expect_buffer answer;

        usec_t started, started_realtime;
        mux_journal *journal; /* MUX_JOURNAL: the child looking for the master's reason */
} mux_probe;

static void mux_release(mux_probe *m) {
        m->ctl_io = sd_event_source_disable_unref(m->ctl_io);
        m->pair_io = sd_event_source_disable_unref(m->pair_io);
        m->journal = mux_journal_free(m->journal); /* kills the child by pid if it still looks */
        int *fds[] = { &m->ctl_fd, &m->pair[0], &m->pair[1] };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (*fds[i] >= 0) {
                        close(*fds[i]);
                        *fds[i] = -1;
                }
        free(m->in);
        m->in = NULL;
}

/* Everything ends here: probe_finish() calls mux_cancel() at once, which releases every fd and source.
 * Returns 0 so the steps below can end with "return mux_finish(...)". */
_printf_(3, 4) static int mux_finish(mux_probe *m, probe_status status, const char *fmt, ...) {
        char detail[sizeof(((probe_result *) NULL)->detail)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);

        m->state = MUX_DONE;
        probe_finish(m->probe, status, "%s", detail);
        return 0;
}

/* Hands the same fd over once per sendmsg() with a 1-byte payload, exactly as mm_send_fd() does. */
static int pass_fd(int sock, int fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char dummy = 0;
        struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control.buf,
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        c->cmsg_len = CMSG_LEN(sizeof(int));
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        memcpy(CMSG_DATA(c), &fd, sizeof(int));

        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return n == 1 ? 0 : -EIO;
}

/* Writes what is queued for the master: the message, then the fds. 1: more to do later, 0: all done. */
static int mux_flush(mux_probe *m) {
        while (m->out_off < m->out_len) {
                ssize_t n = send(m->ctl_fd, m->out + m->out_off, m->out_len - m->out_off, MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN ? 1 : errno == EINTR ? 1 : -errno;
                m->out_off += (size_t) n;
        }
        while (m->fds_to_pass > 0) {
                int r = pass_fd(m->ctl_fd, m->pair[1]);
                if (r == -EAGAIN || r == -EINTR)
                        return 1;
                if (r < 0)
                        return r;
                m->fds_to_pass--;
        }
        if (m->pair[1] >= 0 && m->state == MUX_REQUEST) {
                close(m->pair[1]); /* the master holds its own copies now: our EOF must come from it */
                m->pair[1] = -1;
        }
        return 0;
}

static int mux_queue(mux_probe *m, ssize_t len) {
        if (len < 0)
                return (int) len;
        m->out_len = (size_t) len;
        m->out_off = 0;

        int r = mux_flush(m);
        if (r < 0)
                return r;
        return sd_event_source_set_io_events(m->ctl_io, EPOLLIN | (r > 0 ? EPOLLOUT : 0));
}

static int mux_fail_io(mux_probe *m, int error, const char *what) {
        /* EPIPE/ECONNRESET: the master went away under us, which it only does when it is ill. */
        return mux_finish(m, PROBE_BAD_RESPONSE, "%s: %s (%s)", what, strerror(abs(error)),
                          mux_state_table[m->state]);
}

static int mux_on_pair(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int mux_send_request(mux_probe *m) {
        const forward_address *f = m->req->forward;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, m->pair) < 0)
                return mux_finish(m, PROBE_ERROR, "socketpair: %s", strerror(errno));

        m->state = MUX_REQUEST;
        m->fds_to_pass = 2; /* stdin, then stdout: the same end */
        r = mux_queue(m, mux_build_new_stdio_fwd(m->out, sizeof m->out, m->request_id,
                                                 forward_connect_host(f->listen_host), f->listen_port));
        if (r == -EINVAL || r == -ENOBUFS)
                return mux_finish(m, PROBE_ERROR, "cannot encode a stdio forward to \"%s\"", f->listen_host);
        if (r < 0)
                return mux_fail_io(m, r, "sending the stdio forward request");
        return 0;
}

static int mux_session_opened(mux_probe *m, uint32_t session_id) {
        const probe_request *req = m->req;
        char where[300];
        int r;

        log_debug("%s: mux session %u open to %s", strna(req->unit), session_id,
                  hostport_format(req->forward->listen_host, req->forward->listen_port, where, sizeof where));
        if (!req->expect)
                return mux_finish(m, PROBE_OK, "forward open");

        /* Closing the control socket would make the master tear the channel down: keep it, stop listening. */
        m->state = MUX_SESSION;
        r = sd_event_source_set_enabled(m->ctl_io, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_io(probe_event(m->probe), &m->pair_io, m->pair[0],
                                    EPOLLIN | (req->send && req->send_len > 0 ? EPOLLOUT : 0), mux_on_pair, m);
        if (r < 0)
                return mux_finish(m, PROBE_ERROR, "watching the forward: %s", strerror(-r));
        return 0;
}

static void mux_on_journal(mux_journal *j, mux_open_failure f, const char *reason, void *userdata) {
        mux_probe *m = userdata;

        switch (f) {
        case MUX_OPEN_FAILURE_PROHIBITED:
                mux_finish(m, PROBE_PROHIBITED, "channel open refused by bastion: %s", reason);
                return;
        case MUX_OPEN_FAILURE_REFUSED:
                mux_finish(m, PROBE_REFUSED, "channel open refused by bastion: %s", reason);
                return;
        case MUX_OPEN_FAILURE_UNKNOWN:
        case MUX_OPEN_FAILURE_LISTEN_BUSY: /* not what this lookup asks (the probe's own look, probe.c) */
        case MUX_OPEN_FAILURE_HOST_KEY:
                break;
        }
        mux_finish(m, PROBE_REFUSED, "channel open refused by bastion (reason not in journal)");
}

/* The same words for "prohibited" and "nothing listens": the master's log, in the unit's journal, tells. */
static int mux_look_in_journal(mux_probe *m) {
        usec_t timeout = m->req->timeout > 0 ? m->req->timeout : DEFAULT_TIMEOUT;
        const mux_journal_query q = {
                .unit = m->req->unit,
                .since = m->started_realtime,
                .deadline = timeout == USEC_INFINITY ? USEC_INFINITY : m->started + timeout,
        };

        m->state = MUX_JOURNAL;
        m->ctl_io = sd_event_source_disable_unref(m->ctl_io);
        int r = mux_journal_start(probe_event(m->probe), &q, mux_on_journal, m, &m->journal);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot look for the reason in the journal: %m", strna(m->req->unit));
                return mux_finish(m, PROBE_REFUSED, "channel open refused by bastion (reason not in journal)");
        }
        return 0;
}

static int mux_handle(mux_probe *m, const mux_message *msg) {
        switch (m->state) {
        case MUX_HELLO:
                if (m->out_off < m->out_len)
                        break; /* our HELLO still queued: cannot happen on a fresh unix socket */
                log_debug("%s: master speaks mux version %u (%zu extensions)", strna(m->req->unit), msg->version,
                          msg->n_extensions);
                return mux_send_request(m);
        case MUX_REQUEST:
                switch (msg->type) {
                case MUX_S_SESSION_OPENED:
                        return mux_session_opened(m, msg->session_id);
                case MUX_S_PERMISSION_DENIED:
                        return mux_finish(m, PROBE_PROHIBITED, "master refused the session: %s", msg->reason);
                case MUX_S_FAILURE:
                        if (!streq(msg->reason, MUX_REFUSED_BY_PEER))
                                return mux_finish(m, PROBE_ERROR, "master failed the forward: %s", msg->reason);
                        return mux_look_in_journal(m);
                }
                break;
        default:
                break;
        }
        return mux_finish(m, PROBE_ERROR, "internal error: mux message %s while %s",
                          strna(mux_type_to_string(msg->type)), mux_state_table[m->state]);
}

static int mux_read_control(mux_probe *m) {
        ssize_t n = recv(m->ctl_fd, m->in + m->in_len, MUX_FRAME_MAX - m->in_len, MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return mux_fail_io(m, -errno, "reading from the master");
        }
        if (n == 0)
                return mux_finish(m, PROBE_BAD_RESPONSE, "master closed the control connection (%s)",
                                  mux_state_table[m->state]);
        m->in_len += (size_t) n;

        while (m->state == MUX_HELLO || m->state == MUX_REQUEST) {
                mux_message msg;
                ssize_t r = mux_parse(m->in, m->in_len, m->state == MUX_HELLO ? MUX_PHASE_HELLO : MUX_PHASE_STDIO_REPLY,
                                      m->request_id, &msg);
                if (r == 0) {
                        if (m->in_len >= MUX_FRAME_MAX) /* cannot happen: a full frame always parses */
                                return mux_finish(m, PROBE_BAD_RESPONSE, "master's message too long");
                        return 0;
                }
                if (r == -E2BIG)
                        return mux_finish(m, PROBE_BAD_RESPONSE, "master's message too long");
                if (r == -EPROTONOSUPPORT)
                        return mux_finish(m, PROBE_BAD_RESPONSE, "master speaks mux version %u, not %u",
                                          msg.version, MUX_PROTOCOL_VERSION);
                if (r == -EPROTO) {
                        const char *t = mux_type_to_string(msg.type);
                        if (t && m->state == MUX_REQUEST && msg.type != MUX_MSG_HELLO)
                                return mux_finish(m, PROBE_BAD_RESPONSE, "unexpected %s (id %u) from master while %s",
                                                  t, msg.request_id, mux_state_table[m->state]);
                        if (t)
                                return mux_finish(m, PROBE_BAD_RESPONSE, "unexpected %s from master while %s", t,
                                                  mux_state_table[m->state]);
                        return mux_finish(m, PROBE_BAD_RESPONSE, "unknown message 0x%08x from master while %s",
                                          msg.type, mux_state_table[m->state]);
                }
                if (r < 0)
                        return mux_finish(m, PROBE_BAD_RESPONSE, "malformed message from master while %s",
                                          mux_state_table[m->state]);

                memmove(m->in, m->in + r, m->in_len - (size_t) r);
                m->in_len -= (size_t) r;
                mux_handle(m, &msg);
        }
        return 0;
}

static int mux_on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        mux_probe *m = userdata;

        if (revents & EPOLLOUT) {
                int r = mux_flush(m);
                if (r < 0) {
                        mux_fail_io(m, r, "writing to the master");
                        return 0;
                }
                if (r == 0 && sd_event_source_set_io_events(m->ctl_io, EPOLLIN) < 0) {
                        mux_finish(m, PROBE_ERROR, "cannot watch the control socket");
                        return 0;
                }
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR) && m->state != MUX_DONE)
                mux_read_control(m);
        return 0;
}

static int mux_read_answer(mux_probe *m) {
        const probe_request *req = m->req;
        char buf[4096], excerpt[256], detail[300];
        probe_status status;

        for (;;) {
                ssize_t n = read(m->pair[0], buf, sizeof buf);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0) { /* EOF, or a reset: the far end is gone either way */
                        if (m->answer.len == 0)
                                return mux_finish(m, PROBE_BAD_RESPONSE, "closed without answer");
                        return mux_finish(m, PROBE_BAD_RESPONSE, "bad answer: \"%s\"",
                                          expect_excerpt(&m->answer, excerpt, sizeof excerpt));
                }
                if (expect_answer(&m->answer, req->expect, buf, (size_t) n, &status, detail, sizeof detail))
                        return mux_finish(m, status, "%s", detail);
        }
}

static int mux_on_pair(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        mux_probe *m = userdata;
        const probe_request *req = m->req;

        if ((revents & EPOLLOUT) && req->send && m->sent < req->send_len) {
                ssize_t n = send(fd, req->send + m->sent, req->send_len - m->sent, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        mux_finish(m, PROBE_BAD_RESPONSE, "closed before the request was sent: %s", strerror(errno));
                        return 0;
                }
                if (n > 0)
                        m->sent += (size_t) n;
                if (m->sent >= req->send_len && sd_event_source_set_io_events(s, EPOLLIN) < 0) {
                        mux_finish(m, PROBE_ERROR, "cannot watch the forward");
                        return 0;
                }
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                mux_read_answer(m);
        return 0;
}

/* The ControlPath is named by the unit's user (its ssh_config): we talk to it as root only when the socket
 * and the process listening on it are that user's, i.e. the unit's own ssh master, never a socket of
 * someone else's that the path was pointed at. -EPERM with who owns it in *ret_owner otherwise. */
static int mux_connect_as(mux_probe *m, const char *path, uid_t want, uid_t *ret_owner) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        struct ucred peer;
        socklen_t len = sizeof peer;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        *ret_owner = st.st_uid;
        if (st.st_uid != want)
                return -EPERM;

        m->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (m->ctl_fd < 0)
                return -errno;
        /* An AF_UNIX connect never stays in progress: it succeeds, or fails at once (EAGAIN: backlog full). */
        if (connect(m->ctl_fd, (const struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        /* The file may have been swapped since stat(): the listener's credentials are what count. */
        if (getsockopt(m->ctl_fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
                return -errno;
        *ret_owner = peer.uid;
        if (peer.uid != want)
                return -EPERM;
        return 0;
}

/* As root first; where root may not (the hardened unit keeps no CAP_DAC_OVERRIDE: a User= tunnel's socket is
 * 0600, its ControlPath may sit in a 0700 home), again with the user's file-system identity, which can reach
 * what the user can. Without CAP_SETUID (an operator) the switch does nothing and the error stays ours. */
static int mux_connect(mux_probe *m, const char *path, const run_identity *as, uid_t *ret_owner) {
        uid_t want = as ? as->uid : 0;
        int r = mux_connect_as(m, path, want, ret_owner);
        if (r != -EACCES || !as || as->uid == geteuid())
                return r;
        if (m->ctl_fd >= 0)
                close(m->ctl_fd);
        m->ctl_fd = -1;
        uid_t old_uid = (uid_t) setfsuid(as->uid);
        gid_t old_gid = (gid_t) setfsgid(as->gid);
        r = mux_connect_as(m, path, want, ret_owner);
        (void) setfsgid(old_gid);
        (void) setfsuid(old_uid);
        return r;
}

static int mux_start(probe *p, void *userdata) {
        mux_probe *m = userdata;
        const probe_request *req = probe_get_request(p);
        static uint32_t next_request_id = 0;
        int r;

        *m = (mux_probe) {
                .probe = p,
                .req = req,
                .ctl_fd = -1,
                .pair = { -1, -1 },
                .request_id = ++next_request_id,
                .started = now_usec(CLOCK_MONOTONIC),
                /* A log line is stamped before the probe's reply arrives: allow for clock granularity. */
                .started_realtime = now_usec(CLOCK_REALTIME) - MIN(now_usec(CLOCK_REALTIME), JOURNAL_SLACK),
        };

        if (!req->ssh || isempty_str(req->ssh->control_path)) {
                mux_finish(m, PROBE_NO_MASTER, "no ControlPath");
                return 0;
        }
        if (!req->forward || req->forward->listen_port == 0) {
                mux_finish(m, PROBE_ERROR, "no forward to probe");
                return 0;
        }

        m->in = malloc(MUX_FRAME_MAX);
        if (!m->in)
                return -ENOMEM;

        uid_t want = req->as ? req->as->uid : 0, owner = 0;
        r = mux_connect(m, req->ssh->control_path, req->as, &owner);
        if (r == -EACCES) {
                /* Ours, not the tunnel's: an operator without root cannot reach root's (or another user's) master. */
                probe_finish_ours(p, "run as root: no permission to use the ControlPath socket %s",
                                  req->ssh->control_path);
                return 0;
        }
        if (r == -EPERM) {
                probe_finish_ours(p, "ControlPath %s belongs to uid %u, not to the unit's user %s (uid %u): not used",
                                  req->ssh->control_path, (unsigned) owner, req->as ? req->as->name : "root",
                                  (unsigned) want);
                return 0;
        }
        if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTSOCK) {
                mux_finish(m, PROBE_NO_MASTER, "no ControlMaster at %s: %s", req->ssh->control_path, strerror(-r));
                return 0;
        }
        if (r == -EAGAIN) {
                mux_finish(m, PROBE_TIMEOUT, "ControlMaster at %s accepts no connections", req->ssh->control_path);
                return 0;
        }
        if (r < 0) {
                mux_finish(m, PROBE_ERROR, "cannot connect to %s: %s", req->ssh->control_path, strerror(-r));
                return 0;
        }

        r = sd_event_add_io(probe_event(p), &m->ctl_io, m->ctl_fd, EPOLLIN, mux_on_control, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->ctl_io, "probe-mux-control");

        m->state = MUX_HELLO;
        r = mux_queue(m, mux_build_hello(m->out, sizeof m->out));
        if (r < 0)
                mux_fail_io(m, r, "sending HELLO");
        return 0;
}

static void mux_cancel(probe *p, void *userdata) {
        mux_probe *m = userdata;

        if (m->state != MUX_DONE)
                log_debug("%s: mux probe stopped while %s", strna(m->req ? m->req->unit : NULL),
                          mux_state_table[m->state]);
        m->state = MUX_DONE;
        mux_release(m);
}

const probe_ops probe_mux_ops = {
        .size = sizeof(mux_probe),
        .start = mux_start,
        .cancel = mux_cancel,
};
