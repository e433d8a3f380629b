/* Following sshd's log without blocking the loop: a file through inotify (read from where we were, bounded
 * per wake-up), or the journal through its own fd. Each whole line goes through sshd_log_refused_port. */
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "../base/log.h"
#include "sshd_log.h"

struct sshd_log {
        sd_event *event;
        sshd_log_refused_t cb;
        void *userdata;
        /* a file */
        char *path;
        int fd;
        dev_t dev;
        ino_t ino;
        off_t offset;
        sd_event_source *watch;
        char line[SSHD_LOG_LINE_MAX];
        size_t line_len;
        bool overlong;           /* the current line passed SSHD_LOG_LINE_MAX: dropped up to its newline */
        /* or the journal */
        sd_journal *journal;
        sd_event_source *journal_io;
};

/* The digits at s (at most 5, 1..65535, then a non-digit or the end): the port, else 0. */
static int port_at(const char *s, const char *end) {
        unsigned long port = 0;
        const char *p = s;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
                if (p - s >= 5 || (port = port * 10 + (unsigned long) (*p - '0')) > 65535)
                        return 0;
        return p > s && port > 0 ? (int) port : 0;
}

static const char *find(const char *hay, const char *end, const char *needle) {
        return memmem(hay, (size_t) (end - hay), needle, strlen(needle));
}

int sshd_log_refused_port(const char *line, size_t n) {
        static const char in_use[] = ": Address already in use";
        const char *end = line + n, *p;

        if (!line || n == 0 || n > SSHD_LOG_LINE_MAX)
                return 0;
        /* channels.c, channel_setup_fwd_listener_tcpip: "bind [%s]:%s: %.100s" with strerror(EADDRINUSE) */
        for (p = find(line, end, "bind ["); p; p = find(p + 1, end, "bind [")) {
                const char *close = find(p, end, "]:");
                if (!close)
                        break;
                int port = port_at(close + 2, end);
                const char *after = close + 2;
                while (after < end && *after >= '0' && *after <= '9')
                        after++;
                if (port > 0 && (size_t) (end - after) >= strlen(in_use) && memcmp(after, in_use, strlen(in_use)) == 0)
                        return port;
        }
        /* the same function, once no address could be bound: "cannot listen to port: %d" */
        p = find(line, end, "cannot listen to port: ");
        if (p) {
                const char *d = p + strlen("cannot listen to port: ");
                const char *after = d;
                while (after < end && *after >= '0' && *after <= '9')
                        after++;
                if (after == end || *after == '\r' || *after == '\n' || *after == ' ')
                        return port_at(d, end);
        }
        return 0;
}

static void line_done(sshd_log *l, const char *s, size_t n) {
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
                n--;
        int port = sshd_log_refused_port(s, n);
        if (port > 0)
                l->cb(port, l->userdata);
}

/* Bytes of the file, split into lines; a line cut by the end of what was written waits for its rest. */
static void feed(sshd_log *l, const char *buf, size_t n) {
        while (n > 0) {
                const char *nl = memchr(buf, '\n', n);
                size_t k = nl ? (size_t) (nl - buf) : n;
                if (!l->overlong && l->line_len + k <= sizeof l->line) {
                        memcpy(l->line + l->line_len, buf, k);
                        l->line_len += k;
                } else
                        l->overlong = true;
                if (nl) {
                        if (!l->overlong)
                                line_done(l, l->line, l->line_len);
                        l->line_len = 0;
                        l->overlong = false;
                        k++;
                }
                buf += k;
                n -= k;
        }
}

static void file_close(sshd_log *l) {
        l->watch = sd_event_source_disable_unref(l->watch);
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
        l->line_len = 0;
        l->overlong = false;
}

static int on_file_change(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        sshd_log_poll(userdata);
        return 0;
}

/* Opens the path; from its end at the start (what sshd said before we ran is not news), from its start
 * when it is a new file (rotated: all of it is news). */
