/* config_load: defaults, the INI file, overrides, inheritance, and the exact FILE:LINE error messages. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/config.h"
#include "../../monitor/base/duration.h"
#include "../../probes/probe.h"
#include "test_files.h"

#define SEC USEC_PER_SEC


/* Does the pattern, compiled as a probe compiles it, match text? */
static bool expect_matches(const char *pattern, const char *text) {
        regex_t re;
        assert_int_equal(expect_compile(pattern, &re, NULL, 0), 0);
        bool m = regexec(&re, text, 0, NULL, 0) == 0;
        regfree(&re);
        return m;
}

/* Runs config_load with stderr captured into err. */
static int load_capture(config *c, const char *path, char *const *overrides, char *err, size_t size) {
        stderr_capture cap;
        stderr_capture_begin(&cap);
        int r = config_load(c, path, overrides);
        stderr_capture_end(&cap, err, size);
        return r;
}

static const char full_conf[] =
        "; every key\n"
        "[monitor]\n"
        "units = reverse-ssh@*.service  other-*.service\n"
        "interval = 30s\n"
        "timeout = 2500ms\n"
        "failures = 3\n"
        "grace = 1m\n"
        "probe = mux\n"
        "expect = ^SSH-2\\.0 ; inline comment\n"
        "\n"
        "[heal]\n"
        "enabled = no\n"
        "backoff = 5s\n"
        "backoff_max = 1h\n"
        "max_restarts = 7\n"
        "window = 2h\n"
        "all_down_guard = off\n"
        "[metrics]\n"
        "listen = [::1]:9999\n"
        "textfile = /var/lib/node/rtun.prom\n"
        "[alert slack]\n"
        "type = slack\n"
        "url = https://hooks.slack.com/services/T/B/X\n"
        "events = down recovered restarted\n"
        "[alert hook]\n"
        "type = webhook\n"
        "url_file = %s\n"
        "[tunnel \"reverse-ssh@a.example.com.service\"]\n"
        "timeout = 1s\n"
        "forward = localhost:21022\n"
        "send = HELO\\r\\n\\x41\\0\\\\\n"
        "expect =\n"
        "[tunnel reverse-ssh@b]\n"
        "probe = tcp\n";

