/* decide(): hysteresis, grace, backoff, budget, events and the all-down guard, driven step by step. */
#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../monitor/decide.h"

#define SEC USEC_PER_SEC
#define MIN_ (60 * SEC)
#define T0 ((usec_t) 1700000000 * SEC) /* a realistic realtime "now" */

static heal_policy policy(void) {
        return (heal_policy) {
                .failures = 2,
                .grace = 20 * SEC,
                .enabled = true,
                .backoff = 10 * SEC,
                .backoff_max = 10 * MIN_,
                .max_restarts = 5,
                .window = 60 * MIN_,
        };
}

static observation obs(unit_active_state a, probe_status s) {
        return (observation) {
                .probeable = true,
                .active_state = a,
                .status = s,
        };
}

static observation active(probe_status s) {
        return obs(UNIT_ACTIVE, s);
}

static tunnel_health health_up(usec_t last_success) {
        tunnel_health h;
        tunnel_health_init(&h);
        h.state = TUNNEL_UP;
        h.last_success = last_success;
        return h;
}

static void test_strings_and_init(void **state) {
        tunnel_health h;

        assert_string_equal(heal_action_to_string(HEAL_NONE), "none");
        assert_string_equal(heal_action_to_string(HEAL_RESTART), "restart");
        assert_string_equal(heal_action_to_string(HEAL_RESET_AND_START), "reset_and_start");
        assert_null(heal_action_to_string(_HEAL_ACTION_MAX));
        assert_null(heal_action_to_string((heal_action) -1));

        memset(&h, 0xff, sizeof(h));
        tunnel_health_init(&h);
        assert_int_equal(h.state, TUNNEL_UNKNOWN);
        assert_int_equal(h.last_failure, PROBE_OK);
        assert_int_equal(h.consecutive_failures, 0);
        assert_int_equal(h.n_restarts, 0);
        assert_int_equal(h.last_success, 0);
        assert_int_equal(h.backoff, 0);
        assert_int_equal(h.next_restart_at, 0);
        assert_false(h.announced_down);
        assert_false(h.gave_up);
}

static void test_not_probeable(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        verdict v;

        o.probeable = false;
        for (int i = 0; i < 5; i++) {
                v = decide(&h, &o, &p, T0 + i * SEC);
                assert_int_equal(v.state, TUNNEL_UNKNOWN);
                assert_int_equal(v.reason, PROBE_ERROR);
                assert_int_equal(v.action, HEAL_NONE);
                assert_int_equal(v.events, 0);
                assert_string_equal(v.why, "not a probeable ssh tunnel");
        }
        assert_int_equal(h.consecutive_failures, 0);
        assert_int_equal(h.state, TUNNEL_UNKNOWN);
}

/* The probe could not look (our own lack of permission): UNKNOWN, nothing done, nothing announced, and the
 * tunnel's history (a failure already counted, an earlier DOWN) left exactly as it was. */
static void test_ours(void **state) {
        heal_policy p = policy();
        observation o = active(PROBE_ERROR);
        o.ours = true;

        for (int down = 0; down < 2; down++) {
                tunnel_health h = health_up(T0);
                if (down) {
                        h.state = TUNNEL_DOWN;
                        h.announced_down = true;
                        h.consecutive_failures = 3;
                        h.failing_since = T0;
                } else
                        h.consecutive_failures = 1;
                tunnel_health before = h;
                for (int i = 0; i < 10; i++) {
                        verdict v = decide(&h, &o, &p, T0 + (usec_t) i * 60 * SEC);
                        assert_int_equal(v.state, TUNNEL_UNKNOWN);
                        assert_int_equal(v.reason, PROBE_ERROR);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_int_equal(v.events, 0);
                }
                assert_memory_equal(&h, &before, sizeof h);
        }
}

/* failures=N: N-1 failed probes keep the previous state, the Nth declares DOWN and restarts. */
static void test_hysteresis(void **state) {
        static const struct {
                unsigned failures;
                tunnel_state initial;
        } table[] = {
                { 1, TUNNEL_UP }, { 2, TUNNEL_UP }, { 3, TUNNEL_UP },
                { 1, TUNNEL_UNKNOWN }, { 2, TUNNEL_UNKNOWN }, { 3, TUNNEL_UNKNOWN },
                { 3, TUNNEL_STARTING },
                { 0, TUNNEL_UP }, /* 0 is treated as 1 */
        };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                heal_policy p = policy();
                tunnel_health h = health_up(T0);
                observation o = active(PROBE_TIMEOUT);
                unsigned n = table[t].failures ?: 1;
                verdict v;

                p.failures = table[t].failures;
                h.state = table[t].initial;
                for (unsigned i = 1; i < n; i++) {
                        v = decide(&h, &o, &p, T0 + i * SEC);
                        assert_int_equal(v.state, table[t].initial);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_int_equal(v.events, 0);
                        assert_int_equal(v.reason, table[t].initial == TUNNEL_UP ? PROBE_OK : PROBE_TIMEOUT);
                        assert_int_equal(h.consecutive_failures, i);
                        assert_int_equal(h.last_failure, PROBE_TIMEOUT);
                }
                v = decide(&h, &o, &p, T0 + n * SEC);
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.reason, PROBE_TIMEOUT);
                assert_int_equal(v.action, HEAL_RESTART);
                assert_string_equal(v.restart_reason, "probe");
                assert_int_equal(v.events, EVENT_DOWN);
                assert_int_equal(h.state, TUNNEL_DOWN);
                assert_true(h.announced_down);
        }
}

/* Timeouts on a starved host with an acknowledged connection: not counted, no restart, for at most
 * DECIDE_STARVED_HOLD_MAX from the first; then counted as any; a success opens a new hold. */
