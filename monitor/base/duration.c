/* Durations of the config: strict "1m30s"-style parsing and the matching formatter. */
#include "duration.h"

/* Largest first, the order format_duration writes them in. A suffix matches only where no letter follows,
 * so "m" never takes the start of "ms" or "min". */
static const struct {
        const char *suffix;
        usec_t usec;
        bool read_only; /* another spelling: read, never written */
} units[] = {
        { "d", 24ULL * 3600ULL * USEC_PER_SEC, false },
        { "h", 3600ULL * USEC_PER_SEC, false },
        { "min", 60ULL * USEC_PER_SEC, true },
        { "m", 60ULL * USEC_PER_SEC, false },
        { "s", USEC_PER_SEC, false },
        { "ms", USEC_PER_MSEC, false },
        { "us", 1ULL, false },
};

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

int parse_duration(const char *s, usec_t *ret) {
        usec_t total = 0, last_unit = USEC_INFINITY;

        if (!s || !*s)
                return -EINVAL;
        if (streq(s, "0")) {
                *ret = 0;
                return 0;
        }

        const char *p = s;
        while (*p) {
                /* Digits only: no sign, no fraction, no whitespace; each component is NUMBER UNIT. */
                if (!is_digit(*p))
                        return -EINVAL;
                usec_t n = 0;
                for (; is_digit(*p); p++) {
                        if (n > (UINT64_MAX - 9) / 10)
                                return -EINVAL;
                        n = n * 10 + (usec_t) (*p - '0');
                }

                size_t i;
                for (i = 0; i < ELEMENTSOF(units); i++) {
                        size_t l = strlen(units[i].suffix);
                        if (strncmp(p, units[i].suffix, l) == 0 && !(p[l] >= 'a' && p[l] <= 'z'))
                                break;
                }
                if (i >= ELEMENTSOF(units))
                        return -EINVAL;
                /* Components in strictly decreasing units ("1m30s", not "30s1m" or "1s1s"). */
                if (units[i].usec >= last_unit)
                        return -EINVAL;
                last_unit = units[i].usec;
                p += strlen(units[i].suffix);

                if (n > (UINT64_MAX - 1) / units[i].usec)
                        return -EINVAL;
                usec_t v = n * units[i].usec;
                /* USEC_INFINITY is reserved as "never"; refuse to produce it. */
                if (v >= USEC_INFINITY - total)
                        return -EINVAL;
                total += v;
        }

        *ret = total;
        return 0;
}

char *format_duration(char *buf, size_t size, usec_t d) {
        if (!buf || size == 0)
                return buf;
        buf[0] = 0;
        if (d == 0) {
                snprintf(buf, size, "0");
                return buf;
        }
        if (d == USEC_INFINITY) {
                snprintf(buf, size, "infinity");
                return buf;
        }

        size_t off = 0;
        for (size_t i = 0; i < ELEMENTSOF(units) && d > 0; i++) {
                usec_t n = d / units[i].usec;
                if (n == 0 || units[i].read_only)
                        continue;
                d -= n * units[i].usec;
                int k = snprintf(buf + off, size - off, "%llu%s", (unsigned long long) n, units[i].suffix);
                if (k < 0 || (size_t) k >= size - off)
                        break; /* truncated, still NUL-terminated */
                off += (size_t) k;
        }
        return buf;
}
