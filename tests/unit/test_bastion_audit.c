/* `bastion audit` checks (monitor/bastion/audit*.c): each check fires where it should and only there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bastion_fixtures.h"
#include "../../monitor/bastion/audit.h"

#define JAN_2026 (1767225600ULL * USEC_PER_SEC)
#define DEC_15_2026 (1797292800ULL * USEC_PER_SEC)
#define JAN_2027 (1798761600ULL * USEC_PER_SEC)

/* A key line with nothing to say about it. */
#define CLEAN_OPTS                                                                                                \
        "restrict,port-forwarding,command=\"/sbin/nologin\",from=\"198.51.100.0/24\",expiry-time=\"20301231Z\","  \
        "permitlisten=\"localhost:21022\",permitopen=\"localhost:21022\""

static audit_findings audit_text(const char *text, usec_t now) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k;
        audit_findings f = {};
        parse_text(&k, text);
        assert_int_equal(audit_key_lines(&k, &s, now, &f), 0);
        authkeys_done(&k);
        return f;
}

static audit_findings audit_sshd_text(const char *sshd_t, const char *keys_text) {
        authkeys k;
        sshd_settings sshd = {};
        audit_findings f = {};
        parse_text(&k, keys_text);
        assert_int_equal(sshd_settings_parse(sshd_t, strlen(sshd_t), &sshd, NULL, 0), 0);
        assert_int_equal(audit_sshd(&sshd, &k, "/etc/ssh/sshd_config", &f), 0);
        sshd_settings_done(&sshd);
        authkeys_done(&k);
        return f;
}

static size_t count(const audit_findings *f, audit_check c) {
        size_t n = 0;
        for (size_t i = 0; i < f->n; i++)
                n += f->items[i].check == c;
        return n;
}

/* The only finding of check c (asserted), for its line, severity and message. */
static const audit_finding *the(const audit_findings *f, audit_check c) {
        if (count(f, c) != 1)
                fail_msg("%zu findings of %s", count(f, c), audit_check_to_string(c));
        for (size_t i = 0; i < f->n; i++)
                if (f->items[i].check == c)
                        return &f->items[i];
        return NULL;
}

/* Asserts the findings are exactly these checks (in any order, each once). */
static void assert_checks(const audit_findings *f, const audit_check *want, size_t n) {
        bool ok = f->n == n;
        for (size_t i = 0; i < n && ok; i++)
                ok = count(f, want[i]) == 1;
        if (!ok) {
                for (size_t i = 0; i < f->n; i++) {
                        _cleanup_(freep) char *s = audit_finding_format(&f->items[i]);
                        print_message("  %s\n", s);
                }
                fail_msg("%zu findings, want %zu", f->n, n);
        }
}

static void test_table_complete(void **state) {
        for (audit_check c = 0; c < _AUDIT_CHECK_MAX; c++) {
                const char *name = audit_check_to_string(c);
                assert_non_null(name);
                assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz_"), strlen(name));
                assert_int_equal(audit_check_from_string(name), c);
                assert_true(audit_check_severity(c) >= AUDIT_INFO && audit_check_severity(c) <= AUDIT_ERROR);
        }
        assert_string_equal(audit_severity_to_string(AUDIT_WARNING), "warning");
        assert_int_equal(audit_check_from_string("nope"), _AUDIT_CHECK_INVALID);
}

static void test_clean_line(void **state) {
        audit_findings f = audit_text(CLEAN_OPTS " " ED1 " web-server-1\n", JAN_2026);
        assert_checks(&f, NULL, 0);
        assert_false(audit_findings_fail(&f));
        audit_findings_done(&f);
}