static void test_full(void **state) {
        char text[2048], err[1024];
        config c;
        const char *urlf = test_write_text("url", "http://127.0.0.1:1/hook \t\r\nsecond line\n");
        snprintf(text, sizeof text, full_conf, urlf);
        const char *p = test_write_text("full.conf", text);

        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_string_equal(err, "");
        assert_string_equal(c.path, p);
        assert_int_equal(strv_length(c.units), 2);
        assert_string_equal(c.units[0], "reverse-ssh@*.service");
        assert_string_equal(c.units[1], "other-*.service");
        assert_int_equal(c.monitor.interval, 30 * SEC);
        assert_int_equal(c.monitor.timeout, 2500 * USEC_PER_MSEC);
        assert_int_equal(c.monitor.failures, 3);
        assert_int_equal(c.monitor.grace, 60 * SEC);
        assert_int_equal(c.monitor.probe, PROBE_KIND_MUX);
        assert_string_equal(c.monitor.expect, "^SSH-2\\.0");
        assert_true(expect_matches(c.monitor.expect, "SSH-2.0-OpenSSH_9.2\r\n"));
        assert_false(expect_matches(c.monitor.expect, "SSH-1.99"));

        assert_false(c.heal.enabled);
        assert_int_equal(c.heal.backoff, 5 * SEC);
        assert_int_equal(c.heal.backoff_max, 3600 * SEC);
        assert_int_equal(c.heal.max_restarts, 7);
        assert_int_equal(c.heal.window, 7200 * SEC);
        assert_false(c.heal.all_down_guard);
        assert_string_equal(c.metrics_listen, "[::1]:9999");
        assert_string_equal(c.metrics_textfile, "/var/lib/node/rtun.prom");

        assert_int_equal(c.n_alerts, 2);
        assert_string_equal(c.alerts[0].name, "slack");
        assert_int_equal(c.alerts[0].type, ALERT_SLACK);
        assert_string_equal(c.alerts[0].url, "https://hooks.slack.com/services/T/B/X");
        assert_int_equal(c.alerts[0].events, EVENT_DOWN | EVENT_RECOVERED | EVENT_RESTARTED);
        assert_string_equal(c.alerts[1].name, "hook");
        assert_int_equal(c.alerts[1].type, ALERT_WEBHOOK);
        assert_string_equal(c.alerts[1].url, "http://127.0.0.1:1/hook");
        assert_int_equal(c.alerts[1].events, EVENT_DOWN | EVENT_RECOVERED | EVENT_GAVE_UP);

        assert_int_equal(c.n_tunnels, 2);
        const tunnel_config *a = config_tunnel_for_unit(&c, "reverse-ssh@a.example.com.service");
        assert_non_null(a);
        assert_int_equal(a->settings.timeout, 1 * SEC);
        assert_int_equal(a->settings.interval, 30 * SEC); /* inherited */
        assert_int_equal(a->settings.probe, PROBE_KIND_MUX);
        assert_string_equal(a->settings.expect, "");
        assert_true(isempty_str(a->settings.expect));
        assert_string_equal(a->forward, "localhost:21022");
        assert_int_equal(a->send_len, 9);
        assert_memory_equal(a->send, "HELO\r\nA\0\\", 9);
        assert_ptr_equal(config_settings_for_unit(&c, "reverse-ssh@a.example.com.service"), &a->settings);

        const tunnel_config *b = config_tunnel_for_unit(&c, "reverse-ssh@b.service");
        assert_non_null(b);
        assert_int_equal(b->settings.probe, PROBE_KIND_TCP);
        assert_string_equal(b->settings.expect, "^SSH-2\\.0");
        assert_true(expect_matches(b->settings.expect, "SSH-2.0-x"));
        assert_null(b->send);
        assert_null(b->forward);

        assert_null(config_tunnel_for_unit(&c, "reverse-ssh@c.service"));
        assert_ptr_equal(config_settings_for_unit(&c, "reverse-ssh@c.service"), &c.monitor);
        config_done(&c);
        config_done(&c); /* idempotent */
}

static void check_defaults(const config *c) {
        assert_int_equal(strv_length(c->units), 1);
        assert_string_equal(c->units[0], "reverse-ssh@*.service");
        assert_int_equal(c->monitor.interval, 10 * SEC);
        assert_int_equal(c->monitor.timeout, 5 * SEC);
        assert_int_equal(c->monitor.failures, 2);
        assert_int_equal(c->monitor.grace, 20 * SEC);
        assert_int_equal(c->monitor.probe, PROBE_KIND_AUTO);
        assert_string_equal(c->monitor.expect, "^SSH-");
        assert_true(expect_matches(c->monitor.expect, "SSH-2.0-x"));
        assert_true(c->heal.enabled);
        assert_int_equal(c->heal.backoff, 10 * SEC);
        assert_int_equal(c->heal.backoff_max, 600 * SEC);
        assert_int_equal(c->heal.max_restarts, 5);
        assert_int_equal(c->heal.window, 3600 * SEC);
        assert_true(c->heal.all_down_guard);
        assert_string_equal(c->metrics_listen, "127.0.0.1:10122");
        assert_null(c->metrics_textfile);
        assert_int_equal(c->n_alerts, 0);
        assert_int_equal(c->n_tunnels, 0);
}