static void test_starved_timeouts_held(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        o.starved = true;
        verdict v;

        usec_t t = T0;
        for (; t < T0 + DECIDE_STARVED_HOLD_MAX; t += 10 * SEC) {
                v = decide(&h, &o, &p, t);
                assert_int_equal(v.state, TUNNEL_UP);
                assert_int_equal(v.reason, PROBE_OK);
                assert_int_equal(v.action, HEAL_NONE);
                assert_int_equal(v.events, 0);
                assert_int_equal(h.consecutive_failures, 0);
        }
        assert_int_equal(h.starved_since, T0);
        /* The hold is spent: counted, down after monitor.failures, restarted. */
        v = decide(&h, &o, &p, t);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(h.consecutive_failures, 1);
        v = decide(&h, &o, &p, t + 10 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_RESTART);
        assert_int_equal(v.events, EVENT_DOWN);

        /* A success ends the hold; the next starvation gets a whole one. */
        o.status = PROBE_OK;
        o.starved = false;
        decide(&h, &o, &p, t + 20 * SEC);
        assert_int_equal(h.starved_since, 0);
        o.status = PROBE_TIMEOUT;
        o.starved = true;
        v = decide(&h, &o, &p, t + 30 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(h.consecutive_failures, 0);

        /* Not starved, or not a timeout kind of failure: counted at once, as ever. */
        h = health_up(T0);
        o = active(PROBE_TIMEOUT);
        decide(&h, &o, &p, T0);
        v = decide(&h, &o, &p, T0 + SEC);
        assert_int_equal(v.action, HEAL_RESTART);

        /* A held timeout keeps a DOWN tunnel down (its restart waits), and keeps its history. */
        h = health_up(T0);
        h.state = TUNNEL_DOWN;
        h.consecutive_failures = 5;
        o.starved = true;
        v = decide(&h, &o, &p, T0);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(h.consecutive_failures, 5);
}

static void test_success_resets_count(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation fail = active(PROBE_REFUSED), ok = active(PROBE_OK);
        verdict v;

        p.failures = 2;
        v = decide(&h, &fail, &p, T0 + 1 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        v = decide(&h, &ok, &p, T0 + 2 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.events, 0);
        assert_int_equal(h.consecutive_failures, 0);
        assert_int_equal(h.last_failure, PROBE_OK);
        assert_int_equal(h.last_success, T0 + 2 * SEC);
        v = decide(&h, &fail, &p, T0 + 3 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(h.consecutive_failures, 1);
}

static void test_grace_boundaries(void **state) {
        static const struct {
                usec_t started;      /* unit_started_at */
                usec_t now;
                usec_t last_success;
                bool in_grace;
        } table[] = {
                { T0, T0, 0, true },
                { T0, T0 + 20 * SEC - 1, 0, true },               /* last usec of grace */
                { T0, T0 + 20 * SEC, 0, false },                  /* grace over exactly */
                { T0, T0 + 5 * SEC, T0 - 1, true },               /* success before this start */
                { T0, T0 + 5 * SEC, T0, false },                  /* success since this start */
                { T0, T0 + 5 * SEC, T0 + 1 * SEC, false },
                { 0, T0, 0, false },                              /* start time unknown: no grace */
        };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                heal_policy p = policy();
                tunnel_health h = health_up(table[t].last_success);
                observation o = active(PROBE_TIMEOUT);
                verdict v;

                p.failures = 1;
                o.unit_started_at = table[t].started;
                v = decide(&h, &o, &p, table[t].now);
                if (table[t].in_grace) {
                        assert_int_equal(v.state, TUNNEL_STARTING);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_string_equal(v.why, "grace");
                        assert_int_equal(v.events, 0);
                        assert_int_equal(h.consecutive_failures, 0);
                        assert_int_equal(h.state, TUNNEL_STARTING);
                } else {
                        assert_int_equal(v.state, TUNNEL_DOWN);
                        assert_int_equal(v.action, HEAL_RESTART);
                        assert_int_equal(h.consecutive_failures, 1);
                }
        }
}

/* A success inside grace ends it: the next failure counts at once. */
static void test_success_inside_grace(void **state) {
        heal_policy p = policy();
        tunnel_health h;
        observation o = active(PROBE_OK);
        verdict v;

        tunnel_health_init(&h);
        p.failures = 1;
        o.unit_started_at = T0;
        v = decide(&h, &o, &p, T0 + 2 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.events, 0); /* never announced down: nothing recovered */

        o.status = PROBE_TIMEOUT;
        v = decide(&h, &o, &p, T0 + 3 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_RESTART);
        assert_int_equal(v.events, EVENT_DOWN);
}

static void test_activating(void **state) {
        static const unit_active_state table[] = { UNIT_ACTIVATING, UNIT_DEACTIVATING, UNIT_RELOADING,
                                                   _UNIT_ACTIVE_STATE_INVALID };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                heal_policy p = policy();
                tunnel_health h = health_up(T0);
                observation o = obs(table[t], PROBE_UNIT_DOWN);
                verdict v;

                p.failures = 1;
                /* Within the grace of the first failure (T0+1s): systemd is busy, no verdict. */
                for (int i = 1; i <= 20; i++) {
                        v = decide(&h, &o, &p, T0 + i * SEC);
                        assert_int_equal(v.state, TUNNEL_STARTING);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_int_equal(v.events, 0);
                        assert_string_equal(v.why, "unit is activating");
                        assert_int_equal(h.consecutive_failures, 0);
                }
                /* Failing for the whole grace: DOWN, announced once, never restarted by us. */
                for (int i = 21; i <= 30; i++) {
                        v = decide(&h, &o, &p, T0 + i * SEC);
                        assert_int_equal(v.state, TUNNEL_DOWN);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_int_equal(v.events, i == 21 ? EVENT_DOWN : 0);
                        assert_string_equal(v.why, "systemd keeps restarting the unit");
                }
        }
}

/* Bastion gone: ssh exits, systemd restarts it every few seconds, every probe fails. Each start would
 * open a new grace; the grace is bounded by the first failure instead, so the tunnel is declared DOWN. */
static void test_flapping_unit_is_down_after_grace(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        unsigned events = 0;
        verdict v = {};

        for (int i = 1; i <= 40; i++) {
                usec_t now = T0 + i * SEC;
                observation o = active(PROBE_TIMEOUT);
                o.unit_started_at = now - SEC / 2; /* restarted by systemd just now, every time */
                v = decide(&h, &o, &p, now);
                events |= v.events;
                if (i <= 20)
                        assert_int_equal(v.state, TUNNEL_STARTING);
        }
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_true(events & EVENT_DOWN);
}

/* Our own restart opens a fresh grace even for a tunnel that was failing long before. */
static void test_our_restart_opens_fresh_grace(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        verdict v;

        p.failures = 1;
        v = decide(&h, &o, &p, T0 + 100 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_RESTART);
        decide_restarted(&h, &p, T0 + 101 * SEC);
        o.unit_started_at = T0 + 101 * SEC;
        v = decide(&h, &o, &p, T0 + 105 * SEC);
        assert_int_equal(v.state, TUNNEL_STARTING);
        assert_string_equal(v.why, "grace");
        v = decide(&h, &o, &p, T0 + 121 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
}

static void test_admin_stopped(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = obs(UNIT_INACTIVE, PROBE_UNIT_DOWN);
        verdict v;

        for (int i = 1; i <= 10; i++) {
                v = decide(&h, &o, &p, T0 + i * MIN_);
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.reason, PROBE_UNIT_DOWN);
                assert_int_equal(v.action, HEAL_NONE);
                assert_null(v.restart_reason);
                assert_string_equal(v.why, "stopped by administrator, left alone");
                assert_int_equal(v.events, i == 1 ? EVENT_DOWN : 0);
        }
        assert_int_equal(h.n_restarts, 0);
}

static void test_failed_unit(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = obs(UNIT_FAILED, PROBE_UNIT_DOWN);
        verdict v;

        p.failures = 3; /* no hysteresis for a failed unit */
        v = decide(&h, &o, &p, T0 + SEC);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.reason, PROBE_UNIT_DOWN);
        assert_int_equal(v.action, HEAL_RESET_AND_START);
        assert_string_equal(v.restart_reason, "failed");
        assert_int_equal(v.events, EVENT_DOWN);

        assert_int_equal(decide_restarted(&h, &p, T0 + SEC), EVENT_RESTARTED);
        assert_int_equal(h.state, TUNNEL_STARTING);

        /* still failed inside the backoff: no action, no new event */
        o.start_limit_hit = true;
        v = decide(&h, &o, &p, T0 + 5 * SEC);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.action, HEAL_NONE);
        assert_string_equal(v.why, "backoff");
        assert_int_equal(v.events, 0);

        v = decide(&h, &o, &p, T0 + 11 * SEC);
        assert_int_equal(v.action, HEAL_RESET_AND_START);
        assert_string_equal(v.why, "start limit hit: reset and start");
}

