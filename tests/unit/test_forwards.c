/* Every forward (issue 14): -L/-D and the forward options from ssh -G, ssh's identity warnings, the per-forward
 * verdict (forward_decide), folding a forward's parts, watches carried over a new resolution, the config keys
 * forward_send/forward_expect/socks_probe, the SOCKS5 encoder and reply parsers, and `audit`'s checks as a
 * table of resolutions -> findings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../../monitor/config.h"
#include "../../monitor/forward.h"
#include "../../monitor/host_audit.h"
#include "../../monitor/monitor.h"
#include "../../monitor/resolve.h"
#include "../../monitor/round.h"
#include "../../probes/socks_proto.h"
#include "test_files.h"

/* The article's unit as OpenSSH 9.2 prints it: -R ssh and http, -L to the Salt master, -D. */
static const char article[] =
        "hostname bastion.example.com\n"
        "port 22\n"
        "exitonforwardfailure yes\n"
        "serveraliveinterval 60\n"
        "dynamicforward 1080\n"
        "dynamicforward [::1]:1081\n"
        "localforward 4505 [localhost]:4505\n"
        "localforward [127.0.0.1]:4506 [salt]:4506\n"
        "localforward /tmp/sock [localhost]:22\n"
        "remoteforward [localhost]:21022 [localhost]:22\n"
        "remoteforward 21080 [localhost]:80\n"
        "remoteforward [localhost]:21081 /run/app.sock\n";

static void test_parse_all_forwards(void **state) {
        ssh_resolved r = {};
        char err[256];
        assert_int_equal(ssh_resolved_parse(article, &r, err, sizeof err), 0);
        assert_true(r.exit_on_forward_failure);
        assert_true(r.seen_forward_options);
        assert_int_equal(r.server_alive_interval, 60);

        assert_int_equal(r.n_forwards, 3);
        assert_string_equal(r.forwards[0].target_host, "localhost");
        assert_int_equal(r.forwards[0].target_port, 22);
        assert_int_equal(r.forwards[1].listen_port, 21080);
        assert_int_equal(r.forwards[1].target_port, 80);
        assert_null(r.forwards[2].target_host); /* a unix socket target */
        assert_int_equal(r.forwards[2].target_port, 0);

        assert_int_equal(r.n_local_forwards, 2); /* the unix socket listener is not probeable */
        assert_string_equal(r.local_forwards[0].listen_host, "localhost");
        assert_int_equal(r.local_forwards[0].listen_port, 4505);
        assert_string_equal(r.local_forwards[1].listen_host, "127.0.0.1");
        assert_string_equal(r.local_forwards[1].target_host, "salt");
        assert_int_equal(r.local_forwards[1].target_port, 4506);

        assert_int_equal(r.n_dynamic_forwards, 2);
        assert_string_equal(r.dynamic_forwards[0].listen_host, "localhost");
        assert_int_equal(r.dynamic_forwards[0].listen_port, 1080);
        assert_null(r.dynamic_forwards[0].target);
        assert_string_equal(r.dynamic_forwards[1].listen_host, "::1");

        /* Written back and read again: the same, and a seed of this version (exitonforwardfailure seen). */
        _cleanup_(freep) char *text = NULL;
        ssh_resolved again = {};
        assert_int_equal(ssh_resolved_format(&r, &text), 0);
        assert_int_equal(ssh_resolved_parse(text, &again, err, sizeof err), 0);
        assert_int_equal(again.n_local_forwards, 2);
        assert_int_equal(again.n_dynamic_forwards, 2);
        assert_string_equal(again.local_forwards[1].target_host, "salt");
        assert_int_equal(again.dynamic_forwards[1].listen_port, 1081);
        assert_true(again.exit_on_forward_failure && again.seen_forward_options);
        assert_int_equal(again.server_alive_interval, 60);
        ssh_resolved_done(&again);
        ssh_resolved_done(&r);

        /* Defaults: no ExitOnForwardFailure line seen (an older resolution), interval 0. */
        assert_int_equal(ssh_resolved_parse("hostname b\nexitonforwardfailure no\nserveraliveinterval 0\n", &r, err, sizeof err), 0);
        assert_false(r.exit_on_forward_failure);
        assert_true(r.seen_forward_options);
        assert_int_equal(r.server_alive_interval, 0);
        ssh_resolved_done(&r);
}

