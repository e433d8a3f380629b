/* probe_mux against fake ControlMasters: a forked child on a unix socket plays one scenario each (a good
 * master, a stopped one, truncated, oversized, wrong-type and out-of-order replies, refusals), and the
 * probe must turn each into the right probe_status, without a crash or a leak. The child checks the bytes
 * and fds it receives and reports through its exit code. */
#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "../../probes/mux_proto.h"
#include "../../probes/probe.h"

#define U32(v) (uint8_t) ((v) >> 24), (uint8_t) ((v) >> 16), (uint8_t) ((v) >> 8), (uint8_t) (v)
#define RID_ANY 0xffffffffU

typedef enum master_step {
        M_END,
        M_READ_HELLO,      /* read and check the client's HELLO */
        M_READ_REQUEST,    /* read NEW_STDIO_FWD (to localhost:21022) and its two fds */
        M_SEND,            /* send .bytes on the control socket */
        M_SEND_SLOWLY,     /* the same, one byte per write */
        M_SEND_OPENED,     /* SESSION_OPENED with the request id received */
        M_SEND_FAILURE,    /* FAILURE with the request id received and .bytes as reason */
        M_SEND_DENIED,     /* PERMISSION_DENIED, likewise */
        M_FAR_READ,        /* read .bytes from the passed fd (the probe's req->send) */
        M_FAR_WRITE,       /* write .bytes into the passed fd */
        M_FAR_CLOSE,       /* close the passed fd */
        M_CLOSE,           /* close the control connection */
        M_HANG,            /* stay silent until killed */
} master_step;

typedef struct step {
        master_step what;
        const void *bytes;
        size_t len;
} step;

#define STEP(w) { .what = (w) }
#define STEP_BYTES(w, a) { .what = (w), .bytes = (a), .len = sizeof(a) }
#define STEP_STR(w, s) { .what = (w), .bytes = (s), .len = sizeof(s) - 1 }

static const char sock_dir_template[] = "/tmp/test_probe_mux.XXXXXX";
static char sock_dir[sizeof sock_dir_template];
static char sock_path[sizeof sock_dir_template + 16];

static bool read_full(int fd, void *buf, size_t n) {
        for (size_t o = 0; o < n;) {
                ssize_t k = read(fd, (uint8_t *) buf + o, n - o);
                if (k <= 0)
                        return false;
                o += (size_t) k;
        }
        return true;
}

static bool write_full(int fd, const void *buf, size_t n) {
        for (size_t o = 0; o < n;) {
                ssize_t k = send(fd, (const uint8_t *) buf + o, n - o, MSG_NOSIGNAL);
                if (k <= 0)
                        return false;
                o += (size_t) k;
        }
        return true;
}

/* mm_receive_fd(): one byte of payload, one fd in SCM_RIGHTS. */
static int receive_fd(int sock) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        char c;
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control };

        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
                return -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
                return -1;
        int fd;
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        return fd;
}

static void put32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24), p[1] = (uint8_t) (v >> 16), p[2] = (uint8_t) (v >> 8), p[3] = (uint8_t) v;
}