static void test_heal_disabled(void **state) {
        static const struct {
                unit_active_state a;
                probe_status s;
                tunnel_state expect;
        } table[] = {
                { UNIT_ACTIVE, PROBE_TIMEOUT, TUNNEL_DOWN },
                { UNIT_ACTIVE, PROBE_PROCESS_STOPPED, TUNNEL_DOWN },
                { UNIT_FAILED, PROBE_UNIT_DOWN, TUNNEL_FAILED },
        };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                heal_policy p = policy();
                tunnel_health h = health_up(T0);
                observation o = obs(table[t].a, table[t].s);
                verdict v;

                p.enabled = false;
                p.failures = 1;
                v = decide(&h, &o, &p, T0 + SEC);
                assert_int_equal(v.state, table[t].expect);
                assert_int_equal(v.action, HEAL_NONE);
                assert_null(v.restart_reason);
                assert_string_equal(v.why, "healing disabled");
                assert_int_equal(v.events, EVENT_DOWN);
                assert_false(h.gave_up);
        }
}

static void test_restart_reasons(void **state) {
        static const struct {
                probe_status s;
                heal_action action;
                const char *reason;
        } table[] = {
                { PROBE_TIMEOUT, HEAL_RESTART, "probe" },
                { PROBE_REFUSED, HEAL_RESTART, "probe" },
                { PROBE_BAD_RESPONSE, HEAL_RESTART, "probe" },
                { PROBE_NO_MASTER, HEAL_RESTART, "probe" },
                { PROBE_ERROR, HEAL_RESTART, "probe" },
                { PROBE_UNIT_DOWN, HEAL_RESTART, "probe" },
                { PROBE_PROCESS_STOPPED, HEAL_RESTART, "stopped" },
                { PROBE_PROHIBITED, HEAL_NONE, NULL },
        };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                heal_policy p = policy();
                tunnel_health h = health_up(T0);
                observation o = active(table[t].s);
                verdict v;

                p.failures = 1;
                v = decide(&h, &o, &p, T0 + SEC);
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.reason, table[t].s);
                assert_int_equal(v.action, table[t].action);
                assert_true(streq_ptr(v.restart_reason, table[t].reason));
        }
}

static void test_prohibited_never_restarts(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_PROHIBITED);
        verdict v;

        for (int i = 1; i <= 200; i++) {
                v = decide(&h, &o, &p, T0 + i * MIN_);
                assert_int_equal(v.action, HEAL_NONE);
                assert_int_equal(v.events, i == 2 ? EVENT_DOWN : 0);
                if (i >= 2) {
                        assert_int_equal(v.state, TUNNEL_DOWN);
                        assert_int_equal(v.reason, PROBE_PROHIBITED);
                        assert_string_equal(v.why, "channel prohibited by the bastion: configuration, not restarted");
                }
        }
        assert_int_equal(h.n_restarts, 0);
        assert_false(h.gave_up);
}

/* Drives a dead tunnel with every proposed restart done: the waits must be 10s, 20s, 40s, capped. */
static void test_backoff_doubling(void **state) {
        static const usec_t waits[] = { 10 * SEC, 20 * SEC, 40 * SEC, 60 * SEC, 60 * SEC, 60 * SEC };
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        usec_t now = T0;
        verdict v;

        p.failures = 1;
        p.grace = 0;
        p.backoff_max = 60 * SEC;
        p.max_restarts = 100;
        v = decide(&h, &o, &p, now);
        assert_int_equal(v.action, HEAL_RESTART);
        for (size_t i = 0; i < ELEMENTSOF(waits); i++) {
                assert_int_equal(decide_restarted(&h, &p, now), EVENT_RESTARTED);
                assert_int_equal(h.next_restart_at, now + waits[i]);
                assert_int_equal(h.consecutive_failures, 0);

                v = decide(&h, &o, &p, now + waits[i] - 1);
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.action, HEAL_NONE);
                assert_string_equal(v.why, "backoff");
                assert_int_equal(v.events, 0);

                now += waits[i];
                v = decide(&h, &o, &p, now);
                assert_int_equal(v.action, HEAL_RESTART);
                assert_int_equal(v.events, 0);
        }
        assert_int_equal(h.n_restarts, ELEMENTSOF(waits));
}

/* The shipped unit (ExitOnForwardFailure=yes): ssh exits on the refused forward and systemd starts it again
 * after RestartSec. listen_busy is DOWN at once (ssh's own word: no hysteresis), and systemd's retry loop is
 * left alone: no restart of ours, none counted, its new runs not cut short; the port frees, the retry binds. */
static void test_listen_busy_systemd_retries(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation busy = obs(UNIT_ACTIVATING, PROBE_LISTEN_BUSY);
        verdict v;

        busy.unit_started_at = T0 + SEC;
        v = decide(&h, &busy, &p, T0 + 2 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.reason, PROBE_LISTEN_BUSY);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(v.events, EVENT_DOWN);
        assert_string_equal(v.why, "the bastion holds the port: systemd retries after RestartSec");

        /* RestartSec=10 apart, for minutes: never a restart of ours, never the budget. */
        usec_t now = T0 + 2 * SEC;
        for (int i = 0; i < 30; i++) {
                usec_t start = now + 10 * SEC; /* systemd's retry */
                observation run = active(PROBE_NO_MASTER);
                run.unit_started_at = start;
                v = decide(&h, &run, &p, start + SEC); /* probed while ssh still connects */
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.action, HEAL_NONE);
                assert_int_equal(v.reason, PROBE_LISTEN_BUSY);
                assert_int_equal(v.events, 0);

                /* The run ssh is leaving as the lookup answers (discovery still says active): not ours either. */
                observation leaving = active(PROBE_LISTEN_BUSY);
                leaving.unit_started_at = start;
                v = decide(&h, &leaving, &p, start + 2 * SEC);
                assert_int_equal(v.action, HEAL_NONE);

                busy.unit_started_at = start;
                v = decide(&h, &busy, &p, start + 3 * SEC);
                assert_int_equal(v.state, TUNNEL_DOWN);
                assert_int_equal(v.action, HEAL_NONE);
                assert_int_equal(v.events, 0);
                now = start;
        }
        assert_int_equal(h.n_restarts, 0);
        assert_false(h.gave_up);

        /* The port freed: the next retry binds. */
        observation ok = active(PROBE_OK);
        ok.unit_started_at = now + 10 * SEC;
        v = decide(&h, &ok, &p, now + 12 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.events, EVENT_RECOVERED);
}

