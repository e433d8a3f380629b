/* The mux probe's journal lookup, off the loop: a forked child runs sd-journal (and only that: no exec, no
 * sd-event, no logging), retries while journald catches up, writes one line and exits; the loop reads the
 * line through an io source, reaps the child through a child source, and kills it by pid at the give-up
 * time or when the probe is cancelled. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "../monitor/base/log.h"
#include "../monitor/base/spawn.h"
#include "mux_journal.h"

/* journald ingests the master's stderr asynchronously: look again a few times for its "open failed". */
#define JOURNAL_RETRY_INTERVAL (100 * USEC_PER_MSEC)
#define JOURNAL_TRIES 5
#define JOURNAL_ENTRIES 20
/* The child's one line, with room to spare: a longer answer is not ours. */
#define ANSWER_MAX (MUX_JOURNAL_REASON_MAX + 32)

struct mux_journal {
        mux_journal_done_t done;
        void *userdata;
        pid_t pid;
        bool reaped;
        bool concluded;
        int fd; /* read end of the child's pipe */
        sd_event_source *io, *child, *timer;
        char answer[ANSWER_MAX];
        size_t answer_len;
};

static const char *const answer_word[] = {
        [MUX_OPEN_FAILURE_PROHIBITED] = "prohibited",
        [MUX_OPEN_FAILURE_REFUSED] = "refused",
};

size_t mux_journal_answer_format(mux_open_failure f, const char *reason, char *buf, size_t size) {
        if (f != MUX_OPEN_FAILURE_PROHIBITED && f != MUX_OPEN_FAILURE_REFUSED)
                return 0;
        int n = snprintf(buf, size, "%s %.*s\n", answer_word[f], MUX_JOURNAL_REASON_MAX - 1, strempty(reason));
        return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

mux_open_failure mux_journal_answer_parse(const char *buf, size_t n, char *reason, size_t size) {
        if (size > 0)
                reason[0] = 0;
        /* One whole line: a child killed while writing leaves no answer, not half of one. */
        if (!buf || n == 0 || buf[n - 1] != '\n' || memchr(buf, '\n', n) != buf + n - 1 || memchr(buf, 0, n))
                return MUX_OPEN_FAILURE_UNKNOWN;
        for (mux_open_failure f = MUX_OPEN_FAILURE_PROHIBITED; f <= MUX_OPEN_FAILURE_REFUSED; f++) {
                size_t w = strlen(answer_word[f]);
                if (n > w + 1 && memcmp(buf, answer_word[f], w) == 0 && buf[w] == ' ') {
                        if (size > 0)
                                (void) snprintf(reason, size, "%.*s", (int) (n - w - 2), buf + w + 1);
                        return f;
                }
        }
        return MUX_OPEN_FAILURE_UNKNOWN;
}

mux_open_failure mux_journal_search(const char *unit, usec_t since, char *reason, size_t size) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        char match[512];

        if (isempty_str(unit) || snprintf(match, sizeof match, "_SYSTEMD_UNIT=%s", unit) >= (int) sizeof match)
                return MUX_OPEN_FAILURE_UNKNOWN;
        /* No journal to read is no reason found: the probe says "reason not in journal". */
        if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0 ||
            sd_journal_add_match(j, match, 0) < 0 || sd_journal_seek_tail(j) < 0)
                return MUX_OPEN_FAILURE_UNKNOWN;

        /* Newest first; only lines logged since this probe began can be about its channel. */
        for (unsigned i = 0; i < JOURNAL_ENTRIES && sd_journal_previous(j) > 0; i++) {
                const void *data;
                size_t len;
                uint64_t t;

                if (sd_journal_get_realtime_usec(j, &t) >= 0 && t < since)
                        break;
                if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len <= 8)
                        continue;

                char line[256];
                const char *why;
                snprintf(line, sizeof line, "%.*s", (int) MIN(len - 8, sizeof line - 1), (const char *) data + 8);
                mux_open_failure f = mux_open_failure_from_log(line, &why);
                if (f != MUX_OPEN_FAILURE_UNKNOWN) {
                        snprintf(reason, size, "%s", why);
                        return f;
                }
        }
        return MUX_OPEN_FAILURE_UNKNOWN;
}

/* a + b, and a - b, that stay within [0, USEC_INFINITY]. */
static usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}
static usec_t usec_sub(usec_t a, usec_t b) {
        return a == USEC_INFINITY ? a : a > b ? a - b : 0;
}

