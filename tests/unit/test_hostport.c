/* hostport_parse and parse_port: the one HOST:PORT parser of the config, ssh -G's remoteforward lines and
 * metrics.listen. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "../../monitor/base/hostport.h"

enum { ADDR = 0, NAME = HOSTPORT_NAME | HOSTPORT_BARE_PORT, LISTEN = HOSTPORT_PORT_ZERO,
       SSH = HOSTPORT_ANY_HOST | HOSTPORT_BARE_PORT | HOSTPORT_PORT_ZERO };

static void test_port(void **state) {
        static const struct {
                const char *s;
                bool allow_zero;
                int r;
                uint16_t port;
        } t[] = {
                { "22", false, 0, 22 },        { "65535", false, 0, 65535 }, { "00080", false, 0, 80 },
                { "0", true, 0, 0 },           { "0", false, -ERANGE, 0 },  { "65536", true, -ERANGE, 0 },
                { "", true, -ERANGE, 0 },      { "-1", true, -ERANGE, 0 },  { "+22", false, -ERANGE, 0 },
                { "22 ", false, -ERANGE, 0 },  { " 22", false, -ERANGE, 0 }, { "2x", false, -ERANGE, 0 },
                { "99999999999999999999999", false, -ERANGE, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint16_t p = 7;
                int r = parse_port(t[i].s, t[i].allow_zero, &p);
                if (r != t[i].r)
                        fail_msg("parse_port(\"%s\") = %d, want %d", t[i].s, r, t[i].r);
                assert_int_equal(p, r == 0 ? t[i].port : 7);
        }
}

static void test_good(void **state) {
        static const struct {
                const char *s;
                int flags;
                const char *host;
                uint16_t port;
                int family;
        } t[] = {
                { "127.0.0.1:10122", ADDR, "127.0.0.1", 10122, AF_INET },
                { "0.0.0.0:10122", ADDR, "0.0.0.0", 10122, AF_INET },
                { "[::1]:10122", ADDR, "::1", 10122, AF_INET6 },
                { "[::ffff:127.0.0.1]:1", ADDR, "::ffff:127.0.0.1", 1, AF_INET6 },
                { "[::]:0", LISTEN, "::", 0, AF_INET6 },
                { "127.0.0.1:65535", LISTEN, "127.0.0.1", 65535, AF_INET },
                { "21022", NAME, "", 21022, AF_UNSPEC },
                { "localhost:21022", NAME, "localhost", 21022, AF_UNSPEC },
                { "bastion.example.com:22", NAME, "bastion.example.com", 22, AF_UNSPEC },
                { "10.0.0.1:2222", NAME, "10.0.0.1", 2222, AF_INET },
                { "[2001:db8::1]:443", NAME, "2001:db8::1", 443, AF_INET6 },
                { "[localhost]:21022", SSH, "localhost", 21022, AF_UNSPEC },
                { "[*]:21023", SSH, "*", 21023, AF_UNSPEC },
                { "[]:21024", SSH, "", 21024, AF_UNSPEC },
                { "[127.0.0.1]:5000", SSH, "127.0.0.1", 5000, AF_INET },
                { "[::1]:2323", SSH, "::1", 2323, AF_INET6 },
                { "8080", SSH, "", 8080, AF_UNSPEC },
                { "0", SSH, "", 0, AF_UNSPEC },
                { "host:0", SSH, "host", 0, AF_UNSPEC },
                { ":80", SSH, "", 80, AF_UNSPEC },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                hostport h;
                const char *why = NULL;
                int r = hostport_parse(t[i].s, t[i].flags, &h, &why);
                if (r != 0)
                        fail_msg("\"%s\" (flags %d): %d (%s)", t[i].s, t[i].flags, r, why);
                assert_string_equal(h.host, t[i].host);
                assert_int_equal(h.port, t[i].port);
                assert_int_equal(h.family, t[i].family);
        }

        hostport h;
        assert_int_equal(hostport_parse("[::1]:1", ADDR, &h, NULL), 0);
        assert_true(IN6_IS_ADDR_LOOPBACK(&h.addr.in6));
        assert_int_equal(hostport_parse("127.0.0.2:1", ADDR, &h, NULL), 0);
        assert_int_equal(ntohl(h.addr.in.s_addr), 0x7f000002);
}

static void test_bad(void **state) {
        static const struct {
                const char *s;
                int flags;
                int r;
                const char *why;
        } t[] = {
                { "", ADDR, -EINVAL, "no \":PORT\"" },
                { "10122", ADDR, -EINVAL, "no \":PORT\"" },
                { "127.0.0.1", ADDR, -EINVAL, "no \":PORT\"" },
                { "127.0.0.1:", ADDR, -ERANGE, "port not a number in 1..65535" },
                { "127.0.0.1:0", ADDR, -ERANGE, "port not a number in 1..65535" },
                { "127.0.0.1:65536", LISTEN, -ERANGE, "port not a number in 0..65535" },
                { "127.0.0.1:-1", LISTEN, -ERANGE, "port not a number in 0..65535" },
                { "127.0.0.1:1x", ADDR, -ERANGE, "port not a number in 1..65535" },
                { "localhost:10122", ADDR, -EINVAL, "the host is not an IP address" },
                { "1.2.3:80", ADDR, -EINVAL, "the host is not an IP address" },
                { "::1:10122", ADDR, -EINVAL, "an IPv6 address needs brackets" },
                { "::1:10122", NAME, -EINVAL, "an IPv6 address needs brackets" },
                { "[::1]10122", ADDR, -EINVAL, "no \":PORT\" after \"]\"" },
                { "[::1]:", LISTEN, -ERANGE, "port not a number in 0..65535" },
                { "[::1:80", SSH, -EINVAL, "\"[\" without \"]\"" },
                { "[127.0.0.1]:80", ADDR, -EINVAL, "brackets hold no IPv6 address" },
                { "[localhost]:80", NAME, -EINVAL, "brackets hold no IPv6 address" },
                { ":80", NAME, -EINVAL, "invalid host name" },
                { "host:", NAME, -ERANGE, "port not a number in 1..65535" },
                { "a b:80", NAME, -EINVAL, "invalid host name" },
                { "a:b:80", NAME, -EINVAL, "invalid host name" },
                { "99999", NAME, -ERANGE, "port not a number in 1..65535" },
                { "21x", SSH, -EINVAL, "no \":PORT\"" },
                { "[a[b]:1", SSH, -EINVAL, "brackets inside the host" },
                { "a]:1", SSH, -EINVAL, "brackets inside the host" },
                { "[localhost]:70000", SSH, -ERANGE, "port not a number in 0..65535" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                hostport h = { .port = 7 };
                const char *why = NULL;
                int r = hostport_parse(t[i].s, t[i].flags, &h, &why);
                if (r != t[i].r)
                        fail_msg("\"%s\" (flags %d): %d, want %d", t[i].s, t[i].flags, r, t[i].r);
                if (!why || !streq(why, t[i].why))
                        fail_msg("\"%s\" (flags %d): \"%s\", want \"%s\"", t[i].s, t[i].flags, why, t[i].why);
                assert_int_equal(h.port, 7); /* untouched */
        }

        char longhost[300];
        memset(longhost, 'a', sizeof longhost);
        strcpy(longhost + 280, ":80");
        hostport h;
        assert_int_equal(hostport_parse(longhost, NAME, &h, NULL), -EINVAL);
}

