/* How config_load reads its files (issue 9, defects 5 and 7): FIFOs and oversized files as --config and
 * url_file are refused fast with FILE in the message, a NUL byte is named as such with its line, an url's
 * value never appears in a message, control characters are escaped, 60,000 sections load quickly. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "../../monitor/config.h"
#include "../../probes/probe.h"
#include "test_files.h"


/* config_load with stderr captured into err. */
static int load_capture(config *c, const char *path, char *const *overrides, char *err, size_t size) {
        stderr_capture cap;
        stderr_capture_begin(&cap);
        int r = config_load(c, path, overrides);
        stderr_capture_end(&cap, err, size);
        return r;
}

/* Loads path in a child killed after 3 s (a FIFO used to block the open forever): the child checks that
 * the load failed with exactly want on stderr. */
static void load_in_child_expect(const char *path, const char *want) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char err[2048];
                config c;
                alarm(3);
                int r = load_capture(&c, path, NULL, err, sizeof err);
                if (r >= 0 || !streq(err, want)) {
                        fprintf(stderr, "r=%d\n got: %s want: %s", r, err, want);
                        _exit(1);
                }
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("loading %s hung (killed by signal %d)", path, WTERMSIG(status));
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_fifo_config(void **state) {
        const char *p = test_path("fifo.conf");
        char want[512];
        assert_int_equal(mkfifo(p, 0600), 0);
        snprintf(want, sizeof want, "%s: not a regular file\n", p);
        load_in_child_expect(p, want);
        /* A directory too, and /dev/zero (endless). */
        snprintf(want, sizeof want, "%s: Is a directory\n", test_dir);
        load_in_child_expect(test_dir, want);
        load_in_child_expect("/dev/zero", "/dev/zero: not a regular file\n");
}

static void test_fifo_url_file(void **state) {
        const char *fifo = test_path("url.fifo");
        char text[512], want[1024];
        assert_int_equal(mkfifo(fifo, 0600), 0);
        snprintf(text, sizeof text, "[alert s]\ntype = slack\nurl_file = %s\n", fifo);
        const char *p = test_write_text("fifo-url.conf", text);
        snprintf(want, sizeof want, "%s:3: cannot read url_file \"%s\" for alert.s.url_file (not a regular file)\n", p,
                 fifo);
        load_in_child_expect(p, want);
}

static void test_big_config(void **state) {
        size_t n = CONFIG_FILE_MAX + 1;
        char *text = malloc(n), err[1024], want[512];
        assert_non_null(text);
        /* Valid through and through: only its size is wrong. */
        memset(text, '#', n);
        for (size_t i = 79; i < n; i += 80)
                text[i] = '\n';
        const char *p = test_write("big.conf", text, n);
        config c;
        assert_true(load_capture(&c, p, NULL, err, sizeof err) < 0);
        snprintf(want, sizeof want, "%s: file too large (more than %d bytes)\n", p, CONFIG_FILE_MAX);
        assert_string_equal(err, want);

        /* Exactly at the cap is fine. */
        p = test_write("big.conf", text, n - 1);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        config_done(&c);
        free(text);
}

static void test_big_url_file(void **state) {
        size_t n = CONFIG_URL_FILE_MAX + 100;
        char *url = malloc(n + 1), text[512], err[1024], want[1024];
        assert_non_null(url);
        memcpy(url, "https://", 8);
        memset(url + 8, 'a', n - 8);
        url[n] = 0;
        const char *u = test_write_text("big.url", url);
        snprintf(text, sizeof text, "[alert s]\ntype = slack\nurl_file = %s\n", u);
        const char *p = test_write_text("big-url.conf", text);
        config c;
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:3: cannot read url_file \"%s\" for alert.s.url_file (larger than 8 KiB)\n", p, u);
        assert_string_equal(err, want);
        free(url);
}

/* A Slack URL is a secret: a mistake in it is named by key and line, never shown. */
static void test_url_not_echoed(void **state) {
        char err[1024], want[512];
        config c;
        const char *p = test_write_text("secret.conf", "[alert s]\ntype = slack\n"
                                                  "url = hooks.slack.com/services/T0/B0/SECRETXYZ\n");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:3: invalid url for alert.s.url (must start with http:// or https://)\n", p);
        assert_string_equal(err, want);
        assert_null(strstr(err, "SECRETXYZ"));

        const char *u = test_write_text("secret.url", "hooks.slack.com/services/T0/B0/SECRETXYZ\n");
        char text[512];
        snprintf(text, sizeof text, "[alert s]\ntype = slack\nurl_file = %s\n", u);
        p = test_write_text("secret-file.conf", text);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, ":3: invalid url in url_file"));
        assert_null(strstr(err, "SECRETXYZ"));

        char *const ov[] = { (char *) "alert.s.url=hooks.slack.com/SECRETXYZ", NULL };
        p = test_write_text("ov.conf", "[alert s]\ntype = slack\n");
        assert_int_equal(load_capture(&c, p, ov, err, sizeof err), -EINVAL);
        assert_string_equal(err, "--alert.s.url: invalid url (must start with http:// or https://)\n");
}

