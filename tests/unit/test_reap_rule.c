/* The reaper's rule (monitor/bastion/reap_rule.c): the kernel's word that a host is gone, and the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/bastion/reap_rule.h"

static void test_evidence(void **state) {
        static const struct {
                const char *what;
                port_state state;
                tcp_view v;
                bool reap;
        } t[] = {
                { "dead peer: data unacked for 12 s", PORT_STALE, { .valid = true, .unacked = 3, .last_ack_age_seconds = 12 }, true },
                { "dead peer: backoff 3 already", PORT_STALE, { .valid = true, .unacked = 1, .last_ack_age_seconds = 3, .backoff = 3 }, true },
                { "slow sshd, live kernel: nothing unacked, however old the last ACK", PORT_STALE,
                  { .valid = true, .unacked = 0, .last_ack_age_seconds = 600 }, false },
                { "data in flight but recently ACKed", PORT_STALE, { .valid = true, .unacked = 2, .last_ack_age_seconds = 1.5, .backoff = 1 }, false },
                { "just under the silence bound", PORT_STALE, { .valid = true, .unacked = 2, .last_ack_age_seconds = 9.9, .backoff = 2 }, false },
                { "backoff 3 with nothing counted unacked (the half-open lab fault looks so)", PORT_STALE,
                  { .valid = true, .unacked = 0, .last_ack_age_seconds = 3.2, .backoff = 3 }, true },
                { "backoff 2: not yet", PORT_STALE, { .valid = true, .unacked = 0, .last_ack_age_seconds = 1.2, .backoff = 2 }, false },
                { "up port: never, whatever TCP says", PORT_UP, { .valid = true, .unacked = 3, .last_ack_age_seconds = 60, .backoff = 6 }, false },
                { "absent port: nothing to end", PORT_ABSENT, { .valid = true, .unacked = 3, .last_ack_age_seconds = 60 }, false },
                { "no view of the connection: no evidence", PORT_STALE, { .valid = false, .unacked = 3, .last_ack_age_seconds = 60 }, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char why[160];
                bool r = reap_evidence(t[i].state, &t[i].v, why, sizeof why);
                if (r != t[i].reap)
                        fail_msg("%s: got %d", t[i].what, r);
                assert_true(r == (why[0] != 0));
        }
        char why[160];
        tcp_view v = { .valid = true, .unacked = 3, .last_ack_age_seconds = 12, .backoff = 4 };
        assert_true(reap_evidence(PORT_STALE, &v, why, sizeof why));
        assert_string_equal(why, "no ACK from the host for 12 s, 3 segments unacked, retransmission backoff 4");
}

/* A claimed port (sshd refused the host's new session its listen): one failed probe is stale enough, for
 * REAP_CLAIM_WINDOW; never without a listener, never when the probe answered, never for an old claim. */
static void test_claimed_state(void **state) {
        usec_t now = 500 * USEC_PER_SEC, c = now - 3 * USEC_PER_SEC;
        assert_int_equal(reap_state(PORT_UP, true, false, c, now), PORT_STALE);
        assert_int_equal(reap_state(PORT_UNKNOWN, true, false, c, now), PORT_STALE);
        assert_int_equal(reap_state(PORT_UP, true, true, c, now), PORT_UP);         /* it answered: alive */
        assert_int_equal(reap_state(PORT_ABSENT, false, false, c, now), PORT_ABSENT); /* nothing holds it */
        assert_int_equal(reap_state(PORT_UP, true, false, 0, now), PORT_UP);        /* no claim */
        assert_int_equal(reap_state(PORT_UP, true, false, now - REAP_CLAIM_WINDOW, now), PORT_STALE);
        assert_int_equal(reap_state(PORT_UP, true, false, now - REAP_CLAIM_WINDOW - 1, now), PORT_UP);
        assert_int_equal(reap_state(PORT_UP, true, false, now + 1, now), PORT_UP); /* a clock that went back */
        assert_int_equal(reap_state(PORT_STALE, true, false, 0, now), PORT_STALE); /* stale stays stale */
        /* And the kernel still decides: a claimed live host (ACKs arriving) is no evidence. */
        char why[160];
        tcp_view live = { .valid = true, .unacked = 0, .last_ack_age_seconds = 0.2 };
        assert_false(reap_evidence(reap_state(PORT_UP, true, false, c, now), &live, why, sizeof why));
}

static void test_budget(void **state) {
        reap_budget b = {};
        usec_t t0 = 1000 * USEC_PER_SEC;
        for (int i = 0; i < REAP_BUDGET; i++) {
                assert_true(reap_budget_allows(&b, t0 + i * USEC_PER_SEC));
                reap_budget_spend(&b, t0 + i * USEC_PER_SEC);
        }
        assert_false(reap_budget_allows(&b, t0 + 10 * USEC_PER_SEC));
        assert_false(reap_budget_allows(&b, t0 + REAP_WINDOW - 1));
        /* the first reap leaves the window: one more is allowed, then none until the next leaves */
        assert_true(reap_budget_allows(&b, t0 + REAP_WINDOW));
        reap_budget_spend(&b, t0 + REAP_WINDOW);
        assert_false(reap_budget_allows(&b, t0 + REAP_WINDOW + 1));
        assert_true(reap_budget_allows(&b, t0 + REAP_WINDOW + USEC_PER_SEC));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_evidence),
                cmocka_unit_test(test_claimed_state),
                cmocka_unit_test(test_budget),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
