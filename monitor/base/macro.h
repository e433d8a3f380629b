/* Small helpers shared by every file: cleanup attributes, errno logging, time units. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **) p);
}
/* "p = mfree(p)": frees and clears in one step. */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
/* NULL-terminated string arrays. */
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
size_t strv_length(char *const *l);
int strv_push(char ***l, const char *s); /* copies s; -ENOMEM */
bool strv_contains(char *const *l, const char *s);
/* *p becomes a copy of s (NULL: no string), the old value freed; on -ENOMEM *p is left as it was. */
int free_and_strdup(char **p, const char *s);
/* Grows *array (elements of size bytes, *allocated of them) to hold at least need, doubling from 16, as
 * systemd's GREEDY_REALLOC: the one growth rule of the append-only lists. 0 or -ENOMEM (array unchanged). */
int greedy_realloc(void **array, size_t *allocated, size_t need, size_t size);
/* vasprintf that gives the string or NULL (out of memory), for "x.message = vstrdupf(fmt, ap)". */
char *vstrdupf(const char *fmt, va_list ap) _printf_(1, 0);

/* Writes the message into err (may be NULL) and returns r: "return set_err(err, n, -EINVAL, ...)". */
int set_err(char *err, size_t errlen, int r, const char *fmt, ...) _printf_(4, 5);

/* NAME_to_string() and NAME_from_string() over a table indexed by the enum, as systemd's
 * DEFINE_STRING_TABLE_LOOKUP: one table says each name once. from_string gives (type) -1 when unknown. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                                            \
        const char *name##_to_string(type i) {                                                           \
                return (size_t) i < ELEMENTSOF(name##_table) ? name##_table[i] : NULL;                   \
        }                                                                                                 \
        type name##_from_string(const char *s) {                                                         \
                if (s)                                                                                    \
                        for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)                            \
                                if (name##_table[i] && streq(name##_table[i], s))                        \
                                        return (type) i;                                                  \
                return (type) -1;                                                                         \
        }

/* The same for an enum of bits: the table is indexed by the bit's position; to_string takes one bit (NULL
 * otherwise), from_string gives the bit, or 0 when unknown. */
#define DEFINE_BIT_STRING_TABLE_LOOKUP(name, type)                                                        \
        const char *name##_to_string(type b) {                                                           \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)                                    \
                        if ((unsigned) b == (1u << i))                                                    \
                                return name##_table[i];                                                   \
                return NULL;                                                                              \
        }                                                                                                 \
        type name##_from_string(const char *s) {                                                         \
                if (s)                                                                                    \
                        for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)                            \
                                if (name##_table[i] && streq(name##_table[i], s))                        \
                                        return (type) (1u << i);                                          \
                return (type) 0;                                                                          \
        }

#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty_str(const char *s) {
        return !s || !*s;
}
static inline bool endswith_str(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
static inline const char *strempty(const char *s) {
        return s ?: "";
}
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

/* Monotonic and realtime clocks in usec. */
usec_t now_usec(int clock_id);

/* Reads a whole regular file into a NUL-terminated buffer: a FIFO, device or directory is refused
 * (-EBADFD, -EISDIR) without blocking, more than max bytes is -EFBIG (checked while reading too: the file
 * may grow), READ_FILE_NOFOLLOW refuses a symlink (-ELOOP). *ret_size (may be NULL) excludes the NUL;
 * the data may contain NUL bytes. Does not log. */
enum { READ_FILE_NOFOLLOW = 1 << 0 };
int read_file_bounded(const char *path, size_t max, int flags, char **ret, size_t *ret_size);
/* Text for read_file_bounded's errors ("not a regular file", "file too large", ...), else strerror. */
const char *read_file_strerror(int r);

/* Temporary file beside path (created 0600, O_CLOEXEC), fchmod to mode, write, fsync, rename, fsync of the
 * directory. Does not log. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Control characters (< 0x20, 0x7f) as \n \t \r or \xNN, so a name cannot forge a line of a log or a
 * table; other bytes as they are. _to truncates at an escape boundary; escape_control returns a new string
 * (NULL: out of memory), NULL s treated as "". */
size_t escape_control_len(const char *s);
char *escape_control_to(char *dst, size_t size, const char *s);
char *escape_control(const char *s);

/* The next line of [*p, end) without its '\n' (the last may lack one), moving *p past it; false at the end. */
static inline bool line_next(const char **p, const char *end, const char **line, size_t *len) {
        if (*p >= end)
                return false;
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));
        *line = *p;
        *len = (size_t) ((nl ? nl : end) - *p);
        *p = nl ? nl + 1 : end;
        return true;
}
