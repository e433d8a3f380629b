/* SOCKS5 greeting and CONNECT, built and parsed without I/O (RFC 1928). */
#include <arpa/inet.h>
#include <string.h>

#include "socks_proto.h"

ssize_t socks_build_greeting(void *buf, size_t size) {
        static const uint8_t greeting[] = { SOCKS_VERSION, 1, 0x00 };
        if (size < sizeof greeting)
                return -ENOBUFS;
        memcpy(buf, greeting, sizeof greeting);
        return sizeof greeting;
}

ssize_t socks_build_connect(void *buf, size_t size, const char *host, uint16_t port) {
        uint8_t *p = buf, addr[16];
        size_t n = 0, hl = host ? strlen(host) : 0;

        if (hl == 0 || hl > 255)
                return -EINVAL;
        if (size < 4 + 1 + hl + 2)
                return -ENOBUFS;
        p[n++] = SOCKS_VERSION;
        p[n++] = 0x01; /* CONNECT */
        p[n++] = 0x00;
        if (inet_pton(AF_INET, host, addr) == 1) {
                p[n++] = 0x01;
                memcpy(p + n, addr, 4);
                n += 4;
        } else if (inet_pton(AF_INET6, host, addr) == 1) {
                if (size < 4 + 16 + 2)
                        return -ENOBUFS;
                p[n++] = 0x04;
                memcpy(p + n, addr, 16);
                n += 16;
        } else {
                p[n++] = 0x03;
                p[n++] = (uint8_t) hl;
                memcpy(p + n, host, hl);
                n += hl;
        }
        p[n++] = (uint8_t) (port >> 8);
        p[n++] = (uint8_t) port;
        return (ssize_t) n;
}

ssize_t socks_parse_method_reply(const void *buf, size_t len) {
        const uint8_t *p = buf;
        if (len >= 1 && p[0] != SOCKS_VERSION)
                return -EPROTO;
        if (len < 2)
                return 0;
        return p[1] == 0x00 ? 2 : -EACCES;
}

ssize_t socks_parse_connect_reply(const void *buf, size_t len, uint8_t *ret_code) {
        const uint8_t *p = buf;
        size_t need;

        if (len >= 1 && p[0] != SOCKS_VERSION)
                return -EPROTO;
        if (len < 5)
                return 0;
        if (p[2] != 0x00)
                return -EBADMSG;
        switch (p[3]) {
        case 0x01:
                need = 4 + 4 + 2;
                break;
        case 0x03:
                if (p[4] == 0)
                        return -EBADMSG;
                need = 4 + 1 + p[4] + 2;
                break;
        case 0x04:
                need = 4 + 16 + 2;
                break;
        default:
                return -EBADMSG;
        }
        if (len < need)
                return 0;
        *ret_code = p[1];
        return (ssize_t) need;
}

const char *socks_reply_to_string(uint8_t code) {
        static const char *const table[] = {
                "succeeded", "general SOCKS server failure", "connection not allowed by ruleset",
                "network unreachable", "host unreachable", "connection refused", "TTL expired",
                "command not supported", "address type not supported",
        };
        return code < ELEMENTSOF(table) ? table[code] : "unknown reply";
}
