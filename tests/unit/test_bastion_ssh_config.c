/* `bastion ssh-config` output (monitor/bastion/ssh_config_blocks.c): blocks, order, and names that cannot
 * inject ssh_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bastion_fixtures.h"
#include "../../monitor/bastion/ssh_config_blocks.h"

static char *blocks_of(const char *text, const char *bastion, int *r) {
        bastion_settings s;
        bastion_settings_init(&s);
        authkeys k;
        port_table t = {};
        char *out = NULL;
        parse_text(&k, text);
        assert_int_equal(port_table_build(&k, &s, &t), 0);
        *r = ssh_config_blocks(&t, bastion, &out);
        port_table_done(&t);
        authkeys_done(&k);
        return out;
}

static void test_blocks_sorted(void **state) {
        int r;
        char *out = blocks_of("permitlisten=\"localhost:21023\",permitlisten=\"localhost:22023\" " ED2 " web-server-1\n"
                              "permitlisten=\"localhost:21022\" " ED1 " db-server-1\n"
                              "permitlisten=\"localhost:22500\" " ED3 " only-a-service\n"
                              "permitlisten=\"localhost:21024\" " EC256 "\n", /* no name: left out */
                              "bastion.example.com", &r);
        assert_int_equal(r, 0);
        assert_string_equal(out, "Host db-server-1\n"
                                 "    HostName localhost\n"
                                 "    Port 21022\n"
                                 "    ProxyJump bastion.example.com\n"
                                 "\n"
                                 "Host web-server-1\n"
                                 "    HostName localhost\n"
                                 "    Port 21023\n"
                                 "    ProxyJump bastion.example.com\n"
                                 "\n");
        free(out);
        out = blocks_of("", "admin@bastion:2222", &r);
        assert_int_equal(r, 0);
        assert_string_equal(out, "");
        free(out);
}

/* A comment is the admin's text: nothing in it may become a pattern, a second name or a directive. */
static void test_names_cannot_inject(void **state) {
        const struct {
                const char *comment, *name;
        } cases[] = {
                { "web server 1", "web_server_1" },
                { "a ProxyCommand=sh -c x", "a_ProxyCommand_sh_-c_x" },
                { "*", "_" },
                { "!web?", "_web_" },
                { "-oProxyCommand", "_oProxyCommand" },
                { ".hidden", "_hidden" },
                { "h\"#x%y,z", "h__x_y_z" },
                { "h\tx\r", "h_x" }, /* the tab splits nothing: the comment keeps it; the CR is the line's end */
                { "h\xc3\xa9", "h__" },
        };
        char text[400], want[400];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r;
                snprintf(text, sizeof text, "permitlisten=\"21022\" %s %s\n", ED1, cases[i].comment);
                char *out = blocks_of(text, "b", &r);
                assert_int_equal(r, 0);
                snprintf(want, sizeof want, "Host %s\n    HostName localhost\n    Port 21022\n    ProxyJump b\n\n", cases[i].name);
                const char *host = strstr(out, "Host ");
                if (!host || !streq(host, want))
                        fail_msg("comment \"%s\": got\n%s", cases[i].comment, out);
                /* Any line before the block is a comment line that names the original, escaped. */
                for (const char *p = out; p < host; p = strchr(p, '\n') + 1)
                        assert_int_equal(*p, '#');
                assert_null(strchr(out, '\t'));
                assert_null(strchr(out, '\r'));
                free(out);
        }
        char *name = ssh_config_host_name("web-server-1.example_2");
        assert_string_equal(name, "web-server-1.example_2");
        free(name);
}

static void test_same_name_twice(void **state) {
        int r;
        /* Key rotation: two lines, one name, one port: one block. Another ssh port: noted, not used. */
        char *out = blocks_of("permitlisten=\"21022\" " ED1 " web\n"
                              "permitlisten=\"21022\" " ED2 " web\n"
                              "permitlisten=\"21030\" " ED3 " web\n"
                              "permitlisten=\"21031\" " EC256 " w b\n"
                              "permitlisten=\"21032\" " RSA1024 " w_b\n",
                              "b", &r);
        assert_int_equal(r, 0);
        /* '_' sorts before 'e'. */
        assert_string_equal(out, "# key comment \"w b\" (t:4), written as w_b\n"
                                 "# also ssh port 21032 (t:5, key comment \"w_b\"): not used here\n"
                                 "Host w_b\n    HostName localhost\n    Port 21031\n    ProxyJump b\n\n"
                                 "# also ssh port 21030 (t:3, key comment \"web\"): not used here\n"
                                 "Host web\n    HostName localhost\n    Port 21022\n    ProxyJump b\n\n");
        free(out);
}

static void test_bastion_value(void **state) {
        const char *ok[] = { "bastion", "admin@bastion.example.com:2222", "jump1,admin@jump2", "[2001:db8::1]:22" };
        const char *bad[] = { "", "two words", "b\nProxyCommand x", "b#x", "\"b\"", "b%h", NULL };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                int r;
                free(blocks_of("", ok[i], &r));
                assert_int_equal(r, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r;
                char *out = blocks_of("permitlisten=\"21022\" " ED1 " h\n", bad[i], &r);
                assert_int_equal(r, -EINVAL);
                assert_null(out);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blocks_sorted),
                cmocka_unit_test(test_names_cannot_inject),
                cmocka_unit_test(test_same_name_twice),
                cmocka_unit_test(test_bastion_value),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