/* The article's line: its permitopen is for the host's sshd, not for its own listen port. */
static void test_article_line(void **state) {
        const char *line = "restrict,port-forwarding,command=\"/sbin/nologin\",from=\"198.51.100.0/24,203.0.113.0/24\","
                           "expiry-time=\"20261231Z\",permitlisten=\"localhost:21022\",permitopen=\"localhost:22\" " ED1
                           " host-name\n";
        audit_findings f = audit_text(line, JAN_2026);
        audit_check want[] = { AUDIT_PERMITOPEN_MISSING };
        assert_checks(&f, want, 1);
        const audit_finding *x = the(&f, AUDIT_PERMITOPEN_MISSING);
        assert_int_equal(x->severity, AUDIT_WARNING);
        assert_int_equal(x->line, 1);
        assert_string_equal(x->host, "host-name");
        assert_string_equal(x->message, "no permitopen for its own listen port 21022: the host's end-to-end probe through "
                                        "the tunnel is refused (prohibited); add permitopen=\"localhost:21022\" (one per port)");
        assert_true(audit_findings_fail(&f));
        audit_findings_done(&f);

        /* Two weeks before the expiry: a warning; after it: an error. */
        f = audit_text(line, DEC_15_2026);
        x = the(&f, AUDIT_KEY_EXPIRING);
        assert_int_equal(x->severity, AUDIT_WARNING);
        assert_true(strstr(x->message, "expiry-time 2026-12-31 00:00:00 UTC is close"));
        audit_findings_done(&f);
        f = audit_text(line, JAN_2027);
        x = the(&f, AUDIT_KEY_EXPIRED);
        assert_int_equal(x->severity, AUDIT_ERROR);
        assert_true(strstr(x->message, "expiry-time 2026-12-31 00:00:00 UTC is past: sshd refuses this key"));
        assert_int_equal(count(&f, AUDIT_KEY_EXPIRING), 0);
        audit_findings_done(&f);
}

static void test_bare_key(void **state) {
        audit_findings f = audit_text(ED1 " web\n", JAN_2026);
        audit_check want[] = { AUDIT_NO_RESTRICT, AUDIT_NO_COMMAND, AUDIT_NO_FROM, AUDIT_NO_PERMITLISTEN, AUDIT_PERMITOPEN_ANY };
        assert_checks(&f, want, ELEMENTSOF(want));
        assert_int_equal(the(&f, AUDIT_NO_RESTRICT)->severity, AUDIT_WARNING);
        assert_string_equal(the(&f, AUDIT_NO_RESTRICT)->message,
                            "agent forwarding, X11 forwarding, a PTY, ~/.ssh/rc allowed (no restrict): start the options "
                            "with restrict,port-forwarding (restrict also covers what later OpenSSH versions add)");
        assert_int_equal(the(&f, AUDIT_NO_COMMAND)->severity, AUDIT_WARNING);
        assert_int_equal(the(&f, AUDIT_NO_FROM)->severity, AUDIT_INFO);
        assert_int_equal(the(&f, AUDIT_NO_PERMITLISTEN)->severity, AUDIT_ERROR);
        assert_int_equal(the(&f, AUDIT_PERMITOPEN_ANY)->severity, AUDIT_ERROR);
        audit_findings_done(&f);
}

static void test_restrict_variants(void **state) {
        /* The individual no-* options count as restrict for capabilities, not for commands. */
        audit_findings f = audit_text("no-agent-forwarding,no-X11-forwarding,no-pty,no-user-rc,from=\"10.0.0.0/8\","
                                      "permitlisten=\"localhost:21022\",permitopen=\"localhost:21022\" " ED1 " h\n",
                                      JAN_2026);
        audit_check want1[] = { AUDIT_NO_COMMAND };
        assert_checks(&f, want1, 1);
        audit_findings_done(&f);
        /* Capabilities given back after restrict. */
        f = audit_text("restrict,port-forwarding,pty,agent-forwarding,from=\"10.0.0.0/8\",permitlisten=\"localhost:21022\","
                       "permitopen=\"localhost:21022\" " ED1 " h\n", JAN_2026);
        audit_check want2[] = { AUDIT_NO_RESTRICT };
        assert_checks(&f, want2, 1);
        assert_string_equal(f.items[0].message, "options after restrict give back agent forwarding, a PTY: a tunnel needs "
                                                "only port-forwarding; remove them");
        audit_findings_done(&f);
        /* restrict alone: no tunnel. */
        f = audit_text("restrict,from=\"10.0.0.0/8\",permitlisten=\"localhost:21022\",permitopen=\"localhost:21022\" " ED1
                       " h\n", JAN_2026);
        audit_check want3[] = { AUDIT_PORT_FORWARDING_OFF };
        assert_checks(&f, want3, 1);
        assert_true(strstr(f.items[0].message, "write restrict,port-forwarding"));
        audit_findings_done(&f);
        f = audit_text("no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty,no-user-rc,command=\"x\","
                       "from=\"10.0.0.0/8\",permitlisten=\"localhost:21022\",permitopen=\"localhost:21022\" " ED1 " h\n",
                       JAN_2026);
        assert_checks(&f, (audit_check[]) { AUDIT_PORT_FORWARDING_OFF }, 1);
        assert_int_equal(f.items[0].severity, AUDIT_ERROR);
        audit_findings_done(&f);
}

