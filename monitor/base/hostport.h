/* HOST:PORT as the config, `ssh -G` and listeners write it: "127.0.0.1:80", "[::1]:80", "localhost:80",
 * "80". */
#pragma once

#include <netinet/in.h>

#include "macro.h"

typedef enum hostport_flags {
        HOSTPORT_NAME = 1 << 0,      /* the host may be a name ("localhost"), not only an IP address */
        HOSTPORT_ANY_HOST = 1 << 1,  /* the host as ssh -G prints it: any text without brackets, may be empty;
                                      * brackets may hold a name too */
        HOSTPORT_BARE_PORT = 1 << 2, /* "21022" alone: host "" */
        HOSTPORT_PORT_ZERO = 1 << 3, /* port 0 (bind any, or ssh's dynamic allocation) */
} hostport_flags;

typedef struct hostport {
        char host[256];  /* brackets stripped; "" when omitted */
        uint16_t port;
        int family;      /* AF_INET or AF_INET6 when host is an IP address (then addr holds it), else AF_UNSPEC */
        union {
                struct in_addr in;
                struct in6_addr in6;
        } addr;
} hostport;

/* Decimal digits only (no sign, no blanks), 1..65535, or 0..65535 with allow_zero. -ERANGE otherwise. */
int parse_port(const char *s, bool allow_zero, uint16_t *ret);

/* "HOST:PORT" or "[HOST]:PORT", as flags allow. Without HOSTPORT_NAME or HOSTPORT_ANY_HOST the host is an
 * IPv4 address, or an IPv6 address in brackets. Returns 0, -EINVAL when s is not HOST:PORT (unclosed "[",
 * no ":PORT", a host flags refuse), -ERANGE when only the port is bad (see parse_port). *ret_why (may be
 * NULL) names what is wrong in a few words, for a message. Does not log. */
int hostport_parse(const char *s, unsigned flags, hostport *ret, const char **ret_why);
/* The other way: "HOST:PORT", "[HOST]:PORT" when host holds a ':' (IPv6), into buf; NULL host is "". */
char *hostport_format(const char *host, uint16_t port, char *buf, size_t size);

/* A client address as 17 comparable bytes: the family, then the IPv4 address, or the IPv6 address (only its
 * /64 with v6_prefix64: one host usually owns a whole /64; an IPv4-mapped address stays one IPv4 host). A
 * NULL address is all zeros. The HTTP server's per-client tables key on it. */
void sockaddr_key(const struct sockaddr *sa, bool v6_prefix64, uint8_t key[static 17]);