static void test_parse_forward_bad(void **state) {
        static const char *const bad[] = {
                "hostname b\nlocalforward 4505\n",            /* no target */
                "hostname b\nlocalforward 70000 [x]:1\n",     /* port */
                "hostname b\ndynamicforward [::1\n",          /* unclosed */
                "hostname b\ndynamicforward 99999\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ssh_resolved r = {};
                char err[256] = "";
                print_message("case %zu\n", i);
                assert_int_equal(ssh_resolved_parse(bad[i], &r, err, sizeof err), -EINVAL);
                assert_true(*err);
                ssh_resolved_done(&r);
        }
        /* Dynamic allocation (port 0) is skipped, not an error; and the number of forwards is bounded. */
        ssh_resolved r = {};
        char err[256];
        assert_int_equal(ssh_resolved_parse("hostname b\ndynamicforward 0\nlocalforward 0 [x]:1\n", &r, err, sizeof err), 0);
        assert_int_equal(r.n_dynamic_forwards + r.n_local_forwards, 0);
        ssh_resolved_done(&r);
        _cleanup_(freep) char *many = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&many, &size);
        fprintf(f, "hostname b\n");
        for (int i = 1; i <= SSH_FORWARDS_MAX + 1; i++)
                fprintf(f, "dynamicforward %d\n", 1000 + i);
        fclose(f);
        assert_int_equal(ssh_resolved_parse(many, &r, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "More than 64 dynamicforward"));
        ssh_resolved_done(&r);
}

static void test_identity_warnings(void **state) {
        _cleanup_(strv_freep) char **w = NULL;
        assert_int_equal(ssh_resolved_identity_warnings(
                                 "Pseudo-terminal will not be allocated\n"
                                 "Warning: Identity file /etc/k not accessible: No such file or directory.\n"
                                 "Warning: Identity file /home/u/id not accessible: Permission denied.\r\n"
                                 "Warning: something else\n",
                                 &w),
                         0);
        assert_int_equal(strv_length(w), 2);
        assert_string_equal(w[0], "/etc/k: No such file or directory");
        assert_string_equal(w[1], "/home/u/id: Permission denied");
        assert_int_equal(ssh_resolved_identity_warnings("", &w), 0);
        assert_int_equal(strv_length(w), 2);
}

/* forward_decide over sequences: (status, tunnel up) -> (state, events). */
static void test_forward_decide(void **state) {
        static const struct {
                const char *name;
                unsigned failures;
                bool announce;
                struct { probe_status s; bool tunnel_up; forward_state want; unsigned ev; } steps[6];
                size_t n;
        } cases[] = {
                { "one failure is no outage", 2, true,
                  { { PROBE_OK, true, FORWARD_UP, 0 }, { PROBE_TIMEOUT, true, FORWARD_UP, 0 }, { PROBE_OK, true, FORWARD_UP, 0 } }, 3 },
                { "down after failures, alerted once, up again", 2, true,
                  { { PROBE_OK, true, FORWARD_UP, 0 }, { PROBE_BAD_RESPONSE, true, FORWARD_UP, 0 },
                    { PROBE_BAD_RESPONSE, true, FORWARD_DOWN, EVENT_FORWARD_DOWN }, { PROBE_REFUSED, true, FORWARD_DOWN, 0 },
                    { PROBE_OK, true, FORWARD_UP, EVENT_FORWARD_UP } }, 5 },
                { "a tunnel that is down says so itself: no forward events", 1, true,
                  { { PROBE_UNIT_DOWN, false, FORWARD_DOWN, 0 }, { PROBE_UNIT_DOWN, false, FORWARD_DOWN, 0 },
                    { PROBE_OK, true, FORWARD_UP, 0 } }, 3 },
                { "down while the tunnel was down, then the tunnel is back and the forward is not", 1, true,
                  { { PROBE_TIMEOUT, false, FORWARD_DOWN, 0 }, { PROBE_BAD_RESPONSE, true, FORWARD_DOWN, EVENT_FORWARD_DOWN },
                    { PROBE_BAD_RESPONSE, true, FORWARD_DOWN, 0 } }, 3 },
                { "failures while the tunnel was down are the tunnel's: the forward's own count starts when it is back", 2, true,
                  { { PROBE_OK, true, FORWARD_UP, 0 }, { PROBE_PROCESS_STOPPED, false, FORWARD_DOWN, 0 },
                    { PROBE_PROCESS_STOPPED, false, FORWARD_DOWN, 0 }, { PROBE_REFUSED, true, FORWARD_DOWN, 0 },
                    { PROBE_REFUSED, true, FORWARD_DOWN, EVENT_FORWARD_DOWN }, { PROBE_OK, true, FORWARD_UP, EVENT_FORWARD_UP } }, 6 },
                { "down with the tunnel, up with it: no event", 2, true,
                  { { PROBE_OK, true, FORWARD_UP, 0 }, { PROBE_TIMEOUT, false, FORWARD_DOWN, 0 },
                    { PROBE_REFUSED, true, FORWARD_DOWN, 0 }, { PROBE_OK, true, FORWARD_UP, 0 } }, 4 },
                { "the tunnel's own forward: never an event", 1, false,
                  { { PROBE_TIMEOUT, true, FORWARD_DOWN, 0 }, { PROBE_OK, true, FORWARD_UP, 0 } }, 2 },
                { "unknown until it has a verdict", 3, true,
                  { { PROBE_TIMEOUT, true, FORWARD_UNKNOWN, 0 }, { PROBE_TIMEOUT, true, FORWARD_UNKNOWN, 0 },
                    { PROBE_TIMEOUT, true, FORWARD_DOWN, EVENT_FORWARD_DOWN } }, 3 },
        };
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                forward_health h = { .state = FORWARD_UNKNOWN };
                print_message("case: %s\n", cases[c].name);
                for (size_t i = 0; i < cases[c].n; i++) {
                        unsigned ev = forward_decide(&h, cases[c].steps[i].s, cases[c].steps[i].tunnel_up,
                                                     cases[c].failures, cases[c].announce);
                        assert_int_equal(ev, cases[c].steps[i].ev);
                        assert_int_equal(h.state, cases[c].steps[i].want);
                }
        }
}

