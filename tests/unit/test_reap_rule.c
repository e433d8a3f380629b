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
                cmocka_unit_test(test_budget),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