static void test_permitlisten_checks(void **state) {
        audit_findings f = audit_text("restrict,port-forwarding,command=\"x\",from=\"10.0.0.0/8\",permitlisten=\"localhost:*\","
                                      "permitopen=\"localhost:*\" " ED1 " h\n", JAN_2026);
        assert_checks(&f, (audit_check[]) { AUDIT_PERMITLISTEN_ANY_PORT }, 1);
        assert_int_equal(f.items[0].severity, AUDIT_ERROR);
        audit_findings_done(&f);
        /* Out of the ranges, and a service name. */
        f = audit_text("restrict,port-forwarding,command=\"x\",from=\"10.0.0.0/8\",permitlisten=\"localhost:8080\","
                       "permitlisten=\"localhost:ssh\",permitopen=\"localhost:*\" " ED1 " h\n", JAN_2026);
        assert_int_equal(f.n, 2);
        assert_true(strstr(the(&f, AUDIT_PORT_OUTSIDE_RANGES)->message, "port 8080 is in neither bastion.ssh_ports (21000-21999) "
                                                                       "nor bastion.service_ports (22000-22999)"));
        assert_true(strstr(the(&f, AUDIT_PORT_BY_NAME)->message, "permitlisten=\"localhost:ssh\" names its port"));
        audit_findings_done(&f);
        /* sshd 9.2 refuses permitopen="localhost:foo" ("invalid permission port"): a finding. */
        f = audit_text("restrict,port-forwarding,command=\"x\",from=\"10.0.0.0/8\",permitlisten=\"localhost:21022\","
                       "permitopen=\"localhost:21022\",permitopen=\"localhost:foo\" " ED1 " h\n", JAN_2026);
        assert_checks(&f, (audit_check[]) { AUDIT_PORT_BY_NAME }, 1);
        audit_findings_done(&f);
        /* Metrics ports are in no range of their own and are fine. */
        f = audit_text("restrict,port-forwarding,command=\"x\",from=\"10.0.0.0/8\",permitlisten=\"localhost:21022\","
                       "permitlisten=\"localhost:22022\",permitopen=\"localhost:21022\",permitopen=\"localhost:22022\" " ED1
                       " h\n", JAN_2026);
        assert_checks(&f, NULL, 0);
        audit_findings_done(&f);
}

static void test_port_shared(void **state) {
        audit_findings f = audit_text(CLEAN_OPTS " " ED1 " web-server-1\n" CLEAN_OPTS " " ED2 " db-server-1\n" CLEAN_OPTS
                                      " " ED3 " iot\n", JAN_2026);
        assert_int_equal(count(&f, AUDIT_PORT_SHARED), 3);
        assert_int_equal(f.n, 3);
        audit_findings_sort(&f);
        assert_int_equal(f.items[0].line, 1);
        assert_string_equal(f.items[0].message, "port 21022 is also permitted to db-server-1 (t:2): whichever connects "
                                                "first holds it and the other is cut off; give each host its own port");
        assert_true(strstr(f.items[1].message, "to web-server-1 (t:1)"));
        assert_true(strstr(f.items[2].message, "to db-server-1 (t:2)"));
        assert_int_equal(f.items[2].severity, AUDIT_ERROR);
        audit_findings_done(&f);
}

