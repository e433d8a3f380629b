/* The mux probe's journal lookup, off the loop: a forked child runs sd-journal (and only that: no exec, no
 * sd-event, no logging), retries while journald catches up, writes one line and exits; the loop reads the
 * line and reaps the child through a child_watch, and kills it by pid at the give-up time or when the probe
 * is cancelled. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "../monitor/base/child_watch.h"
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
        pid_t pid;           /* for the log */
        child_watch *child;  /* the child and the read end of its pipe; NULL once concluded */
        sd_event_source *timer;
        char answer[ANSWER_MAX];
        size_t answer_len;
};

static const char *const answer_word[] = {
        [MUX_OPEN_FAILURE_PROHIBITED] = "prohibited",
        [MUX_OPEN_FAILURE_REFUSED] = "refused",
        [MUX_OPEN_FAILURE_LISTEN_BUSY] = "listen_busy",
        [MUX_OPEN_FAILURE_HOST_KEY] = "host_key",
};

size_t mux_journal_answer_format(mux_open_failure f, const char *reason, char *buf, size_t size) {
        if (f <= MUX_OPEN_FAILURE_UNKNOWN || f > MUX_OPEN_FAILURE_HOST_KEY)
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
        for (mux_open_failure f = MUX_OPEN_FAILURE_PROHIBITED; f <= MUX_OPEN_FAILURE_HOST_KEY; f++) {
                size_t w = strlen(answer_word[f]);
                if (n > w + 1 && memcmp(buf, answer_word[f], w) == 0 && buf[w] == ' ') {
                        if (size > 0)
                                (void) snprintf(reason, size, "%.*s", (int) (n - w - 2), buf + w + 1);
                        return f;
                }
        }
        return MUX_OPEN_FAILURE_UNKNOWN;
}

/* What a scan found so far. A find may want a few older lines for its details (more > 0). */
typedef struct scan {
        mux_open_failure found;
        char *reason;
        size_t size;
        unsigned more;         /* older entries still worth reading after the find */
        bool key_changed;      /* host key: "has changed" seen (else ssh did not know the key at all) */
        char key_fix[160];     /* host key: ssh's own "ssh-keygen -f ... -R ..." */
} scan;

/* A line of the unit's journal, newest first: true when the scan has its answer. */
typedef bool (*line_classify_t)(const char *line, scan *s);

/* The unit's entries, newest first, back to since, at most max, each handed to classify. */
static void journal_scan(const char *unit, usec_t since, unsigned max, line_classify_t classify, scan *s) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        char match[512];

        if (isempty_str(unit) || snprintf(match, sizeof match, "_SYSTEMD_UNIT=%s", unit) >= (int) sizeof match)
                return;
        /* No journal to read is no reason found: the probe says "reason not in journal". */
        if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0 ||
            sd_journal_add_match(j, match, 0) < 0 || sd_journal_seek_tail(j) < 0)
                return;

        for (unsigned i = 0; i < max && sd_journal_previous(j) > 0; i++) {
                const void *data;
                size_t len;
                uint64_t t;

                if (sd_journal_get_realtime_usec(j, &t) >= 0 && t < since)
                        break;
                if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len <= 8)
                        continue;

                char line[256];
                snprintf(line, sizeof line, "%.*s", (int) MIN(len - 8, sizeof line - 1), (const char *) data + 8);
                if (classify(line, s))
                        return;
        }
}

static bool classify_open(const char *line, scan *s) {
        const char *why;
        s->found = mux_open_failure_from_log(line, &why);
        if (s->found == MUX_OPEN_FAILURE_UNKNOWN)
                return false;
        snprintf(s->reason, s->size, "%s", why);
        return true;
}

/* After "Host key verification failed.", ssh's older lines say whether the key changed and how to fix it. */
#define HOST_KEY_DETAIL_ENTRIES 8

static bool classify_forward(const char *line, scan *s) {
        const char *fix;

        if (s->found == MUX_OPEN_FAILURE_HOST_KEY) {
                switch (mux_host_key_line_from_log(line, &fix)) {
                case MUX_HOST_KEY_LINE_CHANGED:
                        s->key_changed = true;
                        break;
                case MUX_HOST_KEY_LINE_REMOVE:
                        snprintf(s->key_fix, sizeof s->key_fix, "%s", fix);
                        return true;
                default:
                        break;
                }
                return --s->more == 0;
        }

        if (mux_host_key_line_from_log(line, NULL) == MUX_HOST_KEY_LINE_FAILED) {
                s->found = MUX_OPEN_FAILURE_HOST_KEY;
                s->more = HOST_KEY_DETAIL_ENTRIES;
                return false;
        }

        int port = mux_forward_failure_from_log(line);
        if (port < 0)
                return false;
        if (port > 0)
                snprintf(s->reason, s->size, "port %d", port);
        else
                snprintf(s->reason, s->size, "its port");
        s->found = MUX_OPEN_FAILURE_LISTEN_BUSY;
        return true;
}