/* ssh without ExitOnForwardFailure runs on without its forward: only we reconnect it. Not before its run's
 * grace (it may be an ExitOnForwardFailure run on its way out), then heal.backoff apart without doubling (the
 * port frees whenever the bastion lets go), every restart counted in the budget: 5 per hour, then gave_up. */
static void test_listen_busy_active_paced(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation busy = active(PROBE_LISTEN_BUSY);
        verdict v;

        p.grace = 5 * SEC; /* below heal.backoff: the pace is the backoff */
        busy.unit_started_at = T0;
        v = decide(&h, &busy, &p, T0 + 2 * SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(v.events, EVENT_DOWN);
        assert_string_equal(v.why, "the bastion holds the port: this run's end or its grace first");

        usec_t now = T0 + 6 * SEC;
        v = decide(&h, &busy, &p, now); /* one observation is enough: no monitor.failures */
        assert_int_equal(v.action, HEAL_RESTART);
        assert_string_equal(v.restart_reason, "probe");
        for (unsigned i = 1; i <= 5; i++) {
                assert_int_equal(decide_restarted(&h, &p, now), EVENT_RESTARTED);
                assert_int_equal(h.n_restarts, i);
                assert_int_equal(h.next_restart_at, now + 10 * SEC); /* never doubled */
                busy.unit_started_at = now;
                v = decide(&h, &busy, &p, now + 9 * SEC);
                assert_int_equal(v.action, HEAL_NONE);
                if (i < 5) {
                        assert_int_equal(v.state, TUNNEL_DOWN);
                        assert_string_equal(v.why, "backoff");
                }
                now += 10 * SEC;
                v = decide(&h, &busy, &p, now);
                if (i < 5) {
                        assert_int_equal(v.action, HEAL_RESTART);
                        assert_int_equal(v.events, 0);
                }
        }
        /* The budget is spent by these restarts like any other (gave_up once, when it ran out). */
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.action, HEAL_NONE);
        assert_true(h.gave_up);
        assert_string_equal(v.why, "restart budget exhausted");

        /* With the default grace (20 s) above heal.backoff, the pace is the grace of each run. */
        p = policy();
        h = health_up(T0);
        busy.unit_started_at = T0;
        now = T0 + 21 * SEC;
        v = decide(&h, &busy, &p, now);
        assert_int_equal(v.action, HEAL_RESTART);
        decide_restarted(&h, &p, now);
        busy.unit_started_at = now;
        v = decide(&h, &busy, &p, now + 15 * SEC);
        assert_int_equal(v.action, HEAL_NONE);
        v = decide(&h, &busy, &p, now + 21 * SEC);
        assert_int_equal(v.action, HEAL_RESTART);

        /* A restart for another reason still doubles. */
        h = health_up(T0);
        decide_restarted(&h, &p, T0);
        assert_int_equal(h.backoff, 20 * SEC);
}

/* systemd gave up on the unit (start limit) while the port was held: reset and start, gated as ever. */
static void test_listen_busy_failed_unit(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = obs(UNIT_FAILED, PROBE_LISTEN_BUSY);

        verdict v = decide(&h, &o, &p, T0);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.reason, PROBE_LISTEN_BUSY);
        assert_int_equal(v.action, HEAL_RESET_AND_START);
        assert_string_equal(v.restart_reason, "failed");
        decide_restarted(&h, &p, T0);
        v = decide(&h, &o, &p, T0 + 5 * SEC);
        assert_int_equal(v.action, HEAL_NONE);
        assert_string_equal(v.why, "backoff");

        /* An administrator's stop stays alone whatever the journal said. */
        h = health_up(T0);
        o = obs(UNIT_INACTIVE, PROBE_LISTEN_BUSY);
        v = decide(&h, &o, &p, T0);
        assert_int_equal(v.action, HEAL_NONE);
}

/* A refused forward proves the bastion answered: it never counts toward "the local network is down". */
static void test_listen_busy_not_network(void **state) {
        guard_state g = {};
        verdict v[2] = {
                { .state = TUNNEL_DOWN, .reason = PROBE_TIMEOUT, .action = HEAL_RESTART },
                { .state = TUNNEL_DOWN, .reason = PROBE_LISTEN_BUSY },
        };

        assert_int_equal(decide_all_down(&g, v, 2, true), 0);
        assert_int_equal(v[0].action, HEAL_RESTART);
        verdict up = { .state = TUNNEL_UP };
        assert_int_equal(decide_guard_view(up, true, PROBE_LISTEN_BUSY).state, TUNNEL_UP);
        assert_int_equal(decide_guard_view(up, true, PROBE_TIMEOUT).state, TUNNEL_DOWN);
}

/* ssh refused the bastion's key: never a restart of ours, never systemd's reset, whatever the unit's state
 * and however long it lasts; DOWN (FAILED once systemd gave up) at once, announced once. */
static void test_host_key_changed_never_restarts(void **state) {
        heal_policy p = policy();
        static const unit_active_state states[] = { UNIT_ACTIVE, UNIT_ACTIVATING, UNIT_FAILED, UNIT_DEACTIVATING };

        for (size_t i = 0; i < ELEMENTSOF(states); i++) {
                tunnel_health h = health_up(T0);
                observation o = obs(states[i], PROBE_HOST_KEY_CHANGED);
                o.unit_started_at = T0 - 60 * SEC;
                for (unsigned k = 0; k < 200; k++) {
                        verdict v = decide(&h, &o, &p, T0 + k * 30 * SEC);
                        assert_int_equal(v.action, HEAL_NONE);
                        assert_null(v.restart_reason);
                        assert_int_equal(v.reason, PROBE_HOST_KEY_CHANGED);
                        assert_int_equal(v.state, states[i] == UNIT_FAILED ? TUNNEL_FAILED : TUNNEL_DOWN);
                        assert_int_equal(v.events, k == 0 ? EVENT_DOWN : 0);
                }
                assert_int_equal(h.n_restarts, 0);
                assert_int_equal(h.last_failure, PROBE_HOST_KEY_CHANGED);
        }

        /* The key accepted and the unit restarted by the operator: up again, recovered once. */
        tunnel_health h = health_up(T0);
        observation o = obs(UNIT_FAILED, PROBE_HOST_KEY_CHANGED);
        decide(&h, &o, &p, T0);
        o = active(PROBE_OK);
        verdict v = decide(&h, &o, &p, T0 + 60 * SEC);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.events, EVENT_RECOVERED);

        /* Someone answered: never "the local network is down", so the other tunnel's restart stands. */
        guard_state g = {};
        verdict both[2] = {
                { .state = TUNNEL_DOWN, .reason = PROBE_TIMEOUT, .action = HEAL_RESTART },
                { .state = TUNNEL_DOWN, .reason = PROBE_HOST_KEY_CHANGED },
        };
        assert_int_equal(decide_all_down(&g, both, 2, true), 0);
        assert_int_equal(both[0].action, HEAL_RESTART);
        verdict up = { .state = TUNNEL_UP };
        assert_int_equal(decide_guard_view(up, true, PROBE_HOST_KEY_CHANGED).state, TUNNEL_UP);
        assert_true(probe_status_proves_answer(PROBE_HOST_KEY_CHANGED));
        assert_false(probe_status_proves_answer(PROBE_TIMEOUT));
        assert_string_equal(probe_status_to_string(PROBE_HOST_KEY_CHANGED), "host_key_changed");
}