/* The child: returns its exit code, 0 when everything the probe sent was right. */
static int master_run(int listen_fd, const step *steps) {
        static const uint8_t hello[] = { U32(8), U32(1), U32(4) };
        int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC), far = -1;
        uint32_t rid = 0;
        uint8_t buf[512];

        if (c < 0)
                return 10;
        for (const step *s = steps; s->what != M_END; s++)
                switch (s->what) {
                case M_READ_HELLO:
                        if (!read_full(c, buf, sizeof hello) || memcmp(buf, hello, sizeof hello) != 0)
                                return 11;
                        break;
                case M_READ_REQUEST: {
                        static const uint8_t want[] = { U32(29), U32(0x10000008) };
                        static const uint8_t tail[] = { U32(0), U32(9), 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
                                                        U32(21022) };
                        if (!read_full(c, buf, 33) || memcmp(buf, want, sizeof want) != 0 ||
                            memcmp(buf + 12, tail, sizeof tail) != 0)
                                return 12;
                        rid = (uint32_t) buf[8] << 24 | (uint32_t) buf[9] << 16 | (uint32_t) buf[10] << 8 | buf[11];
                        int in = receive_fd(c), out = receive_fd(c);
                        struct stat a, b;
                        if (in < 0 || out < 0 || fstat(in, &a) < 0 || fstat(out, &b) < 0 || a.st_ino != b.st_ino ||
                            !S_ISSOCK(a.st_mode))
                                return 13;
                        close(in);
                        far = out;
                        /* The probe's socketpair is nonblocking; this scripted master wants to block. */
                        (void) fcntl(far, F_SETFL, fcntl(far, F_GETFL) & ~O_NONBLOCK);
                        break;
                }
                case M_SEND:
                        if (!write_full(c, s->bytes, s->len))
                                return 14;
                        break;
                case M_SEND_SLOWLY:
                        for (size_t i = 0; i < s->len; i++) {
                                if (!write_full(c, (const uint8_t *) s->bytes + i, 1))
                                        return 14;
                                usleep(1000);
                        }
                        break;
                case M_SEND_OPENED:
                        put32(buf, 12), put32(buf + 4, MUX_S_SESSION_OPENED), put32(buf + 8, rid), put32(buf + 12, 5);
                        if (!write_full(c, buf, 16))
                                return 15;
                        break;
                case M_SEND_FAILURE:
                case M_SEND_DENIED:
                        put32(buf, (uint32_t) (12 + s->len));
                        put32(buf + 4, s->what == M_SEND_FAILURE ? MUX_S_FAILURE : MUX_S_PERMISSION_DENIED);
                        put32(buf + 8, rid), put32(buf + 12, (uint32_t) s->len);
                        memcpy(buf + 16, s->bytes, s->len);
                        if (!write_full(c, buf, 16 + s->len))
                                return 16;
                        break;
                case M_FAR_READ:
                        if (!read_full(far, buf, s->len) || memcmp(buf, s->bytes, s->len) != 0)
                                return 17;
                        break;
                case M_FAR_WRITE:
                        if (!write_full(far, s->bytes, s->len))
                                return 18;
                        break;
                case M_FAR_CLOSE:
                        close(far);
                        far = -1;
                        break;
                case M_CLOSE:
                        close(c);
                        c = -1;
                        break;
                case M_HANG:
                        for (;;)
                                pause();
                case M_END:
                        break;
                }
        /* Linger until the probe is done with us, like a master keeps the channel until the client goes. */
        if (c >= 0)
                while (read(c, buf, sizeof buf) > 0)
                        ;
        return 0;
}

typedef struct outcome {
        bool done;
        probe_result result;
} outcome;

static void on_done(probe *p, const probe_result *r, void *userdata) {
        outcome *o = userdata;
        o->done = true;
        o->result = *r;
}

static void run_until_done(sd_event *e, outcome *o) {
        for (unsigned i = 0; !o->done && i < 10000; i++)
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert_true(o->done);
}

static regex_t expect_ssh;

static void request_init(probe_request *req, ssh_target *ssh, forward_address *fwd, const char *path) {
        *fwd = (forward_address) { .listen_host = (char *) "localhost", .listen_port = 21022 };
        *ssh = (ssh_target) { .control_path = (char *) path };
        *req = (probe_request) {
                .unit = "test-probe-mux-nonexistent.service",
                .kind = PROBE_KIND_MUX,
                .ssh = ssh,
                .forward = fwd,
                .expect = &expect_ssh,
                .timeout = 1 * USEC_PER_SEC, /* generous under load; three scenarios wait it out */
        };
}

static const uint8_t hello_ext[] = { U32(22), U32(1), U32(4), U32(3), 'f', 'o', 'o', U32(3), 'b', 'a', 'r' };
static const uint8_t hello_v3[] = { U32(8), U32(1), U32(3) };
static const uint8_t hello_truncated[] = { U32(8), U32(1) };
static const uint8_t oversized[] = { U32(1024 * 1024), U32(1), U32(4) };
static const uint8_t opened_early[] = { U32(12), U32(0x80000006), U32(1), U32(1) };
static const uint8_t opened_wrong_id[] = { U32(12), U32(0x80000006), U32(0xabcdef), U32(1) };
static const uint8_t alive[] = { U32(12), U32(0x80000005), U32(0xabcdef), U32(42) };
static const uint8_t failure_overrun[] = { U32(14), U32(0x80000003), U32(0), U32(100), 'a', 'b' };
static const uint8_t zero_length[] = { U32(0) };

