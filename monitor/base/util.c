/* strv helpers, clocks, error text, bounded file reads, atomic writes, escaping: the handful of generic
 * utilities every file uses. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "macro.h"

void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_push(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        char **m = realloc(*l, (n + 2) * sizeof(char *));
        if (!m) {
                free(c);
                return -ENOMEM;
        }
        m[n] = c;
        m[n + 1] = NULL;
        *l = m;
        return 0;
}

int free_and_strdup(char **p, const char *s) {
        char *c = NULL;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

int greedy_realloc(void **array, size_t *allocated, size_t need, size_t size) {
        if (need <= *allocated)
                return 0;
        size_t a = *allocated ? *allocated : 16;
        while (a < need) {
                if (a > SIZE_MAX / 2)
                        return -ENOMEM;
                a *= 2;
        }
        void *m = reallocarray(*array, a, size);
        if (!m)
                return -ENOMEM;
        *array = m;
        *allocated = a;
        return 0;
}

char *vstrdupf(const char *fmt, va_list ap) {
        char *s;
        return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

usec_t now_usec(int clock_id) {
        struct timespec ts;
        clock_gettime(clock_id, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

int set_err(char *err, size_t errlen, int r, const char *fmt, ...) {
        if (err && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

int read_file_bounded(const char *path, size_t max, int flags, char **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t size = 0, alloc;

        /* O_NONBLOCK: a FIFO put in place of the file must not block the open (nor the read). */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                (flags & READ_FILE_NOFOLLOW ? O_NOFOLLOW : 0));
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;

        /* The file may grow while it is read: never more than max + 1 bytes, whatever st_size said. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (size == alloc) {
                        if (size > max)
                                return -EFBIG;
                        alloc = MIN(max + 1, MAX(alloc * 2, (size_t) 4096));
                        char *b = realloc(buf, alloc + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                ssize_t n = read(fd, buf + size, alloc - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > max)
                return -EFBIG;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

const char *read_file_strerror(int r) {
        switch (-abs(r)) {
        case -EBADFD: return "not a regular file";
        case -EFBIG: return "file too large";
        case -ELOOP: return "is a symbolic link, refusing to follow it";
        default: return strerror(abs(r));
        }
}

/* The directory entry of a rename is durable only once the directory itself is synced. */
static int fsync_directory_of(const char *path) {
        _cleanup_(freep) char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = 0;
        else
                *slash = 0;
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -1;
        const char *p = data;
        int r = 0;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC); /* created 0600: never readable by others, not even briefly */
        if (fd < 0)
                return -errno;
        if ((mode & 07777) != 0600 && fchmod(fd, mode & 07777) < 0)
                r = -errno;
        while (r >= 0 && len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                else
                        p += n, len -= (size_t) n;
        }
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        (void) fsync_directory_of(path); /* the file itself is safe; only the rename might be lost */
        return 0;
}

static bool needs_escape(unsigned char c) {
        return c < 0x20 || c == 0x7f;
}

size_t escape_control_len(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += needs_escape((unsigned char) *s) ? (*s == '\n' || *s == '\t' || *s == '\r' ? 2 : 4) : 1;
        return n;
}

char *escape_control_to(char *dst, size_t size, const char *s) {
        size_t n = 0;
        if (size == 0)
                return dst;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                char e[5];
                size_t k;
                if (!needs_escape(c))
                        e[0] = (char) c, k = 1;
                else if (c == '\n' || c == '\t' || c == '\r')
                        e[0] = '\\', e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r', k = 2;
                else
                        k = (size_t) snprintf(e, sizeof e, "\\x%02x", c);
                if (n + k >= size)
                        break; /* never half an escape */
                memcpy(dst + n, e, k);
                n += k;
        }
        dst[n] = 0;
        return dst;
}

char *escape_control(const char *s) {
        size_t n = escape_control_len(strempty(s)) + 1;
        char *d = malloc(n);
        return d ? escape_control_to(d, n, strempty(s)) : NULL;
}
