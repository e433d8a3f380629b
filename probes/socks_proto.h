/* SOCKS5 (RFC 1928), the client half a -D forward's probe needs: the greeting without authentication and a
 * CONNECT, and the server's two replies. Pure: no I/O, so it can be tested and fuzzed. */
#pragma once

#include <sys/types.h>

#include "../monitor/base/macro.h"

#define SOCKS_VERSION 5
#define SOCKS_REPLY_MAX (4 + 1 + 255 + 2) /* the longest CONNECT reply: a domain name of 255 bytes */

/* The greeting: version 5, one method, "no authentication". Always 3 bytes. */
ssize_t socks_build_greeting(void *buf, size_t size);
/* CONNECT to host:port: IPv4 and IPv6 literals as addresses, anything else as a domain name (<= 255 bytes).
 * Bytes written, -EINVAL for an empty or overlong host, -ENOBUFS when it does not fit. */
ssize_t socks_build_connect(void *buf, size_t size, const char *host, uint16_t port);

/* The method reply: 0 more bytes needed, 2 (its size) when the server accepts "no authentication",
 * -EPROTO for another version, -EACCES when it wants a method we did not offer. */
ssize_t socks_parse_method_reply(const void *buf, size_t len);
/* The CONNECT reply: 0 more bytes needed, else its size with the reply code in *ret_code (0: succeeded);
 * -EPROTO for another version, -EBADMSG for a malformed one (reserved byte, address type). */
ssize_t socks_parse_connect_reply(const void *buf, size_t len, uint8_t *ret_code);
/* RFC 1928's words for a reply code ("connection refused"), or "unknown reply". */
const char *socks_reply_to_string(uint8_t code);
