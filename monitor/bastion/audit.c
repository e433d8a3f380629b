/* The audit's findings: the check table, the list, its order, JSON and text. */
#include <stdarg.h>

#include "../base/json_text.h"
#include "audit.h"

static const char *const audit_severity_table[_AUDIT_SEVERITY_MAX] = {
        [AUDIT_INFO] = "info",
        [AUDIT_WARNING] = "warning",
        [AUDIT_ERROR] = "error",
};

DEFINE_STRING_TABLE_LOOKUP(audit_severity, audit_severity);

static const char *const audit_check_table[_AUDIT_CHECK_MAX] = {
        [AUDIT_KEY_LINE_INVALID] = "key_line_invalid",
        [AUDIT_NUL_BYTE] = "nul_byte",
        [AUDIT_NO_RESTRICT] = "no_restrict",
        [AUDIT_NO_COMMAND] = "no_command",
        [AUDIT_NO_FROM] = "no_from",
        [AUDIT_PORT_FORWARDING_OFF] = "port_forwarding_off",
        [AUDIT_NO_PERMITLISTEN] = "no_permitlisten",
        [AUDIT_PERMITLISTEN_ANY_PORT] = "permitlisten_any_port",
        [AUDIT_PORT_SHARED] = "port_shared",
        [AUDIT_PORT_OUTSIDE_RANGES] = "port_outside_ranges",
        [AUDIT_PORT_BY_NAME] = "port_by_name",
        [AUDIT_PERMITOPEN_MISSING] = "permitopen_missing",
        [AUDIT_PERMITOPEN_ANY] = "permitopen_any",
        [AUDIT_KEY_EXPIRED] = "key_expired",
        [AUDIT_KEY_EXPIRING] = "key_expiring",
        [AUDIT_NO_HOST_NAME] = "no_host_name",
        [AUDIT_DUPLICATE_KEY] = "duplicate_key",
        [AUDIT_CERT_AUTHORITY] = "cert_authority",
        [AUDIT_CLIENT_ALIVE_OFF] = "client_alive_off",
        [AUDIT_GATEWAY_PORTS] = "gateway_ports",
        [AUDIT_TCP_FORWARDING_OFF] = "tcp_forwarding_off",
        [AUDIT_PERMITLISTEN_GLOBAL] = "permitlisten_global",
};

DEFINE_STRING_TABLE_LOOKUP(audit_check, audit_check);

static const audit_severity check_severity[_AUDIT_CHECK_MAX] = {
        [AUDIT_KEY_LINE_INVALID] = AUDIT_ERROR,
        [AUDIT_NUL_BYTE] = AUDIT_WARNING,
        [AUDIT_NO_RESTRICT] = AUDIT_WARNING,
        [AUDIT_NO_COMMAND] = AUDIT_WARNING,
        [AUDIT_NO_FROM] = AUDIT_INFO,
        [AUDIT_PORT_FORWARDING_OFF] = AUDIT_ERROR,
        [AUDIT_NO_PERMITLISTEN] = AUDIT_ERROR,
        [AUDIT_PERMITLISTEN_ANY_PORT] = AUDIT_ERROR,
        [AUDIT_PORT_SHARED] = AUDIT_ERROR,
        [AUDIT_PORT_OUTSIDE_RANGES] = AUDIT_WARNING,
        [AUDIT_PORT_BY_NAME] = AUDIT_WARNING,
        [AUDIT_PERMITOPEN_MISSING] = AUDIT_WARNING,
        [AUDIT_PERMITOPEN_ANY] = AUDIT_ERROR,
        [AUDIT_KEY_EXPIRED] = AUDIT_ERROR,
        [AUDIT_KEY_EXPIRING] = AUDIT_WARNING,
        [AUDIT_NO_HOST_NAME] = AUDIT_WARNING,
        [AUDIT_DUPLICATE_KEY] = AUDIT_WARNING,
        [AUDIT_CERT_AUTHORITY] = AUDIT_INFO,
        [AUDIT_CLIENT_ALIVE_OFF] = AUDIT_WARNING,
        [AUDIT_GATEWAY_PORTS] = AUDIT_ERROR,
        [AUDIT_TCP_FORWARDING_OFF] = AUDIT_ERROR,
        [AUDIT_PERMITLISTEN_GLOBAL] = AUDIT_ERROR,
};