static void test_backoff_reset_on_success(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);

        decide_restarted(&h, &p, T0);
        decide_restarted(&h, &p, T0 + MIN_);
        assert_int_equal(h.backoff, 40 * SEC);
        observation ok = active(PROBE_OK);
        decide(&h, &ok, &p, T0 + 2 * MIN_);
        assert_int_equal(h.backoff, 0);
        decide_restarted(&h, &p, T0 + 3 * MIN_);
        assert_int_equal(h.next_restart_at, T0 + 3 * MIN_ + 10 * SEC);
}

/* backoff_max below backoff means no growth; backoff 0 means no waiting at all. */
static void test_backoff_odd_policies(void **state) {
        heal_policy p = policy();
        tunnel_health h;

        tunnel_health_init(&h);
        p.backoff = 30 * SEC;
        p.backoff_max = 0;
        for (int i = 0; i < 3; i++) {
                decide_restarted(&h, &p, T0 + i * MIN_);
                assert_int_equal(h.next_restart_at, T0 + i * MIN_ + 30 * SEC);
        }

        tunnel_health_init(&h);
        p.backoff = 0;
        p.backoff_max = 10 * MIN_;
        for (int i = 0; i < 3; i++) {
                decide_restarted(&h, &p, T0 + i * MIN_);
                assert_int_equal(h.next_restart_at, T0 + i * MIN_);
        }
}

/* max_restarts=3 in 1h: the 4th is refused (FAILED, gave_up once) until the first restart is older
 * than the window; at exactly restart + window it still counts. */
static void test_budget(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        unsigned gave_up = 0;
        verdict v;

        p.failures = 1;
        p.backoff = 0;
        p.max_restarts = 3;
        p.window = 60 * MIN_;

        for (int i = 0; i < 3; i++) {
                v = decide(&h, &o, &p, T0 + i * MIN_);
                assert_int_equal(v.action, HEAL_RESTART);
                assert_int_equal(v.events, i == 0 ? EVENT_DOWN : 0);
                decide_restarted(&h, &p, T0 + i * MIN_);
        }

        for (usec_t now = T0 + 3 * MIN_; now <= T0 + 60 * MIN_; now += MIN_) {
                v = decide(&h, &o, &p, now);
                assert_int_equal(v.state, TUNNEL_FAILED);
                assert_int_equal(v.action, HEAL_NONE);
                assert_string_equal(v.why, "restart budget exhausted");
                assert_int_equal(v.events & EVENT_DOWN, 0);
                if (v.events & EVENT_GAVE_UP)
                        gave_up++;
                assert_true(h.gave_up);
        }
        assert_int_equal(gave_up, 1);

        /* exact boundary: the restart at T0 still counts at T0 + window, is gone one usec later */
        v = decide(&h, &o, &p, T0 + 60 * MIN_);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(h.n_restarts, 3);
        v = decide(&h, &o, &p, T0 + 60 * MIN_ + 1);
        assert_int_equal(h.n_restarts, 2);
        assert_false(h.gave_up);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.action, HEAL_RESTART);
        assert_int_equal(v.events, 0);
        decide_restarted(&h, &p, T0 + 60 * MIN_ + 1);

        /* budget gone again: a second GAVE_UP, since the first was cleared */
        v = decide(&h, &o, &p, T0 + 60 * MIN_ + 2);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.events, EVENT_GAVE_UP);

        /* a success clears gave_up and recovers */
        observation ok = active(PROBE_OK);
        v = decide(&h, &ok, &p, T0 + 61 * MIN_);
        assert_int_equal(v.state, TUNNEL_UP);
        assert_int_equal(v.events, EVENT_RECOVERED);
        assert_false(h.gave_up);
}

static void test_budget_zero_and_large(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        verdict v;

        p.failures = 1;
        p.max_restarts = 0;
        v = decide(&h, &o, &p, T0);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(v.events, EVENT_DOWN | EVENT_GAVE_UP);

        /* a budget beyond the history's capacity is capped by it, not unlimited */
        h = health_up(T0);
        p.max_restarts = 1000;
        p.backoff = 0;
        for (unsigned i = 0; i < RESTART_HISTORY_MAX; i++) {
                v = decide(&h, &o, &p, T0 + i * SEC);
                assert_int_equal(v.action, HEAL_RESTART);
                decide_restarted(&h, &p, T0 + i * SEC);
        }
        assert_int_equal(h.n_restarts, RESTART_HISTORY_MAX);
        v = decide(&h, &o, &p, T0 + RESTART_HISTORY_MAX * SEC);
        assert_int_equal(v.action, HEAL_NONE);
        assert_int_equal(v.events, EVENT_GAVE_UP);

        /* a full history drops its oldest entry */
        decide_restarted(&h, &p, T0 + 100 * SEC);
        assert_int_equal(h.n_restarts, RESTART_HISTORY_MAX);
        assert_int_equal(h.restarts[0], T0 + 1 * SEC);
        assert_int_equal(h.restarts[RESTART_HISTORY_MAX - 1], T0 + 100 * SEC);

        /* a corrupt length from a state file is clamped */
        h.n_restarts = 1000;
        v = decide(&h, &o, &p, T0 + 101 * SEC);
        assert_int_equal(h.n_restarts, RESTART_HISTORY_MAX);
}

static void test_events_once(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation fail = active(PROBE_TIMEOUT), ok = active(PROBE_OK);
        unsigned down = 0, recovered = 0;
        verdict v;

        p.enabled = false;
        for (int cycle = 0; cycle < 3; cycle++) {
                down = recovered = 0;
                for (int i = 0; i < 10; i++) {
                        v = decide(&h, &fail, &p, T0 + (cycle * 100 + i) * SEC);
                        down += !!(v.events & EVENT_DOWN);
                        assert_int_equal(v.events & ~EVENT_DOWN, 0);
                }
                for (int i = 10; i < 20; i++) {
                        v = decide(&h, &ok, &p, T0 + (cycle * 100 + i) * SEC);
                        recovered += !!(v.events & EVENT_RECOVERED);
                        assert_int_equal(v.events & ~EVENT_RECOVERED, 0);
                }
                assert_int_equal(down, 1);
                assert_int_equal(recovered, 1);
        }

        /* the very first verdict being DOWN alerts too */
        tunnel_health_init(&h);
        v = decide(&h, &fail, &p, T0);
        v = decide(&h, &fail, &p, T0 + SEC);
        assert_int_equal(v.state, TUNNEL_DOWN);
        assert_int_equal(v.events, EVENT_DOWN);
}

