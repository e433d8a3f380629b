/* Port ranges, port kinds and the port table (monitor/bastion/settings.c, ports.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bastion_fixtures.h"
#include "../../monitor/bastion/ports.h"

static void test_port_range_parse(void **state) {
        port_range r;
        assert_int_equal(port_range_parse("21000-21999", &r), 0);
        assert_int_equal(r.first, 21000);
        assert_int_equal(r.last, 21999);
        assert_int_equal(port_range_parse("21022", &r), 0);
        assert_int_equal(r.first, 21022);
        assert_int_equal(r.last, 21022);
        assert_int_equal(port_range_parse("1-65535", &r), 0);
        const char *bad[] = { "", "-", "0-10", "10-0", "21999-21000", "1-65536", " 21000-21999", "21000 - 21999",
                              "+21000-21999", "21000-", "-21999", "a-b", "21000-21999-22000", "123456", NULL };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (port_range_parse(bad[i], &r) != -EINVAL)
                        fail_msg("\"%s\" accepted", strna(bad[i]));

        bastion_settings s;
        bastion_settings_init(&s);
        assert_int_equal(s.ssh_ports.first, 21000);
        assert_int_equal(s.service_ports.last, 22999);
        assert_int_equal(s.metrics_port_offset, 1000);
        assert_int_equal(s.expiry_warning, 30ULL * 24 * 3600 * USEC_PER_SEC);
        assert_string_equal(port_kind_to_string(PORT_KIND_METRICS), "metrics");
        assert_int_equal(port_kind_from_string("service"), PORT_KIND_SERVICE);
        assert_int_equal(port_kind_from_string("x"), _PORT_KIND_INVALID);
}

static void test_port_kinds(void **state) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k;
        const authkey_line *l = parse_one(&k, "permitlisten=\"localhost:21022\",permitlisten=\"localhost:22022\","
                                              "permitlisten=\"localhost:22500\",permitlisten=\"localhost:8080\","
                                              "permitlisten=\"localhost:21999\",permitlisten=\"22999\" " ED1 " h");
        assert_int_equal(port_kind_of(l, 21022, &s), PORT_KIND_SSH);
        /* 22022 = 21022 + 1000 and 21022 is this line's: metrics, though it lies in the service range. */
        assert_int_equal(port_kind_of(l, 22022, &s), PORT_KIND_METRICS);
        assert_int_equal(port_kind_of(l, 22500, &s), PORT_KIND_SERVICE);
        assert_int_equal(port_kind_of(l, 8080, &s), _PORT_KIND_INVALID);
        assert_int_equal(port_kind_of(l, 22999, &s), PORT_KIND_METRICS);
        /* Offset 0: no metrics kind at all. */
        s.metrics_port_offset = 0;
        assert_int_equal(port_kind_of(l, 22022, &s), PORT_KIND_SERVICE);
        /* An offset into no range: still metrics (the relation defines it). */
        s.metrics_port_offset = 40000;
        assert_int_equal(port_kind_of(l, 61022, &s), PORT_KIND_METRICS);
        assert_int_equal(port_kind_of(l, 61000, &s), _PORT_KIND_INVALID); /* 21000 is not this line's */
        authkeys_done(&k);
}

static void test_port_table(void **state) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k;
        parse_text(&k,
                   /* line 1: ssh and metrics */
                   "restrict,port-forwarding,permitlisten=\"localhost:21023\",permitlisten=\"localhost:22023\" " ED1 " db-server-1\n"
                   /* line 2: the same port twice (kept once), a service port, a "*" port and a named one */
                   "permitlisten=\"localhost:21022\",permitlisten=\"21022\",permitlisten=\"22500\",permitlisten=\"localhost:*\","
                   "permitlisten=\"localhost:ssh\" " ED2 " web-server-1\n"
                   /* line 3: a CA (not one host), left out */
                   "cert-authority,permitlisten=\"21030\" " ED3 " ca\n"
                   /* line 4: 22022 without its ssh port on the same line: service; 8080 in no range */
                   "permitlisten=\"22022\",permitlisten=\"8080\" " EC256 " other\n");
        assert_int_equal(k.n_problems, 0);
        port_table t = {};
        assert_int_equal(port_table_build(&k, &s, &t), 0);
        const struct {
                int port;
                port_kind kind;
                unsigned line;
                const char *listen_host;
        } want[] = {
                { 8080, _PORT_KIND_INVALID, 4, "*" },   { 21022, PORT_KIND_SSH, 2, "localhost" },
                { 21023, PORT_KIND_SSH, 1, "localhost" }, { 22022, PORT_KIND_SERVICE, 4, "*" },
                { 22023, PORT_KIND_METRICS, 1, "localhost" }, { 22500, PORT_KIND_SERVICE, 2, "*" },
        };
        assert_int_equal(t.n, ELEMENTSOF(want));
        for (size_t i = 0; i < t.n; i++) {
                assert_int_equal(t.entries[i].port, want[i].port);
                assert_int_equal(t.entries[i].kind, want[i].kind);
                assert_int_equal(t.entries[i].key->line, want[i].line);
                assert_string_equal(t.entries[i].listen_host, want[i].listen_host);
        }
        port_table_done(&t);
        authkeys_done(&k);
}

/* Two lines with the same port: both kept, in file order. */
static void test_port_table_shared_port(void **state) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k;
        parse_text(&k, "permitlisten=\"21022\" " ED2 " b\npermitlisten=\"21022\" " ED1 " a\n");
        port_table t = {};
        assert_int_equal(port_table_build(&k, &s, &t), 0);
        assert_int_equal(t.n, 2);
        assert_int_equal(t.entries[0].key->line, 1);
        assert_int_equal(t.entries[1].key->line, 2);
        port_table_done(&t);
        authkeys_done(&k);
        /* Nothing in, nothing out. */
        k = (authkeys) {};
        assert_int_equal(port_table_build(&k, &s, &t), 0);
        assert_int_equal(t.n, 0);
        port_table_done(&t);
}

/* 4,000 permitlisten entries on one line, many repeated: linear, each port once. */
static void test_port_table_many_entries(void **state) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkey_line l = {};
        _cleanup_(freep) char *opts = malloc(4000 * 24);
        size_t n = 0;
        for (int i = 0; i < 4000; i++)
                n += (size_t) sprintf(opts + n, "permitlisten=\"%d\",", 21000 + i % 1500);
        opts[n - 1] = 0;
        const char *why, *where;
        assert_int_equal(authkey_options_parse(opts, &l, &why, &where), 0);
        l.file = strdup("t");
        l.fingerprint = strdup("x");
        authkeys k = { .lines = &l, .n_lines = 1 };
        port_table t = {};
        assert_int_equal(port_table_build(&k, &s, &t), 0);
        assert_int_equal(t.n, 1500);
        size_t metrics = 0;
        for (size_t i = 0; i < t.n; i++)
                metrics += t.entries[i].kind == PORT_KIND_METRICS;
        assert_int_equal(metrics, 500); /* 22000..22499 = 21000..21499 + 1000 */
        port_table_done(&t);
        authkey_line_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_port_range_parse),
                cmocka_unit_test(test_port_kinds),
                cmocka_unit_test(test_port_table),
                cmocka_unit_test(test_port_table_shared_port),
                cmocka_unit_test(test_port_table_many_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