#define GOOD_START STEP(M_READ_HELLO), STEP_BYTES(M_SEND, hello_ext), STEP(M_READ_REQUEST)

static const struct scenario {
        const char *name;
        step steps[10];
        bool no_expect;
        const char *send;
        probe_status want;
        const char *detail; /* substring of the detail */
} scenarios[] = {
        { "good", { GOOD_START, STEP_STR(M_FAR_WRITE, "SSH-2.0-fake\r\n"), STEP(M_SEND_OPENED) },
          .want = PROBE_OK, .detail = "SSH-2.0-fake" },
        { "good, opened first", { GOOD_START, STEP(M_SEND_OPENED), STEP_STR(M_FAR_WRITE, "SSH-2.0-fake\r\n") },
          .want = PROBE_OK, .detail = "SSH-2.0-fake" },
        { "good, byte by byte", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND_SLOWLY, hello_ext), STEP(M_READ_REQUEST),
                                  STEP(M_SEND_OPENED), STEP_STR(M_FAR_WRITE, "SS"), STEP_STR(M_FAR_WRITE, "H-2.0\r\n") },
          .want = PROBE_OK },
        { "send first", { GOOD_START, STEP(M_SEND_OPENED), STEP_STR(M_FAR_READ, "PING\n"),
                          STEP_STR(M_FAR_WRITE, "SSH-pong\r\n") },
          .send = "PING\n", .want = PROBE_OK, .detail = "SSH-pong" },
        { "no expect", { GOOD_START, STEP(M_SEND_OPENED) }, .no_expect = true, .want = PROBE_OK,
          .detail = "forward open" },
        { "stopped master", { STEP(M_HANG) }, .want = PROBE_TIMEOUT },
        { "silent far end", { GOOD_START, STEP(M_SEND_OPENED) }, .want = PROBE_TIMEOUT },
        { "no reply to request", { GOOD_START }, .want = PROBE_TIMEOUT },
        { "closed without answer", { GOOD_START, STEP(M_SEND_OPENED), STEP(M_FAR_CLOSE) },
          .want = PROBE_BAD_RESPONSE, .detail = "closed without answer" },
        { "bad answer", { GOOD_START, STEP(M_SEND_OPENED), STEP_STR(M_FAR_WRITE, "HTTP/1.1 400\r\n"), STEP(M_FAR_CLOSE) },
          .want = PROBE_BAD_RESPONSE, .detail = "bad answer: \"HTTP/1.1 400\\r\\n\"" },
        { "hello truncated", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, hello_truncated), STEP(M_CLOSE) },
          .want = PROBE_BAD_RESPONSE, .detail = "master closed" },
        { "hello v3", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, hello_v3) },
          .want = PROBE_BAD_RESPONSE, .detail = "version 3" },
        { "oversized", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, oversized) },
          .want = PROBE_BAD_RESPONSE, .detail = "too long" },
        { "zero length", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, zero_length) },
          .want = PROBE_BAD_RESPONSE, .detail = "malformed" },
        { "opened before hello", { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, opened_early) },
          .want = PROBE_BAD_RESPONSE, .detail = "unexpected SESSION_OPENED" },
        { "reply to another request", { GOOD_START, STEP_BYTES(M_SEND, opened_wrong_id) },
          .want = PROBE_BAD_RESPONSE, .detail = "unexpected SESSION_OPENED (id 11259375)" },
        { "alive instead of opened", { GOOD_START, STEP_BYTES(M_SEND, alive) },
          .want = PROBE_BAD_RESPONSE, .detail = "unexpected ALIVE" },
        { "hello twice", { GOOD_START, STEP_BYTES(M_SEND, hello_ext) },
          .want = PROBE_BAD_RESPONSE, .detail = "unexpected HELLO" },
        { "malformed failure", { GOOD_START, STEP_BYTES(M_SEND, failure_overrun) },
          .want = PROBE_BAD_RESPONSE, .detail = "malformed" },
        { "closed after request", { GOOD_START, STEP(M_CLOSE) },
          .want = PROBE_BAD_RESPONSE, .detail = "master closed the control connection" },
        { "refused by peer", { GOOD_START, STEP_STR(M_SEND_FAILURE, MUX_REFUSED_BY_PEER) },
          .want = PROBE_REFUSED, .detail = "channel open refused by bastion (reason not in journal)" },
        { "other failure", { GOOD_START, STEP_STR(M_SEND_FAILURE, "Multiple sessions not supported") },
          .want = PROBE_ERROR, .detail = "Multiple sessions not supported" },
        { "permission denied", { GOOD_START, STEP_STR(M_SEND_DENIED, "Permission denied") },
          .want = PROBE_PROHIBITED, .detail = "Permission denied" },
};