/* The whole story of one dead tunnel: exactly DOWN, RESTARTED, RECOVERED, in that order. */
static void test_restart_sequence(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        unsigned events[16], n = 0;
        usec_t now = T0;
        verdict v;

        o.unit_started_at = T0 - 60 * MIN_;
        for (int i = 0; i < 2; i++) {
                now += 10 * SEC;
                v = decide(&h, &o, &p, now);
                if (v.events)
                        events[n++] = v.events;
        }
        assert_int_equal(v.action, HEAL_RESTART);
        events[n++] = decide_restarted(&h, &p, now);

        /* the new process starts; its first probes fail inside grace */
        o.unit_started_at = now + 1 * SEC;
        for (int i = 0; i < 2; i++) {
                now += 5 * SEC;
                v = decide(&h, &o, &p, now);
                assert_int_equal(v.state, TUNNEL_STARTING);
                assert_int_equal(v.action, HEAL_NONE);
                if (v.events)
                        events[n++] = v.events;
        }
        o.status = PROBE_OK;
        for (int i = 0; i < 3; i++) {
                now += 10 * SEC;
                v = decide(&h, &o, &p, now);
                assert_int_equal(v.state, TUNNEL_UP);
                if (v.events)
                        events[n++] = v.events;
        }

        assert_int_equal(n, 3);
        assert_int_equal(events[0], EVENT_DOWN);
        assert_int_equal(events[1], EVENT_RESTARTED);
        assert_int_equal(events[2], EVENT_RECOVERED);
        assert_int_equal(h.n_restarts, 1);
}

/* USEC_INFINITY-sized policies and a tiny now must saturate, never wrap. */
static void test_huge_values(void **state) {
        heal_policy p = policy();
        tunnel_health h;
        observation o = active(PROBE_TIMEOUT);
        verdict v;

        /* infinite grace: failures never count after a start */
        tunnel_health_init(&h);
        p.grace = USEC_INFINITY;
        p.failures = 1;
        o.unit_started_at = USEC_INFINITY - 5;
        v = decide(&h, &o, &p, USEC_INFINITY - 1);
        assert_int_equal(v.state, TUNNEL_STARTING);
        o.unit_started_at = T0;
        v = decide(&h, &o, &p, T0 + 1000 * 24 * 60 * MIN_);
        assert_int_equal(v.state, TUNNEL_STARTING);

        /* infinite window with a small now: nothing pruned, no underflow */
        tunnel_health_init(&h);
        p = policy();
        p.failures = 1;
        p.window = USEC_INFINITY;
        p.max_restarts = 2;
        p.backoff = 0;
        o = active(PROBE_TIMEOUT);
        decide_restarted(&h, &p, 1);
        decide_restarted(&h, &p, 2);
        v = decide(&h, &o, &p, 3);
        assert_int_equal(h.n_restarts, 2);
        assert_int_equal(v.state, TUNNEL_FAILED);
        assert_int_equal(v.events, EVENT_DOWN | EVENT_GAVE_UP);
        v = decide(&h, &o, &p, USEC_INFINITY);
        assert_int_equal(h.n_restarts, 2);

        /* a window larger than now */
        tunnel_health_init(&h);
        p.window = 10 * SEC;
        decide_restarted(&h, &p, 0);
        decide(&h, &o, &p, 5 * SEC);
        assert_int_equal(h.n_restarts, 1);
        decide(&h, &o, &p, 10 * SEC);
        assert_int_equal(h.n_restarts, 1);
        decide(&h, &o, &p, 10 * SEC + 1);
        assert_int_equal(h.n_restarts, 0);

        /* backoff and its doubling saturate at USEC_INFINITY */
        tunnel_health_init(&h);
        p = policy();
        p.failures = 1;
        p.backoff = USEC_INFINITY / 2 + 7;
        p.backoff_max = USEC_INFINITY;
        decide_restarted(&h, &p, T0);
        assert_int_equal(h.next_restart_at, T0 + USEC_INFINITY / 2 + 7);
        assert_int_equal(h.backoff, USEC_INFINITY);
        decide_restarted(&h, &p, T0 + SEC);
        assert_int_equal(h.next_restart_at, USEC_INFINITY);
        assert_int_equal(h.backoff, USEC_INFINITY);
        v = decide(&h, &o, &p, USEC_INFINITY - 1);
        assert_int_equal(v.action, HEAL_NONE);
        assert_string_equal(v.why, "backoff");

        /* a consecutive-failure counter at its limit stays there */
        tunnel_health_init(&h);
        p = policy();
        h.consecutive_failures = UINT_MAX;
        decide(&h, &o, &p, T0);
        assert_int_equal(h.consecutive_failures, UINT_MAX);
}

/* A realtime clock stepped back by a day must not hold a restart off for a day. */
static void test_clock_step_back(void **state) {
        heal_policy p = policy();
        tunnel_health h = health_up(T0);
        observation o = active(PROBE_TIMEOUT);
        usec_t back = T0 - 24 * 60 * MIN_;
        verdict v;

        p.failures = 1;
        decide_restarted(&h, &p, T0);
        v = decide(&h, &o, &p, back);
        assert_int_equal(v.action, HEAL_NONE);
        assert_true(h.next_restart_at <= back + p.backoff_max);
        v = decide(&h, &o, &p, back + p.backoff_max);
        assert_int_equal(v.action, HEAL_RESTART);
}

static verdict vd(tunnel_state s, probe_status reason, heal_action a) {
        return (verdict) {
                .state = s,
                .reason = reason,
                .action = a,
                .restart_reason = a == HEAL_NONE ? NULL : "probe",
                .why = "orig",
        };
}

#define DOWN_RESTART vd(TUNNEL_DOWN, PROBE_TIMEOUT, HEAL_RESTART)
#define STOPPED_RESTART vd(TUNNEL_DOWN, PROBE_PROCESS_STOPPED, HEAL_RESTART)

