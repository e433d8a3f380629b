/* The Prometheus text format (0.0.4) written into one growable buffer, without a malloc per series. */
#pragma once

#include "../monitor/base/macro.h"

typedef struct expo_buf {
        char *data;
        size_t len, size;
        bool oom;
} expo_buf;

bool expo_reserve(expo_buf *b, size_t extra);
void expo_put(expo_buf *b, const char *s, size_t n);
#define EXPO_PUT_LIT(b, s) expo_put((b), "" s "", sizeof(s) - 1)
void expo_put_str(expo_buf *b, const char *s);
void expo_put_char(expo_buf *b, char c);
/* A label value: backslash, double quote and newline escaped; invalid UTF-8 (which fails the whole scrape
 * in Prometheus) as U+FFFD. */
void expo_put_escaped(expo_buf *b, const char *s);
/* key="value", after a comma unless first. */
void expo_put_label(expo_buf *b, bool first, const char *key, const char *value);
void expo_put_u64(expo_buf *b, uint64_t v);
/* Seconds from microseconds, exact: "12", "0.25", "1700000000.000001". */
void expo_put_usec_seconds(expo_buf *b, usec_t v);
/* Seconds as a double at microsecond resolution; NaN, +Inf, -Inf as the format spells them. */
void expo_put_seconds(expo_buf *b, double d);
/* "# HELP metric help" and "# TYPE metric type". */
void expo_family(expo_buf *b, const char *metric, const char *type, const char *help);