static void test_fold_parts(void **state) {
        probe_result p[2] = { { .status = PROBE_OK, .duration = 5 }, { .status = PROBE_OK, .duration = 9 } }, r;
        forward_fold_parts(p, 2, &r);
        assert_int_equal(r.status, PROBE_OK);
        assert_int_equal(r.duration, 9);
        p[1].status = PROBE_REFUSED;
        snprintf(p[1].detail, sizeof p[1].detail, "local listener: refused");
        forward_fold_parts(p, 2, &r);
        assert_int_equal(r.status, PROBE_REFUSED);
        assert_string_equal(r.detail, "local listener: refused");
        p[0].status = PROBE_PROHIBITED;
        forward_fold_parts(p, 2, &r);
        assert_int_equal(r.status, PROBE_PROHIBITED);
        forward_fold_parts(p, 0, &r);
        assert_int_equal(r.status, PROBE_ERROR);
}

static void test_watches_build(void **state) {
        ssh_resolved r = {};
        char err[256];
        forward_watch *w = NULL, *w2 = NULL;
        size_t n = 0, n2 = 0;
        assert_int_equal(ssh_resolved_parse(article, &r, err, sizeof err), 0);
        const ssh_forward *primary = ssh_resolved_find_forward(&r, "21080");
        assert_int_equal(forward_watches_build(&r, primary, NULL, 0, &w, &n), 0);
        assert_int_equal(n, 7);
        assert_int_equal(w[0].direction, FORWARD_REMOTE);
        assert_string_equal(w[0].label, "localhost:21022");
        assert_false(w[0].primary);
        assert_true(w[1].primary);
        assert_int_equal(w[3].direction, FORWARD_LOCAL);
        assert_string_equal(w[4].label, "127.0.0.1:4506");
        assert_int_equal(w[6].direction, FORWARD_DYNAMIC);
        assert_string_equal(w[6].label, "[::1]:1081");
        for (size_t i = 0; i < n; i++)
                assert_int_equal(w[i].health.state, FORWARD_UNKNOWN);

        /* A new resolution (the unit restarted) keeps what each forward had: by direction and label. */
        w[4].health = (forward_health) { .state = FORWARD_DOWN, .consecutive_failures = 3, .announced_down = true };
        w[4].probes_total = 7;
        w[4].probe_failures[PROBE_REFUSED] = 3;
        assert_int_equal(forward_watches_build(&r, primary, w, n, &w2, &n2), 0);
        assert_int_equal(n2, 7);
        assert_int_equal(w2[4].health.state, FORWARD_DOWN);
        assert_true(w2[4].health.announced_down);
        assert_int_equal(w2[4].probes_total, 7);
        assert_int_equal(w2[4].probe_failures[PROBE_REFUSED], 3);
        assert_int_equal(w2[3].probes_total, 0);
        free(w);
        free(w2);
        ssh_resolved_done(&r);

        assert_string_equal(forward_direction_to_string(FORWARD_DYNAMIC), "dynamic");
        assert_int_equal(forward_direction_from_string("local"), FORWARD_LOCAL);
        assert_string_equal(forward_state_to_string(FORWARD_DOWN), "down");
        assert_string_equal(tunnel_event_to_string(EVENT_FORWARD_DOWN), "forward_down");
        assert_int_equal(tunnel_event_from_string("forward_up"), EVENT_FORWARD_UP);
}

