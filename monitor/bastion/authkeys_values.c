/* Option values sshd interprets only when a key is used: expiry-time (misc.c parse_absolute_time) and the
 * from= pattern list (addrmatch.c addr_match_list). */
#include <arpa/inet.h>
#include <strings.h>
#include <time.h>

#include "authkeys.h"

int authkey_parse_time(const char *s, uint64_t *ret) {
        char buf[32];
        const char *fmt;
        bool utc = false;
        size_t l = strlen(s);

        if (l > 1 && strcasecmp(s + l - 1, "Z") == 0) {
                utc = true;
                l--;
        } else if (l > 3 && strcasecmp(s + l - 3, "UTC") == 0) {
                utc = true;
                l -= 3;
        }
        /* strptime wants separators between conversions, so sshd builds them in. */
        switch (l) {
        case 8:
                fmt = "%Y-%m-%d";
                snprintf(buf, sizeof buf, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
                break;
        case 12:
                fmt = "%Y-%m-%dT%H:%M";
                snprintf(buf, sizeof buf, "%.4s-%.2s-%.2sT%.2s:%.2s", s, s + 4, s + 6, s + 8, s + 10);
                break;
        case 14:
                fmt = "%Y-%m-%dT%H:%M:%S";
                snprintf(buf, sizeof buf, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", s, s + 4, s + 6, s + 8, s + 10, s + 12);
                break;
        default:
                return -EINVAL;
        }
        struct tm tm = {};
        const char *end = strptime(buf, fmt, &tm);
        if (!end || *end)
                return -EINVAL;
        tm.tm_wday = -1; /* mktime's -1 is also a valid time: the sentinel tells them apart */
        time_t t = utc ? timegm(&tm) : mktime(&tm);
        if (t == (time_t) -1 && tm.tm_wday == -1)
                return -EINVAL;
        *ret = (uint64_t) t; /* a year before 1970 wraps to a huge value, as in sshd: never expires */
        return 0;
}

/* addr_pton_cidr's verdict: 1 a well-formed network, 0 not an address (a wildcard pattern then),
 * -1 an address with a bad mask or host bits set. */
static int cidr_check(const char *p) {
        char buf[64];
        unsigned char a[16];
        long long masklen = -1;
        int bits;

        if (strlen(p) >= sizeof buf)
                return 0;
        strcpy(buf, p);
        char *slash = strchr(buf, '/');
        if (slash) {
                char *end;
                *slash = 0;
                errno = 0;
                masklen = strtoll(slash + 1, &end, 10);
                if (end == slash + 1 || *end || errno || masklen < 0 || masklen > INT32_MAX)
                        return 0;
        }
        /* getaddrinfo(AI_NUMERICHOST) in sshd: also "fe80::1%eth0", and inet_aton's short forms ("10.1"),
         * which are left to be patterns here. */
        char *scope = strchr(buf, '%');
        if (scope)
                *scope = 0;
        if (!scope && inet_pton(AF_INET, buf, a) == 1)
                bits = 32;
        else if (inet_pton(AF_INET6, buf, a) == 1)
                bits = 128;
        else
                return 0;
        if (masklen < 0)
                return 1;
        if (masklen > bits)
                return -1;
        for (int i = (int) masklen; i < bits; i++)
                if (a[i / 8] & (0x80 >> (i % 8)))
                        return -1;
        return 1;
}

int authkey_from_check(const char *list, char **bad) {
        char *copy = strdup(list);
        if (!copy)
                return -ENOMEM;
        for (char *l = copy, *cp; (cp = strsep(&l, ","));) {
                const char *entry = cp;
                if (*cp == '!')
                        cp++;
                if (!*cp || cidr_check(cp) < 0) {
                        memmove(copy, entry, strlen(entry) + 1);
                        *bad = copy;
                        return -EINVAL;
                }
        }
        free(copy);
        return 0;
}