static void test_nul_byte(void **state) {
        static const char text[] = "[monitor]\ntimeout = 5s\ninterval = 1\0s\n";
        char err[1024], want[512];
        config c;
        const char *p = test_write("nul.conf", text, sizeof text - 1);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:3: NUL byte in line (not a text file?)\n", p);
        assert_string_equal(err, want);

        /* In url_file too: the URL must not be silently cut at the NUL. */
        static const char url[] = "https://hooks.example/\0SECRET\n";
        const char *u = test_write("nul.url", url, sizeof url - 1);
        char conf[512];
        snprintf(conf, sizeof conf, "[alert s]\ntype = slack\nurl_file = %s\n", u);
        p = test_write_text("nul-url.conf", conf);
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:3: cannot read url_file \"%s\" for alert.s.url_file (NUL byte in its first line)\n",
                 p, u);
        assert_string_equal(err, want);
}

/* A value or name is quoted in messages: its control characters must not reach the terminal raw. */
static void test_control_chars_escaped(void **state) {
        char err[1024], want[512];
        config c;
        const char *p = test_write_text("ctl.conf", "[monitor]\ntimeout = 1\x1b[2J\r\n");
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want,
                 "%s:2: invalid duration \"1\\x1b[2J\" for monitor.timeout (e.g. 250ms, 10s, 5m, 1h, 1m30s)\n", p);
        assert_string_equal(err, want);

        char *const ov[] = { (char *) "monitor.probe=x\ny\x07", NULL };
        p = test_write_text("ok.conf", "[monitor]\n");
        assert_int_equal(load_capture(&c, p, ov, err, sizeof err), -EINVAL);
        assert_string_equal(err, "--monitor.probe: invalid probe \"x\\ny\\x07\" (auto, mux, ssh, tcp or none)\n");
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 60,000 [tunnel] sections took 6 s and 170 MB (a linear search per section, a compiled regex per
 * tunnel). Generous bounds: a busy machine, sanitizers. */
static void test_many_sections(void **state) {
        enum { N = 60000 };
        size_t cap = CONFIG_FILE_MAX, n = 0;
        char *text = malloc(cap), err[1024];
        assert_non_null(text);
        for (unsigned i = 0; i < N; i++)
                n += (size_t) snprintf(text + n, cap - n, "[tunnel t%u]\n", i);
        /* A repeated section merges into the first. */
        n += (size_t) snprintf(text + n, cap - n, "[tunnel t5]\ntimeout = 3s\n");
        assert_true(n < cap);
        const char *p = test_write("many.conf", text, n);
        free(text);

        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        double t0 = now_s();
        config c;
        assert_int_equal(load_capture(&c, p, NULL, err, sizeof err), 0);
        double t1 = now_s();
        getrusage(RUSAGE_SELF, &after);
        assert_int_equal(c.n_tunnels, N);
        const tunnel_config *t = config_tunnel_for_unit(&c, "t5.service");
        assert_non_null(t);
        assert_int_equal(t->settings.timeout, 3 * USEC_PER_SEC);
        assert_non_null(config_tunnel_for_unit(&c, "t59999.service"));
        assert_null(config_tunnel_for_unit(&c, "t60000.service"));
        /* Sharing the global compiled pattern must still match. */
        regex_t re;
        assert_int_equal(expect_compile(config_tunnel_for_unit(&c, "t1.service")->settings.expect, &re, NULL, 0), 0);
        assert_int_equal(regexec(&re, "SSH-2.0-x", 0, NULL, 0), 0);
        regfree(&re);
        config_done(&c);

        print_message("60,000 sections: %.3f s, max RSS +%ld KiB\n", t1 - t0, after.ru_maxrss - before.ru_maxrss);
        if (t1 - t0 > 3.0)
                fail_msg("60,000 sections took %.2f s", t1 - t0);
#if !defined(__SANITIZE_ADDRESS__)
        if (after.ru_maxrss - before.ru_maxrss > 64 * 1024)
                fail_msg("60,000 sections cost %ld KiB", after.ru_maxrss - before.ru_maxrss);
#endif
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fifo_config),
                cmocka_unit_test(test_fifo_url_file),
                cmocka_unit_test(test_big_config),
                cmocka_unit_test(test_big_url_file),
                cmocka_unit_test(test_url_not_echoed),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_control_chars_escaped),
                cmocka_unit_test(test_many_sections),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