static int load(config *c, const char *text, char *err, size_t size) {
        stderr_capture cap;
        stderr_capture_begin(&cap);
        int r = config_load_data(c, "t.conf", text, strlen(text), NULL);
        stderr_capture_end(&cap, err, size);
        return r;
}

static void test_config_keys(void **state) {
        config c = {};
        char err[512] = "";
        assert_int_equal(load(&c,
                              "[tunnel \"reverse-ssh@a\"]\n"
                              "forward_send = localhost:21080 GET / HTTP/1.0\\r\\n\\r\\n\n"
                              "forward_expect = localhost:21080 ^HTTP/\n"
                              "forward_expect = 4505\n"
                              "socks_probe = example.org:443\n",
                              err, sizeof err),
                         0);
        const tunnel_config *t = config_tunnel_for_unit(&c, "reverse-ssh@a.service");
        assert_non_null(t);
        assert_int_equal(t->n_forward_checks, 2);
        const forward_check *fc = config_forward_check(t, "localhost", 21080);
        assert_non_null(fc);
        assert_int_equal(fc->send_len, 18);
        assert_memory_equal(fc->send, "GET / HTTP/1.0\r\n\r\n", 18);
        assert_string_equal(fc->expect, "^HTTP/");
        assert_null(config_forward_check(t, "127.0.0.1", 21080)); /* named with its host: that host only */
        fc = config_forward_check(t, "127.0.0.1", 4505);           /* a bare port: any host */
        assert_non_null(fc);
        assert_string_equal(fc->expect, ""); /* an opened forward is enough */
        assert_null(fc->send);
        assert_string_equal(t->socks_probe, "example.org:443");
        config_done(&c);

        static const struct { const char *text, *want; } bad[] = {
                { "[tunnel \"a\"]\nforward_expect = nope ^x\n", "t.conf:2: " },
                { "[tunnel \"a\"]\nforward_expect = 80 (unclosed\n", "t.conf:2: " },
                { "[tunnel \"a\"]\nforward_send = 80 \\q\n", "t.conf:2: " },
                { "[tunnel \"a\"]\nsocks_probe = 443\n", "t.conf:2: " },
                { "[monitor]\nprobe = socks\n", "t.conf:2: " },
                { "[monitor]\nforward_send = 80 x\n", "t.conf:2: " },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err[0] = 0;
                print_message("case: %s", bad[i].text);
                assert_int_equal(load(&c, bad[i].text, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, bad[i].want));
        }
        assert_int_equal(load(&c, "[alert x]\ntype = webhook\nurl = http://h/\nevents = forward_down forward_up\n", err,
                              sizeof err), 0);
        assert_int_equal(c.alerts[0].events, EVENT_FORWARD_DOWN | EVENT_FORWARD_UP);
        config_done(&c);
}

static void test_socks_build(void **state) {
        uint8_t b[300];
        assert_int_equal(socks_build_greeting(b, sizeof b), 3);
        assert_memory_equal(b, "\x05\x01\x00", 3);
        assert_int_equal(socks_build_greeting(b, 2), -ENOBUFS);
        assert_int_equal(socks_build_connect(b, sizeof b, "127.0.0.1", 22), 10);
        assert_memory_equal(b, "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x16", 10);
        assert_int_equal(socks_build_connect(b, sizeof b, "::1", 443), 22);
        assert_int_equal(b[3], 4);
        assert_int_equal(b[19], 1);
        assert_int_equal(socks_build_connect(b, sizeof b, "localhost", 0x1234), 4 + 1 + 9 + 2);
        assert_memory_equal(b, "\x05\x01\x00\x03\x09localhost\x12\x34", 16);
        char big[300];
        memset(big, 'a', sizeof big - 1);
        big[256] = 0;
        assert_int_equal(socks_build_connect(b, sizeof b, big, 1), -EINVAL);
        assert_int_equal(socks_build_connect(b, sizeof b, "", 1), -EINVAL);
        assert_int_equal(socks_build_connect(b, 8, "localhost", 1), -ENOBUFS);
}

