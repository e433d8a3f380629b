/* ExecStart variable expansion and EnvironmentFile parsing (monitor/unit_env.c). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "../../monitor/unit_env.h"

static void assert_argv(char **got, const char *const *want) {
        size_t i = 0;
        for (; want[i]; i++) {
                assert_non_null(got[i]);
                assert_string_equal(got[i], want[i]);
        }
        assert_null(got[i]);
}

static void test_braces_inside_words(void **state) {
        char *env[] = { "KEY=/lab/key", "REMOTE_PORT=21022", "LOCAL_PORT=22", "SSH_USER=reverse-ssh", NULL };
        char *argv[] = { "/usr/bin/ssh", "-i", "${KEY}", "-R", "localhost:${REMOTE_PORT}:localhost:${LOCAL_PORT}",
                         "${SSH_USER}@bastion-a.test", NULL };
        char **out = NULL;
        assert_int_equal(unit_argv_expand(argv, env, &out), 0);
        const char *want[] = { "/usr/bin/ssh", "-i", "/lab/key", "-R", "localhost:21022:localhost:22",
                               "reverse-ssh@bastion-a.test", NULL };
        assert_argv(out, want);
        strv_free(out);
}

static void test_last_assignment_wins_and_unknown_is_empty(void **state) {
        char *env[] = { "P=1", "P=2", NULL };
        char *argv[] = { "x${P}y", "a${NOPE}b", "$$HOME", NULL };
        char **out = NULL;
        assert_int_equal(unit_argv_expand(argv, env, &out), 0);
        const char *want[] = { "x2y", "ab", "$HOME", NULL };
        assert_argv(out, want);
        strv_free(out);
}

static void test_bare_variable_splits(void **state) {
        char *env[] = { "OPTS=-o  ServerAliveInterval=5 -v", NULL };
        char *argv[] = { "ssh", "$OPTS", "host", "$EMPTY", NULL };
        char **out = NULL;
        assert_int_equal(unit_argv_expand(argv, env, &out), 0);
        const char *want[] = { "ssh", "-o", "ServerAliveInterval=5", "-v", "host", NULL };
        assert_argv(out, want);
        strv_free(out);
}

static void test_unterminated_brace_is_literal(void **state) {
        char *argv[] = { "a${B", NULL };
        char **out = NULL;
        assert_int_equal(unit_argv_expand(argv, NULL, &out), 0);
        const char *want[] = { "a${B", NULL };
        assert_argv(out, want);
        strv_free(out);
}

static void test_env_file(void **state) {
        char **env = NULL;
        assert_int_equal(unit_env_parse("# comment\n; other\nREMOTE_PORT=21500\n  KEY = \"/lab/k y\"\n"
                                        "bad line\n=novalue\nQ='q'\n",
                                        &env),
                         0);
        const char *want[] = { "REMOTE_PORT=21500", "KEY=/lab/k y", "Q=q", NULL };
        assert_argv(env, want);
        strv_free(env);
}

static void test_env_file_missing(void **state) {
        char **env = NULL;
        assert_int_equal(unit_env_read_file("/nonexistent/rtun.env", &env), -ENOENT);
        assert_null(env);
}

/* A FIFO (or a device) named as EnvironmentFile= must not hang discovery; a huge file is refused whole
 * rather than silently cut at 64 KiB (systemd reads it all, so a cut file gives another command line). */
static void test_env_file_not_regular_or_huge(void **state) {
        char dir[] = "/tmp/test-unit-env-XXXXXX", fifo[64], big[64];
        assert_non_null(mkdtemp(dir));
        snprintf(fifo, sizeof fifo, "%s/fifo", dir);
        snprintf(big, sizeof big, "%s/big", dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char **env = NULL;
                alarm(3);
                _exit(unit_env_read_file(fifo, &env) == -EBADFD && !env ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
                fail_msg("reading a FIFO as EnvironmentFile hung");
        assert_int_equal(WEXITSTATUS(status), 0);

        char **env = NULL;
        assert_int_equal(unit_env_read_file("/dev/zero", &env), -EBADFD);
        FILE *f = fopen(big, "we");
        assert_non_null(f);
        for (int i = 0; i < 200000; i++)
                fputs("PADDING=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", f);
        fclose(f);
        assert_int_equal(unit_env_read_file(big, &env), -EFBIG);
        assert_null(env);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_braces_inside_words),
                cmocka_unit_test(test_last_assignment_wins_and_unknown_is_empty),
                cmocka_unit_test(test_bare_variable_splits),
                cmocka_unit_test(test_unterminated_brace_is_literal),
                cmocka_unit_test(test_env_file),
                cmocka_unit_test(test_env_file_missing),
                cmocka_unit_test(test_env_file_not_regular_or_huge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
