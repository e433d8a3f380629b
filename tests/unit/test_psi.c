/* probes/psi.c: /proc/pressure/cpu parsed, the stall share of a probe's time, and the starved rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../probes/probe_result.h"
#include "../../probes/psi.h"

static void test_parse(void **state) {
        uint64_t n = 7;
        /* Linux 6.1, as the file reads (the "full" line follows on kernels >= 5.13). */
        assert_int_equal(psi_parse_some_total("some avg10=0.21 avg60=4.62 avg300=8.11 total=15336644939\n"
                                              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &n), 0);
        assert_int_equal(n, 15336644939ULL);
        assert_int_equal(psi_parse_some_total("some avg10=0.00 avg60=0.00 avg300=0.00 total=0", &n), 0);
        assert_int_equal(n, 0);
        static const char *const bad[] = {
                "", "full avg10=0.00 total=5\n", "some avg10=0.00\n", "some total=\n", "some total=12x\n",
                "some avg10=1\nfull total=5\n", "some total=99999999999999999999\n", "some total=-1\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                n = 7;
                assert_int_equal(psi_parse_some_total(bad[i], &n), -EINVAL);
                assert_int_equal(n, 7);
        }
        assert_int_equal(psi_parse_some_total(NULL, &n), -EINVAL);
}

static void test_share(void **state) {
        assert_true(psi_share(1000, 1000, USEC_PER_SEC) == 0);
        assert_true(psi_share(0, 500000, USEC_PER_SEC) == 0.5);
        assert_true(psi_share(0, 3 * USEC_PER_SEC, USEC_PER_SEC) == 1); /* several CPUs' waits: capped */
        assert_true(psi_share(10, 5, USEC_PER_SEC) < 0);                 /* went backwards: unknown */
        assert_true(psi_share(0, 5, 0) < 0);
}

static void test_live(void **state) {
        uint64_t a, b;
        /* Debian 12's kernel has PSI on: a machine without it never holds a timeout (cpu_stall unknown). */
        assert_int_equal(psi_cpu_some_total(&a), 0);
        assert_int_equal(psi_cpu_some_total(&b), 0);
        assert_true(b >= a);
}

static void test_starved_rule(void **state) {
        probe_result r = { .status = PROBE_TIMEOUT, .cpu_stall = 0.8, .tcp = { .valid = true, .unacked = 0 } };
        assert_true(probe_result_starved(&r));
        r.tcp.unacked = 1; /* the bastion has not acknowledged what was sent: the path may be dead */
        assert_false(probe_result_starved(&r));
        r.tcp.unacked = 0;
        r.tcp.queued = 120; /* written, never sent (dropped on the way out): nothing shows the path alive */
        assert_false(probe_result_starved(&r));
        r.tcp.queued = 0;
        r.tcp.valid = false; /* no view of the connection: nothing shows the path alive */
        assert_false(probe_result_starved(&r));
        r.tcp.valid = true;
        r.cpu_stall = 0.2;
        assert_false(probe_result_starved(&r));
        r.cpu_stall = -1; /* unknown */
        assert_false(probe_result_starved(&r));
        r.cpu_stall = 0.8;
        r.status = PROBE_REFUSED; /* an answer, however slow */
        assert_false(probe_result_starved(&r));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_share),
                cmocka_unit_test(test_live),
                cmocka_unit_test(test_starved_rule),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