static void test_defaults(void **state) {
        char err[512];
        config c;
        const char *p = test_write_text("empty.conf", "# nothing\n\n");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_string_equal(err, "");
        check_defaults(&c);
        assert_string_equal(c.path, p);
        config_done(&c);

        /* No default file on a build host: built-in defaults, path NULL. */
        if (access(CONFIG_DEFAULT_PATH, F_OK) < 0) {
                assert_int_equal(load_capture(&c, NULL, NULL, err, sizeof err), 0);
                assert_string_equal(err, "");
                check_defaults(&c);
                assert_null(c.path);
                config_done(&c);
        }

        char missing[300], want[400];
        snprintf(missing, sizeof missing, "%s/missing.conf", test_dir);
        snprintf(want, sizeof want, "%s: No such file or directory\n", missing);
        assert_int_equal(load_capture(&c, missing, NULL, err, sizeof err), -ENOENT);
        assert_string_equal(err, want);

        /* A directory is not an empty file. */
        snprintf(want, sizeof want, "%s: Is a directory\n", test_dir);
        assert_int_equal(load_capture(&c, test_dir, NULL, err, sizeof err), -EISDIR);
        assert_string_equal(err, want);
}

static void test_overrides(void **state) {
        char err[512];
        config c;
        const char *urlf = test_write_text("url2", "https://example.com/x\n");
        char text[512];
        snprintf(text, sizeof text,
                 "[monitor]\ninterval = 30s\n[metrics]\nlisten = 0.0.0.0:10122\n"
                 "[alert a]\ntype = slack\nurl_file = %s\n"
                 "[tunnel \"reverse-ssh@x.y.service\"]\ninterval = 3s\n", urlf);
        const char *p = test_write_text("ov.conf", text);
        char *const ov[] = {
                "monitor.interval=1s",
                "metrics.listen=",
                "heal.enabled=no",
                "alert.a.url=http://127.0.0.1:8080/a",
                "alert.b.type=webhook",
                "alert.b.url=http://127.0.0.1:8080/b",
                "tunnel.reverse-ssh@x.y.service.timeout=2s",
                "tunnel.reverse-ssh@new.service.failures=4",
                "monitor.expect=^OK",
                "bastion.sshd_log=/var/log/sshd.log",
                NULL,
        };
        assert_int_equal(load_capture(&c, p, ov, err, sizeof err), 0);
        assert_string_equal(err, "");
        assert_int_equal(c.monitor.interval, 1 * SEC);
        assert_string_equal(c.metrics_listen, "");
        assert_false(c.heal.enabled);
        assert_int_equal(c.n_alerts, 2);
        assert_string_equal(c.alerts[0].url, "http://127.0.0.1:8080/a");
        assert_int_equal(c.alerts[1].type, ALERT_WEBHOOK);
        assert_string_equal(c.alerts[1].url, "http://127.0.0.1:8080/b");
        const monitor_settings *x = config_settings_for_unit(&c, "reverse-ssh@x.y.service");
        assert_int_equal(x->timeout, 2 * SEC);
        assert_int_equal(x->interval, 3 * SEC);
        assert_string_equal(x->expect, "^OK");
        const monitor_settings *n = config_settings_for_unit(&c, "reverse-ssh@new.service");
        assert_ptr_not_equal(n, &c.monitor);
        assert_int_equal(n->failures, 4);
        assert_int_equal(n->interval, 1 * SEC); /* inherits the overridden global */
        assert_string_equal(c.bastion.sshd_log, "/var/log/sshd.log");
        config_done(&c);

        /* bastion.sshd_log: the journal by default; none turns the fast path off. */
        char *const none[] = { "bastion.sshd_log=none", NULL };
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_string_equal(c.bastion.sshd_log, "journal");
        config_done(&c);
        assert_int_equal(load_capture(&c, p, none, err, sizeof err), 0);
        assert_string_equal(c.bastion.sshd_log, "none");
        config_done(&c);
}