static void test_all_down(void **state) {
        /* not static: the rows are built by vd() */
        const struct {
                const char *name;
                bool enabled;
                size_t n;
                verdict v[3];
                bool guarded;
        } table[] = {
                { "one tunnel", true, 1, { DOWN_RESTART }, false },
                { "two down", true, 2, { DOWN_RESTART, vd(TUNNEL_DOWN, PROBE_NO_MASTER, HEAL_NONE) }, true },
                { "three down", true, 3, { DOWN_RESTART, DOWN_RESTART, DOWN_RESTART }, true },
                { "guard off", false, 2, { DOWN_RESTART, DOWN_RESTART }, false },
                { "one up", true, 2, { DOWN_RESTART, vd(TUNNEL_UP, PROBE_OK, HEAL_NONE) }, false },
                { "one unknown", true, 3,
                  { DOWN_RESTART, vd(TUNNEL_UNKNOWN, PROBE_ERROR, HEAL_NONE), DOWN_RESTART }, false },
                { "one failed", true, 2,
                  { DOWN_RESTART, vd(TUNNEL_FAILED, PROBE_UNIT_DOWN, HEAL_RESET_AND_START) }, false },
                { "one starting", true, 2,
                  { DOWN_RESTART, vd(TUNNEL_STARTING, PROBE_TIMEOUT, HEAL_NONE) }, false },
                { "one admin-stopped", true, 2,
                  { DOWN_RESTART, vd(TUNNEL_DOWN, PROBE_UNIT_DOWN, HEAL_NONE) }, false },
                { "one prohibited", true, 2,
                  { DOWN_RESTART, vd(TUNNEL_DOWN, PROBE_PROHIBITED, HEAL_NONE) }, false },
                { "one stopped", true, 2,
                  { DOWN_RESTART, STOPPED_RESTART }, false },
                { "all stopped", true, 3, { STOPPED_RESTART, STOPPED_RESTART, STOPPED_RESTART }, false },
        };

        for (size_t t = 0; t < ELEMENTSOF(table); t++) {
                guard_state g = {};
                verdict v[3];
                unsigned events;

                memcpy(v, table[t].v, sizeof(v));
                events = decide_all_down(&g, v, table[t].n, table[t].enabled);
                print_message("all_down: %s\n", table[t].name);
                assert_int_equal(events, table[t].guarded ? EVENT_NETWORK_DOWN : 0);
                assert_int_equal(g.network_down, table[t].guarded);
                for (size_t i = 0; i < table[t].n; i++)
                        if (table[t].guarded) {
                                assert_int_equal(v[i].action, HEAL_NONE);
                                assert_null(v[i].restart_reason);
                                assert_string_equal(v[i].why, "all tunnels down: local network suspected");
                                assert_int_equal(v[i].state, table[t].v[i].state);
                        } else
                                assert_memory_equal(&v[i], &table[t].v[i], sizeof(verdict));
        }
}

/* NETWORK_DOWN once while it lasts, then NETWORK_UP once. */
static void test_all_down_transitions(void **state) {
        guard_state g = {};
        unsigned down = 0;
        verdict v[2];

        for (int i = 0; i < 5; i++) {
                v[0] = v[1] = DOWN_RESTART;
                unsigned e = decide_all_down(&g, v, 2, true);
                assert_int_equal(e & ~EVENT_NETWORK_DOWN, 0);
                down += !!e;
                assert_int_equal(v[0].action, HEAL_NONE);
                assert_int_equal(v[1].action, HEAL_NONE);
        }
        assert_int_equal(down, 1);

        v[0] = vd(TUNNEL_UP, PROBE_OK, HEAL_NONE);
        v[1] = DOWN_RESTART;
        assert_int_equal(decide_all_down(&g, v, 2, true), EVENT_NETWORK_UP);
        assert_false(g.network_down);
        assert_int_equal(v[1].action, HEAL_RESTART);
        assert_int_equal(decide_all_down(&g, v, 2, true), 0);

        /* turning the guard off while it holds ends the condition */
        v[0] = v[1] = DOWN_RESTART;
        assert_int_equal(decide_all_down(&g, v, 2, true), EVENT_NETWORK_DOWN);
        assert_int_equal(decide_all_down(&g, v, 2, false), EVENT_NETWORK_UP);
        assert_int_equal(decide_all_down(&g, v, 0, true), 0);
}

/* Through decide(): two tunnels lose the network together; nothing is restarted. */
static void test_all_down_end_to_end(void **state) {
        heal_policy p = policy();
        tunnel_health h[2] = { health_up(T0), health_up(T0) };
        observation fail = active(PROBE_TIMEOUT), ok = active(PROBE_OK);
        guard_state g = {};
        verdict v[2];
        unsigned e;

        for (int round = 1; round <= 4; round++) {
                for (int i = 0; i < 2; i++)
                        v[i] = decide(&h[i], &fail, &p, T0 + round * 10 * SEC);
                e = decide_all_down(&g, v, 2, true);
                assert_int_equal(v[0].action, HEAL_NONE);
                assert_int_equal(v[1].action, HEAL_NONE);
                assert_int_equal(e, round == 2 ? EVENT_NETWORK_DOWN : 0);
        }
        assert_int_equal(h[0].n_restarts, 0);
        for (int i = 0; i < 2; i++) {
                v[i] = decide(&h[i], &ok, &p, T0 + 50 * SEC);
                assert_int_equal(v[i].events, EVENT_RECOVERED);
        }
        assert_int_equal(decide_all_down(&g, v, 2, true), EVENT_NETWORK_UP);
}

/* After a spell, a failure from a probe that began before the guard last saw all down holds its restart;
 * one that began after restarts. */
static void test_hold_after_spell(void **state) {
        verdict v = DOWN_RESTART;
        assert_true(decide_hold_after_spell(&v, 90 * SEC, 100 * SEC));
        assert_int_equal(v.action, HEAL_NONE);
        assert_null(v.restart_reason);
        assert_string_equal(v.why, "its probe began before the network came back: probing again");
        assert_int_equal(v.state, TUNNEL_DOWN);

        v = DOWN_RESTART;
        assert_false(decide_hold_after_spell(&v, 101 * SEC, 100 * SEC));
        assert_int_equal(v.action, HEAL_RESTART);
        v = DOWN_RESTART;
        assert_false(decide_hold_after_spell(&v, 5 * SEC, 0)); /* no spell seen by this process */
        assert_int_equal(v.action, HEAL_RESTART);
        v = vd(TUNNEL_UP, PROBE_OK, HEAL_NONE);
        assert_false(decide_hold_after_spell(&v, 90 * SEC, 100 * SEC));
}

/* How the all-down guard sees a tunnel: a failed probe counts at once, unless it says nothing of the network. */
static void test_guard_view(void **state) {
        static const struct {
                tunnel_state last;
                bool looked;
                probe_status status;
                tunnel_state want;
        } t[] = {
                { TUNNEL_UP, true, PROBE_TIMEOUT, TUNNEL_DOWN },      /* below monitor.failures: still counts */
                { TUNNEL_STARTING, true, PROBE_REFUSED, TUNNEL_DOWN },
                { TUNNEL_UP, true, PROBE_PROHIBITED, TUNNEL_UP },     /* the bastion answered */
                { TUNNEL_UP, true, PROBE_PROCESS_STOPPED, TUNNEL_UP }, /* local: says nothing of the network */
                { TUNNEL_UP, false, PROBE_TIMEOUT, TUNNEL_UP },       /* not probed, not resolved, or ours */
                { TUNNEL_UNKNOWN, false, PROBE_ERROR, TUNNEL_UNKNOWN },
                { TUNNEL_UNKNOWN, true, PROBE_OK, TUNNEL_UNKNOWN },
                { TUNNEL_DOWN, true, PROBE_OK, TUNNEL_DOWN },         /* the verdict's own state stands */
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                verdict last = { .state = t[i].last, .reason = PROBE_OK, .action = HEAL_RESTART };
                verdict v = decide_guard_view(last, t[i].looked, t[i].status);
                if (v.state != t[i].want)
                        fail_msg("row %zu: %s, want %s", i, tunnel_state_to_string(v.state),
                                 tunnel_state_to_string(t[i].want));
                assert_int_equal(v.action, HEAL_RESTART); /* the view changes the state only */
        }

        /* Two tunnels we could not look at (ours) are no evidence of a network down; two timeouts are. */
        for (int ours = 0; ours < 2; ours++) {
                guard_state g = {};
                verdict v[2];
                for (int i = 0; i < 2; i++)
                        v[i] = decide_guard_view((verdict) { .state = TUNNEL_UNKNOWN, .reason = PROBE_TIMEOUT },
                                                 !ours, ours ? PROBE_ERROR : PROBE_TIMEOUT);
                assert_int_equal(decide_all_down(&g, v, 2, true), ours ? 0u : (unsigned) EVENT_NETWORK_DOWN);
        }
}

