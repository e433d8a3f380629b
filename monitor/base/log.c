/* One log line per event, on stderr; under systemd the "<N>" prefix carries the priority to the journal. */
#include <stdarg.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool use_prefix;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_open(void) {
        use_prefix = getenv("JOURNAL_STREAM") != NULL;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int saved = errno;
        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        char buf[2048];
        /* "%m" means the error passed in, not whatever errno happens to be now. */
        errno = error;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        /* Names come from D-Bus, ssh_config and the state file: a newline in one must not forge a line. */
        char out[sizeof buf * 4];
        escape_control_to(out, sizeof out, buf);

        if (use_prefix)
                fprintf(stderr, "<%d>%s\n", level, out);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s:%d: %s\n", file, line, out);
        else
                fprintf(stderr, "%s\n", out);
        errno = saved;
        return -error;
}
