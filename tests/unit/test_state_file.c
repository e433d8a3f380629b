/* state_file.c's pure conversions: a tunnel's health and its resolution, to JSON and back, and what a
 * damaged entry gives (refused, never half-used). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/resolve.h"
#include "../../monitor/state_file.h"

static void test_health_round_trip(void **state) {
        tunnel_health h, back;
        tunnel_health_init(&h);
        h.state = TUNNEL_DOWN;
        h.consecutive_failures = 3;
        h.last_failure = PROBE_TIMEOUT;
        h.last_success = 1700000000000000;
        h.failing_since = 1700000000500000;
        h.starved_since = 1700000000700000;
        h.restarts[0] = 1700000001000000;
        h.n_restarts = 1;
        h.backoff = 20000000;
        h.announced_down = true;

        json_t *o = health_to_json(&h);
        assert_non_null(o);
        assert_int_equal(health_from_json(o, &back), 0);
        assert_int_equal(back.state, TUNNEL_DOWN);
        assert_int_equal(back.consecutive_failures, 3);
        assert_int_equal(back.last_failure, PROBE_TIMEOUT);
        assert_int_equal(back.failing_since, h.failing_since);
        assert_int_equal(back.starved_since, h.starved_since);
        assert_int_equal(back.n_restarts, 1);
        assert_int_equal(back.restarts[0], h.restarts[0]);
        assert_true(back.announced_down);
        assert_false(back.gave_up);

        /* A damaged entry is refused whole. */
        json_object_set_new(o, "state", json_string("sideways"));
        assert_int_equal(health_from_json(o, &back), -EINVAL);
        json_decref(o);
}

static char *argv_seed[] = { (char *) "/usr/bin/ssh", (char *) "-N", (char *) "-R",
                             (char *) "localhost:21022:localhost:22", (char *) "reverse-ssh@b.example", NULL };

static const char ssh_g[] = "hostname b.example\nuser reverse-ssh\nport 2222\ncontrolpath /run/reverse-ssh/b/ctl\n"
                            "identityfile /etc/ssh/id\nremoteforward [localhost]:21022 [localhost]:22\n";

static void make_tunnel(tunnel *t) {
        *t = (tunnel) { .name = (char *) "reverse-ssh@b.example.service" };
        assert_int_equal(ssh_resolved_parse(ssh_g, &t->ssh, NULL, 0), 0);
        t->resolved = true;
        t->resolved_for_argv = argv_seed;
        t->resolved_for_start = 1795474029255486;
}

static void test_resolution_round_trip(void **state) {
        tunnel t;
        resolve_seed seed = {};
        ssh_resolved back = {};

        make_tunnel(&t);
        json_t *o = resolution_to_json(&t);
        assert_non_null(o);
        assert_int_equal(resolution_from_json(o, t.name, &seed), 0);
        assert_string_equal(seed.name, t.name);
        assert_int_equal(seed.started_at, t.resolved_for_start);
        assert_int_equal(strv_length(seed.argv), 5);
        for (size_t i = 0; argv_seed[i]; i++)
                assert_string_equal(seed.argv[i], argv_seed[i]);
        assert_int_equal(ssh_resolved_parse(seed.ssh_g, &back, NULL, 0), 0);
        assert_string_equal(back.bastion, "b.example:2222");
        assert_string_equal(back.control_path, "/run/reverse-ssh/b/ctl");
        assert_int_equal(back.n_forwards, 1);
        assert_int_equal(back.forwards[0].listen_port, 21022);
        ssh_resolved_done(&back);
        resolve_seed_done(&seed);
        assert_null(seed.name);
        json_decref(o);

        /* Nothing worth keeping when not resolved; one made while no process ran is kept, started_at 0 (F12). */
        t.resolved = false;
        assert_null(resolution_to_json(&t));
        t.resolved = true;
        t.resolved_for_start = 0;
        o = resolution_to_json(&t);
        assert_non_null(o);
        assert_int_equal(resolution_from_json(o, t.name, &seed), 0);
        assert_int_equal(seed.started_at, 0);
        resolve_seed_done(&seed);
        json_decref(o);
        ssh_resolved_done(&t.ssh);
}

static void test_resolution_damaged(void **state) {
        static const char *bad[] = {
                "{}",
                "[]",
                "{\"argv\": [], \"started_at\": 5, \"ssh\": \"hostname b\\n\"}",
                "{\"argv\": [\"ssh\", 3], \"started_at\": 5, \"ssh\": \"hostname b\\n\"}",
                "{\"argv\": \"ssh\", \"started_at\": 5, \"ssh\": \"hostname b\\n\"}",
                "{\"argv\": [\"ssh\"], \"started_at\": -1, \"ssh\": \"hostname b\\n\"}",
                "{\"argv\": [\"ssh\"], \"started_at\": \"5\", \"ssh\": \"hostname b\\n\"}",
                "{\"argv\": [\"ssh\"], \"started_at\": 5}",
                "{\"argv\": [\"ssh\"], \"started_at\": 5, \"ssh\": 7}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                resolve_seed seed = {};
                json_error_t e;
                json_t *o = json_loads(bad[i], 0, &e);
                assert_non_null(o);
                if (resolution_from_json(o, "u", &seed) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                assert_null(seed.name);
                json_decref(o);
        }
}

/* A run over other units keeps the entries it does not look at, and only those. */
static void test_entries_outside(void **state) {
        json_error_t e;
        json_t *tunnels = json_loads("{\"reverse-ssh@a.service\": {\"state\": \"up\"},"
                                     " \"reverse-ssh@b.service\": {\"state\": \"down\"},"
                                     " \"autossh-x.service\": {\"state\": \"up\"}}", 0, &e);
        assert_non_null(tunnels);

        char *one[] = { (char *) "reverse-ssh@a.service", NULL };
        json_t *out = state_entries_outside(tunnels, one);
        assert_non_null(out);
        assert_int_equal(json_object_size(out), 2);
        assert_string_equal(json_string_value(json_object_get(json_object_get(out, "reverse-ssh@b.service"), "state")),
                            "down");
        assert_non_null(json_object_get(out, "autossh-x.service"));
        json_decref(out);

        char *glob[] = { (char *) "reverse-ssh@*.service", NULL };
        out = state_entries_outside(tunnels, glob);
        assert_int_equal(json_object_size(out), 1);
        assert_non_null(json_object_get(out, "autossh-x.service"));
        json_decref(out);

        char *both[] = { (char *) "reverse-ssh@*.service", (char *) "autossh-?.service", NULL };
        assert_null(state_entries_outside(tunnels, both));
        assert_null(state_entries_outside(NULL, both));
        json_decref(tunnels);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_health_round_trip),
                cmocka_unit_test(test_resolution_round_trip),
                cmocka_unit_test(test_resolution_damaged),
                cmocka_unit_test(test_entries_outside),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