audit_severity audit_check_severity(audit_check c) {
        return (size_t) c < ELEMENTSOF(check_severity) ? check_severity[c] : AUDIT_ERROR;
}

int audit_add(audit_findings *out, const char *file, unsigned line, const char *host, audit_check check,
              audit_severity severity, const char *fmt, ...) {
        if (greedy_realloc((void **) &out->items, &out->allocated, out->n + 1, sizeof(audit_finding)) < 0)
                return -ENOMEM;
        audit_finding f = { .line = line, .check = check, .severity = severity };
        va_list ap;
        va_start(ap, fmt);
        f.message = vstrdupf(fmt, ap);
        va_end(ap);
        f.file = file ? strdup(file) : NULL;
        f.host = host ? strdup(host) : NULL;
        if (!f.message || (file && !f.file) || (host && !f.host)) {
                free(f.message);
                free(f.file);
                free(f.host);
                return -ENOMEM;
        }
        out->items[out->n++] = f;
        return 0;
}

void audit_findings_done(audit_findings *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->items[i].file);
                free(f->items[i].host);
                free(f->items[i].message);
        }
        free(f->items);
        *f = (audit_findings) {};
}

static int finding_compare(const void *a, const void *b) {
        const audit_finding *x = a, *y = b;
        if (!x->file != !y->file)
                return x->file ? 1 : -1;
        int c = x->file ? strcmp(x->file, y->file) : 0;
        if (c)
                return c;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return (int) x->check - (int) y->check;
}

void audit_findings_sort(audit_findings *f) {
        if (f->n > 1)
                qsort(f->items, f->n, sizeof(audit_finding), finding_compare);
}

bool audit_findings_fail(const audit_findings *f) {
        for (size_t i = 0; i < f->n; i++)
                if (f->items[i].severity >= AUDIT_WARNING)
                        return true;
        return false;
}

void audit_findings_count(const audit_findings *f, unsigned counts[_AUDIT_CHECK_MAX][_AUDIT_SEVERITY_MAX]) {
        memset(counts, 0, sizeof(unsigned) * _AUDIT_CHECK_MAX * _AUDIT_SEVERITY_MAX);
        for (size_t i = 0; i < f->n; i++)
                if ((size_t) f->items[i].check < _AUDIT_CHECK_MAX && (size_t) f->items[i].severity < _AUDIT_SEVERITY_MAX)
                        counts[f->items[i].check][f->items[i].severity]++;
}

static json_t *string_or_null(const char *s) {
        return json_string_lossy(s);
}

json_t *audit_findings_to_json(const audit_findings *f) {
        json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < f->n; i++) {
                const audit_finding *x = &f->items[i];
                json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:s, s:o}", "file", string_or_null(x->file), "line",
                                      x->line ? json_integer(x->line) : json_null(), "host", string_or_null(x->host),
                                      "check", audit_check_to_string(x->check), "severity",
                                      audit_severity_to_string(x->severity), "message", string_or_null(x->message));
                if (!o || json_array_append_new(list, o) < 0) {
                        json_decref(list);
                        return NULL;
                }
        }
        return json_pack("{s:o}", "findings", list);
}

char *audit_finding_format(const audit_finding *f) {
        _cleanup_(freep) char *file = escape_control(f->file), *host = escape_control(f->host),
                              *message = escape_control(f->message);
        if (!file || !host || !message)
                return NULL;
        const char *sev = audit_severity_to_string(f->severity), *check = audit_check_to_string(f->check),
                   *h1 = f->host ? " (host " : "", *h2 = f->host ? host : "", *h3 = f->host ? ")" : "";
        char *s = NULL;
        int r;
        if (f->file && f->line)
                r = asprintf(&s, "%s:%u: %s: %s: %s%s%s%s", file, f->line, sev, check, message, h1, h2, h3);
        else if (f->file)
                r = asprintf(&s, "%s: %s: %s: %s%s%s%s", file, sev, check, message, h1, h2, h3);
        else
                r = asprintf(&s, "%s: %s: %s%s%s%s", sev, check, message, h1, h2, h3);
        return r < 0 ? NULL : s;
}
