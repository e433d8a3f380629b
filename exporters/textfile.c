/* The node_exporter textfile: replaced atomically (util.c's write_file_atomic), readable by the collector. */
#include "../monitor/base/log.h"
#include "textfile.h"

int textfile_write(const char *path, const char *data, size_t len) {
        if (isempty_str(path))
                return log_error_errno(EINVAL, "No file name to write to.");
        /* 0644: the collector (and operators) read this file as another user; it holds no secret. */
        int r = write_file_atomic(path, data, len, 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}
