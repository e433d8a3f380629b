/* expect_feed / expect_excerpt: the answer matcher every probe kind shares. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/config.h"
#include "../../probes/probe.h"
#include "test_files.h"

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

/* glibc's regexec on back-references overflows its stack ("(|)(\1\1)*") or runs for minutes ("(a*)*\1b"):
 * refused when compiled, as are sizes that make regcomp itself expensive. */
static void test_compile_rejects(void **state) {
        static const struct {
                const char *pattern;
                const char *why; /* NULL: accepted */
        } t[] = {
                { "(|)(\\1\\1)*", "back-reference \\1" },
                { "(a*)*\\1b", "back-reference \\1" },
                { "(a)[\\1]\\9", "back-reference \\9" },
                { "((((((((((x))))))))))\\1", "back-reference" },
                { "((a{0,255}){0,255}){0,255}", "repetitions expand" },
                { "(a{16}){17}", "repetitions expand" },
                { "a{257}", "repetitions expand" },
                { "(a|b)*a(a|b){200}c", "expand" },
                { "a)", "unmatched ')'" },
                { "\x02***********************************************************************", "repetition of a repetition" },
                { "a+*", "repetition of a repetition" },
                /* Optional copies of what can match empty: found by fuzz_expect ("(){0,252}": 2.4 s in regcomp). */
                { "(){0,252}", "optional repetitions of something that can match nothing" },
                { "(a?){0,120}", "can match nothing" },
                { "(|a){0,25}", "can match nothing" },
                { "((){0,15}){0,15}", "can match nothing" },
                { "((a?){0,8}){0,8}", "can match nothing" },
                { "(^){0,64}", "can match nothing" },
                { "(a?){0,24}", NULL },
                { "(ab){0,80}", NULL },
                { "(a*b*){0,16}", NULL },
                { "(a", "Unmatched (" },  /* regcomp's own words */
                { "a{1", "Unmatched \\{" },
                { "*a", "Invalid preceding regular expression" },
                { "^SSH-", NULL },
                { "^SSH-2\\.0-OpenSSH_[0-9]+\\.[0-9]", NULL },
                { "^HTTP/1\\.[01] (200|204|30[12]) ", NULL },
                { "\\\\1", NULL },        /* an escaped backslash, then "1" */
                { "[\\1]", NULL },        /* a backslash and a "1" in a bracket */
                { "[]\\1]x", NULL },      /* "]" first in a bracket is a member */
                { "[[:digit:]\\1]+", NULL },
                { "a\\)", NULL },
                { "a{256}", NULL },
                { "(a{15}){16}", NULL },
                { "(a|aa)*c", NULL },
                { "(.*)*x", NULL },
                { "", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                regex_t re;
                char err[256] = "";
                int r = expect_compile(t[i].pattern, &re, err, sizeof err);
                if (!t[i].why) {
                        if (r < 0)
                                fail_msg("\"%s\" refused: %s", t[i].pattern, err);
                        regfree(&re);
                        continue;
                }
                if (r != -EINVAL || !strstr(err, t[i].why))
                        fail_msg("\"%s\": r=%d err \"%s\", expected -EINVAL and \"%s\"", t[i].pattern, r, err, t[i].why);
        }

        /* Over the length bound, however simple. */
        char longp[EXPECT_PATTERN_MAX + 2];
        regex_t re;
        char err[256];
        memset(longp, 'a', sizeof longp - 1);
        longp[sizeof longp - 1] = 0;
        assert_int_equal(expect_compile(longp, &re, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "longer than"));
        longp[EXPECT_PATTERN_MAX] = 0;
        assert_int_equal(expect_compile(longp, &re, NULL, 0), 0);
        regfree(&re);
}

/* What expect_compile makes of a pattern matches where the pattern does, NUL bytes and lines included. */
static void test_compiled_matches(void **state) {
        static const struct {
                const char *pattern;
                const char *text;
                size_t len; /* 0: strlen */
                bool match;
        } t[] = {
                { "^SSH-", BANNER, 0, true },
                { "^SSH-", "Debian banner\r\n" BANNER, 0, true },
                { "^SSH-", "xSSH-2.0\r\n", 0, false },
                { "SSH-", "\0\n\xff" "SSH-2.0", 10, true },
                { "\\`SSH-", "\nSSH-2.0", 0, false },
                { "a|b", "xxb", 0, true },
                { "^$", "x\n\ny", 0, true },
                { "0\r$", "SSH-2.0\r\n", 0, true },
                { "^HTTP/1\\.[01] 200 ", "HTTP/1.1 200 OK\r\n", 0, true },
                { "^HTTP/1\\.[01] 200 ", "HTTP/1.1 404 Not Found\r\n", 0, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                regex_t re;
                expect_buffer b = { .len = 0 };
                assert_int_equal(expect_compile(t[i].pattern, &re, NULL, 0), 0);
                expect_verdict v = expect_feed(&b, &re, t[i].text, t[i].len ?: strlen(t[i].text));
                if ((v == EXPECT_MATCH) != t[i].match)
                        fail_msg("case %zu (\"%s\"): verdict %d", i, t[i].pattern, v);
                regfree(&re);
        }
}

/* Only the first EXPECT_WINDOW bytes are matched; the window's cut is no end of line. */
static void test_window(void **state) {
        char text[EXPECT_WINDOW + 100];
        regex_t re;

        memset(text, '.', sizeof text);
        memcpy(text + EXPECT_WINDOW - 4, "SSH-", 4);
        assert_int_equal(expect_compile("SSH-", &re, NULL, 0), 0);
        expect_buffer b = { .len = 0 };
        assert_int_equal(expect_feed(&b, &re, text, sizeof text), EXPECT_MATCH);
        regfree(&re);

        memset(text, '.', sizeof text);
        memcpy(text + EXPECT_WINDOW - 3, "SSH-", 4);
        assert_int_equal(expect_compile("SSH-", &re, NULL, 0), 0);
        expect_buffer c = { .len = 0 };
        assert_int_equal(expect_feed(&c, &re, text, sizeof text), EXPECT_MORE);
        expect_buffer d = { .len = 0 };
        for (size_t i = 0; i < sizeof text; i++)
                assert_int_equal(expect_feed(&d, &re, text + i, 1), EXPECT_MORE);
        regfree(&re);

        memset(text, '.', sizeof text);
        assert_int_equal(expect_compile("\\.$", &re, NULL, 0), 0);
        expect_buffer e = { .len = 0 };
        assert_int_equal(expect_feed(&e, &re, text, EXPECT_WINDOW + 1), EXPECT_MORE);
        expect_buffer f = { .len = 0 };
        assert_int_equal(expect_feed(&f, &re, text, EXPECT_WINDOW), EXPECT_MATCH);
        regfree(&re);
}

/* Patterns that make backtracking or lazily built DFAs slow, against what a hostile far end would send,
 * one byte per read and in one read. A functional bound (the cost is about a millisecond; the figure is
 * in the report, measured apart): generous, for a machine busy with other jobs. */
#define HOSTILE_BOUND_USEC (200 * USEC_PER_MSEC)

static void test_hostile_bounded(void **state) {
        static const char *const patterns[] = {
                "(a|aa)*c", "(a*)*b", "(.*)*x", "(a|a?)+$", "(x+x+)+y", "([a-z]+)*[0-9]", "(.*a){12}c",
                "(a|b)*a(a|b){12}c", "^(([a-z])+.)+[A-Z]([a-z])+$", "(a+)+b", "((a|b)*|c)*d",
        };
        char text[4][sizeof ((expect_buffer *) NULL)->data];

        memset(text[0], 'a', sizeof text[0]);
        for (size_t i = 0; i < sizeof text[1]; i++) {
                text[1][i] = "ab"[(i * 7 + i / 3) % 2];
                text[2][i] = i % 2 ? '\n' : 'a';
                text[3][i] = (char) ('a' + (i * 131 + i / 7) % 26);
        }

        for (size_t i = 0; i < ELEMENTSOF(patterns); i++)
                for (size_t k = 0; k < ELEMENTSOF(text); k++)
                        for (int bytewise = 0; bytewise <= 1; bytewise++) {
                                regex_t re;
                                expect_buffer b = { .len = 0 };
                                expect_verdict v = EXPECT_MORE;

                                assert_int_equal(expect_compile(patterns[i], &re, NULL, 0), 0);
                                usec_t t0 = now_usec(CLOCK_MONOTONIC);
                                if (bytewise)
                                        for (size_t j = 0; j < sizeof text[k] && v == EXPECT_MORE; j++)
                                                v = expect_feed(&b, &re, text[k] + j, 1);
                                else
                                        v = expect_feed(&b, &re, text[k], sizeof text[k]);
                                usec_t t = now_usec(CLOCK_MONOTONIC) - t0;
                                regfree(&re);
                                if (t > HOSTILE_BOUND_USEC)
                                        fail_msg("\"%s\", text %zu, %s: %llu ms", patterns[i], k,
                                                 bytewise ? "1 byte per read" : "one read",
                                                 (unsigned long long) (t / USEC_PER_MSEC));
                                assert_true(v == EXPECT_MORE || v == EXPECT_FULL || v == EXPECT_MATCH);
                        }
}

/* The loader says FILE:LINE and refuses the file (rtun-monitor exits 2), globally and per tunnel. */
static void test_config_rejects(void **state) {
        static const struct {
                const char *text;
                const char *want; /* after "PATH:" */
        } t[] = {
                { "[monitor]\nexpect = (a*)*\\1b\n",
                  "2: invalid regular expression \"(a*)*\\1b\" for monitor.expect (back-reference \\1 is not supported)\n" },
                { "[monitor]\nunits = reverse-ssh@*.service\n[tunnel \"reverse-ssh@a.service\"]\nexpect = (|)(\\1\\1)*\n",
                  "4: invalid regular expression \"(|)(\\1\\1)*\"" },
                { "[monitor]\nexpect = ((a{0,255}){0,255}){0,255}\n", "2: invalid regular expression" },
        };
        assert_int_equal(test_dir_setup(state), 0);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                const char *path = test_write_text("bad.conf", t[i].text);
                char err[1024] = "", want[1024];
                stderr_capture cap;
                config c = {};

                /* config_load reports on stderr: captured. */
                stderr_capture_begin(&cap);
                int r = config_load(&c, path, NULL);
                stderr_capture_end(&cap, err, sizeof err);
                if (r >= 0)
                        config_done(&c);
                snprintf(want, sizeof want, "%s:%s", path, t[i].want);
                if (r != -EINVAL || strncmp(err, want, strlen(want)) != 0)
                        fail_msg("case %zu: r=%d\n got: %s want: %s", i, r, err, want);
        }
        assert_int_equal(test_dir_teardown(state), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_feed_table),
                cmocka_unit_test(test_feed_full),
                cmocka_unit_test(test_excerpt),
                cmocka_unit_test(test_compile_rejects),
                cmocka_unit_test(test_compiled_matches),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_hostile_bounded),
                cmocka_unit_test(test_config_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