static void test_permitopen_checks(void **state) {
        const char *base = "restrict,port-forwarding,command=\"x\",from=\"10.0.0.0/8\",";
        const struct {
                const char *opts;
                audit_check check; /* _AUDIT_CHECK_INVALID: nothing */
        } cases[] = {
                { "permitlisten=\"localhost:21022\",permitopen=\"*:*\"", AUDIT_PERMITOPEN_ANY },
                { "permitlisten=\"localhost:21022\",permitopen=\"any:any\"", AUDIT_PERMITOPEN_ANY },
                /* open_match compares host strings: 127.0.0.1 is not localhost. */
                { "permitlisten=\"localhost:21022\",permitopen=\"127.0.0.1:21022\"", AUDIT_PERMITOPEN_MISSING },
                { "permitlisten=\"localhost:21022\",permitopen=\"localhost:*\"", _AUDIT_CHECK_INVALID },
                { "permitlisten=\"localhost:21022\",permitopen=\"*:21022\"", _AUDIT_CHECK_INVALID },
                { "permitlisten=\"21022\",permitopen=\"localhost:21022\"", _AUDIT_CHECK_INVALID },
                { "permitlisten=\"127.0.0.1:21022\",permitopen=\"127.0.0.1:21022\"", _AUDIT_CHECK_INVALID },
                { "permitlisten=\"localhost:21022\",permitlisten=\"localhost:22022\",permitopen=\"localhost:21022\"",
                  AUDIT_PERMITOPEN_MISSING },
        };
        char text[600];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(text, sizeof text, "%s%s %s h\n", base, cases[i].opts, ED1);
                audit_findings f = audit_text(text, JAN_2026);
                if (cases[i].check == _AUDIT_CHECK_INVALID)
                        assert_checks(&f, NULL, 0);
                else
                        assert_checks(&f, &cases[i].check, 1);
                audit_findings_done(&f);
        }
        snprintf(text, sizeof text, "%s%s %s h\n", base, cases[1].opts, ED1);
        audit_findings f = audit_text(text, JAN_2026);
        assert_true(strstr(f.items[0].message, "sshd reads \"any\" as a port name it does not know"));
        audit_findings_done(&f);
        snprintf(text, sizeof text, "%s%s %s h\n", base, cases[7].opts, ED1);
        f = audit_text(text, JAN_2026);
        assert_true(strstr(f.items[0].message, "own listen port 22022:"));
        audit_findings_done(&f);
}

static void test_line_level_checks(void **state) {
        /* No name, the same key twice, a CA, a NUL byte, a refused line. */
        const char text[] = CLEAN_OPTS " " ED1 "\n"
                            CLEAN_OPTS " " ED1 " again\n"
                            "cert-authority," CLEAN_OPTS " " ED2 " the-ca\n"
                            "garbage\n"
                            CLEAN_OPTS " " ED3 " nul\0 rest\n";
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k = {};
        audit_findings f = {};
        assert_int_equal(authkeys_parse(&k, "t", text, sizeof text - 1), 0);
        assert_int_equal(audit_key_lines(&k, &s, JAN_2026, &f), 0);
        audit_findings_sort(&f);
        assert_int_equal(the(&f, AUDIT_NO_HOST_NAME)->line, 1);
        assert_int_equal(the(&f, AUDIT_DUPLICATE_KEY)->line, 2);
        assert_string_equal(the(&f, AUDIT_DUPLICATE_KEY)->message,
                            "the same key (" ED1_FP ") as t:1: sshd uses the first of them that lets the host in, so "
                            "this line's options and ports may never apply; keep one line per key");
        assert_int_equal(the(&f, AUDIT_CERT_AUTHORITY)->line, 3);
        assert_int_equal(the(&f, AUDIT_CERT_AUTHORITY)->severity, AUDIT_INFO);
        assert_int_equal(the(&f, AUDIT_KEY_LINE_INVALID)->line, 4);
        assert_string_equal(the(&f, AUDIT_KEY_LINE_INVALID)->message, "unknown key type \"garbage\"");
        assert_null(the(&f, AUDIT_KEY_LINE_INVALID)->host);
        assert_int_equal(the(&f, AUDIT_NUL_BYTE)->line, 5);
        /* Lines 1, 2 and 5 share 21022 (the CA line is not in the port table). */
        assert_int_equal(count(&f, AUDIT_PORT_SHARED), 3);
        assert_int_equal(f.n, 8);
        audit_findings_done(&f);
        authkeys_done(&k);

        /* Dropped problems are counted in one finding. */
        k = (authkeys) {};
        _cleanup_(freep) char *many = malloc(3 * (AUTHKEYS_PROBLEMS_MAX + 5));
        for (int i = 0; i < AUTHKEYS_PROBLEMS_MAX + 5; i++)
                memcpy(many + 2 * i, "x\n", 2);
        assert_int_equal(authkeys_parse(&k, "t", many, 2 * (AUTHKEYS_PROBLEMS_MAX + 5)), 0);
        assert_int_equal(audit_key_lines(&k, &s, JAN_2026, &f), 0);
        assert_int_equal(f.n, AUTHKEYS_PROBLEMS_MAX + 1);
        assert_string_equal(f.items[f.n - 1].message, "5 more lines sshd would refuse are not listed");
        assert_null(f.items[f.n - 1].file);
        audit_findings_done(&f);
        authkeys_done(&k);
}

