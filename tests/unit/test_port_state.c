/* The bastion's verdict on one port (monitor/bastion/port_state.c): states, hysteresis, host events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/bastion/port_state.h"

static const port_observation UP = { .looked = true, .listener = true, .probe_ok = true };
static const port_observation STALE = { .looked = true, .listener = true, .probe_ok = false };
static const port_observation ABSENT = { .looked = true, .listener = false };
static const port_observation BLIND = { .looked = false };

static void test_names(void **state) {
        const char *names[] = { "up", "stale", "absent", "unknown" };
        for (int i = 0; i < _PORT_STATE_MAX; i++) {
                assert_string_equal(port_state_to_string(i), names[i]);
                assert_int_equal(port_state_from_string(names[i]), i);
        }
        assert_int_equal(port_state_from_string("down"), _PORT_STATE_INVALID);
        assert_null(port_state_to_string(_PORT_STATE_MAX));
}

/* A table of rounds: observation in, state and events out, failures = 2. */
static void test_sequences(void **state) {
        static const struct {
                const char *what;
                const port_observation *seq[6];
                port_state want[6];
                unsigned events[6];
        } t[] = {
                { "up and staying", { &UP, &UP, &UP }, { PORT_UP, PORT_UP, PORT_UP }, { 0, 0, 0 } },
                { "up, then one slow answer: not stale yet, no alert",
                  { &UP, &STALE, &UP }, { PORT_UP, PORT_UP, PORT_UP }, { 0, 0, 0 } },
                { "up, then a dead session: stale after 2, host_down once, host_up once",
                  { &UP, &STALE, &STALE, &STALE, &UP, &UP },
                  { PORT_UP, PORT_UP, PORT_STALE, PORT_STALE, PORT_UP, PORT_UP },
                  { 0, 0, PORT_EVENT_HOST_DOWN, 0, PORT_EVENT_HOST_UP, 0 } },
                { "up, then gone: absent at once, host_down after 2",
                  { &UP, &ABSENT, &ABSENT, &ABSENT, &UP },
                  { PORT_UP, PORT_ABSENT, PORT_ABSENT, PORT_ABSENT, PORT_UP },
                  { 0, 0, PORT_EVENT_HOST_DOWN, 0, PORT_EVENT_HOST_UP } },
                { "never connected: absent, never news",
                  { &ABSENT, &ABSENT, &ABSENT, &ABSENT }, { PORT_ABSENT, PORT_ABSENT, PORT_ABSENT, PORT_ABSENT },
                  { 0, 0, 0, 0 } },
                { "first look finds a listener that does not answer: stale at once, no alert (never seen up)",
                  { &STALE, &STALE, &STALE }, { PORT_STALE, PORT_STALE, PORT_STALE }, { 0, 0, 0 } },
                { "stale then absent (session ended) then back",
                  { &UP, &STALE, &STALE, &ABSENT, &UP },
                  { PORT_UP, PORT_UP, PORT_STALE, PORT_ABSENT, PORT_UP },
                  { 0, 0, PORT_EVENT_HOST_DOWN, 0, PORT_EVENT_HOST_UP } },
                { "could not look: unknown, counts kept",
                  { &UP, &STALE, &BLIND, &STALE },
                  { PORT_UP, PORT_UP, PORT_UNKNOWN, PORT_STALE },
                  { 0, 0, 0, PORT_EVENT_HOST_DOWN } },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                port_health h = { .state = PORT_UNKNOWN };
                for (size_t r = 0; r < 6 && t[i].seq[r]; r++) {
                        unsigned e = port_decide(&h, t[i].seq[r], 2);
                        if (h.state != t[i].want[r] || e != t[i].events[r])
                                fail_msg("%s: round %zu: state %s events %u, want %s events %u", t[i].what, r + 1,
                                         port_state_to_string(h.state), e, port_state_to_string(t[i].want[r]),
                                         t[i].events[r]);
                }
        }
}

/* failures = 1 (or 0, read as 1): the first miss is news. */
static void test_threshold_one(void **state) {
        port_health h = { .state = PORT_UNKNOWN };
        assert_int_equal(port_decide(&h, &UP, 0), 0);
        assert_int_equal(port_decide(&h, &STALE, 0), PORT_EVENT_HOST_DOWN);
        assert_int_equal(h.state, PORT_STALE);
        assert_int_equal(port_decide(&h, &STALE, 1), 0);
        assert_int_equal(port_decide(&h, &UP, 1), PORT_EVENT_HOST_UP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_sequences),
                cmocka_unit_test(test_threshold_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
