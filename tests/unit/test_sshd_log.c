/* sshd's log followed for refused binds (monitor/bastion/sshd_log.c): the line classifier, and a real file
 * appended to while the loop runs (lines cut by a write, an overlong line, a truncation, a rotation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../monitor/bastion/sshd_log.h"

static int refused(const char *s) {
        return sshd_log_refused_port(s, strlen(s));
}

static void test_refused_port(void **state) {
        /* OpenSSH 9.2's words, as -E writes them and as the journal's MESSAGE holds them */
        assert_int_equal(refused("error: bind [127.0.0.1]:21022: Address already in use"), 21022);
        assert_int_equal(refused("bind [127.0.0.1]:21022: Address already in use"), 21022);
        assert_int_equal(refused("bind [::1]:21022: Address already in use"), 21022);
        assert_int_equal(refused("Nov 29 23:40:01 bastion sshd[4242]: error: bind [127.0.0.1]:21022: Address already in use"), 21022);
        assert_int_equal(refused("error: channel_setup_fwd_listener_tcpip: cannot listen to port: 21022"), 21022);
        assert_int_equal(refused("cannot listen to port: 1"), 1);
        /* other binds and other words */
        assert_int_equal(refused("error: bind [127.0.0.1]:21022: Permission denied"), 0);
        assert_int_equal(refused("error: bind [127.0.0.1]:65536: Address already in use"), 0);
        assert_int_equal(refused("error: bind [127.0.0.1]:0: Address already in use"), 0);
        assert_int_equal(refused("error: bind [127.0.0.1]:: Address already in use"), 0);
        assert_int_equal(refused("error: bind [127.0.0.1]:210221: Address already in use"), 0);
        assert_int_equal(refused("error: bind [127.0.0.1:21022: Address already in use"), 0);
        assert_int_equal(refused("cannot listen to port: 21022x"), 0);
        assert_int_equal(refused("cannot listen to port: "), 0);
        assert_int_equal(refused("Accepted publickey for reverse-ssh from 127.0.0.1 port 50000 ssh2"), 0);
        assert_int_equal(refused(""), 0);
        assert_int_equal(sshd_log_refused_port(NULL, 0), 0);
        /* a later match in the line still counts (a prefix that looks like one first) */
        assert_int_equal(refused("bind [x]:y bind [127.0.0.1]:21023: Address already in use"), 21023);
        /* not NUL-terminated: only n bytes are read */
        static const char cut[] = "bind [127.0.0.1]:21022: Address already in use";
        assert_int_equal(sshd_log_refused_port(cut, sizeof cut - 5), 0);
        assert_int_equal(sshd_log_refused_port(cut, sizeof cut - 1), 21022);
        /* over the line bound: not sshd's */
        char big[SSHD_LOG_LINE_MAX + 64];
        memset(big, 'a', sizeof big);
        memcpy(big + sizeof big - sizeof cut, cut, sizeof cut - 1);
        assert_int_equal(sshd_log_refused_port(big, sizeof big - 1), 0);
}

typedef struct seen {
        int ports[16];
        size_t n;
} seen;

static void on_refused(int port, void *userdata) {
        seen *s = userdata;
        if (s->n < 16)
                s->ports[s->n++] = port;
}

static void spin(sd_event *e) {
        for (int i = 0; i < 20; i++)
                (void) sd_event_run(e, 10 * 1000);
}

static void append(const char *path, const char *text) {
        FILE *f = fopen(path, "a");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_follow_file(void **state) {
        char dir[] = "/tmp/test_sshd_log.XXXXXX", path[128], moved[128];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/sshd.log", dir);
        snprintf(moved, sizeof moved, "%s/sshd.log.1", dir);
        append(path, "error: bind [127.0.0.1]:1111: Address already in use\n"); /* before us: not news */

        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        seen s = {};
        sshd_log *l = NULL;
        assert_int_equal(sshd_log_open(e, path, on_refused, &s, &l), 0);
        spin(e);
        assert_int_equal(s.n, 0);

        append(path, "Accepted publickey for reverse-ssh\nerror: bind [127.0.0.1]:2");
        spin(e);
        assert_int_equal(s.n, 0); /* half a line waits for its rest */
        append(path, "1022: Address already in use\r\n");
        spin(e);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.ports[0], 21022);

        /* An overlong line is dropped whole, the next one read. */
        char *big = malloc(3 * SSHD_LOG_LINE_MAX);
        memset(big, 'x', 3 * SSHD_LOG_LINE_MAX - 1);
        big[3 * SSHD_LOG_LINE_MAX - 1] = 0;
        append(path, big);
        append(path, " bind [127.0.0.1]:3333: Address already in use\ncannot listen to port: 4444\n");
        free(big);
        spin(e);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.ports[1], 4444);

        /* Rotated: the new file at the path is read from its start (at the next poll at the latest). */
        assert_int_equal(rename(path, moved), 0);
        append(path, "bind [127.0.0.1]:5555: Address already in use\n");
        sshd_log_poll(l);
        spin(e);
        assert_int_equal(s.n, 3);
        assert_int_equal(s.ports[2], 5555);

        /* Truncated in place: read from its start again. */
        assert_int_equal(truncate(path, 0), 0);
        append(path, "bind [::1]:6666: Address already in use\n");
        sshd_log_poll(l);
        spin(e);
        assert_int_equal(s.n, 4);
        assert_int_equal(s.ports[3], 6666);

        sshd_log_free(l);
        sd_event_unref(e);
        unlink(path);
        unlink(moved);
        rmdir(dir);
}

static void test_open_bad(void **state) {
        sd_event *e = NULL;
        sshd_log *l = NULL;
        seen s = {};
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(sshd_log_open(e, "relative/path", on_refused, &s, &l), -EINVAL);
        assert_null(l);
        /* a file that is not there yet is not an error: looked for at each poll */
        assert_int_equal(sshd_log_open(e, "/nonexistent/sshd.log", on_refused, &s, &l), 0);
        sshd_log_poll(l);
        sshd_log_free(l);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refused_port),
                cmocka_unit_test(test_follow_file),
                cmocka_unit_test(test_open_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
