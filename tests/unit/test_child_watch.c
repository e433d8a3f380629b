/* child_watch (monitor/base/child_watch.c): both streams read on the loop, the exit reaped, the end said
 * once; waiting or not for streams a helper still holds; freed from inside its own callback; killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "../../monitor/base/child_watch.h"
#include "../../monitor/base/spawn.h"

typedef struct seen {
        char out[256], err[256];
        size_t out_len, err_len;
        bool out_end, err_end;
        int ended, r, status;
        bool free_on_out; /* child_watch_free() from inside read() */
        child_watch **self;
} seen;

static int on_read(child_watch *w, child_stream s, const void *data, ssize_t n, void *userdata) {
        seen *v = userdata;
        char *buf = s == CHILD_STDOUT ? v->out : v->err;
        size_t *len = s == CHILD_STDOUT ? &v->out_len : &v->err_len;
        if (n <= 0) {
                *(s == CHILD_STDOUT ? &v->out_end : &v->err_end) = true;
                return 0;
        }
        size_t k = MIN((size_t) n, 255 - *len);
        memcpy(buf + *len, data, k);
        *len += k;
        if (v->free_on_out && s == CHILD_STDOUT)
                *v->self = child_watch_free(*v->self);
        return 0;
}

static void on_ended(child_watch *w, int r, int status, void *userdata) {
        seen *v = userdata;
        v->ended++;
        v->r = r;
        v->status = status;
        *v->self = child_watch_free(*v->self);
}

static const child_watch_ops ops = { .read = on_read, .ended = on_ended };

/* Runs sh -c script under a watch until it ends, or until deadline ms (then kill_at_deadline: killed by
 * child_watch_kill, and run on until it ended). */
static void run_kill(const char *script, bool wait_eof, unsigned deadline_ms, bool kill_at_deadline, seen *v) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        int out[2], err[2];
        pid_t pid;
        sd_event *e = NULL;
        child_watch *w = NULL;

        v->self = &w;
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        assert_int_equal(spawn_child(&(spawn_request) { .argv = argv, .stdin_fd = -1, .stdout_fd = out[1],
                                                        .stderr_fd = err[1], .new_session = true },
                                     &pid),
                         0);
        close(out[1]);
        close(err[1]);
        assert_int_equal(child_watch_new(pid, out[0], err[0], &w), 0);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(child_watch_attach(w, e, wait_eof, &ops, v), 0);
        usec_t end = now_usec(CLOCK_MONOTONIC) + deadline_ms * USEC_PER_MSEC;
        while (w && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
        if (kill_at_deadline)
                child_watch_kill(w); /* ends it: the callback frees it */
        else
                w = child_watch_free(w); /* kills and reaps what still runs */
        sd_event_unref(e);
}

static void run(const char *script, bool wait_eof, unsigned deadline_ms, seen *v) {
        run_kill(script, wait_eof, deadline_ms, false, v);
}

static void test_streams_and_status(void **state) {
        seen v = {};
        run("echo out; echo err >&2; exit 3", true, 5000, &v);
        assert_int_equal(v.ended, 1);
        assert_int_equal(v.r, 0);
        assert_true(WIFEXITED(v.status));
        assert_int_equal(WEXITSTATUS(v.status), 3);
        assert_string_equal(v.out, "out\n");
        assert_string_equal(v.err, "err\n");
        assert_true(v.out_end && v.err_end);
}

/* A helper of the child that keeps its streams open: without wait_eof the end comes with the exit. */
static void test_exit_without_eof(void **state) {
        seen v = {};
        run("echo out; (sleep 1 &) ; exit 0", false, 5000, &v);
        assert_int_equal(v.ended, 1);
        assert_int_equal(v.r, 0);
        assert_string_equal(v.out, "out\n");
}

/* With wait_eof the same child is not over until its streams are: the deadline comes first here. */
static void test_wait_eof_waits(void **state) {
        seen v = {};
        run("echo out; (sleep 1 &) ; exit 0", true, 300, &v);
        assert_int_equal(v.ended, 0);
        assert_string_equal(v.out, "out\n");
}

/* Freed from inside read(): no callback after that, nothing left running. */
static void test_free_inside_read(void **state) {
        seen v = { .free_on_out = true };
        run("echo out; exec sleep 30", true, 5000, &v);
        assert_int_equal(v.ended, 0);
        assert_string_equal(v.out, "out\n");
}

/* Killed at a deadline: what it wrote is read, then the end, as for an exit by SIGKILL. */
static void test_kill(void **state) {
        seen v = {};
        run_kill("echo out; exec sleep 30", true, 300, true, &v);
        assert_int_equal(v.ended, 1);
        assert_int_equal(v.r, 0);
        assert_true(WIFSIGNALED(v.status));
        assert_int_equal(WTERMSIG(v.status), SIGKILL);
        assert_string_equal(v.out, "out\n");
}

int main(void) {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_streams_and_status),
                cmocka_unit_test(test_exit_without_eof),
                cmocka_unit_test(test_wait_eof_waits),
                cmocka_unit_test(test_free_inside_read),
                cmocka_unit_test(test_kill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
