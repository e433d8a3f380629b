/* expect_feed / expect_excerpt: the answer matcher every probe kind shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../probes/probe.h"

#define BANNER "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n"

static void test_feed_table(void **state) {
        static const struct {
                const char *pattern; /* NULL: no regex */
                int cflags;
                const char *chunks[4];
                size_t lens[4]; /* 0: strlen */
                expect_verdict verdicts[4];
        } t[] = {
                /* The real OpenSSH banner, in one piece, with and without REG_NEWLINE. */
                { "^SSH-", REG_NEWLINE, { BANNER }, { 0 }, { EXPECT_MATCH } },
                { "^SSH-", 0, { BANNER }, { 0 }, { EXPECT_MATCH } },
                { "^SSH-2\\.0-OpenSSH_[0-9]", REG_NEWLINE, { BANNER }, { 0 }, { EXPECT_MATCH } },
                /* Partial feeds: the match needs bytes of several reads. */
                { "^SSH-", REG_NEWLINE, { "S", "SH", "-2.0-x\r\n" }, { 0 }, { EXPECT_MORE, EXPECT_MORE, EXPECT_MATCH } },
                { "^SSH-2\\.0-.*\r$", REG_NEWLINE, { "SSH-2.0-Open", "SSH_9.2\r", "\n" }, { 0 },
                  { EXPECT_MORE, EXPECT_MATCH, EXPECT_MATCH } },
                /* Not an ssh server. */
                { "^SSH-", REG_NEWLINE, { "HTTP/1.0 400\r\n", "\r\n" }, { 0 }, { EXPECT_MORE, EXPECT_MORE } },
                /* A later line matches "^" only with REG_NEWLINE. */
                { "^SSH-", REG_NEWLINE, { "Debian banner\r\n", BANNER }, { 0 }, { EXPECT_MORE, EXPECT_MATCH } },
                { "^SSH-", 0, { "Debian banner\r\n", BANNER }, { 0 }, { EXPECT_MORE, EXPECT_MORE } },
                /* A NUL byte from the peer does not hide what follows. */
                { "SSH-", 0, { "\0SSH-2.0\r\n" }, { 10 }, { EXPECT_MATCH } },
                /* sshd over its MaxStartups: turned away, but by an sshd at the far end (the path works). */
                { "^SSH-", REG_NEWLINE, { "Exceeded MaxStartups\r\n" }, { 0 }, { EXPECT_BUSY } },
                { "^SSH-2\\.0-", 0, { "Exceeded Max", "Startups\r", "\n" }, { 0 }, { EXPECT_MORE, EXPECT_MORE, EXPECT_BUSY } },
                /* ... only that message, and only when an sshd is what monitor.expect is after. */
                { "^SSH-", REG_NEWLINE, { "Exceeded MaxStartups\r\n", "x" }, { 0 }, { EXPECT_BUSY, EXPECT_MORE } },
                { "^SSH-", REG_NEWLINE, { "Exceeded MaxStartups\n" }, { 0 }, { EXPECT_MORE } },
                { "^HTTP/1", REG_NEWLINE, { "Exceeded MaxStartups\r\n" }, { 0 }, { EXPECT_MORE } },
                { "MaxStartups", REG_NEWLINE, { "Exceeded MaxStartups\r\n" }, { 0 }, { EXPECT_MATCH } },
                /* No regex: any byte at all is an answer; an empty read is not. */
                { NULL, 0, { "", "x" }, { 0 }, { EXPECT_MORE, EXPECT_MATCH } },
                { NULL, 0, { "\0" }, { 1 }, { EXPECT_MATCH } },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                regex_t re;
                expect_buffer b = { .len = 0 };
                size_t total = 0;

                if (t[i].pattern)
                        assert_int_equal(regcomp(&re, t[i].pattern, REG_EXTENDED | REG_NOSUB | t[i].cflags), 0);
                for (size_t j = 0; j < ELEMENTSOF(t[i].chunks) && t[i].chunks[j]; j++) {
                        size_t n = t[i].lens[j] ?: strlen(t[i].chunks[j]);
                        total += n;
                        expect_verdict v = expect_feed(&b, t[i].pattern ? &re : NULL, t[i].chunks[j], n);
                        if (v != t[i].verdicts[j])
                                fail_msg("case %zu chunk %zu: verdict %d, expected %d", i, j, v, t[i].verdicts[j]);
                        assert_int_equal(b.len, total);
                        assert_int_equal(b.data[b.len], 0);
                }
                if (t[i].pattern)
                        regfree(&re);
        }
}

static void test_feed_full(void **state) {
        regex_t re;
        expect_buffer b = { .len = 0 };
        char junk[3000];

        memset(junk, 'x', sizeof junk);
        assert_int_equal(regcomp(&re, "^SSH-", REG_EXTENDED | REG_NOSUB | REG_NEWLINE), 0);

        assert_int_equal(expect_feed(&b, &re, junk, sizeof junk), EXPECT_MORE);
        /* Truncated at capacity (one byte kept for the NUL), then FULL for good. */
        assert_int_equal(expect_feed(&b, &re, junk, sizeof junk), EXPECT_FULL);
        assert_int_equal(b.len, sizeof b.data - 1);
        assert_int_equal(b.data[b.len], 0);
        assert_int_equal(expect_feed(&b, &re, "SSH-2.0-x\r\n", 11), EXPECT_FULL);
        assert_int_equal(b.len, sizeof b.data - 1);

        /* A match in the bytes that fit still wins over "full". */
        expect_buffer c = { .len = 0 };
        char big[5000];
        memset(big, 'y', sizeof big);
        memcpy(big, "SSH-", 4);
        assert_int_equal(expect_feed(&c, &re, big, sizeof big), EXPECT_MATCH);

        regfree(&re);
}

static void test_excerpt(void **state) {
        static const struct {
                const char *in;
                size_t len; /* 0: strlen */
                size_t bufsize;
                const char *out;
        } t[] = {
                { BANNER, 0, 256, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\\r\\n" },
                { "HTTP/1.0 400\r\n", 0, 256, "HTTP/1.0 400\\r\\n" },
                { "a\tb\"c\\d", 0, 256, "a\\tb\\\"c\\\\d" },
                { "\x01\xff", 2, 256, "\\x01\\xff" },
                { "\0x", 2, 256, "\\x00x" },
                { "", 0, 256, "" },
                /* 70 bytes: cut at 60, marked. */
                { "0123456789012345678901234567890123456789012345678901234567890123456789", 0, 256,
                  "012345678901234567890123456789012345678901234567890123456789..." },
                /* A small buffer: whole escapes only, always terminated. */
                { "ab\r\n", 0, 5, "ab\\r" },
                { "abc", 0, 1, "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                expect_buffer b = { .len = 0 };
                char buf[256];
                size_t n = t[i].len ?: strlen(t[i].in);

                memset(buf, 'Z', sizeof buf);
                (void) expect_feed(&b, NULL, t[i].in, n);
                assert_ptr_equal(expect_excerpt(&b, buf, t[i].bufsize), buf);
                assert_string_equal(buf, t[i].out);
                assert_true(strlen(buf) < t[i].bufsize);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_feed_table),
                cmocka_unit_test(test_feed_full),
                cmocka_unit_test(test_excerpt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
