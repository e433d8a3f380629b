/* mux_proto: byte-exact encoding of HELLO and MUX_C_NEW_STDIO_FWD (written by hand from mux.c's
 * mux_client_hello_exchange and mux_client_request_stdio_fwd), and the decoder against good and hostile
 * replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../probes/mux_proto.h"

#define U32(v) (uint8_t) ((v) >> 24), (uint8_t) ((v) >> 16), (uint8_t) ((v) >> 8), (uint8_t) (v)

static void test_build_hello(void **state) {
        static const uint8_t want[] = { U32(8), U32(0x00000001), U32(4) };
        uint8_t buf[64];

        assert_int_equal(mux_build_hello(buf, sizeof buf), sizeof want);
        assert_memory_equal(buf, want, sizeof want);

        for (size_t n = 0; n < sizeof want; n++)
                assert_int_equal(mux_build_hello(buf, n), -ENOBUFS);
        assert_int_equal(mux_build_hello(NULL, 100), -ENOBUFS);
}

static void test_build_stdio_fwd(void **state) {
        static const uint8_t want[] = {
                U32(29),                                    /* length */
                U32(0x10000008),                            /* MUX_C_NEW_STDIO_FWD */
                U32(7),                                     /* request id */
                U32(0),                                     /* reserved: empty string */
                U32(9), 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
                U32(21022),                                 /* port as u32 (0x0000521e) */
        };
        static const uint8_t want6[] = {
                U32(23), U32(0x10000008), U32(0xfffffffe), U32(0), U32(3), ':', ':', '1', U32(65535),
        };
        uint8_t buf[128];

        assert_int_equal(mux_build_new_stdio_fwd(buf, sizeof buf, 7, "localhost", 21022), sizeof want);
        assert_memory_equal(buf, want, sizeof want);
        assert_int_equal(buf[sizeof want - 2], 0x52);
        assert_int_equal(buf[sizeof want - 1], 0x1e);

        assert_int_equal(mux_build_new_stdio_fwd(buf, sizeof buf, 0xfffffffe, "::1", 65535), sizeof want6);
        assert_memory_equal(buf, want6, sizeof want6);

        for (size_t n = 0; n < sizeof want; n++)
                assert_int_equal(mux_build_new_stdio_fwd(buf, n, 7, "localhost", 21022), -ENOBUFS);
        assert_int_equal(mux_build_new_stdio_fwd(buf, sizeof buf, 7, NULL, 22), -EINVAL);
        assert_int_equal(mux_build_new_stdio_fwd(buf, sizeof buf, 7, "", 22), -EINVAL);

        char *big = malloc(2000);
        assert_non_null(big);
        memset(big, 'a', 1999);
        big[1999] = 0;
        assert_int_equal(mux_build_new_stdio_fwd(buf, sizeof buf, 7, big, 22), -EINVAL);
        free(big);
}

