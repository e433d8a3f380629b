/* sshd -T output (monitor/bastion/sshd_settings.c) and AuthorizedKeysFile expansion (keys_file.c). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/bastion/keys_file.h"
#include "../../monitor/bastion/sshd_settings.h"

static void test_parse_sshd_t(void **state) {
        /* As OpenSSH 9.2 prints it, with the capitalised keys newer versions print. */
        const char text[] = "port 22\n"
                            "clientaliveinterval 0\n"
                            "hostkey /etc/ssh/ssh_host_rsa_key\n"
                            "hostkey /etc/ssh/ssh_host_ed25519_key\n"
                            "authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"
                            "\n"
                            "PermitListen localhost:21022 *:21023\r\n"
                            "IPQoS lowdelay throughput\n"
                            "banner\n"
                            "gatewayports no";
        sshd_settings s = {};
        char err[128] = "";
        assert_int_equal(sshd_settings_parse(text, sizeof text - 1, &s, err, sizeof err), 0);
        assert_int_equal(s.n, 9);
        assert_string_equal(sshd_settings_get(&s, "port"), "22");
        assert_string_equal(sshd_settings_get(&s, "clientaliveinterval"), "0");
        assert_string_equal(sshd_settings_get(&s, "hostkey"), "/etc/ssh/ssh_host_rsa_key"); /* the first */
        assert_string_equal(s.entries[3].value, "/etc/ssh/ssh_host_ed25519_key");
        assert_string_equal(sshd_settings_get(&s, "authorizedkeysfile"), ".ssh/authorized_keys .ssh/authorized_keys2");
        assert_string_equal(sshd_settings_get(&s, "permitlisten"), "localhost:21022 *:21023");
        assert_string_equal(sshd_settings_get(&s, "ipqos"), "lowdelay throughput");
        assert_string_equal(sshd_settings_get(&s, "banner"), "");
        assert_string_equal(sshd_settings_get(&s, "gatewayports"), "no");
        assert_null(sshd_settings_get(&s, "PermitListen"));
        assert_null(sshd_settings_get(&s, "nothere"));
        sshd_settings_done(&s);

        /* Nothing is fine too. */
        assert_int_equal(sshd_settings_parse("", 0, &s, err, sizeof err), 0);
        assert_int_equal(s.n, 0);
        sshd_settings_done(&s);
}

