/* The state file on disk (issue 9, defect 6): never read through a symlink nor quoted into a message,
 * size-capped, written 0600, and two read-modify-write cycles under state_lock() never lose an update
 * (two real processes). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "../../monitor/state_file.h"
#include "fake_monitor.h"
#include "test_files.h"

#ifndef STATE_LOCK_WAIT
/* Built against a tree without the lock (to show the lost update there): no lock at all. */
#define STATE_LOCK_WAIT 0
#define STATE_FILE_MAX (16 * 1024 * 1024)
static int state_lock(const char *p, const char *h, usec_t w) {
        return -ENOSYS;
}
#endif


/* stderr (the log) of one saved_state_load into err. */
static int load_capture(const char *path, saved_state *s, char *err, size_t size) {
        stderr_capture cap;
        stderr_capture_begin(&cap);
        int r = saved_state_load(path, s);
        stderr_capture_end(&cap, err, size);
        return r;
}

static const char good_state[] =
        "{\"version\": 1, \"network_down\": false, \"tunnels\": {\"u.service\": {\"state\": \"down\","
        " \"consecutive_failures\": 2, \"last_failure\": \"timeout\", \"last_success\": 0, \"failing_since\": 0,"
        " \"restarts\": [], \"backoff\": 0, \"next_restart_at\": 0, \"announced_down\": true, \"gave_up\": false}}}";

/* A link to a root-only file: not read, and not one byte of it in the log (the old parse error quoted
 * the first token of the target). */
static void test_symlink_refused(void **state) {
        const char *target = test_path("secret"), *p = test_path("state-link");
        char err[2048];
        saved_state s;
        test_write("secret", "TOPSECRET-TOKEN and more\n", 25);
        assert_int_equal(symlink(target, p), 0);
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        assert_null(strstr(err, "TOPSECRET"));
        assert_non_null(strstr(err, "symbolic link"));
        assert_int_equal(s.n_tunnels, 0);
        saved_state_done(&s);

        /* A good state behind a link is not used either. */
        test_write("secret", good_state, strlen(good_state));
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        assert_null(saved_state_find(&s, "u.service"));
        saved_state_done(&s);

        /* Writing replaces the link, never the file it points to. */
        monitor m = {};
        fake_monitor_add(&m, &(fake_tunnel) { .name = "w.service" });
        assert_int_equal(saved_state_write(p, &m, NULL), 0);
        fake_monitor_done(&m);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_size, (off_t) strlen(good_state));
}

/* A parse error says where, never what: the token may be anything. */
static void test_corrupt_not_quoted(void **state) {
        const char *p = test_path("state-corrupt");
        char err[2048], want[512];
        saved_state s;
        static const char text[] = "{\"version\": 1,\n \"tunnels\": SECRETTOKEN}";
        test_write("state-corrupt", text, sizeof text - 1);
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        assert_null(strstr(err, "SECRETTOKEN"));
        snprintf(want, sizeof want, "%s:2:", p);
        assert_non_null(strstr(err, want));
        saved_state_done(&s);
}

static void test_oversize_refused(void **state) {
        const char *p = test_path("state-big");
        size_t n = (size_t) STATE_FILE_MAX + 4096, len = strlen(good_state);
        char *text = malloc(n), err[2048];
        saved_state s;
        assert_non_null(text);
        /* Valid JSON, only too big: the good state padded with whitespace. */
        memcpy(text, good_state, len);
        memset(text + len, ' ', n - len);
        test_write("state-big", text, n);
        free(text);
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        assert_null(saved_state_find(&s, "u.service"));
        assert_non_null(strstr(err, "larger than"));
        saved_state_done(&s);

        /* The same state within the cap is read. */
        test_write("state-big", good_state, len);
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        assert_non_null(saved_state_find(&s, "u.service"));
        saved_state_done(&s);
}