/* A [tunnel] before [monitor] still inherits the global values it does not set. */
static void test_inheritance(void **state) {
        char err[512];
        config c;
        const char *p = test_write_text("inh.conf",
                                   "[tunnel \"reverse-ssh@a.service\"]\nfailures = 5\n"
                                   "[monitor]\ninterval = 2m\ntimeout = 3s\nprobe = ssh\nexpect = ^X\n"
                                   "[tunnel \"reverse-ssh@a.service\"]\ngrace = 0\n"
                                   "[alert s]\ntype = slack\n[alert s]\nurl = https://h/1\n");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_string_equal(err, "");
        assert_int_equal(c.n_tunnels, 1);
        const monitor_settings *s = config_settings_for_unit(&c, "reverse-ssh@a.service");
        assert_int_equal(s->failures, 5);
        assert_int_equal(s->grace, 0);
        assert_int_equal(s->interval, 120 * SEC);
        assert_int_equal(s->timeout, 3 * SEC);
        assert_int_equal(s->probe, PROBE_KIND_SSH);
        assert_string_equal(s->expect, "^X");
        assert_true(expect_matches(s->expect, "a\nX")); /* REG_NEWLINE: ^ after \n */
        /* Repeated [alert s] sections merge. */
        assert_int_equal(c.n_alerts, 1);
        assert_int_equal(c.alerts[0].type, ALERT_SLACK);
        assert_string_equal(c.alerts[0].url, "https://h/1");
        config_done(&c);
}

static void test_credentials(void **state) {
        char err[512];
        config c;
        test_write_text("cred", "https://hooks.example/secret\n");
        setenv("CREDENTIALS_DIRECTORY", test_dir, 1);
        const char *p = test_write_text("cred.conf", "[alert s]\ntype=webhook\nurl_file=%d/cred\n");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_string_equal(c.alerts[0].url, "https://hooks.example/secret");
        config_done(&c);
        unsetenv("CREDENTIALS_DIRECTORY");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, ":3: cannot read url_file \"%d/cred\" for alert.s.url_file"));
}