static void test_parse_sshd_t_refuses(void **state) {
        sshd_settings s = {};
        char err[128] = "";
        const struct {
                const char *text;
                size_t size;
                int r;
                const char *err;
        } bad[] = {
                { "port 22\nsshd: no hostkeys available -- exiting.\n", 0, -EBADMSG, "line 2: not \"key value\"" },
                { " port 22\n", 0, -EBADMSG, "line 1: not \"key value\"" },
                { "port-x 22\n", 0, -EBADMSG, "line 1: not \"key value\"" },
                { "port 22\0\n", 9, -EBADMSG, "a NUL byte" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                size_t size = bad[i].size ?: strlen(bad[i].text);
                assert_int_equal(sshd_settings_parse(bad[i].text, size, &s, err, sizeof err), bad[i].r);
                assert_string_equal(err, bad[i].err);
                assert_int_equal(s.n, 0);
        }
        _cleanup_(freep) char *big = malloc(SSHD_SETTINGS_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', SSHD_SETTINGS_MAX + 1);
        assert_int_equal(sshd_settings_parse(big, SSHD_SETTINGS_MAX + 1, &s, err, sizeof err), -EFBIG);
        /* One long line. */
        memcpy(big, "banner ", 7);
        assert_int_equal(sshd_settings_parse(big, SSHD_SETTINGS_LINE_MAX + 10, &s, err, sizeof err), -EBADMSG);
        assert_string_equal(err, "line 1: longer than 65536 bytes");
        /* Too many lines. */
        size_t n = 0;
        for (int i = 0; i < SSHD_SETTINGS_ENTRIES_MAX + 1; i++)
                n += (size_t) sprintf(big + n, "k%d v\n", i);
        assert_int_equal(sshd_settings_parse(big, n, &s, err, sizeof err), -E2BIG);
        assert_int_equal(sshd_settings_parse(big, n - strlen("k4096 v\n"), &s, err, sizeof err), 0);
        assert_int_equal(s.n, SSHD_SETTINGS_ENTRIES_MAX);
        sshd_settings_done(&s);
}

static void test_keys_file_tokens(void **state) {
        const struct {
                const char *pattern, *want;
        } ok[] = {
                { ".ssh/authorized_keys", "/home/rs/.ssh/authorized_keys" }, /* relative: under home */
                { "%h/.ssh/authorized_keys", "/home/rs/.ssh/authorized_keys" },
                { "/etc/ssh/keys/%u", "/etc/ssh/keys/reverse-ssh" },
                { "/etc/ssh/keys/%U.keys", "/etc/ssh/keys/1001.keys" },
                { "/k/100%%", "/k/100%" },
                { "%%h", "/home/rs/%h" },
                { "keys/%u/%U", "/home/rs/keys/reverse-ssh/1001" },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                char *p = NULL;
                assert_int_equal(authorized_keys_path(ok[i].pattern, "reverse-ssh", "/home/rs", 1001, &p), 0);
                assert_string_equal(p, ok[i].want);
                free(p);
        }
        const char *bad[] = { "%d/keys", "/keys/%", "%x", "/k/%%%" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *p = NULL;
                assert_int_equal(authorized_keys_path(bad[i], "u", "/h", 1, &p), -EINVAL);
                assert_null(p);
        }
        /* A home with '%' is inserted as it is. */
        char *p = NULL;
        assert_int_equal(authorized_keys_path("%h/k", "u", "/h%u", 0, &p), 0);
        assert_string_equal(p, "/h%u/k");
        free(p);
        /* PATH_MAX is sshd's bound too. */
        _cleanup_(freep) char *long_home = malloc(PATH_MAX + 1);
        memset(long_home, 'h', PATH_MAX);
        long_home[0] = '/';
        long_home[PATH_MAX] = 0;
        assert_int_equal(authorized_keys_path("%h/k", "u", long_home, 0, &p), -ENAMETOOLONG);
        long_home[PATH_MAX - 2] = 0; /* "HOME/k" is PATH_MAX with its NUL: sshd exits on it */
        assert_int_equal(authorized_keys_path("k", "u", long_home, 0, &p), -ENAMETOOLONG);
}

static void test_keys_file_value(void **state) {
        char **l = NULL;
        assert_int_equal(authorized_keys_paths(".ssh/authorized_keys .ssh/authorized_keys2", "u", "/home/u", 5, &l), 0);
        assert_int_equal(strv_length(l), 2);
        assert_string_equal(l[0], "/home/u/.ssh/authorized_keys");
        assert_string_equal(l[1], "/home/u/.ssh/authorized_keys2");
        strv_free(l);
        l = NULL;
        assert_int_equal(authorized_keys_paths("none", "u", "/home/u", 5, &l), 0);
        assert_non_null(l);
        assert_null(l[0]);
        strv_free(l);
        l = NULL;
        assert_int_equal(authorized_keys_paths("/etc/keys/%u\t%h/k", "u", "/home/u", 5, &l), 0);
        assert_string_equal(l[0], "/etc/keys/u");
        assert_string_equal(l[1], "/home/u/k");
        strv_free(l);
        l = NULL;
        assert_int_equal(authorized_keys_paths("/ok %q", "u", "/home/u", 5, &l), -EINVAL);
        assert_null(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_sshd_t),
                cmocka_unit_test(test_parse_sshd_t_refuses),
                cmocka_unit_test(test_keys_file_tokens),
                cmocka_unit_test(test_keys_file_value),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
