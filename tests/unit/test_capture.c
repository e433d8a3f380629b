/* capture_run (monitor/base/capture.c): output kept, stderr's start kept, deadline and cap end the child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../../monitor/base/capture.h"

static void test_output_and_status(void **state) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo out; echo err >&2; exit 3", NULL };
        capture c;
        assert_int_equal(capture_run(argv, NULL, 1024, 5 * USEC_PER_SEC, &c), 0);
        assert_string_equal(c.out, "out\n");
        assert_int_equal(c.out_len, 4);
        assert_string_equal(c.err, "err\n");
        assert_true(WIFEXITED(c.status));
        assert_int_equal(WEXITSTATUS(c.status), 3);
        capture_done(&c);
}

/* A child that never ends is killed at the deadline and reaped. */
static void test_deadline(void **state) {
        char *argv[] = { (char *) "/bin/sleep", (char *) "30", NULL };
        capture c;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(capture_run(argv, NULL, 1024, 200 * USEC_PER_MSEC, &c), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true(WIFSIGNALED(c.status));
        assert_int_equal(WTERMSIG(c.status), SIGKILL);
        assert_true(b.tv_sec - a.tv_sec < 10);
        capture_done(&c);
}

/* Endless output stops at the cap, and stderr is cut to its start. */
static void test_caps(void **state) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "head -c 5000 /dev/zero | tr '\\0' x >&2; exec yes", NULL };
        capture c;
        assert_int_equal(capture_run(argv, NULL, 4096, 20 * USEC_PER_SEC, &c), -EFBIG);
        assert_true(c.out_len > 4096);
        assert_int_equal(strlen(c.err), CAPTURE_STDERR_MAX - 1);
        capture_done(&c);
}

static void test_not_absolute(void **state) {
        char *argv[] = { (char *) "sh", NULL };
        capture c;
        assert_int_equal(capture_run(argv, NULL, 16, USEC_PER_SEC, &c), -EINVAL);
        capture_done(&c);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_output_and_status),
                cmocka_unit_test(test_deadline),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_not_absolute),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