static void test_socks_parse(void **state) {
        uint8_t code = 0xAA;
        assert_int_equal(socks_parse_method_reply("", 0), 0);
        assert_int_equal(socks_parse_method_reply("\x05", 1), 0);
        assert_int_equal(socks_parse_method_reply("\x05\x00", 2), 2);
        assert_int_equal(socks_parse_method_reply("\x05\xff", 2), -EACCES);
        assert_int_equal(socks_parse_method_reply("\x05\x02", 2), -EACCES);
        assert_int_equal(socks_parse_method_reply("\x04", 1), -EPROTO);
        assert_int_equal(socks_parse_method_reply("SSH-2.0", 7), -EPROTO);

        static const uint8_t ok4[] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 22, 'S', 'S', 'H' };
        for (size_t n = 0; n < 10; n++)
                assert_int_equal(socks_parse_connect_reply(ok4, n, &code), 0); /* every prefix: more needed */
        assert_int_equal(socks_parse_connect_reply(ok4, sizeof ok4, &code), 10); /* the target's bytes follow */
        assert_int_equal(code, 0);
        static const uint8_t refused6[22] = { 5, 5, 0, 4 };
        assert_int_equal(socks_parse_connect_reply(refused6, 21, &code), 0);
        assert_int_equal(socks_parse_connect_reply(refused6, 22, &code), 22);
        assert_int_equal(code, 5);
        static const uint8_t dom[] = { 5, 2, 0, 3, 3, 'a', 'b', 'c', 0, 80 };
        assert_int_equal(socks_parse_connect_reply(dom, sizeof dom, &code), 10);
        assert_int_equal(code, 2);
        assert_string_equal(socks_reply_to_string(code), "connection not allowed by ruleset");
        assert_string_equal(socks_reply_to_string(200), "unknown reply");
        static const uint8_t badrsv[] = { 5, 0, 1, 1, 0, 0, 0, 0, 0, 0 }, badtype[] = { 5, 0, 0, 9, 0, 0 },
                             emptydom[] = { 5, 0, 0, 3, 0, 0, 0 }, badver[] = { 4, 0 };
        assert_int_equal(socks_parse_connect_reply(badrsv, sizeof badrsv, &code), -EBADMSG);
        assert_int_equal(socks_parse_connect_reply(badtype, sizeof badtype, &code), -EBADMSG);
        assert_int_equal(socks_parse_connect_reply(emptydom, sizeof emptydom, &code), -EBADMSG);
        assert_int_equal(socks_parse_connect_reply(badver, 1, &code), -EPROTO);
}

/* audit: a table of units (as ssh -G resolved them) -> the checks found, per unit. */
typedef struct audit_case {
        const char *name;
        struct { const char *unit, *ssh_g, *restart; mode_t mode0; } units[3];
        size_t n;
        const char *want; /* "unit:check" lines, sorted as host_audit sorts */
} audit_case;

#define CLEAN "hostname b\nport 2222\nexitonforwardfailure yes\nserveraliveinterval 60\ncontrolpath /run/x\n" \
              "stricthostkeychecking accept-new\nuserknownhostsfile /var/lib/reverse-ssh/b/known_hosts\n" \
              "identityfile /etc/k\n"