/* Command lines and resolutions are for root's eyes: 0600, and no temporary file left behind. */
static void test_mode_0600(void **state) {
        const char *p = test_path("state-mode");
        monitor m = {};
        struct stat st;
        mode_t old_umask = umask(0);
        fake_monitor_add(&m, &(fake_tunnel) { .name = "a.service" });
        assert_int_equal(saved_state_write(p, &m, NULL), 0);
        /* Also when an older version left a 0644 file. */
        assert_int_equal(chmod(p, 0644), 0);
        assert_int_equal(saved_state_write(p, &m, NULL), 0);
        umask(old_umask);
        fake_monitor_done(&m);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -q 'state-mode.tmp'", test_dir);
        assert_int_not_equal(system(cmd), 0);
}

/* One `check`: lock, read, add its own tunnel (the others kept as a run over other units keeps them),
 * take its time, write, unlock. */
static void check_cycle(const char *path, const char *name) {
        int fd = state_lock(path, "check", 20 * USEC_PER_SEC);
        saved_state s;
        monitor m = {};
        if (saved_state_load(path, &s) < 0)
                _exit(2);
        m.other_units_state = json_incref(s.tunnels_json);
        fake_monitor_add(&m, &(fake_tunnel) { .name = name });
        usleep(300 * 1000);
        int r = saved_state_write(path, &m, NULL);
        json_decref(m.other_units_state);
        fake_monitor_done(&m);
        saved_state_done(&s);
        if (fd >= 0)
                close(fd);
        _exit(r < 0 ? 3 : 0);
}

static void test_lock_no_lost_update(void **state) {
        const char *p = test_path("state-race");
        pid_t pids[2];
        const char *names[2] = { "first.service", "second.service" };
        for (int i = 0; i < 2; i++) {
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0)
                        check_cycle(p, names[i]);
        }
        for (int i = 0; i < 2; i++) {
                int status;
                assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }
        saved_state s;
        char err[1024];
        assert_int_equal(load_capture(p, &s, err, sizeof err), 0);
        if (!saved_state_find(&s, names[0]) || !saved_state_find(&s, names[1]))
                fail_msg("an update was lost: %s %s", saved_state_find(&s, names[0]) ? "" : names[0],
                         saved_state_find(&s, names[1]) ? "" : names[1]);
        saved_state_done(&s);
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Holds the lock as holder in a child until the parent writes to the pipe. */
static pid_t hold_lock(const char *p, const char *holder, int *ret_release) {
        int ready[2], release[2];
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        assert_int_equal(pipe2(release, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char c;
                close(release[1]); /* EOF on release[0] when the parent closes its end */
                int fd = state_lock(p, holder, 0);
                (void) !write(ready[1], fd >= 0 ? "y" : "n", 1);
                (void) !read(release[0], &c, 1);
                _exit(0);
        }
        char c = 0;
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(c, 'y');
        close(ready[0]), close(ready[1]), close(release[0]);
        *ret_release = release[1];
        return pid;
}

static void test_lock_waits_and_refuses(void **state) {
        const char *p = test_path("state-held");
        int release;
        pid_t pid = hold_lock(p, "daemon", &release);

        /* A daemon holds it for good: refused at once, naming it. */
        double t0 = now_s();
        assert_int_equal(state_lock(p, "check", 10 * USEC_PER_SEC), -EBUSY);
        assert_true(now_s() - t0 < 2.0);
        close(release);
        assert_int_equal(waitpid(pid, NULL, 0), pid);

        /* Another check: waited for, up to the bound. */
        pid = hold_lock(p, "check", &release);
        t0 = now_s();
        assert_int_equal(state_lock(p, "check", 300 * USEC_PER_MSEC), -EBUSY);
        assert_true(now_s() - t0 >= 0.29);
        close(release);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        int fd = state_lock(p, "check", 300 * USEC_PER_MSEC);
        assert_true(fd >= 0);
        close(fd);

        /* The lock file is never followed through a symlink either. */
        const char *q = test_path("state-linked");
        char lock[300];
        snprintf(lock, sizeof lock, "%s.lock", q);
        assert_int_equal(symlink("/etc/passwd", lock), 0);
        assert_true(state_lock(q, "check", 0) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_symlink_refused),
                cmocka_unit_test(test_corrupt_not_quoted),
                cmocka_unit_test(test_oversize_refused),
                cmocka_unit_test(test_mode_0600),
                cmocka_unit_test(test_lock_no_lost_update),
                cmocka_unit_test(test_lock_waits_and_refuses),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