/* hostport_format: what hostport_parse reads back; IPv6 in brackets. */
static void test_format(void **state) {
        static const struct {
                const char *host;
                uint16_t port;
                const char *want;
        } t[] = {
                { "localhost", 21022, "localhost:21022" }, { "127.0.0.1", 80, "127.0.0.1:80" },
                { "::1", 2323, "[::1]:2323" },             { "fe80::1%eth0", 22, "[fe80::1%eth0]:22" },
                { "", 0, ":0" },                           { NULL, 22, ":22" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char buf[64];
                assert_string_equal(hostport_format(t[i].host, t[i].port, buf, sizeof buf), t[i].want);
                hostport h;
                if (t[i].host && *t[i].host && t[i].port > 0) {
                        assert_int_equal(hostport_parse(buf, HOSTPORT_ANY_HOST, &h, NULL), 0);
                        assert_string_equal(h.host, t[i].host);
                        assert_int_equal(h.port, t[i].port);
                }
        }
        char small[8];
        assert_string_equal(hostport_format("localhost", 21022, small, sizeof small), "localho"); /* cut, terminated */
}

/* The per-client key of the HTTP tables: IPv4 whole, IPv6 whole or by /64, a mapped IPv4 whole either way. */
static void test_sockaddr_key(void **state) {
        struct sockaddr_in a4 = { .sin_family = AF_INET };
        struct sockaddr_in6 a = { .sin6_family = AF_INET6 }, b = a, m = a;
        uint8_t ka[17], kb[17], want[17] = { 0 };
        inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
        sockaddr_key((struct sockaddr *) &a4, true, ka);
        want[0] = AF_INET;
        memcpy(want + 1, &a4.sin_addr, 4);
        assert_memory_equal(ka, want, 17);

        inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
        inet_pton(AF_INET6, "2001:db8:1:2::99", &b.sin6_addr);
        sockaddr_key((struct sockaddr *) &a, true, ka);
        sockaddr_key((struct sockaddr *) &b, true, kb);
        assert_memory_equal(ka, kb, 17); /* same /64 */
        assert_int_equal(ka[0], AF_INET6);
        assert_int_equal(ka[16], 0);
        sockaddr_key((struct sockaddr *) &a, false, ka);
        sockaddr_key((struct sockaddr *) &b, false, kb);
        assert_memory_not_equal(ka, kb, 17); /* whole address */

        inet_pton(AF_INET6, "::ffff:192.0.2.7", &m.sin6_addr);
        inet_pton(AF_INET6, "::ffff:192.0.2.8", &b.sin6_addr);
        sockaddr_key((struct sockaddr *) &m, true, ka);
        sockaddr_key((struct sockaddr *) &b, true, kb);
        assert_memory_not_equal(ka, kb, 17); /* a mapped IPv4 is one host, not a /64 */

        memset(want, 0, sizeof want);
        sockaddr_key(NULL, true, ka);
        assert_memory_equal(ka, want, 17);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_port),
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_sockaddr_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
