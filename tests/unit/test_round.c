/* The round's pure rules and the way events leave it: round_next_step (guard, sweep or heal after a probe),
 * round_wants_another_probe (one verdict per run), monitor_emit / monitor_guard / monitor_flush_events
 * through the sink, and the alert each event becomes (alert_event_from_monitor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/round.h"
#include "fake_monitor.h"

#define SEC USEC_PER_SEC

/* What the sink received, copied (the strings it is handed live only as long as the call). */
typedef struct seen {
        tunnel_event event[16];
        char name[16][64];
        char reason[16][400];
        usec_t timestamp[16];
        size_t n;
} seen;

static void record(const monitor *m, const monitor_event *ev, void *userdata) {
        seen *s = userdata;
        assert_true(s->n < ELEMENTSOF(s->event));
        assert_non_null(ev->reason);
        s->event[s->n] = ev->event;
        snprintf(s->name[s->n], sizeof s->name[0], "%s", ev->tunnel ? ev->tunnel->name : "-");
        snprintf(s->reason[s->n], sizeof s->reason[0], "%s", ev->reason);
        s->timestamp[s->n] = ev->timestamp;
        s->n++;
}

static void test_next_step(void **state) {
        assert_int_equal(round_next_step(false, true, 5, false), ROUND_STEP_GUARD);
        assert_int_equal(round_next_step(false, false, 1, true), ROUND_STEP_GUARD);
        /* 2+ tunnels and the guard on: the others are probed before anything is restarted. */
        assert_int_equal(round_next_step(true, true, 2, false), ROUND_STEP_SWEEP);
        assert_int_equal(round_next_step(true, true, 1000, false), ROUND_STEP_SWEEP);
        /* One tunnel, the guard off, or a dry run: nothing to ask the others, heal (or say so) at once. */
        assert_int_equal(round_next_step(true, true, 1, false), ROUND_STEP_HEAL);
        assert_int_equal(round_next_step(true, false, 3, false), ROUND_STEP_HEAL);
        assert_int_equal(round_next_step(true, true, 3, true), ROUND_STEP_HEAL);
}

static const monitor_settings settings = { .interval = 10 * SEC, .timeout = 5 * SEC, .failures = 2, .grace = 3 * SEC };

static tunnel *probed(tunnel *t, probe_status status, tunnel_state st, unsigned failures, unsigned attempts) {
        t->settings = &settings;
        t->probed = true;
        t->last_probe.status = status;
        t->last_verdict.state = st;
        t->health.consecutive_failures = failures;
        t->attempts = attempts;
        return t;
}

static void test_wants_another_probe(void **state) {
        monitor m = {};
        tunnel *t = fake_monitor_add(&m, &(fake_tunnel) { .name = "a.service", .bastion = "b", .forward = "x:1" });
        t->settings = &settings;

        assert_true(round_wants_another_probe(t, false));  /* no verdict yet */
        t->running = (struct probe *) 1;
        assert_true(round_wants_another_probe(t, false));  /* running, never probed: still owed */
        probed(t, PROBE_TIMEOUT, TUNNEL_UP, 1, 1);
        assert_false(round_wants_another_probe(t, false)); /* running: its own landing says */
        t->running = NULL;

        /* One failure below monitor.failures leaves it UP: probe again (about a second later). */
        assert_true(round_wants_another_probe(probed(t, PROBE_TIMEOUT, TUNNEL_UP, 1, 1), false));
        /* Declared down: this run's verdict. */
        assert_false(round_wants_another_probe(probed(t, PROBE_TIMEOUT, TUNNEL_DOWN, 2, 2), false));
        assert_false(round_wants_another_probe(probed(t, PROBE_UNIT_DOWN, TUNNEL_FAILED, 1, 1), false));
        assert_false(round_wants_another_probe(probed(t, PROBE_OK, TUNNEL_UP, 0, 1), false));
        /* In its grace: STARTING until the grace is spent, bounded by failures + grace seconds + 2. */
        assert_true(round_wants_another_probe(probed(t, PROBE_REFUSED, TUNNEL_STARTING, 0, 6), false));
        assert_false(round_wants_another_probe(probed(t, PROBE_REFUSED, TUNNEL_STARTING, 0, 7), false));
        /* Unresolved: probing again changes nothing. */
        t->resolved = false;
        assert_false(round_wants_another_probe(probed(t, PROBE_ERROR, TUNNEL_UNKNOWN, 0, 1), false));
        t->resolved = true;

        /* Verify (restarted in this run): the first look is owed whatever was seen before. */
        assert_true(round_wants_another_probe(probed(t, PROBE_OK, TUNNEL_UP, 0, 0), true));
        assert_true(round_wants_another_probe(probed(t, PROBE_TIMEOUT, TUNNEL_UP, 0, 1), true));
        assert_false(round_wants_another_probe(probed(t, PROBE_TIMEOUT, TUNNEL_DOWN, 0, 1), true));
        assert_false(round_wants_another_probe(probed(t, PROBE_OK, TUNNEL_UP, 0, 1), true));
        fake_monitor_done(&m);
}

