/* mux_journal: the refusal's reason looked up by a child, answered through a pipe, on the loop. The child
 * runs an injected search (the real journal has no entries for a test unit): found at once, found after
 * retries, never found, hanging past the deadline, dying without a word; cancelled while it runs. Every
 * case: one callback (none once cancelled), the child reaped, no fd left open. And the pipe's one-line
 * answer, formatted and parsed. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "../../probes/mux_journal.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

typedef struct outcome {
        int calls;
        mux_open_failure f;
        char reason[MUX_JOURNAL_REASON_MAX];
        usec_t at; /* CLOCK_MONOTONIC of the callback */
} outcome;

static void on_done(mux_journal *j, mux_open_failure f, const char *reason, void *userdata) {
        outcome *o = userdata;
        o->calls++;
        o->f = f;
        snprintf(o->reason, sizeof o->reason, "%s", reason);
        o->at = now_usec(CLOCK_MONOTONIC);
        mux_journal_free(j); /* the callee's to free, from inside the callback */
}

/* Searches, run in the child (each child counts its own tries). */
static unsigned tries;
static mux_open_failure search_prohibited(const char *unit, usec_t since, char *reason, size_t size) {
        snprintf(reason, size, "administratively prohibited: open failed");
        return MUX_OPEN_FAILURE_PROHIBITED;
}
static mux_open_failure search_third_try(const char *unit, usec_t since, char *reason, size_t size) {
        if (++tries < 3)
                return MUX_OPEN_FAILURE_UNKNOWN;
        snprintf(reason, size, "connect failed: Connection refused");
        return MUX_OPEN_FAILURE_REFUSED;
}
static mux_open_failure search_nothing(const char *unit, usec_t since, char *reason, size_t size) {
        return MUX_OPEN_FAILURE_UNKNOWN;
}
__attribute__((noreturn)) static mux_open_failure search_hang(const char *unit, usec_t since, char *reason,
                                                                size_t size) {
        for (;;)
                pause();
}
__attribute__((noreturn)) static mux_open_failure search_die(const char *unit, usec_t since, char *reason,
                                                               size_t size) {
        _exit(3);
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

static void run_until_called(sd_event *e, const outcome *o, usec_t limit) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + limit;
        while (o->calls == 0 && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 10 * MSEC) >= 0);
}

static void test_lookups(void **state) {
        static const struct {
                const char *name;
                mux_journal_search_t search;
                usec_t timeout;
                mux_open_failure want;
                const char *reason;
                usec_t min, max; /* time to the answer */
        } t[] = {
                { "at once", search_prohibited, 5 * SEC, MUX_OPEN_FAILURE_PROHIBITED,
                  "administratively prohibited: open failed", 0, 1 * SEC },
                /* Two misses, 100 ms apart each: journald was still ingesting the line. */
                { "third try", search_third_try, 5 * SEC, MUX_OPEN_FAILURE_REFUSED,
                  "connect failed: Connection refused", 200 * MSEC, 2 * SEC },
                /* Five tries, then the child gives up on its own, long before the deadline. */
                { "never", search_nothing, 5 * SEC, MUX_OPEN_FAILURE_UNKNOWN, "", 400 * MSEC, 3 * SEC },
                /* Fewer tries when the deadline is near: the answer still comes before it. */
                { "never, short deadline", search_nothing, 300 * MSEC, MUX_OPEN_FAILURE_UNKNOWN, "", 100 * MSEC,
                  300 * MSEC },
                /* Killed an interval before the deadline: a refusal, never the probe's timeout. */
                { "hangs", search_hang, 1 * SEC, MUX_OPEN_FAILURE_UNKNOWN, "", 700 * MSEC, 1 * SEC },
                { "dies", search_die, 5 * SEC, MUX_OPEN_FAILURE_UNKNOWN, "", 0, 1 * SEC },
        };
        unsigned fds = count_fds();

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                mux_journal *j = NULL;
                outcome o = {};

                assert_int_equal(sd_event_new(&e), 0);
                usec_t start = now_usec(CLOCK_MONOTONIC);
                const mux_journal_query q = {
                        .unit = "test-mux-journal.service",
                        .since = now_usec(CLOCK_REALTIME),
                        .deadline = start + t[i].timeout,
                        .search = t[i].search,
                };
                assert_int_equal(mux_journal_start(e, &q, on_done, &o, &j), 0);
                assert_non_null(j);
                assert_int_equal(o.calls, 0); /* never from inside start */
                run_until_called(e, &o, 5 * SEC);
                print_message("%s: %d call(s), %u ms, \"%s\"\n", t[i].name, o.calls,
                              (unsigned) ((o.at - start) / MSEC), o.reason);
                assert_int_equal(o.calls, 1);
                assert_int_equal(o.f, t[i].want);
                assert_string_equal(o.reason, t[i].reason);
                assert_true(o.at - start >= t[i].min);
                assert_true(o.at - start < t[i].max);
                for (unsigned k = 0; k < 5; k++)
                        assert_true(sd_event_run(e, 1 * MSEC) >= 0);
                assert_int_equal(o.calls, 1);
                assert_no_children();
        }
        assert_int_equal(count_fds(), fds);
}