static void test_sshd_checks(void **state) {
        const char *keys = CLEAN_OPTS " " ED1 " web\n"
                           "restrict,port-forwarding,permitlisten=\"21023\" " ED2 " db\n"
                           "restrict,port-forwarding,permitlisten=\"[::1]:21024\" " ED3 " iot\n";
        audit_findings f = audit_sshd_text("clientaliveinterval 15\ngatewayports no\nallowtcpforwarding yes\n"
                                           "disableforwarding no\npermitlisten any\n", keys);
        assert_checks(&f, NULL, 0);
        audit_findings_done(&f);
        f = audit_sshd_text("", keys);
        assert_checks(&f, NULL, 0);
        audit_findings_done(&f);

        f = audit_sshd_text("clientaliveinterval 0\ngatewayports yes\nallowtcpforwarding local\ndisableforwarding yes\n"
                            "PermitListen none\n", keys);
        assert_int_equal(f.n, 5);
        const audit_finding *x = the(&f, AUDIT_CLIENT_ALIVE_OFF);
        assert_int_equal(x->severity, AUDIT_WARNING);
        assert_string_equal(x->file, "/etc/ssh/sshd_config");
        assert_int_equal(x->line, 0);
        assert_null(x->host);
        assert_true(strstr(x->message, "set ClientAliveInterval 15 and ClientAliveCountMax 3"));
        assert_int_equal(the(&f, AUDIT_GATEWAY_PORTS)->severity, AUDIT_ERROR);
        assert_int_equal(count(&f, AUDIT_TCP_FORWARDING_OFF), 2);
        assert_true(strstr(the(&f, AUDIT_PERMITLISTEN_GLOBAL)->message, "PermitListen none"));
        audit_findings_done(&f);

        f = audit_sshd_text("gatewayports clientspecified\nallowtcpforwarding remote\n", keys);
        assert_checks(&f, (audit_check[]) { AUDIT_GATEWAY_PORTS }, 1);
        assert_int_equal(f.items[0].severity, AUDIT_WARNING);
        audit_findings_done(&f);
        f = audit_sshd_text("allowtcpforwarding no\n", keys);
        assert_checks(&f, (audit_check[]) { AUDIT_TCP_FORWARDING_OFF }, 1);
        assert_true(strstr(f.items[0].message, "AllowTcpForwarding no: sshd refuses every -R"));
        audit_findings_done(&f);
}

static void test_sshd_global_permitlisten(void **state) {
        const char *keys = CLEAN_OPTS " " ED1 " web\n"
                           "restrict,port-forwarding,permitlisten=\"21023\" " ED2 " db\n"
                           "restrict,port-forwarding,permitlisten=\"[::1]:21024\" " ED3 " iot\n";
        /* All three allowed: a bare key port (host "*") needs only the port; brackets and case don't matter. */
        audit_findings f = audit_sshd_text("permitlisten LOCALHOST:21022 localhost:21023 [::1]:21024\n", keys);
        assert_checks(&f, NULL, 0);
        audit_findings_done(&f);
        f = audit_sshd_text("permitlisten *:*\n", keys);
        assert_checks(&f, NULL, 0);
        audit_findings_done(&f);
        f = audit_sshd_text("permitlisten local*:21022 *:21024\n", keys);
        assert_checks(&f, (audit_check[]) { AUDIT_PERMITLISTEN_GLOBAL }, 1);
        assert_int_equal(f.items[0].line, 2);
        assert_string_equal(f.items[0].host, "db");
        assert_string_equal(f.items[0].message,
                            "permitlisten=\"21023\" is not allowed by sshd's global PermitListen (local*:21022 *:21024): sshd "
                            "refuses the host's -R; add it to PermitListen in /etc/ssh/sshd_config or remove PermitListen");
        audit_findings_done(&f);
        f = audit_sshd_text("permitlisten 127.0.0.1:21022 *:21023 *:21024\n", keys);
        assert_checks(&f, (audit_check[]) { AUDIT_PERMITLISTEN_GLOBAL }, 1);
        assert_int_equal(f.items[0].line, 1);
        audit_findings_done(&f);
}