static const audit_case audit_cases[] = {
        { "clean", { { "a", CLEAN "remoteforward [localhost]:21022 [localhost]:22\n", "always", 0600 } }, 1, "" },
        { "every single-unit pitfall",
          { { "a", "hostname b\nexitonforwardfailure no\nserveraliveinterval 0\nstricthostkeychecking false\n"
                   "userknownhostsfile /dev/null\nidentityfile /etc/k\nremoteforward 21022 [localhost]:22\n",
              "on-failure", 0644 } },
          1,
          "a:no_exit_on_forward_failure\na:no_server_alive\na:host_key_unpinned\na:identity_exposed\n"
          "a:no_control_path\na:restart_not_always\n" },
        { "StrictHostKeyChecking=no alone, or /dev/null alone, is not the pitfall",
          { { "a", CLEAN "stricthostkeychecking false\n", "always", 0600 },
            { "b", CLEAN "userknownhostsfile /dev/null\n", "always", 0600 } },
          2, "" },
        { "the same local port on two units (-L and -D), named on both",
          { { "a", CLEAN "localforward 4505 [localhost]:4505\n", "always", 0600 },
            { "b", CLEAN "dynamicforward [127.0.0.1]:4505\n", "always", 0600 } },
          2, "a:local_port_shared\nb:local_port_shared\n" },
        { "distinct addresses may share a port",
          { { "a", CLEAN "localforward [192.0.2.1]:4505 [localhost]:4505\n", "always", 0600 },
            { "b", CLEAN "localforward [192.0.2.2]:4505 [localhost]:4505\n", "always", 0600 } },
          2, "" },
        { "one unit binding a port twice",
          { { "a", CLEAN "localforward 4505 [x]:1\ndynamicforward 4505\n", "always", 0600 } }, 1,
          "a:local_port_shared\n" },
        { "the same remote port on the same bastion, not on another",
          { { "a", CLEAN "remoteforward 21022 [localhost]:22\n", "always", 0600 },
            { "b", CLEAN "remoteforward [localhost]:21022 [localhost]:22\n", "always", 0600 },
            { "c", "hostname other\nport 2222\nexitonforwardfailure yes\nserveraliveinterval 60\ncontrolpath /r\n"
                   "remoteforward 21022 [localhost]:22\n", "always", (mode_t) -1 } },
          3, "a:remote_port_shared\nb:remote_port_shared\n" },
        { "not resolved; Restart= unknown is not checked",
          { { "a", NULL, NULL, (mode_t) -1 }, { "b", CLEAN, NULL, 0600 } }, 2, "a:not_resolved\n" },
};

static void test_audit_table(void **state) {
        for (size_t c = 0; c < ELEMENTSOF(audit_cases); c++) {
                const audit_case *ac = &audit_cases[c];
                ssh_resolved r[3] = {};
                mode_t modes[3][2];
                host_audit_unit u[3];
                char err[256];
                print_message("case: %s\n", ac->name);
                for (size_t i = 0; i < ac->n; i++) {
                        if (ac->units[i].ssh_g)
                                assert_int_equal(ssh_resolved_parse(ac->units[i].ssh_g, &r[i], err, sizeof err), 0);
                        modes[i][0] = ac->units[i].mode0;
                        modes[i][1] = (mode_t) -1;
                        u[i] = (host_audit_unit) { .unit = ac->units[i].unit, .restart = ac->units[i].restart,
                                                   .ssh = ac->units[i].ssh_g ? &r[i] : NULL,
                                                   .resolve_error = "ssh -G failed", .identity_modes = modes[i] };
                }
                _cleanup_(host_audit_findings_done) host_audit_findings f = {};
                assert_int_equal(host_audit(u, ac->n, &f), 0);
                char got[1024] = "";
                for (size_t i = 0; i < f.n; i++) {
                        char line[128];
                        snprintf(line, sizeof line, "%s:%s\n", f.items[i].unit, host_audit_check_to_string(f.items[i].check));
                        strncat(got, line, sizeof got - strlen(got) - 1);
                }
                assert_string_equal(got, ac->want);
                assert_int_equal(host_audit_fail(&f), *ac->want != 0);
                for (size_t i = 0; i < ac->n; i++)
                        ssh_resolved_done(&r[i]);
        }
}

static void test_audit_identity_warning_and_output(void **state) {
        ssh_resolved r = {};
        char err[256];
        assert_int_equal(ssh_resolved_parse(CLEAN, &r, err, sizeof err), 0);
        assert_int_equal(strv_push(&r.identity_warnings, "/etc/missing: No such file or directory"), 0);
        host_audit_unit u = { .unit = "reverse-ssh@a\n.service", .restart = "always", .ssh = &r };
        _cleanup_(host_audit_findings_done) host_audit_findings f = {};
        assert_int_equal(host_audit(&u, 1, &f), 0);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.items[0].check, HOST_AUDIT_IDENTITY_INACCESSIBLE);
        assert_int_equal(f.items[0].severity, AUDIT_ERROR);
        assert_non_null(strstr(f.items[0].message, "/etc/missing: No such file or directory"));
        _cleanup_(freep) char *line = host_audit_format(&f.items[0]);
        assert_non_null(line);
        assert_null(strchr(line, '\n')); /* control characters escaped */
        assert_true(strncmp(line, "reverse-ssh@a\\n.service: error: identity_inaccessible: ", 55) == 0);
        json_t *j = host_audit_to_json(&f);
        assert_non_null(j);
        json_t *o = json_array_get(json_object_get(j, "findings"), 0);
        assert_string_equal(json_string_value(json_object_get(o, "unit")), "reverse-ssh@a\n.service");
        assert_string_equal(json_string_value(json_object_get(o, "check")), "identity_inaccessible");
        assert_string_equal(json_string_value(json_object_get(o, "severity")), "error");
        json_decref(j);
        ssh_resolved_done(&r);
}