/* Good replies, each with what must come out. */
static void test_parse_good(void **state) {
        static const uint8_t hello[] = { U32(8), U32(1), U32(4) };
        static const uint8_t hello_ext[] = {
                U32(31), U32(1), U32(4),
                U32(3), 'f', 'o', 'o', U32(3), 'b', 'a', 'r',
                U32(1), 'x', U32(0),
        };
        static const uint8_t opened[] = { U32(12), U32(0x80000006), U32(7), U32(3) };
        static const uint8_t failure[] = {
                U32(40), U32(0x80000003), U32(7),
                U32(28), 'S', 'e', 's', 's', 'i', 'o', 'n', ' ', 'o', 'p', 'e', 'n', ' ', 'r', 'e', 'f', 'u', 's',
                'e', 'd', ' ', 'b', 'y', ' ', 'p', 'e', 'e', 'r',
        };
        static const uint8_t denied[] = {
                U32(29), U32(0x80000002), U32(7),
                U32(17), 'P', 'e', 'r', 'm', 'i', 's', 's', 'i', 'o', 'n', ' ', 'd', 'e', 'n', 'i', 'e', 'd',
        };
        /* Control bytes in a reason are masked, a NUL ends it; trailing bytes after the fields are ignored
         * as OpenSSH ignores them. */
        static const uint8_t dirty[] = {
                U32(20), U32(0x80000003), U32(7), U32(6), 'a', '\n', 0x80, 'b', 0, 'c', 0xaa, 0xbb,
        };
        static const struct {
                const char *name;
                const uint8_t *buf;
                size_t len;
                mux_phase phase;
                uint32_t type, version, session_id;
                size_t n_extensions;
                const char *reason;
        } t[] = {
                { "hello", hello, sizeof hello, MUX_PHASE_HELLO, MUX_MSG_HELLO, 4, 0, 0, "" },
                { "hello+ext", hello_ext, sizeof hello_ext, MUX_PHASE_HELLO, MUX_MSG_HELLO, 4, 0, 2, "" },
                { "opened", opened, sizeof opened, MUX_PHASE_STDIO_REPLY, MUX_S_SESSION_OPENED, 0, 3, 0, "" },
                { "failure", failure, sizeof failure, MUX_PHASE_STDIO_REPLY, MUX_S_FAILURE, 0, 0, 0,
                  MUX_REFUSED_BY_PEER },
                { "denied", denied, sizeof denied, MUX_PHASE_STDIO_REPLY, MUX_S_PERMISSION_DENIED, 0, 0, 0,
                  "Permission denied" },
                { "dirty", dirty, sizeof dirty, MUX_PHASE_STDIO_REPLY, MUX_S_FAILURE, 0, 0, 0, "a??b" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                mux_message m;
                uint8_t twice[256];

                print_message("%s\n", t[i].name);
                assert_int_equal(mux_parse(t[i].buf, t[i].len, t[i].phase, 7, &m), t[i].len);
                assert_int_equal(m.type, t[i].type);
                assert_int_equal(m.version, t[i].version);
                assert_int_equal(m.session_id, t[i].session_id);
                assert_int_equal(m.n_extensions, t[i].n_extensions);
                assert_string_equal(m.reason, t[i].reason);
                if (t[i].phase == MUX_PHASE_STDIO_REPLY)
                        assert_int_equal(m.request_id, 7);

                /* Every strict prefix asks for more; a second frame behind the first is left alone. */
                for (size_t n = 0; n < t[i].len; n++)
                        assert_int_equal(mux_parse(t[i].buf, n, t[i].phase, 7, &m), 0);
                assert_true(2 * t[i].len <= sizeof twice);
                memcpy(twice, t[i].buf, t[i].len);
                memcpy(twice + t[i].len, t[i].buf, t[i].len);
                assert_int_equal(mux_parse(twice, 2 * t[i].len, t[i].phase, 7, &m), t[i].len);
        }
}

static void test_parse_long_reason(void **state) {
        size_t n = 1000, len = 4 + 12 + n;
        uint8_t *b = malloc(len);
        mux_message m;

        assert_non_null(b);
        const uint8_t head[] = { U32(12 + n), U32(0x80000003), U32(9), U32(n) };
        memcpy(b, head, sizeof head);
        memset(b + sizeof head, 'r', n);
        assert_int_equal(mux_parse(b, len, MUX_PHASE_STDIO_REPLY, 9, &m), len);
        assert_int_equal(strlen(m.reason), sizeof m.reason - 1);
        free(b);
}

/* Hostile or out-of-place frames: a clean error each, and the type reported where it is known. */
static void test_parse_bad(void **state) {
        static const uint8_t huge[] = { U32(64 * 1024 + 1), U32(1) };
        static const uint8_t giant[] = { U32(0xffffffff) };
        static const uint8_t empty[] = { U32(0) };
        static const uint8_t short_type[] = { U32(2), 0, 1 };
        static const uint8_t hello_v3[] = { U32(8), U32(1), U32(3) };
        static const uint8_t hello_nover[] = { U32(4), U32(1) };
        static const uint8_t hello_half_ext[] = { U32(15), U32(1), U32(4), U32(3), 'f', 'o', 'o' };
        /* The extension's length points past the frame into bytes that follow it in the buffer. */
        static const uint8_t hello_ext_overrun[] = { U32(13), U32(1), U32(4), U32(8), 'a', 'b', 'c', 'd', 'e',
                                                     'f', 'g', 'h', 'i' };
        static const uint8_t hello_ext_badlen[] = { U32(12), U32(1), U32(4), U32(0xffffffff) };
        static const uint8_t opened[] = { U32(12), U32(0x80000006), U32(7), U32(3) };
        static const uint8_t opened_short[] = { U32(8), U32(0x80000006), U32(7) };
        static const uint8_t opened_noid[] = { U32(4), U32(0x80000006) };
        static const uint8_t opened_other_id[] = { U32(12), U32(0x80000006), U32(8), U32(3) };
        static const uint8_t failure_noreason[] = { U32(8), U32(0x80000003), U32(7) };
        static const uint8_t failure_overrun[] = { U32(14), U32(0x80000003), U32(7), U32(100), 'a', 'b' };
        static const uint8_t hello[] = { U32(8), U32(1), U32(4) };
        static const uint8_t alive[] = { U32(12), U32(0x80000005), U32(7), U32(1234) };
        static const uint8_t exitmsg[] = { U32(12), U32(0x80000004), U32(7), U32(0) };
        static const uint8_t unknown[] = { U32(8), U32(0xdeadbeef), U32(7) };
        static const struct {
                const char *name;
                const uint8_t *buf;
                size_t len;
                mux_phase phase;
                ssize_t want;
                uint32_t type; /* 0: not checked */
        } t[] = {
                { "huge", huge, sizeof huge, MUX_PHASE_HELLO, -E2BIG, 0 },
                { "giant", giant, sizeof giant, MUX_PHASE_STDIO_REPLY, -E2BIG, 0 },
                { "empty", empty, sizeof empty, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "short type", short_type, sizeof short_type, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "hello v3", hello_v3, sizeof hello_v3, MUX_PHASE_HELLO, -EPROTONOSUPPORT, MUX_MSG_HELLO },
                { "hello no version", hello_nover, sizeof hello_nover, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "hello half ext", hello_half_ext, sizeof hello_half_ext, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "hello ext overrun", hello_ext_overrun, sizeof hello_ext_overrun, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "hello ext bad len", hello_ext_badlen, sizeof hello_ext_badlen, MUX_PHASE_HELLO, -EBADMSG, 0 },
                { "opened before hello", opened, sizeof opened, MUX_PHASE_HELLO, -EPROTO, MUX_S_SESSION_OPENED },
                { "opened short", opened_short, sizeof opened_short, MUX_PHASE_STDIO_REPLY, -EBADMSG, 0 },
                { "opened no id", opened_noid, sizeof opened_noid, MUX_PHASE_STDIO_REPLY, -EBADMSG, 0 },
                { "opened other id", opened_other_id, sizeof opened_other_id, MUX_PHASE_STDIO_REPLY, -EPROTO,
                  MUX_S_SESSION_OPENED },
                { "failure no reason", failure_noreason, sizeof failure_noreason, MUX_PHASE_STDIO_REPLY, -EBADMSG,
                  0 },
                { "failure overrun", failure_overrun, sizeof failure_overrun, MUX_PHASE_STDIO_REPLY, -EBADMSG, 0 },
                { "hello twice", hello, sizeof hello, MUX_PHASE_STDIO_REPLY, -EPROTO, MUX_MSG_HELLO },
                { "alive", alive, sizeof alive, MUX_PHASE_STDIO_REPLY, -EPROTO, MUX_S_ALIVE },
                { "exit message", exitmsg, sizeof exitmsg, MUX_PHASE_STDIO_REPLY, -EPROTO, MUX_S_EXIT_MESSAGE },
                { "unknown", unknown, sizeof unknown, MUX_PHASE_STDIO_REPLY, -EPROTO, 0xdeadbeef },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                mux_message m;

                print_message("%s\n", t[i].name);
                assert_int_equal(mux_parse(t[i].buf, t[i].len, t[i].phase, 7, &m), t[i].want);
                if (t[i].type != 0)
                        assert_int_equal(m.type, t[i].type);
        }
        assert_int_equal(mux_parse(NULL, 0, MUX_PHASE_HELLO, 0, NULL), 0);
        assert_int_equal(mux_parse(hello, sizeof hello, MUX_PHASE_HELLO, 0, NULL), sizeof hello);
}

/* A cheap deterministic fuzz for ASan runs: random frames with a plausible length word. */
static void test_parse_random(void **state) {
        uint8_t buf[96];
        uint32_t x = 0x12345678;

        for (unsigned i = 0; i < 200000; i++) {
                size_t len = 0;
                for (size_t j = 0; j < sizeof buf; j++) {
                        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                        buf[j] = (uint8_t) x;
                }
                len = x % sizeof buf;
                buf[0] = buf[1] = 0;
                buf[2] = 0;
                buf[3] = (uint8_t) (x >> 8) % 92;
                /* Often a type we know, so the deeper paths run. */
                static const uint32_t types[] = { 1, 0x80000006, 0x80000003, 0x80000002 };
                if (x & 1) {
                        uint32_t ty = types[(x >> 1) % 4];
                        buf[4] = (uint8_t) (ty >> 24), buf[5] = (uint8_t) (ty >> 16), buf[6] = (uint8_t) (ty >> 8),
                        buf[7] = (uint8_t) ty;
                }

                mux_message m;
                ssize_t r = mux_parse(buf, len, (x >> 3) & 1 ? MUX_PHASE_HELLO : MUX_PHASE_STDIO_REPLY, 7, &m);
                assert_true(r == 0 || r == -EBADMSG || r == -EPROTO || r == -EPROTONOSUPPORT ||
                            (r > 0 && (size_t) r <= len));
                if (r > 0)
                        assert_true(strlen(m.reason) < sizeof m.reason);
        }
}

static void test_open_failure_from_log(void **state) {
        static const struct {
                const char *line;
                mux_open_failure want;
                const char *reason;
        } t[] = {
                { "channel 3: open failed: administratively prohibited: open failed", MUX_OPEN_FAILURE_PROHIBITED,
                  "administratively prohibited: open failed" },
                { "channel 2: open failed: connect failed: Connection refused", MUX_OPEN_FAILURE_REFUSED,
                  "connect failed: Connection refused" },
                { "channel 12: open failed: connect failed: Connection timed out", MUX_OPEN_FAILURE_REFUSED,
                  "connect failed: Connection timed out" },
                { "channel 1: open failed: resource shortage: ", MUX_OPEN_FAILURE_REFUSED, "resource shortage: " },
                { "Timeout, server 127.0.0.1 not responding.", MUX_OPEN_FAILURE_UNKNOWN, NULL },
                { "remote port forwarding failed for listen port 21022", MUX_OPEN_FAILURE_UNKNOWN, NULL },
                { "error: channel 3: open failed: administratively prohibited", MUX_OPEN_FAILURE_UNKNOWN, NULL },
                { "channel 3: new [stdio-forward]", MUX_OPEN_FAILURE_UNKNOWN, NULL },
                { "", MUX_OPEN_FAILURE_UNKNOWN, NULL },
                { NULL, MUX_OPEN_FAILURE_UNKNOWN, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                const char *reason = "sentinel";
                assert_int_equal(mux_open_failure_from_log(t[i].line, &reason), t[i].want);
                if (t[i].reason)
                        assert_string_equal(reason, t[i].reason);
                else
                        assert_null(reason);
        }
        assert_int_equal(mux_open_failure_from_log("channel 3: open failed: administratively prohibited", NULL),
                         MUX_OPEN_FAILURE_PROHIBITED);
}

/* ssh's words for a -R forward the bastion refused (ssh.c ssh_confirm_remote_forward, OpenSSH 9.2). */
static void test_forward_failure_from_log(void **state) {
        static const struct {
                const char *line;
                int want;
        } t[] = {
                { "Error: remote port forwarding failed for listen port 21022", 21022 },
                { "Warning: remote port forwarding failed for listen port 21022", 21022 },
                { "Error: remote port forwarding failed for listen port 1\r", 1 },
                { "Error: remote port forwarding failed for listen port 65535", 65535 },
                { "Error: remote port forwarding failed for listen port 65536", 0 },
                { "Error: remote port forwarding failed for listen port 0000021022", 0 },
                { "Error: remote port forwarding failed for listen port 21022x", 0 },
                { "Error: remote port forwarding failed for listen port ", 0 },
                { "Error: remote port forwarding failed for listen path /run/x.sock", 0 },
                { "Error: remote port forwarding failed", 0 },
                { "remote port forwarding failed for listen port 21022", -1 },
                { "error: remote port forwarding failed for listen port 21022", -1 },
                { "Warning: remote port forwarding failedX", -1 },
                { "channel 3: open failed: connect failed: Connection refused", -1 },
                { "Allocated port 21022 for remote forward to localhost:22", -1 },
                { "", -1 },
                { NULL, -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                assert_int_equal(mux_forward_failure_from_log(t[i].line), t[i].want);
}

static void test_host_key_line_from_log(void **state) {
        const char *fix;
        /* Debian 12's ssh 9.2, a changed key under StrictHostKeyChecking=accept-new, one line each. */
        assert_int_equal(mux_host_key_line_from_log("Host key verification failed.", &fix), MUX_HOST_KEY_LINE_FAILED);
        assert_null(fix);
        assert_int_equal(mux_host_key_line_from_log("Host key for [127.0.0.1]:22999 has changed and you have requested "
                                                    "strict checking.", NULL), MUX_HOST_KEY_LINE_CHANGED);
        assert_int_equal(mux_host_key_line_from_log("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @", NULL),
                         MUX_HOST_KEY_LINE_CHANGED);
        assert_int_equal(mux_host_key_line_from_log("  ssh-keygen -f \"/tmp/hk/kh\" -R \"[127.0.0.1]:22999\"", &fix),
                         MUX_HOST_KEY_LINE_REMOVE);
        assert_string_equal(fix, "ssh-keygen -f \"/tmp/hk/kh\" -R \"[127.0.0.1]:22999\"");
        static const char *const none[] = {
                "  remove with:", "Offending ED25519 key in /tmp/hk/kh:1", "Host key verification failed",
                "host key verification failed.", "Host key for x has changed", "ssh-keygen -f /tmp/kh -R h",
                "Error: remote port forwarding failed for listen port 21022", "", "   ",
        };
        for (size_t i = 0; i < ELEMENTSOF(none); i++) {
                assert_int_equal(mux_host_key_line_from_log(none[i], &fix), MUX_HOST_KEY_LINE_NONE);
                assert_null(fix);
        }
        assert_int_equal(mux_host_key_line_from_log(NULL, &fix), MUX_HOST_KEY_LINE_NONE);
}

static void test_type_names(void **state) {
        assert_string_equal(mux_type_to_string(MUX_S_SESSION_OPENED), "SESSION_OPENED");
        assert_string_equal(mux_type_to_string(MUX_MSG_HELLO), "HELLO");
        assert_null(mux_type_to_string(0x42));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_hello),
                cmocka_unit_test(test_build_stdio_fwd),
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_long_reason),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_parse_random),
                cmocka_unit_test(test_open_failure_from_log),
                cmocka_unit_test(test_forward_failure_from_log),
                cmocka_unit_test(test_host_key_line_from_log),
                cmocka_unit_test(test_type_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
