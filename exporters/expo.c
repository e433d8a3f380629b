/* The Prometheus text format (0.0.4) written into one growable buffer: what every exporter of ours
 * renders with (the host's metrics, the bastion's). */
#include <math.h>

#include "expo.h"

bool expo_reserve(expo_buf *b, size_t extra) {
        if (b->oom)
                return false;
        if (b->len + extra + 1 <= b->size)
                return true;
        size_t n = MAX(b->size * 2, b->len + extra + 1);
        char *d = realloc(b->data, n);
        if (!d) {
                b->oom = true;
                return false;
        }
        b->data = d;
        b->size = n;
        return true;
}

void expo_put(expo_buf *b, const char *s, size_t n) {
        if (!expo_reserve(b, n))
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
}


void expo_put_str(expo_buf *b, const char *s) {
        expo_put(b, s, strlen(s));
}

void expo_put_char(expo_buf *b, char c) {
        if (!expo_reserve(b, 1))
                return;
        b->data[b->len++] = c;
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0 if invalid. */
static size_t utf8_valid_length(const unsigned char *s) {
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;

        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                n = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                n = 3;
                if (s[0] == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (s[0] == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                n = 4;
                if (s[0] == 0xF0)
                        lo = 0x90;
                else if (s[0] == 0xF4)
                        hi = 0x8F;
        } else
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return n;
}

/* Label value escaping of the text format: backslash, double quote and newline. Invalid UTF-8 fails
 * the whole scrape in Prometheus, so such bytes become U+FFFD. */
void expo_put_escaped(expo_buf *b, const char *s) {
        size_t n = strlen(s);
        if (!expo_reserve(b, 3 * n))
                return;
        char *o = b->data + b->len;
        while (*s) {
                unsigned char c = (unsigned char) *s;
                if (c >= 0x80) {
                        size_t k = utf8_valid_length((const unsigned char *) s);
                        if (k == 0) {
                                memcpy(o, "\xEF\xBF\xBD", 3);
                                o += 3;
                                s++;
                        } else {
                                memcpy(o, s, k);
                                o += k;
                                s += k;
                        }
                        continue;
                }
                switch (c) {
                case '\\':
                        *o++ = '\\';
                        *o++ = '\\';
                        break;
                case '"':
                        *o++ = '\\';
                        *o++ = '"';
                        break;
                case '\n':
                        *o++ = '\\';
                        *o++ = 'n';
                        break;
                default:
                        *o++ = (char) c;
                }
                s++;
        }
        b->len = (size_t) (o - b->data);
}

void expo_put_label(expo_buf *b, bool first, const char *key, const char *value) {
        if (!first)
                expo_put_char(b, ',');
        expo_put_str(b, key);
        EXPO_PUT_LIT(b, "=\"");
        expo_put_escaped(b, strempty(value));
        expo_put_char(b, '"');
}

void expo_put_u64(expo_buf *b, uint64_t v) {
        char tmp[20];
        size_t i = sizeof(tmp);
        do {
                tmp[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        expo_put(b, tmp + i, sizeof(tmp) - i);
}

/* Seconds from microseconds, exact: "12", "0.25", "1700000000.000001". */
void expo_put_usec_seconds(expo_buf *b, usec_t v) {
        expo_put_u64(b, v / USEC_PER_SEC);
        unsigned frac = (unsigned) (v % USEC_PER_SEC);
        if (frac == 0)
                return;
        char tmp[7] = { '.' };
        for (int i = 6; i >= 1; i--) {
                tmp[i] = (char) ('0' + frac % 10);
                frac /= 10;
        }
        size_t n = 7;
        while (tmp[n - 1] == '0')
                n--;
        expo_put(b, tmp, n);
}

/* Seconds as a double, shown at microsecond resolution like every other seconds value. */
void expo_put_seconds(expo_buf *b, double d) {
        if (isnan(d)) {
                EXPO_PUT_LIT(b, "NaN");
                return;
        }
        if (isinf(d)) {
                if (d > 0)
                        EXPO_PUT_LIT(b, "+Inf");
                else
                        EXPO_PUT_LIT(b, "-Inf");
                return;
        }
        if (d < 0) {
                expo_put_char(b, '-');
                d = -d;
        }
        if (d >= 1e13) { /* beyond usec_t's exact range: rare enough for snprintf */
                char tmp[32];
                int n = snprintf(tmp, sizeof(tmp), "%.17g", d);
                expo_put(b, tmp, (size_t) n);
                return;
        }
        expo_put_usec_seconds(b, (usec_t) (d * 1e6 + 0.5));
}

void expo_family(expo_buf *b, const char *metric, const char *type, const char *help) {
        EXPO_PUT_LIT(b, "# HELP ");
        expo_put_str(b, metric);
        expo_put_char(b, ' ');
        expo_put_str(b, help);
        EXPO_PUT_LIT(b, "\n# TYPE ");
        expo_put_str(b, metric);
        expo_put_char(b, ' ');
        expo_put_str(b, type);
        expo_put_char(b, '\n');
}