/* F11: every tunnel's ssh stopped (a frozen cgroup, a debugger) is local, not a network outage. Through decide()
 * and the guard's view as monitor_guard() runs them: no guard, each restarted with reason "stopped"; and one
 * stopped beside one timing out is not "all down" either. */
static void test_stopped_not_network(void **state) {
        heal_policy p = policy();
        static const probe_status pairs[][2] = {
                { PROBE_PROCESS_STOPPED, PROBE_PROCESS_STOPPED },
                { PROBE_PROCESS_STOPPED, PROBE_TIMEOUT },
        };

        for (size_t k = 0; k < ELEMENTSOF(pairs); k++) {
                tunnel_health h[2] = { health_up(T0), health_up(T0) };
                guard_state g = {};
                verdict last[2], v[2];

                for (int round = 1; round <= 2; round++) {
                        for (int i = 0; i < 2; i++) {
                                observation o = active(pairs[k][i]);
                                last[i] = decide(&h[i], &o, &p, T0 + round * 10 * SEC);
                                v[i] = decide_guard_view(last[i], true, pairs[k][i]);
                        }
                        assert_int_equal(decide_all_down(&g, v, 2, true), 0);
                        assert_false(g.network_down);
                }
                /* Round 2 reached monitor.failures: each is restarted, nothing held. */
                for (int i = 0; i < 2; i++) {
                        assert_int_equal(v[i].state, TUNNEL_DOWN);
                        assert_int_equal(v[i].action, HEAL_RESTART);
                        assert_string_equal(v[i].restart_reason,
                                            pairs[k][i] == PROBE_PROCESS_STOPPED ? "stopped" : "probe");
                }
        }
        assert_true(probe_status_says_nothing_of_network(PROBE_PROCESS_STOPPED));
        assert_true(probe_status_says_nothing_of_network(PROBE_PROHIBITED));
        assert_false(probe_status_says_nothing_of_network(PROBE_TIMEOUT));
        assert_false(probe_status_says_nothing_of_network(PROBE_NO_MASTER));
        assert_false(probe_status_proves_answer(PROBE_PROCESS_STOPPED)); /* local: it proves no answer */

        /* Two timeouts still are the network: the guard holds both. */
        tunnel_health h[2] = { health_up(T0), health_up(T0) };
        guard_state g = {};
        verdict v[2];
        for (int i = 0; i < 2; i++) {
                observation o = active(PROBE_TIMEOUT);
                v[i] = decide_guard_view(decide(&h[i], &o, &p, T0), true, PROBE_TIMEOUT);
        }
        assert_int_equal(decide_all_down(&g, v, 2, true), EVENT_NETWORK_DOWN);
}

/* A tunnel's events while the guard speaks for all: DOWN folded into network_down, told later if still
 * down once the network is back, and RECOVERED dropped when network_up already said it. */
static void test_fold_events(void **state) {
        tunnel_health h;
        tunnel_health_init(&h);
        h.announced_down = true;

        /* Spell: DOWN folded, remembered. */
        assert_int_equal(decide_fold_events(EVENT_DOWN | EVENT_RESTARTED, &h, TUNNEL_DOWN, true, false), EVENT_RESTARTED);
        assert_true(h.down_silenced);
        /* Network back, but not probed since: nothing yet. */
        assert_int_equal(decide_fold_events(0, &h, TUNNEL_DOWN, false, false), 0);
        assert_true(h.down_silenced);
        /* Probed since and still down: now its own DOWN. */
        assert_int_equal(decide_fold_events(0, &h, TUNNEL_DOWN, false, true), EVENT_DOWN);
        assert_false(h.down_silenced);

        /* Another spell, then the tunnel recovers: network_up said it, RECOVERED is dropped once. */
        assert_int_equal(decide_fold_events(EVENT_DOWN, &h, TUNNEL_DOWN, true, false), 0);
        assert_int_equal(decide_fold_events(EVENT_RECOVERED, &h, TUNNEL_UP, false, true), 0);
        assert_false(h.down_silenced);
        assert_int_equal(decide_fold_events(EVENT_RECOVERED, &h, TUNNEL_UP, false, true), EVENT_RECOVERED);

        /* No spell: events pass untouched. */
        assert_int_equal(decide_fold_events(EVENT_DOWN | EVENT_GAVE_UP, &h, TUNNEL_FAILED, false, true),
                         EVENT_DOWN | EVENT_GAVE_UP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strings_and_init),
                cmocka_unit_test(test_not_probeable),
                cmocka_unit_test(test_ours),
                cmocka_unit_test(test_guard_view),
                cmocka_unit_test(test_hold_after_spell),
                cmocka_unit_test(test_fold_events),
                cmocka_unit_test(test_hysteresis),
                cmocka_unit_test(test_success_resets_count),
                cmocka_unit_test(test_grace_boundaries),
                cmocka_unit_test(test_success_inside_grace),
                cmocka_unit_test(test_activating),
                cmocka_unit_test(test_flapping_unit_is_down_after_grace),
                cmocka_unit_test(test_our_restart_opens_fresh_grace),
                cmocka_unit_test(test_admin_stopped),
                cmocka_unit_test(test_failed_unit),
                cmocka_unit_test(test_host_key_changed_never_restarts),
                cmocka_unit_test(test_starved_timeouts_held),
                cmocka_unit_test(test_heal_disabled),
                cmocka_unit_test(test_restart_reasons),
                cmocka_unit_test(test_prohibited_never_restarts),
                cmocka_unit_test(test_backoff_doubling),
                cmocka_unit_test(test_backoff_reset_on_success),
                cmocka_unit_test(test_listen_busy_systemd_retries),
                cmocka_unit_test(test_listen_busy_active_paced),
                cmocka_unit_test(test_listen_busy_failed_unit),
                cmocka_unit_test(test_listen_busy_not_network),
                cmocka_unit_test(test_backoff_odd_policies),
                cmocka_unit_test(test_budget),
                cmocka_unit_test(test_budget_zero_and_large),
                cmocka_unit_test(test_events_once),
                cmocka_unit_test(test_restart_sequence),
                cmocka_unit_test(test_huge_values),
                cmocka_unit_test(test_clock_step_back),
                cmocka_unit_test(test_all_down),
                cmocka_unit_test(test_all_down_transitions),
                cmocka_unit_test(test_all_down_end_to_end),
                cmocka_unit_test(test_stopped_not_network),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