mux_open_failure mux_journal_search(const char *unit, usec_t since, char *reason, size_t size) {
        scan s = { .reason = reason, .size = size };
        /* Only lines logged since this probe began can be about its channel. */
        journal_scan(unit, since, JOURNAL_ENTRIES, classify_open, &s);
        return s.found;
}

static mux_open_failure forward_scan_done(const scan *s) {
        if (s->found == MUX_OPEN_FAILURE_HOST_KEY)
                mux_host_key_reason(s->key_changed, s->key_fix, s->reason, s->size);
        return s->found;
}

mux_open_failure mux_journal_search_forward(const char *unit, usec_t since, char *reason, size_t size) {
        scan s = { .reason = reason, .size = size };
        if (size > 0)
                reason[0] = 0;
        if (since == 0)
                return MUX_OPEN_FAILURE_UNKNOWN; /* a start we do not know: any old run's line could be it */
        journal_scan(unit, since, MUX_JOURNAL_FORWARD_ENTRIES, classify_forward, &s);
        return forward_scan_done(&s);
}

mux_open_failure mux_forward_lines_classify(const char *const *lines, size_t n, char *reason, size_t size) {
        scan s = { .reason = reason, .size = size };
        if (size > 0)
                reason[0] = 0;
        for (size_t i = 0; i < n && !classify_forward(lines[i], &s); i++)
                ;
        return forward_scan_done(&s);
}

void mux_host_key_reason(bool changed, const char *fix, char *reason, size_t size) {
        snprintf(reason, size, "%s%s%s", changed ? "changed" : "not known", isempty_str(fix) ? "" : "; ", strempty(fix));
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
                if (tries >= (q->tries ?: JOURNAL_TRIES) || usec_add(now, 2 * JOURNAL_RETRY_INTERVAL) >= q->deadline)
                        _exit(0);
                (void) nanosleep(&(struct timespec) { .tv_nsec = JOURNAL_RETRY_INTERVAL * NSEC_PER_USEC }, NULL);
        }
}

mux_journal *mux_journal_free(mux_journal *j) {
        if (!j)
                return NULL;
        j->timer = sd_event_source_disable_unref(j->timer);
        child_watch_free(j->child); /* kills the child by pid if it still looks */
        free(j);
        return NULL;
}

/* What the child wrote, up to what an answer can be: a longer one is not ours (the parse refuses it). */
static int journal_on_read(child_watch *w, child_stream s, const void *data, ssize_t n, void *userdata) {
        mux_journal *j = userdata;

        if (n > 0) {
                size_t k = MIN((size_t) n, sizeof j->answer - j->answer_len);
                memcpy(j->answer + j->answer_len, data, k);
                j->answer_len += k;
        }
        return 0;
}

/* The child exited or was killed, and what it said is read: the answer, once. The callee may free j. */
static void journal_on_ended(child_watch *w, int r, int status, void *userdata) {
        mux_journal *j = userdata;
        char reason[MUX_JOURNAL_REASON_MAX];

        j->child = child_watch_free(j->child);
        j->timer = sd_event_source_disable_unref(j->timer);
        mux_open_failure f = mux_journal_answer_parse(j->answer, j->answer_len, reason, sizeof reason);
        j->done(j, f, reason, j->userdata);
}

static int journal_on_give_up(sd_event_source *s, uint64_t usec, void *userdata) {
        mux_journal *j = userdata;

        log_debug("Journal lookup (pid %d) still running at the probe's give-up time: killed", (int) j->pid);
        child_watch_kill(j->child);
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
        *j = (mux_journal) { .done = done, .userdata = userdata };

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
        j->pid = pid;
        r = child_watch_new(pid, p[0], -1, &j->child);
        if (r < 0)
                return r;

        /* The answer before the deadline, with an interval (or half of what is left) to spare. */
        usec_t now = now_usec(CLOCK_MONOTONIC);
        usec_t give_up = usec_sub(q->deadline, MIN(JOURNAL_RETRY_INTERVAL, usec_sub(q->deadline, now) / 2));

        /* Concluded at the exit: the child's write end is closed by then, what it said is in the pipe. */
        static const child_watch_ops ops = { .read = journal_on_read, .ended = journal_on_ended };
        r = child_watch_attach(j->child, e, false, &ops, j); /* -EBUSY: SIGCHLD not blocked by the program */
        if (r >= 0 && give_up != USEC_INFINITY)
                r = sd_event_add_time(e, &j->timer, CLOCK_MONOTONIC, give_up, USEC_PER_MSEC, journal_on_give_up, j);
        if (r < 0) {
                mux_journal_free(TAKE_PTR(j));
                return r;
        }
        (void) sd_event_source_set_description(j->timer, "probe-mux-journal-give-up");
        *ret = TAKE_PTR(j);
        return 0;
}