static void test_emit_through_sink(void **state) {
        seen s = {};
        monitor m = { .sink = record, .sink_userdata = &s, .dry_run = true };
        snprintf(m.host, sizeof m.host, "h1");
        tunnel *t = fake_monitor_add(&m, &(fake_tunnel) { .name = "a.service", .bastion = "b1", .forward = "localhost:21022" });
        snprintf(t->reason_text, sizeof t->reason_text, "timeout: no banner");
        t->last_verdict.action = HEAL_RESTART;

        usec_t before = now_usec(CLOCK_REALTIME);
        monitor_emit(&m, t, EVENT_RESTARTED | EVENT_DOWN);
        monitor_emit(&m, NULL, EVENT_NETWORK_DOWN | EVENT_NETWORK_UP);
        assert_int_equal(s.n, 4);
        /* In bit order, one event per bit. */
        assert_int_equal(s.event[0], EVENT_DOWN);
        assert_string_equal(s.name[0], "a.service");
        assert_string_equal(s.reason[0], "timeout: no banner (dry run: would restart)");
        assert_true(s.timestamp[0] >= before);
        assert_int_equal(s.event[1], EVENT_RESTARTED);
        assert_string_equal(s.reason[1], "timeout: no banner");
        assert_int_equal(s.event[2], EVENT_NETWORK_DOWN);
        assert_string_equal(s.name[2], "-");
        assert_string_equal(s.reason[2], "every tunnel failed its probe at once");
        assert_int_equal(s.event[3], EVENT_NETWORK_UP);
        assert_string_equal(s.reason[3], "");

        /* No sink (status): the journal line only. */
        m.sink = NULL;
        monitor_emit(&m, t, EVENT_DOWN);
        assert_int_equal(s.n, 4);
        fake_monitor_done(&m);
}

static void test_alert_from_event(void **state) {
        monitor m = {};
        snprintf(m.host, sizeof m.host, "h1");
        tunnel *t = fake_monitor_add(&m, &(fake_tunnel) { .name = "a.service", .bastion = "b1", .forward = "localhost:21022" });
        t->health.n_restarts = 3;
        alert_event ev;

        alert_event_from_monitor(&m, &(monitor_event) { .event = EVENT_DOWN, .tunnel = t, .reason = "r", .timestamp = 7 },
                                 &ev);
        assert_int_equal(ev.event, EVENT_DOWN);
        assert_string_equal(ev.name, "a.service");
        assert_string_equal(ev.bastion, "b1");
        assert_string_equal(ev.forward, "localhost:21022");
        assert_string_equal(ev.reason, "r");
        assert_string_equal(ev.host, "h1");
        assert_int_equal(ev.restarts, 3);
        assert_int_equal(ev.timestamp, 7);

        /* Unresolved: no bastion to name. Host-wide: no unit at all. */
        t->resolved = false;
        alert_event_from_monitor(&m, &(monitor_event) { .event = EVENT_DOWN, .tunnel = t, .reason = "" }, &ev);
        assert_string_equal(ev.bastion, "");
        alert_event_from_monitor(&m, &(monitor_event) { .event = EVENT_NETWORK_UP, .reason = "" }, &ev);
        assert_string_equal(ev.name, "");
        assert_string_equal(ev.bastion, "");
        assert_string_equal(ev.forward, "");
        assert_int_equal(ev.restarts, 0);
        fake_monitor_done(&m);
}

/* Every tunnel's last probe failed: the guard cancels the restarts, and what leaves the round is one
 * network_down, the tunnels' own downs folded into it; when one answers again, one network_up. */
static void test_guard_and_fold_through_sink(void **state) {
        seen s = {};
        config cfg = { .heal = { .enabled = true, .all_down_guard = true } };
        monitor m = { .cfg = &cfg, .sink = record, .sink_userdata = &s };
        usec_t now = now_usec(CLOCK_REALTIME);

        for (int i = 0; i < 2; i++) {
                tunnel *t = fake_monitor_add(&m, &(fake_tunnel) {
                        .name = i ? "b.service" : "a.service", .bastion = "b", .forward = "x:1", .probed = true,
                        .state = TUNNEL_DOWN });
                t->last_probe.status = PROBE_TIMEOUT;
                t->last_verdict = (verdict) { .state = TUNNEL_DOWN, .action = HEAL_RESTART, .reason = PROBE_TIMEOUT,
                                              .restart_reason = "probe" };
                t->health.announced_down = true;
                t->pending_events = EVENT_DOWN;
                t->verdict_began = now - 2 * SEC;
        }
        monitor_guard(&m);
        assert_true(m.guard.network_down);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.event[0], EVENT_NETWORK_DOWN);
        for (size_t i = 0; i < m.n_tunnels; i++) {
                assert_int_equal(m.tunnels[i]->last_verdict.action, HEAL_NONE);
                assert_int_equal(m.tunnels[i]->pending_events, 0);
                assert_true(m.tunnels[i]->health.down_silenced);
        }

        /* Still all down: nothing new. */
        monitor_guard(&m);
        assert_int_equal(s.n, 1);

        /* a answers again (its recovered is what network_up says); b, probed since, is still down: its own
         * down is news now. */
        tunnel *a = m.tunnels[0], *b = m.tunnels[1];
        a->last_probe.status = PROBE_OK;
        a->last_verdict = (verdict) { .state = TUNNEL_UP };
        a->health.announced_down = false;
        a->pending_events = EVENT_RECOVERED;
        b->verdict_began = now_usec(CLOCK_REALTIME) + SEC;
        monitor_guard(&m);
        assert_false(m.guard.network_down);
        assert_int_equal(s.n, 3);
        assert_int_equal(s.event[1], EVENT_NETWORK_UP);
        assert_int_equal(s.event[2], EVENT_DOWN);
        assert_string_equal(s.name[2], "b.service");
        fake_monitor_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_next_step),
                cmocka_unit_test(test_wants_another_probe),
                cmocka_unit_test(test_emit_through_sink),
                cmocka_unit_test(test_alert_from_event),
                cmocka_unit_test(test_guard_and_fold_through_sink),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