static void test_bad_files(void **state) {
        static const struct {
                const char *text;
                const char *msg; /* after "FILE:" */
        } t[] = {
                { "[monitor]\nintervall = 1s\n", "2: unknown key \"intervall\" in section [monitor]" },
                { "\n\n[monitor]\ntimeout = 10x\n", "4: invalid duration \"10x\" for monitor.timeout (e.g. 250ms, 10s, 5m, 1h, 1m30s)" },
                { "[monitor]\ninterval = 0\n", "2: invalid duration \"0\" for monitor.interval (must be greater than 0)" },
                { "[monitor]\ntimeout = 1.5s\n", "2: invalid duration \"1.5s\" for monitor.timeout (e.g. 250ms, 10s, 5m, 1h, 1m30s)" },
                { "[monitor]\nfailures = 0\n", "2: invalid number \"0\" for monitor.failures (must be at least 1)" },
                { "[monitor]\nfailures = -1\n", "2: invalid number \"-1\" for monitor.failures" },
                { "[monitor]\nprobe = icmp\n", "2: invalid probe \"icmp\" for monitor.probe (auto, mux, ssh, tcp or none)" },
                { "[monitor]\nexpect = ^(SSH\n", "2: invalid regular expression \"^(SSH\" for monitor.expect (Unmatched ( or \\()" },
                { "[monitor]\nunits =\n", "2: empty unit list \"\" for monitor.units (at least one pattern is needed)" },
                { "[heal]\nenabled = maybe\n", "2: invalid boolean \"maybe\" for heal.enabled (yes/no, true/false, on/off, 1/0)" },
                { "[heal]\nmax_restarts = 0\n", "2: invalid number \"0\" for heal.max_restarts (must be at least 1)" },
                { "[heal]\nbackoff_max = 1m\nbackoff = 2m\n", "3: heal.backoff (2m) is greater than heal.backoff_max (1m)" },
                { "[heal]\nbackoff_max = 1s\n", "2: heal.backoff (10s) is greater than heal.backoff_max (1s)" },
                { "[metrics]\nlisten = localhost:10122\n", "2: invalid address \"localhost:10122\" for metrics.listen (forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty)" },
                { "[metrics]\nlisten = 127.0.0.1:70000\n", "2: invalid address \"127.0.0.1:70000\" for metrics.listen (forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty)" },
                { "[metrics]\nlisten = ::1:10122\n", "2: invalid address \"::1:10122\" for metrics.listen (forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty)" },
                { "[metrics]\ntextfile = rel.prom\n", "2: invalid path \"rel.prom\" for metrics.textfile (must be an absolute path)" },
                { "[nope]\n", "1: unknown section [nope]" },
                { "[bastion]\nssh_ports = 22000-21000\n", "2: invalid port range \"22000-21000\" for bastion.ssh_ports (e.g. 21000-21999 or 21022)" },
                { "[bastion]\nreap = maybe\n", "2: invalid reap \"maybe\" for bastion.reap (yes, no or dry-run)" },
                { "[bastion]\nsshd_log = auth.log\n", "2: invalid sshd log \"auth.log\" for bastion.sshd_log (journal, none or an absolute path)" },
                { "[bastion]\nusers =\n", "2: empty list \"\" for bastion.users (at least one is needed)" },
                { "[bastion]\nauthorized_keys = keys\n", "2: invalid path \"keys\" for bastion.authorized_keys (must be absolute paths)" },
                { "[bastion]\nmetrics_port_offset = 0\n", "2: invalid port offset \"0\" for bastion.metrics_port_offset (1 to 65534)" },
                { "[bastion]\nlisten = nowhere\n", "2: invalid address \"nowhere\" for bastion.listen (forms: 127.0.0.1:10123, [::1]:10123, 0.0.0.0:10123)" },
                { "[bastion]\ncolour = blue\n", "2: unknown key \"colour\" in section [bastion]" },
                { "[monitor extra]\n", "1: unknown section [monitor extra]" },
                { "[alert]\n", "1: invalid alert name in section header" },
                { "interval = 1s\n", "1: key \"interval\" outside of any section" },
                { "[monitor]\njunk line\n", "2: syntax error (expected [section], key = value, or a comment)" },
                { "[monitor\n", "1: syntax error (expected [section], key = value, or a comment)" },
                { "[alert s]\ntype = email\n", "2: invalid alert type \"email\" for alert.s.type (slack or webhook)" },
                { "[alert s]\ntype = slack\n", "1: [alert s] needs url or url_file" },
                { "\n[alert s]\nurl = https://x/\n", "2: [alert s] needs type = slack or webhook" },
                { "[alert s]\nurl = ftp://x/\n", "2: invalid url for alert.s.url (must start with http:// or https://)" },
                { "[alert s]\nurl = https://x/\nurl_file = /x\n", "3: url and url_file both set; use one for alert.s.url_file" },
                { "[alert s]\nurl_file = /nonexistent/u\n", "2: cannot read url_file \"/nonexistent/u\" for alert.s.url_file (No such file or directory)" },
                { "[alert s]\nevents = down up\n", "2: unknown event \"up\" for alert.s.events (down recovered restarted gave_up network_down network_up host_down host_up reaped key_expiring)" },
                { "[alert s]\ncolor = red\n", "2: unknown key \"color\" in section [alert s]" },
                { "[tunnel \"reverse-ssh@a.service\"]\ntimeout = 5\n", "2: invalid duration \"5\" for tunnel.reverse-ssh@a.service.timeout (e.g. 250ms, 10s, 5m, 1h, 1m30s)" },
                { "[tunnel \"reverse-ssh@a.service\"]\nunits = x\n", "2: unknown key \"units\" in section [tunnel \"reverse-ssh@a.service\"]" },
                { "[tunnel \"reverse-ssh@a.service\"]\nforward = host:\n", "2: invalid forward \"host:\" for tunnel.reverse-ssh@a.service.forward (forms: PORT, HOST:PORT, [IPv6]:PORT)" },
                { "[tunnel \"reverse-ssh@a.service\"]\nsend = a\\qb\n", "2: invalid escape in \"a\\qb\" for tunnel.reverse-ssh@a.service.send (known: \\r \\n \\t \\\\ \\0 \\xHH)" },
                { "[tunnel \"reverse-ssh@a.service\"]\nsend = \\x4\n", "2: invalid escape in \"\\x4\" for tunnel.reverse-ssh@a.service.send (known: \\r \\n \\t \\\\ \\0 \\xHH)" },
                { "[tunnel \"a b\"]\n", "1: invalid tunnel name \"a b\"" },
        };
        char err[1024], want[1200];
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                config c;
                const char *p = test_write_text("bad.conf", t[i].text);
                int r = load_capture(&c, p, NULL, err, sizeof err);
                snprintf(want, sizeof want, "%s:%s\n", p, t[i].msg);
                if (r != -EINVAL || !streq(err, want))
                        fail_msg("case %zu: r=%d\n got: %s want: %s", i, r, err, want);
        }
}

