/* discover_properties.c's map: a GetAll reply built by hand, read into unit_info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "../../monitor/discover_properties.h"

/* sd-bus makes messages only on a started bus: one on a socketpair nobody answers (no D-Bus needed);
 * *peer is the other end, to close after the bus. */
static sd_bus *bus_new(int *peer) {
        sd_bus *bus = NULL;
        int s[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
        *peer = s[1];
        assert_int_equal(sd_bus_new(&bus), 0);
        assert_int_equal(sd_bus_set_fd(bus, s[0], s[0]), 0);
        assert_true(sd_bus_start(bus) >= 0);
        return bus;
}

/* A sealed a{sv} message, rewound for reading, as sd-bus hands a reply to a callback. */
static sd_bus_message *reply_new(sd_bus *bus, void (*append)(sd_bus_message *m)) {
        sd_bus_message *m = NULL;
        assert_int_equal(sd_bus_message_new_signal(bus, &m, "/t", "t.T", "GetAll"), 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        append(m);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_true(sd_bus_message_rewind(m, true) >= 0);
        return m;
}

static void append_service(sd_bus_message *m) {
        assert_true(sd_bus_message_append(m, "{sv}", "LoadState", "s", "loaded") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "ActiveState", "s", "activating") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "SubState", "s", "auto-restart") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "Result", "s", "exit-code") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "User", "s", "tunnel") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "Description", "s", "not kept") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "MainPID", "u", (uint32_t) 4242) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "NRestarts", "u", (uint32_t) 7) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "ExecMainStartTimestamp", "t", (uint64_t) 1700000000000000) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "Environment", "as", 2, "A=1", "B=2") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "EnvironmentFiles", "a(sb)", 2, "/etc/a", 0, "/etc/b", 1) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "ExecStart", "a(sasbttttuii)", 2,
                                          "/usr/bin/ssh", 3, "ssh", "-N", "bastion", 0, 0, 0, 0, 0, 0, 0, 0,
                                          "/bin/false", 1, "false", 0, 0, 0, 0, 0, 0, 0, 0) >= 0);
}

static void test_service(void **state) {
        int peer;
        sd_bus *bus = bus_new(&peer);
        sd_bus_message *m = reply_new(bus, append_service);
        unit_info u = { .active_state = _UNIT_ACTIVE_STATE_INVALID };

        assert_true(unit_info_read_properties(m, &u) >= 0);
        assert_string_equal(u.load_state, "loaded");
        assert_int_equal(u.active_state, UNIT_ACTIVATING);
        assert_string_equal(u.sub_state, "auto-restart");
        assert_string_equal(u.result, "exit-code");
        assert_string_equal(u.user, "tunnel");
        assert_int_equal(u.main_pid, 4242);
        assert_int_equal(u.n_restarts, 7);
        assert_int_equal(u.started_at, 1700000000000000ULL);
        assert_int_equal(strv_length(u.environment), 2);
        assert_string_equal(u.environment[1], "B=2");
        assert_int_equal(strv_length(u.environment_files), 2);
        assert_string_equal(u.environment_files[0], "/etc/a");
        assert_string_equal(u.environment_files[1], "-/etc/b");
        assert_string_equal(u.exec_path, "/usr/bin/ssh"); /* the first command only */
        assert_int_equal(strv_length(u.exec_argv), 3);
        assert_string_equal(u.exec_argv[2], "bastion");
        assert_null(u.load_error);

        unit_info_done(&u);
        sd_bus_message_unref(m);
        sd_bus_close_unref(bus);
        close(peer);
}

static void append_not_loaded(sd_bus_message *m) {
        assert_true(sd_bus_message_append(m, "{sv}", "User", "s", "") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "LoadError", "(ss)", "org.freedesktop.systemd1.NoSuchUnit",
                                          "Unit x.service not found.") >= 0);
}

static void append_load_error_name_only(sd_bus_message *m) {
        assert_true(sd_bus_message_append(m, "{sv}", "LoadError", "(ss)", "org.freedesktop.systemd1.BadSetting",
                                          "") >= 0);
}

static void append_no_load_error(sd_bus_message *m) {
        assert_true(sd_bus_message_append(m, "{sv}", "LoadError", "(ss)", "", "") >= 0);
}

static void test_load_error_and_empty_user(void **state) {
        int peer;
        sd_bus *bus = bus_new(&peer);
        static void (*const appends[])(sd_bus_message *m) = { append_not_loaded, append_load_error_name_only,
                                                              append_no_load_error };
        static const char *const want[] = { "Unit x.service not found.", "org.freedesktop.systemd1.BadSetting", NULL };
        for (size_t i = 0; i < ELEMENTSOF(appends); i++) {
                sd_bus_message *m = reply_new(bus, appends[i]);
                unit_info u = { .user = strdup("old") };
                assert_true(unit_info_read_properties(m, &u) >= 0);
                if (i == 0)
                        assert_null(u.user); /* "" is root: NULL */
                if (want[i])
                        assert_string_equal(u.load_error, want[i]);
                else
                        assert_null(u.load_error);
                unit_info_done(&u);
                sd_bus_message_unref(m);
        }
        sd_bus_close_unref(bus);
        close(peer);
}

static void append_wrong_type(sd_bus_message *m) {
        assert_true(sd_bus_message_append(m, "{sv}", "MainPID", "s", "4242") >= 0);
}

static void test_wrong_type_is_an_error(void **state) {
        int peer;
        sd_bus *bus = bus_new(&peer);
        sd_bus_message *m = reply_new(bus, append_wrong_type);
        unit_info u = {};
        assert_true(unit_info_read_properties(m, &u) < 0);
        assert_int_equal(u.main_pid, 0);
        unit_info_done(&u);
        sd_bus_message_unref(m);
        sd_bus_close_unref(bus);
        close(peer);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_service),
                cmocka_unit_test(test_load_error_and_empty_user),
                cmocka_unit_test(test_wrong_type_is_an_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
