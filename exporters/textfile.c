/* Atomic replace: temporary file in the same directory, fsync, rename, fsync of the directory. */
#include <fcntl.h>
#include <sys/stat.h>

#include "../monitor/log.h"
#include "textfile.h"

static int write_all(int fd, const char *data, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

/* The rename is durable only once the directory entry itself is on disk. */
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
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int textfile_write(const char *path, const char *data, size_t len) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -1;
        int r;

        if (isempty_str(path))
                return log_error_errno(EINVAL, "No file name to write to.");
        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                return log_oom();
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create temporary file for %s: %m", path);

        /* mkostemp makes 0600; the collector (and operators) read this file as another user. */
        if (fchmod(fd, 0644) < 0) {
                r = -errno;
                goto fail;
        }
        r = write_all(fd, data, len);
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        r = fsync_directory_of(path);
        if (r < 0)
                log_warning_errno(r, "Failed to sync directory of %s, ignoring: %m", path);
        return 0;

fail:
        (void) unlink(tmp);
        return log_error_errno(r, "Failed to write %s: %m", path);
}