static void test_long_line(void **state) {
        char err[1024];
        config c;
        char *text = malloc(10000);
        assert_non_null(text);
        /* 3000-character URLs fit; a 6000-character line is refused, not split into two lines. */
        strcpy(text, "[alert s]\ntype = slack\nurl = https://");
        size_t n = strlen(text);
        memset(text + n, 'a', 3000);
        strcpy(text + n + 3000, "\n");
        const char *p = test_write_text("long.conf", text);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        assert_int_equal(strlen(c.alerts[0].url), 8 + 3000);
        config_done(&c);

        strcpy(text, "[monitor]\n\nexpect = ");
        n = strlen(text);
        memset(text + n, 'b', 6000);
        strcpy(text + n + 6000, "\n");
        p = test_write_text("long.conf", text);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "long.conf:3: line too long"));
        free(text);
}

static void test_bad_overrides(void **state) {
        static const struct {
                const char *ov;
                const char *msg;
        } t[] = {
                { "monitor.interval=x", "--monitor.interval: invalid duration \"x\" (e.g. 250ms, 10s, 5m, 1h, 1m30s)" },
                { "monitor.intervall=1s", "--monitor.intervall: unknown key \"intervall\" in section [monitor]" },
                { "heal.enabled", "--heal.enabled: expected --section.key=value" },
                { "heal=1", "--heal: expected --section.key=value" },
                { "foo.bar=1", "--foo.bar: unknown section \"foo\"" },
                { "monitor.a.b=1", "--monitor.a.b: unknown section \"monitor\"" },
                { "alert.url=http://x", "--alert.url: expected --alert.NAME.key=value" },
                { "alert.x.url=http://x", "--alert.x.url: [alert x] needs type = slack or webhook" },
                { "tunnel.reverse-ssh@a.b.service.probe=icmp", "--tunnel.reverse-ssh@a.b.service.probe: invalid probe \"icmp\" (auto, mux, ssh, tcp or none)" },
                { "heal.backoff=1h", "--heal.backoff: heal.backoff (1h) is greater than heal.backoff_max (10m)" },
                { "metrics.listen=1.2.3.4", "--metrics.listen: invalid address \"1.2.3.4\" (forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty)" },
        };
        char err[1024], want[1200];
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                config c;
                char *const ov[] = { (char *) t[i].ov, NULL };
                const char *p = test_write_text("ok.conf", "[monitor]\n");
                int r = load_capture(&c, p, ov, err, sizeof err);
                snprintf(want, sizeof want, "%s\n", t[i].msg);
                if (r != -EINVAL || !streq(err, want))
                        fail_msg("case %zu: r=%d\n got: %s want: %s", i, r, err, want);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_overrides),
                cmocka_unit_test(test_inheritance),
                cmocka_unit_test(test_credentials),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_bad_overrides),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
