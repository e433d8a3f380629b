/* /proc/pressure/cpu read and parsed: one small read per look, no state. */
#include <fcntl.h>
#include <unistd.h>

#include "psi.h"

int psi_parse_some_total(const char *text, uint64_t *ret) {
        if (!text || strncmp(text, "some ", 5) != 0)
                return -EINVAL;
        const char *eol = strchrnul(text, '\n'), *p = strstr(text, " total=");
        if (!p || p > eol)
                return -EINVAL;
        p += 7;
        uint64_t n = 0;
        unsigned digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
                if (digits >= 19)
                        return -EINVAL; /* beyond 2^63 microseconds: not a counter of this universe */
                n = n * 10 + (uint64_t) (*p - '0');
        }
        if (digits == 0 || (p != eol && *p != ' '))
                return -EINVAL;
        *ret = n;
        return 0;
}

int psi_cpu_some_total(uint64_t *ret) {
        char buf[256];
        int fd = open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        int e = errno;
        close(fd);
        if (n < 0)
                return -e;
        buf[n] = 0;
        return psi_parse_some_total(buf, ret);
}

double psi_share(uint64_t total_a, uint64_t total_b, usec_t wall) {
        if (wall == 0 || total_b < total_a)
                return -1;
        double s = (double) (total_b - total_a) / (double) wall;
        return s > 1 ? 1 : s;
}
