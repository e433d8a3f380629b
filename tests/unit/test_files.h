/* What the cmocka tests that read files share: a scratch directory, files written in it, stderr captured.
 * Include after cmocka.h. */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../monitor/base/macro.h"

static char test_dir[] = "/tmp/rtun-test-XXXXXX";

static inline int test_dir_setup(void **state) {
        return mkdtemp(test_dir) ? 0 : -1;
}

static inline int test_dir_teardown(void **state) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* DIR/name, in one of a few rotating buffers (a call may need two paths at once). */
static inline const char *test_path(const char *name) {
        static char paths[4][256];
        static unsigned slot;
        char *p = paths[slot++ % ELEMENTSOF(paths)];
        snprintf(p, 256, "%s/%s", test_dir, name);
        return p;
}

/* size bytes of data (may hold NUL bytes) to DIR/name; returns its path. */
static inline const char *test_write(const char *name, const void *data, size_t size) {
        const char *p = test_path(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(close(fd), 0);
        return p;
}

static inline const char *test_write_text(const char *name, const char *text) {
        return test_write(name, text, strlen(text));
}

/* stderr (where the code under test logs) into a file of DIR while it runs, then into buf. */
typedef struct stderr_capture {
        int saved;
        char path[256]; /* its own: test_path()'s buffers belong to the test */
} stderr_capture;

static inline void stderr_capture_begin(stderr_capture *c) {
        snprintf(c->path, sizeof c->path, "%s/stderr", test_dir);
        fflush(stderr);
        c->saved = dup(STDERR_FILENO);
        int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(c->saved >= 0 && fd >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
}

static inline void stderr_capture_end(stderr_capture *c, char *buf, size_t size) {
        fflush(stderr);
        assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
        close(c->saved);
        FILE *f = fopen(c->path, "re");
        assert_non_null(f);
        size_t n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
}