static void test_output_forms(void **state) {
        audit_findings f = {};
        assert_int_equal(audit_add(&f, "t", 3, "web", AUDIT_NO_COMMAND, AUDIT_WARNING, "no %s", "command"), 0);
        assert_int_equal(audit_add(&f, "/etc/ssh/sshd_config", 0, NULL, AUDIT_CLIENT_ALIVE_OFF, AUDIT_WARNING, "x"), 0);
        assert_int_equal(audit_add(&f, NULL, 0, NULL, AUDIT_KEY_LINE_INVALID, AUDIT_ERROR, "y"), 0);
        assert_int_equal(audit_add(&f, "t", 1, "bad\xff\nname", AUDIT_NO_FROM, AUDIT_INFO, "z"), 0);
        audit_findings_sort(&f);
        const char *want[] = { "error: key_line_invalid: y", "/etc/ssh/sshd_config: warning: client_alive_off: x",
                               "t:1: info: no_from: z (host bad\xff\\nname)", "t:3: warning: no_command: no command (host web)" };
        for (size_t i = 0; i < f.n; i++) {
                _cleanup_(freep) char *s = audit_finding_format(&f.items[i]);
                assert_string_equal(s, want[i]);
        }
        json_t *j = audit_findings_to_json(&f);
        assert_non_null(j);
        _cleanup_(freep) char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_string_equal(s, "{\"findings\":["
                               "{\"file\":null,\"line\":null,\"host\":null,\"check\":\"key_line_invalid\",\"severity\":\"error\",\"message\":\"y\"},"
                               "{\"file\":\"/etc/ssh/sshd_config\",\"line\":null,\"host\":null,\"check\":\"client_alive_off\",\"severity\":\"warning\",\"message\":\"x\"},"
                               "{\"file\":\"t\",\"line\":1,\"host\":\"bad?\\nname\",\"check\":\"no_from\",\"severity\":\"info\",\"message\":\"z\"},"
                               "{\"file\":\"t\",\"line\":3,\"host\":\"web\",\"check\":\"no_command\",\"severity\":\"warning\",\"message\":\"no command\"}]}");
        unsigned counts[_AUDIT_CHECK_MAX][_AUDIT_SEVERITY_MAX];
        audit_findings_count(&f, counts);
        assert_int_equal(counts[AUDIT_NO_FROM][AUDIT_INFO], 1);
        assert_int_equal(counts[AUDIT_NO_FROM][AUDIT_ERROR], 0);
        assert_int_equal(counts[AUDIT_KEY_LINE_INVALID][AUDIT_ERROR], 1);
        assert_true(audit_findings_fail(&f));
        audit_findings_done(&f);

        /* Info alone does not fail the audit. */
        assert_int_equal(audit_add(&f, "t", 1, NULL, AUDIT_NO_FROM, AUDIT_INFO, "z"), 0);
        assert_false(audit_findings_fail(&f));
        audit_findings_done(&f);
        j = audit_findings_to_json(&f);
        _cleanup_(freep) char *empty = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_string_equal(empty, "{\"findings\":[]}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_complete),
                cmocka_unit_test(test_clean_line),
                cmocka_unit_test(test_article_line),
                cmocka_unit_test(test_bare_key),
                cmocka_unit_test(test_restrict_variants),
                cmocka_unit_test(test_permitlisten_checks),
                cmocka_unit_test(test_port_shared),
                cmocka_unit_test(test_permitopen_checks),
                cmocka_unit_test(test_line_level_checks),
                cmocka_unit_test(test_sshd_checks),
                cmocka_unit_test(test_sshd_global_permitlisten),
                cmocka_unit_test(test_output_forms),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