/* Cancelled while the child looks: killed by pid and reaped at once, no callback, nothing left open. */
static void test_cancel(void **state) {
        unsigned fds = count_fds();
        const mux_journal_search_t searches[] = { search_hang, search_nothing };

        for (size_t i = 0; i < ELEMENTSOF(searches); i++) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                mux_journal *j = NULL;
                outcome o = {};
                const mux_journal_query q = { .unit = "test-mux-journal.service",
                                              .deadline = now_usec(CLOCK_MONOTONIC) + 5 * SEC,
                                              .search = searches[i] };

                assert_int_equal(sd_event_new(&e), 0);
                assert_int_equal(mux_journal_start(e, &q, on_done, &o, &j), 0);
                for (unsigned k = 0; k < 5; k++)
                        assert_true(sd_event_run(e, 10 * MSEC) >= 0);
                assert_int_equal(o.calls, 0);
                assert_null(mux_journal_free(j));
                assert_no_children();
                for (unsigned k = 0; k < 5; k++)
                        assert_true(sd_event_run(e, 10 * MSEC) >= 0);
                assert_int_equal(o.calls, 0);
        }
        assert_null(mux_journal_free(NULL));
        assert_int_equal(count_fds(), fds);
}

/* The real journal, for a unit that never logged: nothing, and no crash without a journal at all. */
static void test_real_journal(void **state) {
        char reason[MUX_JOURNAL_REASON_MAX] = "untouched";

        assert_int_equal(mux_journal_search("test-mux-journal-nonexistent.service", 0, reason, sizeof reason),
                         MUX_OPEN_FAILURE_UNKNOWN);
        assert_int_equal(mux_journal_search(NULL, 0, reason, sizeof reason), MUX_OPEN_FAILURE_UNKNOWN);
        assert_int_equal(mux_journal_search("", 0, reason, sizeof reason), MUX_OPEN_FAILURE_UNKNOWN);
}

/* A changed bastion key as ssh logs it, newest first (the journal's order), one entry per line. */
static const char *const changed_key_run[] = {
        "Host key verification failed.",
        "Host key for [127.0.0.1]:22999 has changed and you have requested strict checking.",
        "  ssh-keygen -f \"/var/lib/reverse-ssh/b.test/known_hosts\" -R \"[127.0.0.1]:22999\"",
        "  remove with:",
        "Offending ED25519 key in /var/lib/reverse-ssh/b.test/known_hosts:1",
        "Add correct host key in /var/lib/reverse-ssh/b.test/known_hosts to get rid of this message.",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
};

static void test_forward_lines(void **state) {
        char reason[MUX_JOURNAL_REASON_MAX];

        assert_int_equal(mux_forward_lines_classify(changed_key_run, ELEMENTSOF(changed_key_run), reason, sizeof reason),
                         MUX_OPEN_FAILURE_HOST_KEY);
        assert_string_equal(reason, "changed; ssh-keygen -f \"/var/lib/reverse-ssh/b.test/known_hosts\" -R \"[127.0.0.1]:22999\"");

        /* Unknown key under StrictHostKeyChecking=yes: no "changed", no fix line. */
        static const char *const unknown[] = {
                "Host key verification failed.",
                "No ED25519 host key is known for [127.0.0.1]:22999 and you have requested strict checking.",
        };
        assert_int_equal(mux_forward_lines_classify(unknown, ELEMENTSOF(unknown), reason, sizeof reason),
                         MUX_OPEN_FAILURE_HOST_KEY);
        assert_string_equal(reason, "not known");

        /* The fix line is looked for only a few entries back: one far older is another run's business. */
        const char *far[16] = { "Host key verification failed." };
        for (size_t i = 1; i < ELEMENTSOF(far) - 1; i++)
                far[i] = "debug line";
        far[ELEMENTSOF(far) - 1] = "  ssh-keygen -f \"/x\" -R \"h\"";
        assert_int_equal(mux_forward_lines_classify(far, ELEMENTSOF(far), reason, sizeof reason), MUX_OPEN_FAILURE_HOST_KEY);
        assert_string_equal(reason, "not known");

        /* The refused forward is still what it was; the newest line of a run decides. */
        static const char *const busy[] = { "Error: remote port forwarding failed for listen port 21022", "x" };
        assert_int_equal(mux_forward_lines_classify(busy, ELEMENTSOF(busy), reason, sizeof reason), MUX_OPEN_FAILURE_LISTEN_BUSY);
        assert_string_equal(reason, "port 21022");
        static const char *const quiet[] = { "Authenticated to 127.0.0.1", "Warning: Permanently added x" };
        assert_int_equal(mux_forward_lines_classify(quiet, ELEMENTSOF(quiet), reason, sizeof reason), MUX_OPEN_FAILURE_UNKNOWN);
        assert_string_equal(reason, "");
        assert_int_equal(mux_forward_lines_classify(NULL, 0, reason, sizeof reason), MUX_OPEN_FAILURE_UNKNOWN);

        /* Through the child's answer line and back. */
        char buf[256];
        mux_forward_lines_classify(changed_key_run, ELEMENTSOF(changed_key_run), reason, sizeof reason);
        size_t n = mux_journal_answer_format(MUX_OPEN_FAILURE_HOST_KEY, reason, buf, sizeof buf);
        assert_true(n > 0);
        char back[MUX_JOURNAL_REASON_MAX];
        assert_int_equal(mux_journal_answer_parse(buf, n, back, sizeof back), MUX_OPEN_FAILURE_HOST_KEY);
        assert_string_equal(back, reason);
}

