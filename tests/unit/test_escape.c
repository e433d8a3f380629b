/* Names from D-Bus, ssh_config and the state file printed by `status` and in log lines (issue 9,
 * defect 7): a newline or an escape sequence in one is printed escaped, so it cannot forge a row or a
 * journal line, nor drive the terminal. */
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/base/log.h"
#include "../../monitor/status_print.h"
#include "fake_monitor.h"

static const char evil_unit[] = "reverse-ssh@x\n<3>forged\x1b[2J.service";
static const char evil_host[] = "b\tad\x1b]0;title\x07host:22";

static bool has_raw_control(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f)
                        return true;
        return false;
}

static size_t count_lines(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_status_table_escaped(void **state) {
        monitor m = {};
        fake_monitor_add(&m, &(fake_tunnel) { .name = evil_unit, .bastion = evil_host, .forward = "localhost:21022",
                                               .state = TUNNEL_DOWN, .probed = true });
        fake_monitor_add(&m, &(fake_tunnel) { .name = "reverse-ssh@ok.service", .bastion = "ok:22",
                                               .forward = "localhost:21023", .state = TUNNEL_UP, .probed = true });
        snprintf(m.tunnels[0]->reason_text, sizeof m.tunnels[0]->reason_text, "timeout\nreverse-ssh@z up");

        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        assert_non_null(f);
        status_print(&m, false, f);
        fclose(f);
        /* Header, two rows, summary: nothing more. */
        assert_int_equal(count_lines(text), 4);
        assert_false(has_raw_control(text, size));
        assert_non_null(strstr(text, "reverse-ssh@x\\n<3>forged\\x1b[2J.service"));
        assert_non_null(strstr(text, "b\\tad\\x1b]0;title\\x07host:22"));
        assert_non_null(strstr(text, "timeout\\nreverse-ssh@z up"));
        /* Columns still line up: the escaped name sets the width. */
        const char *row2 = strstr(text, "reverse-ssh@ok.service");
        assert_non_null(row2);
        assert_int_equal(strstr(row2, "ok:22") - row2, (ptrdiff_t) strlen("reverse-ssh@x\\n<3>forged\\x1b[2J.service") + 2);
        free(text);

        /* --json: jansson's escapes, and the value reads back the same. */
        f = open_memstream(&text, &size);
        status_print(&m, true, f);
        fclose(f);
        assert_false(has_raw_control(text, size));
        json_error_t e;
        json_t *root = json_loads(text, 0, &e);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(root, "tunnels"), 0), "name")),
                            evil_unit);
        json_decref(root);
        free(text);
        fake_monitor_done(&m);
}

/* Every log line: the priority prefix, the message escaped, one trailing newline. */
static void test_log_line_escaped(void **state) {
        char path[] = "/tmp/test-escape-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        setenv("JOURNAL_STREAM", "8:1", 1);
        log_open();
        log_warning("Restarting %s (bastion %s).", evil_unit, evil_host);
        assert_int_equal(log_error_errno(EIO, "Unit %s: %m", "a\rb"), -EIO);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        unsetenv("JOURNAL_STREAM");
        log_open();

        char buf[2048];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        unlink(path);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "<4>Restarting reverse-ssh@x\\n<3>forged\\x1b[2J.service (bastion "
                                 "b\\tad\\x1b]0;title\\x07host:22).\n"
                                 "<3>Unit a\\rb: Input/output error\n");
}

static void test_escape_helpers(void **state) {
        char small[8];
        /* Truncation never leaves half an escape. */
        assert_string_equal(escape_control_to(small, sizeof small, "ab\x01xyz"), "ab\\x01x");
        assert_string_equal(escape_control_to(small, sizeof small, "abcd\x01"), "abcd");
        char *s = escape_control("plain UTF-8 \xc3\xa9 and \\ stay");
        assert_string_equal(s, "plain UTF-8 \xc3\xa9 and \\ stay");
        free(s);
        assert_int_equal(escape_control_len("\n\x7f"), 6);
}

static char *fmt_one(const char *fmt, ...) _printf_(1, 2);
static char *fmt_one(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = vstrdupf(fmt, ap);
        va_end(ap);
        return s;
}

/* base/util.c's growth rule of the findings lists and their message formatter. */
static void test_greedy_realloc(void **state) {
        _cleanup_(freep) int *a = NULL;
        size_t allocated = 0;
        assert_int_equal(greedy_realloc((void **) &a, &allocated, 1, sizeof *a), 0);
        assert_int_equal(allocated, 16);
        a[15] = 7;
        assert_int_equal(greedy_realloc((void **) &a, &allocated, 16, sizeof *a), 0); /* fits: unchanged */
        assert_int_equal(allocated, 16);
        assert_int_equal(greedy_realloc((void **) &a, &allocated, 17, sizeof *a), 0);
        assert_int_equal(allocated, 32);
        assert_int_equal(a[15], 7);
        assert_int_equal(greedy_realloc((void **) &a, &allocated, 200, sizeof *a), 0);
        assert_int_equal(allocated, 256);
        assert_int_equal(greedy_realloc((void **) &a, &allocated, SIZE_MAX, sizeof *a), -ENOMEM);
        assert_int_equal(allocated, 256);
        assert_int_equal(a[15], 7);

        _cleanup_(freep) char *s = fmt_one("%s:%u", "keys", 3u);
        assert_string_equal(s, "keys:3");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_table_escaped),
                cmocka_unit_test(test_log_line_escaped),
                cmocka_unit_test(test_escape_helpers),
                cmocka_unit_test(test_greedy_realloc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