static int file_open(sshd_log *l, bool from_start) {
        struct stat st;
        int fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { /* a FIFO or device would never end a read */
                close(fd);
                return -EBADF;
        }
        l->fd = fd;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->offset = from_start ? 0 : st.st_size;
        int r = sd_event_add_inotify(l->event, &l->watch, l->path,
                                     IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF, on_file_change, l);
        if (r < 0)
                log_debug_errno(r, "%s: not watched (read at each round instead): %m", l->path);
        return 0;
}

static void file_read(sshd_log *l) {
        struct stat st;
        char buf[8192];

        /* Rotated (another file at the path) or truncated: start over on what is there now. */
        if (l->fd >= 0 && (stat(l->path, &st) < 0 || st.st_dev != l->dev || st.st_ino != l->ino)) {
                file_close(l);
                (void) file_open(l, true);
        } else if (l->fd >= 0 && fstat(l->fd, &st) >= 0 && st.st_size < l->offset) {
                l->offset = 0;
                l->line_len = 0;
                l->overlong = false;
        }
        if (l->fd < 0 && file_open(l, true) < 0)
                return;
        for (size_t total = 0; total < SSHD_LOG_READ_MAX;) {
                ssize_t n = pread(l->fd, buf, sizeof buf, l->offset);
                if (n <= 0)
                        break;
                l->offset += n;
                total += (size_t) n;
                feed(l, buf, (size_t) n);
        }
}

static void journal_read(sshd_log *l) {
        for (unsigned i = 0; i < SSHD_LOG_ENTRIES_MAX && sd_journal_next(l->journal) > 0; i++) {
                const void *data;
                size_t len;
                if (sd_journal_get_data(l->journal, "MESSAGE", &data, &len) >= 0 && len > 8)
                        line_done(l, (const char *) data + 8, MIN(len - 8, (size_t) SSHD_LOG_LINE_MAX));
        }
}

static int on_journal_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        sshd_log *l = userdata;
        (void) sd_journal_process(l->journal);
        journal_read(l);
        return 0;
}

static int journal_open(sshd_log *l) {
        int r = sd_journal_open(&l->journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r >= 0)
                r = sd_journal_add_match(l->journal, "SYSLOG_IDENTIFIER=sshd", 0);
        if (r >= 0)
                r = sd_journal_seek_tail(l->journal);
        if (r >= 0)
                (void) sd_journal_previous(l->journal); /* the next entry is the first one logged from now on */
        if (r < 0)
                return r;
        int fd = sd_journal_get_fd(l->journal);
        if (fd < 0)
                return fd;
        r = sd_event_add_io(l->event, &l->journal_io, fd, (uint32_t) sd_journal_get_events(l->journal),
                            on_journal_io, l);
        if (r >= 0)
                (void) sd_event_source_set_description(l->journal_io, "sshd-log-journal");
        return r;
}

void sshd_log_poll(sshd_log *l) {
        if (!l)
                return;
        if (l->journal)
                journal_read(l);
        else if (l->path)
                file_read(l);
}

sshd_log *sshd_log_free(sshd_log *l) {
        if (!l)
                return NULL;
        file_close(l);
        sd_event_source_disable_unref(l->journal_io);
        sd_journal_close(l->journal);
        free(l->path);
        free(l);
        return NULL;
}

int sshd_log_open(sd_event *e, const char *source, sshd_log_refused_t cb, void *userdata, sshd_log **ret) {
        if (!e || !source || !cb || !ret)
                return -EINVAL;
        _cleanup_(freep) sshd_log *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        *l = (sshd_log) { .event = e, .cb = cb, .userdata = userdata, .fd = -1 };
        int r;
        if (streq(source, SSHD_LOG_JOURNAL))
                r = journal_open(l);
        else if (source[0] == '/') {
                l->path = strdup(source);
                r = l->path ? 0 : -ENOMEM;
                if (r >= 0 && file_open(l, false) < 0)
                        log_debug("%s: not there yet, looked for at each round.", source);
        } else
                r = -EINVAL;
        if (r < 0) {
                sshd_log_free(TAKE_PTR(l));
                return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
