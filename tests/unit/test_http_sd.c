/* Prometheus http_sd from the bastion's port table (exporters/http_sd.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bastion_fixtures.h"
#include "../../exporters/http_sd.h"

static char *render(const char *file_text) {
        authkeys keys = {};
        bastion_settings s;
        port_table t = {};
        char *text = NULL;
        size_t len = 0;

        bastion_settings_init(&s);
        assert_int_equal(authkeys_parse(&keys, "keys", file_text, strlen(file_text)), 0);
        assert_int_equal(port_table_build(&keys, &s, &t), 0);
        assert_int_equal(http_sd_render(&t, &text, &len), 0);
        assert_int_equal(len, strlen(text));
        port_table_done(&t);
        authkeys_done(&keys);
        return text;
}

static void test_sd(void **state) {
        char *text = render("");
        assert_string_equal(text, "[]");
        free(text);

        /* web has ssh 21022 and its metrics 22022; db has ssh only; "odd" a metrics port and a quote in its name */
        text = render("restrict,port-forwarding,permitlisten=\"localhost:21022\",permitlisten=\"localhost:22022\" " ED1
                      " web-server-1\n"
                      "restrict,port-forwarding,permitlisten=\"localhost:21023\" " ED2 " db-server-1\n"
                      "restrict,port-forwarding,permitlisten=\"21024\",permitlisten=\"22024\" " ED3 " a\"b\n");
        assert_string_equal(text, "[{\"targets\":[\"127.0.0.1:22022\"],\"labels\":{\"host\":\"web-server-1\"}},"
                                  "{\"targets\":[\"127.0.0.1:22024\"],\"labels\":{\"host\":\"a\\\"b\"}}]");
        free(text);
}

/* A metrics port with no host name is left out: Prometheus would get an empty label. */
static void test_sd_unnamed(void **state) {
        char *text = render("restrict,port-forwarding,permitlisten=\"localhost:21022\",permitlisten=\"localhost:22022\" "
                            ED1 "\n");
        assert_string_equal(text, "[]");
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sd),
                cmocka_unit_test(test_sd_unnamed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