static pid_t master_start(const step *steps) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, sock_path);
        (void) unlink(sock_path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(fd, 4), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* cmocka's handlers would longjmp a crashing child back into the test runner. */
                static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
                for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                        (void) signal(sigs[i], SIG_DFL);
                _exit(master_run(fd, steps));
        }
        close(fd);
        return pid;
}

static int master_stop(pid_t pid) {
        int status;

        (void) kill(pid, SIGTERM);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                return WTERMSIG(status) == SIGTERM ? 0 : 100 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static unsigned count_fds(void) {
        unsigned n = 0;
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void assert_no_children(void) {
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

static void test_scenarios(void **state) {
        unsigned fds = count_fds();

        for (size_t i = 0; i < ELEMENTSOF(scenarios); i++) {
                const struct scenario *sc = &scenarios[i];
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                probe_request req;
                ssh_target ssh;
                forward_address fwd;
                outcome o = {};
                probe *p = NULL;

                print_message("scenario: %s\n", sc->name);
                assert_int_equal(sd_event_new(&e), 0);
                pid_t pid = master_start(sc->steps);
                request_init(&req, &ssh, &fwd, sock_path);
                if (sc->no_expect)
                        req.expect = NULL;
                if (sc->send) {
                        req.send = sc->send;
                        req.send_len = strlen(sc->send);
                }

                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                run_until_done(e, &o);
                print_message("  -> %s: %s\n", probe_status_to_string(o.result.status), o.result.detail);
                assert_int_equal(o.result.status, sc->want);
                assert_int_equal(o.result.kind, PROBE_KIND_MUX);
                if (sc->detail)
                        assert_non_null(strstr(o.result.detail, sc->detail));
                assert_int_equal(master_stop(pid), 0);
                assert_no_children(); /* a journal lookup's child is reaped with its probe */
        }
        assert_int_equal(count_fds(), fds); /* every socket and socketpair end closed */
}

static void test_no_master(void **state) {
        char file[sizeof sock_dir + 16], unbound[sizeof sock_dir + 16], toolong[200];
        const char *paths[] = { "/nonexistent/ctl", file, unbound };

        snprintf(file, sizeof file, "%s/file", sock_dir);
        int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        /* A socket file nobody listens on: what a master that died leaves behind. */
        snprintf(unbound, sizeof unbound, "%s/dead", sock_dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, unbound);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        close(fd);

        for (size_t i = 0; i < ELEMENTSOF(paths) + 2; i++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                probe_request req;
                ssh_target ssh;
                forward_address fwd;
                outcome o = {};
                probe *p = NULL;
                probe_status want = PROBE_NO_MASTER;

                assert_int_equal(sd_event_new(&e), 0);
                request_init(&req, &ssh, &fwd, i < ELEMENTSOF(paths) ? paths[i] : NULL);
                if (i == ELEMENTSOF(paths) + 1) {
                        memset(toolong, 'x', sizeof toolong - 1);
                        toolong[0] = '/';
                        toolong[sizeof toolong - 1] = 0;
                        ssh.control_path = toolong;
                        want = PROBE_ERROR;
                }
                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                assert_false(o.done); /* never from inside probe_start */
                run_until_done(e, &o);
                print_message("  -> %s: %s\n", probe_status_to_string(o.result.status), o.result.detail);
                assert_int_equal(o.result.status, want);
        }
}

static void test_no_forward(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        probe_request req;
        ssh_target ssh;
        forward_address fwd;
        outcome o = {};
        probe *p = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        request_init(&req, &ssh, &fwd, sock_path);
        req.forward = NULL;
        assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
        run_until_done(e, &o);
        assert_int_equal(o.result.status, PROBE_ERROR);
}

/* Cancelled at every stage: no callback, every fd closed (the master sees EOF), nothing leaks; while the
 * journal is read, the lookup's child is killed and reaped. */
static void test_cancel(void **state) {
        unsigned fds = count_fds();
        static const step stages[][6] = {
                { STEP(M_HANG) },
                { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, hello_ext), STEP(M_READ_REQUEST) },
                { STEP(M_READ_HELLO), STEP_BYTES(M_SEND, hello_ext), STEP(M_READ_REQUEST), STEP(M_SEND_OPENED) },
                { GOOD_START, STEP_STR(M_SEND_FAILURE, MUX_REFUSED_BY_PEER) },
        };

        for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                probe_request req;
                ssh_target ssh;
                forward_address fwd;
                outcome o = {};
                probe *p = NULL;

                assert_int_equal(sd_event_new(&e), 0);
                pid_t pid = master_start(stages[i]);
                request_init(&req, &ssh, &fwd, sock_path);
                req.timeout = 5 * USEC_PER_SEC;
                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                for (unsigned k = 0; k < 20; k++)
                        assert_true(sd_event_run(e, 5 * USEC_PER_MSEC) >= 0);
                assert_null(probe_cancel(p));
                for (unsigned k = 0; k < 5; k++)
                        assert_true(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
                assert_false(o.done);
                assert_int_equal(master_stop(pid), 0);
                assert_no_children();
        }
        assert_int_equal(count_fds(), fds);
}

/* A ControlPath that is not the unit's user's master (the user pointed it at another process's socket):
 * never spoken to. By the file's owner: not even connected to; by the listener's credentials (the file
 * chowned to the unit's user, the process not theirs): closed before a single byte was sent. */
static void test_not_the_units_master(void **state) {
        char path[sizeof sock_dir + 16];
        run_identity nobody;

        if (geteuid() != 0)
                fail_msg("needs root (sockets of two owners)");
        assert_int_equal(run_identity_for_user("nobody", &nobody), 0);
        snprintf(path, sizeof path, "%s/other", sock_dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(l >= 0);
        assert_int_equal(bind(l, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(l, 8), 0);

        for (int chowned = 0; chowned < 2; chowned++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                probe_request req;
                ssh_target ssh;
                forward_address fwd;
                outcome o = {};
                probe *p = NULL;

                if (chowned)
                        assert_int_equal(chown(path, nobody.uid, nobody.gid), 0);
                assert_int_equal(sd_event_new(&e), 0);
                request_init(&req, &ssh, &fwd, path);
                req.as = &nobody;
                assert_int_equal(probe_start(e, &req, on_done, &o, &p), 0);
                run_until_done(e, &o);
                print_message("  -> %s%s: %s\n", probe_status_to_string(o.result.status), o.result.ours ? " (ours)" : "",
                              o.result.detail);
                assert_int_equal(o.result.status, PROBE_ERROR);
                assert_true(o.result.ours);
                assert_non_null(strstr(o.result.detail, "belongs to uid 0, not to the unit's user nobody"));

                int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
                if (!chowned) {
                        assert_int_equal(c, -1); /* never connected */
                        assert_int_equal(errno, EAGAIN);
                        continue;
                }
                assert_true(c >= 0);
                char b;
                assert_int_equal(read(c, &b, 1), 0); /* closed, nothing said */
                close(c);
        }
        close(l);
        assert_int_equal(unlink(path), 0);
}

static int setup(void **state) {
        memcpy(sock_dir, sock_dir_template, sizeof sock_dir);
        if (!mkdtemp(sock_dir))
                return -1;
        snprintf(sock_path, sizeof sock_path, "%s/ctl", sock_dir);
        return regcomp(&expect_ssh, "^SSH-", REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
}

static int teardown(void **state) {
        char p[sizeof sock_dir + 16];
        const char *const names[] = { "ctl", "file", "dead" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(p, sizeof p, "%s/%s", sock_dir, names[i]);
                (void) unlink(p);
        }
        (void) rmdir(sock_dir);
        regfree(&expect_ssh);
        return 0;
}

int main(void) {
        /* A refusal's reason is looked up by a child (sd_event_add_child): SIGCHLD blocked, as the daemon does. */
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scenarios),
                cmocka_unit_test(test_no_master),
                cmocka_unit_test(test_no_forward),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_not_the_units_master),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
