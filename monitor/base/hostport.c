/* One HOST:PORT parser for the config keys, ssh -G's remoteforward lines and metrics.listen, and one writer
 * (IPv6 in brackets) for what the probes and ssh_forward_format say. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "hostport.h"

void sockaddr_key(const struct sockaddr *sa, bool v6_prefix64, uint8_t key[static 17]) {
        memset(key, 0, 17);
        if (!sa)
                return;
        key[0] = (uint8_t) sa->sa_family;
        if (sa->sa_family == AF_INET)
                memcpy(key + 1, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                memcpy(key + 1, a, v6_prefix64 && !IN6_IS_ADDR_V4MAPPED(a) ? 8 : 16);
        }
}

int parse_port(const char *s, bool allow_zero, uint16_t *ret) {
        unsigned long v = 0;
        if (!*s || strspn(s, "0123456789") != strlen(s))
                return -ERANGE;
        for (; *s; s++)
                if ((v = v * 10 + (unsigned long) (*s - '0')) > 65535)
                        return -ERANGE;
        if (v == 0 && !allow_zero)
                return -ERANGE;
        *ret = (uint16_t) v;
        return 0;
}

static int fail(int r, const char *why, const char **ret_why) {
        if (ret_why)
                *ret_why = why;
        return r;
}

/* What the host may be: the address it is, or else a name flags allow. */
static int check_host(hostport *h, bool bracketed, unsigned flags, const char **ret_why) {
        if (inet_pton(AF_INET, h->host, &h->addr.in) == 1)
                h->family = AF_INET;
        else if (inet_pton(AF_INET6, h->host, &h->addr.in6) == 1)
                h->family = AF_INET6;
        else
                h->family = AF_UNSPEC;

        if (flags & HOSTPORT_ANY_HOST)
                return strpbrk(h->host, "[]") ? fail(-EINVAL, "brackets inside the host", ret_why) : 0;
        if (bracketed)
                return h->family == AF_INET6 ? 0 : fail(-EINVAL, "brackets hold no IPv6 address", ret_why);
        if (h->family == AF_INET6)
                return fail(-EINVAL, "an IPv6 address needs brackets", ret_why);
        if (h->family == AF_INET)
                return 0;
        if (!(flags & HOSTPORT_NAME))
                return fail(-EINVAL, "the host is not an IP address", ret_why);
        if (!*h->host || strpbrk(h->host, ":[] \t"))
                return fail(-EINVAL, "invalid host name", ret_why);
        return 0;
}

int hostport_parse(const char *s, unsigned flags, hostport *ret, const char **ret_why) {
        hostport h = { .family = AF_UNSPEC };
        const char *host = s, *port = s;
        size_t len = 0;
        bool bracketed = s[0] == '[';
        bool bare = (flags & HOSTPORT_BARE_PORT) && *s && strspn(s, "0123456789") == strlen(s);

        if (bracketed) {
                const char *close = strchr(s, ']');
                if (!close)
                        return fail(-EINVAL, "\"[\" without \"]\"", ret_why);
                if (close[1] != ':')
                        return fail(-EINVAL, "no \":PORT\" after \"]\"", ret_why);
                host = s + 1, len = (size_t) (close - host), port = close + 2;
        } else if (!bare) {
                const char *colon = strrchr(s, ':');
                if (!colon)
                        return fail(-EINVAL, "no \":PORT\"", ret_why);
                len = (size_t) (colon - s), port = colon + 1;
        }
        if (len >= sizeof h.host)
                return fail(-EINVAL, "host too long", ret_why);
        memcpy(h.host, host, len);
        h.host[len] = 0;
        if (!bare) {
                int r = check_host(&h, bracketed, flags, ret_why);
                if (r < 0)
                        return r;
        }
        if (parse_port(port, (flags & HOSTPORT_PORT_ZERO) != 0, &h.port) < 0)
                return fail(-ERANGE, flags & HOSTPORT_PORT_ZERO ? "port not a number in 0..65535"
                                                               : "port not a number in 1..65535", ret_why);
        *ret = h;
        return 0;
}

char *hostport_format(const char *host, uint16_t port, char *buf, size_t size) {
        host = strempty(host);
        if (buf && size > 0)
                (void) snprintf(buf, size, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned) port);
        return buf;
}