/* check and status probe a tunnel again while another forward of it fails without a verdict yet. */
static void test_reprobe_for_forwards(void **state) {
        monitor_settings s = { .failures = 2, .grace = 0 };
        forward_watch w[2] = { { .primary = true }, { .health = { .state = FORWARD_UP } } };
        tunnel t = { .settings = &s, .resolved = true, .probed = true, .attempts = 1, .forwards = w, .n_forwards = 2,
                     .last_probe = { .status = PROBE_OK }, .last_verdict = { .state = TUNNEL_UP } };
        assert_false(round_wants_another_probe(&t, false));
        w[1].last.status = PROBE_TIMEOUT;
        assert_true(round_wants_another_probe(&t, false));
        w[1].health.state = FORWARD_DOWN; /* it has its verdict */
        assert_false(round_wants_another_probe(&t, false));
        w[1].health.state = FORWARD_UP;
        t.attempts = 10; /* bounded */
        assert_false(round_wants_another_probe(&t, false));
}

/* check keeps which forwards it announced down (the state file's "forwards_down"), so the next run neither
 * announces them again nor misses their forward_up; a list restored before the watches exist waits for them. */
static void test_forwards_down_saved(void **state) {
        ssh_resolved r = {};
        char err[256];
        tunnel t = { .resolved = true };
        assert_int_equal(ssh_resolved_parse(article, &t.ssh, err, sizeof err), 0);
        t.forward = ssh_resolved_find_forward(&t.ssh, NULL);
        json_t *list = json_pack("[s, s, s]", "remote localhost:21080", "local 127.0.0.1:4506", "dynamic localhost:9");
        tunnel_forwards_down_restore(&t, list); /* no watches yet: kept */
        assert_non_null(t.forwards_down_saved);
        assert_int_equal(tunnel_forwards_rebuild(&t), 0);
        assert_null(t.forwards_down_saved);
        unsigned down = 0;
        for (size_t i = 0; i < t.n_forwards; i++)
                if (t.forwards[i].health.announced_down) {
                        down++;
                        assert_int_equal(t.forwards[i].health.state, FORWARD_DOWN);
                }
        assert_int_equal(down, 2);
        json_t *back = tunnel_forwards_down_to_json(&t);
        assert_non_null(back);
        assert_int_equal(json_array_size(back), 2);
        assert_string_equal(json_string_value(json_array_get(back, 0)), "remote localhost:21080");
        assert_string_equal(json_string_value(json_array_get(back, 1)), "local 127.0.0.1:4506");
        /* The restored forward answers: forward_up, as after a down this process announced. */
        forward_watch *w = &t.forwards[1];
        assert_int_equal(forward_decide(&w->health, PROBE_OK, true, 2, true), EVENT_FORWARD_UP);
        json_decref(back);
        json_decref(list);
        tunnel_forwards_down_restore(&t, NULL); /* not a list: nothing */
        free(t.forwards);
        ssh_resolved_done(&t.ssh);
        ssh_resolved_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_all_forwards),
                cmocka_unit_test(test_parse_forward_bad),
                cmocka_unit_test(test_identity_warnings),
                cmocka_unit_test(test_forward_decide),
                cmocka_unit_test(test_fold_parts),
                cmocka_unit_test(test_watches_build),
                cmocka_unit_test(test_config_keys),
                cmocka_unit_test(test_socks_build),
                cmocka_unit_test(test_socks_parse),
                cmocka_unit_test(test_audit_table),
                cmocka_unit_test(test_audit_identity_warning_and_output),
                cmocka_unit_test(test_reprobe_for_forwards),
                cmocka_unit_test(test_forwards_down_saved),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