/* The child: tries, sleeps, answers once. Never returns. */
__attribute__((noreturn)) static void child_run(int fd, const mux_journal_query *q) {
        mux_journal_search_t search = q->search ?: mux_journal_search;
        char reason[MUX_JOURNAL_REASON_MAX], answer[ANSWER_MAX];

        /* Nothing of ours but the pipe (others' sockets held here would delay their EOFs); gone with us. */
        if (fd != 3 && dup2(fd, 3) < 0)
                _exit(1);
        close_fds_from(4);
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);

        for (unsigned tries = 1;; tries++) {
                reason[0] = 0;
                size_t n = mux_journal_answer_format(search(q->unit, q->since, reason, sizeof reason), reason,
                                                     answer, sizeof answer);
                if (n > 0)
                        _exit(write(3, answer, n) == (ssize_t) n ? 0 : 1);
                /* Stop while a retry can still end before the deadline, with one interval to spare. */
                usec_t now = now_usec(CLOCK_MONOTONIC);
                if (tries >= JOURNAL_TRIES || usec_add(now, 2 * JOURNAL_RETRY_INTERVAL) >= q->deadline)
                        _exit(0);
                (void) nanosleep(&(struct timespec) { .tv_nsec = JOURNAL_RETRY_INTERVAL * NSEC_PER_USEC }, NULL);
        }
}

static void journal_kill(mux_journal *j) {
        j->child = sd_event_source_disable_unref(j->child);
        if (j->pid > 0 && !j->reaped) {
                (void) kill(j->pid, SIGKILL);
                while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                j->reaped = true;
        }
}

mux_journal *mux_journal_free(mux_journal *j) {
        if (!j)
                return NULL;
        j->io = sd_event_source_disable_unref(j->io);
        j->timer = sd_event_source_disable_unref(j->timer);
        journal_kill(j);
        if (j->fd >= 0)
                close(j->fd);
        free(j);
        return NULL;
}

/* Reads what the child wrote; true at EOF (every copy of the write end closed: the child is done). */
static bool journal_drain(mux_journal *j) {
        while (j->fd >= 0) {
                char buf[ANSWER_MAX];
                ssize_t n = read(j->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return false;
                if (n <= 0)
                        return true;
                size_t k = MIN((size_t) n, sizeof j->answer - j->answer_len);
                memcpy(j->answer + j->answer_len, buf, k);
                j->answer_len += k;
        }
        return true;
}

/* Hands the answer over once; the last thing any handler does, as the callee may free j. */
static void journal_conclude(mux_journal *j) {
        char reason[MUX_JOURNAL_REASON_MAX];

        if (j->concluded)
                return;
        j->concluded = true;
        j->io = sd_event_source_disable_unref(j->io);
        j->timer = sd_event_source_disable_unref(j->timer);
        mux_open_failure f = mux_journal_answer_parse(j->answer, j->answer_len, reason, sizeof reason);
        j->done(j, f, reason, j->userdata);
}

static int journal_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        mux_journal *j = userdata;

        if (!journal_drain(j))
                return 0;
        j->io = sd_event_source_disable_unref(j->io);
        if (j->reaped)
                journal_conclude(j);
        return 0;
}

static int journal_on_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        mux_journal *j = userdata;

        /* Reap here rather than in sd-event, so free knows nothing is left to kill. */
        (void) waitpid(j->pid, NULL, WNOHANG);
        j->reaped = true;
        j->child = sd_event_source_disable_unref(j->child);
        /* The child's write end is closed: what it said is all in the pipe. */
        (void) journal_drain(j);
        journal_conclude(j);
        return 0;
}

static int journal_on_give_up(sd_event_source *s, uint64_t usec, void *userdata) {
        mux_journal *j = userdata;

        log_debug("Journal lookup (pid %d) still running at the probe's give-up time: killed", (int) j->pid);
        journal_kill(j);
        (void) journal_drain(j);
        journal_conclude(j);
        return 0;
}

int mux_journal_start(sd_event *e, const mux_journal_query *q, mux_journal_done_t done, void *userdata,
                      mux_journal **ret) {
        int p[2], r;

        if (!e || !q || !done || !ret)
                return -EINVAL;
        _cleanup_(freep) mux_journal *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (mux_journal) { .done = done, .userdata = userdata, .fd = -1 };

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                close(p[0]);
                child_run(p[1], q);
        }
        close(p[1]);
        j->fd = p[0];
        j->pid = pid;

        /* The answer before the deadline, with an interval (or half of what is left) to spare. */
        usec_t now = now_usec(CLOCK_MONOTONIC);
        usec_t give_up = usec_sub(q->deadline, MIN(JOURNAL_RETRY_INTERVAL, usec_sub(q->deadline, now) / 2));

        r = fcntl(j->fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
        if (r >= 0) /* -EBUSY: SIGCHLD not blocked by the program */
                r = sd_event_add_child(e, &j->child, pid, WEXITED, journal_on_exit, j);
        if (r >= 0)
                r = sd_event_add_io(e, &j->io, j->fd, EPOLLIN, journal_on_io, j);
        if (r >= 0 && give_up != USEC_INFINITY)
                r = sd_event_add_time(e, &j->timer, CLOCK_MONOTONIC, give_up, USEC_PER_MSEC, journal_on_give_up, j);
        if (r < 0) {
                mux_journal_free(TAKE_PTR(j));
                return r;
        }
        (void) sd_event_source_set_description(j->io, "probe-mux-journal");
        *ret = TAKE_PTR(j);
        return 0;
}