static void test_answer(void **state) {
        char buf[256], reason[MUX_JOURNAL_REASON_MAX];
        size_t n;

        n = mux_journal_answer_format(MUX_OPEN_FAILURE_PROHIBITED, "administratively prohibited: open failed", buf,
                                      sizeof buf);
        assert_int_equal(n, strlen("prohibited administratively prohibited: open failed\n"));
        assert_memory_equal(buf, "prohibited administratively prohibited: open failed\n", n);
        assert_int_equal(mux_journal_answer_parse(buf, n, reason, sizeof reason), MUX_OPEN_FAILURE_PROHIBITED);
        assert_string_equal(reason, "administratively prohibited: open failed");

        n = mux_journal_answer_format(MUX_OPEN_FAILURE_REFUSED, "connect failed: Connection refused", buf, sizeof buf);
        assert_int_equal(mux_journal_answer_parse(buf, n, reason, sizeof reason), MUX_OPEN_FAILURE_REFUSED);
        assert_string_equal(reason, "connect failed: Connection refused");

        n = mux_journal_answer_format(MUX_OPEN_FAILURE_LISTEN_BUSY, "port 21022", buf, sizeof buf);
        assert_memory_equal(buf, "listen_busy port 21022\n", n);
        assert_int_equal(mux_journal_answer_parse(buf, n, reason, sizeof reason), MUX_OPEN_FAILURE_LISTEN_BUSY);
        assert_string_equal(reason, "port 21022");

        /* An empty reason is still an answer. */
        n = mux_journal_answer_format(MUX_OPEN_FAILURE_REFUSED, NULL, buf, sizeof buf);
        assert_int_equal(mux_journal_answer_parse(buf, n, reason, sizeof reason), MUX_OPEN_FAILURE_REFUSED);
        assert_string_equal(reason, "");

        /* Unknown is written as nothing; a buffer too small is nothing too. */
        assert_int_equal(mux_journal_answer_format(MUX_OPEN_FAILURE_UNKNOWN, "x", buf, sizeof buf), 0);
        assert_int_equal(mux_journal_answer_format(MUX_OPEN_FAILURE_REFUSED, "connect failed", buf, 8), 0);

        /* Anything but one whole line of that form: unknown, reason empty. */
        static const char *const bad[] = {
                "", "\n", "refused", "refused connect failed", "refusedx y\n", "other words\n",
                "refused a\nrefused b\n", "prohibited\n", "Prohibited x\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                strcpy(reason, "untouched");
                assert_int_equal(mux_journal_answer_parse(bad[i], strlen(bad[i]), reason, sizeof reason),
                                 MUX_OPEN_FAILURE_UNKNOWN);
                assert_string_equal(reason, "");
        }
        static const char with_nul[] = "refused a\0b\n";
        assert_int_equal(mux_journal_answer_parse(with_nul, sizeof with_nul - 1, reason, sizeof reason),
                         MUX_OPEN_FAILURE_UNKNOWN);
        assert_int_equal(mux_journal_answer_parse(NULL, 0, reason, sizeof reason), MUX_OPEN_FAILURE_UNKNOWN);

        /* A reason longer than the answer carries is cut, not refused. */
        char longer[400];
        memset(longer, 'x', sizeof longer - 1);
        longer[sizeof longer - 1] = 0;
        n = mux_journal_answer_format(MUX_OPEN_FAILURE_REFUSED, longer, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(mux_journal_answer_parse(buf, n, reason, sizeof reason), MUX_OPEN_FAILURE_REFUSED);
        assert_int_equal(strlen(reason), MUX_JOURNAL_REASON_MAX - 1);
}

int main(void) {
        /* sd_event_add_child() requires SIGCHLD blocked, as the daemon has it. */
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookups),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_real_journal),
                cmocka_unit_test(test_forward_lines),
                cmocka_unit_test(test_answer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
