/* The configuration loader's messages, one format for the file and for --section.key=value overrides. */
#include <stdarg.h>

#include "config_error.h"

static void vfail(loader *l, origin o, const char *suffix, const char *fmt, va_list ap) {
        char what[1024], msg[2048], out[sizeof msg * 4];
        vsnprintf(what, sizeof what, fmt, ap);
        if (o.override)
                snprintf(msg, sizeof msg, "--%.*s: %s%s", o.override_len, o.override, what, suffix ? suffix : "");
        else
                snprintf(msg, sizeof msg, "%s:%u: %s%s", l->file, o.line, what, suffix ? suffix : "");
        /* Values and names are quoted as given: a control character in one must not reach the terminal. */
        fprintf(stderr, "%s\n", escape_control_to(out, sizeof out, msg));
        l->failed = true;
}

_printf_(3, 4) int config_fail_at(loader *l, origin o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfail(l, o, NULL, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* "invalid duration "x" for monitor.timeout" in the file; "--monitor.timeout: invalid duration "x"". */
_printf_(3, 4) int config_fail_value(loader *l, const char *why, const char *fmt, ...) {
        char suffix[700] = "";
        if (!l->cur.override)
                snprintf(suffix, sizeof suffix, " for %s", l->label);
        if (why)
                snprintf(suffix + strlen(suffix), sizeof suffix - strlen(suffix), " (%s)", why);
        va_list ap;
        va_start(ap, fmt);
        vfail(l, l->cur, suffix, fmt, ap);
        va_end(ap);
        return -EINVAL;
}
