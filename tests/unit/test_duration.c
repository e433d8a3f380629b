/* parse_duration / format_duration: the strict duration syntax of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../monitor/base/duration.h"

#define SEC USEC_PER_SEC
#define MSEC USEC_PER_MSEC

static void test_parse_good(void **state) {
        static const struct {
                const char *s;
                usec_t v;
        } t[] = {
                { "250ms", 250 * MSEC },
                { "10s", 10 * SEC },
                { "5m", 300 * SEC },
                { "5min", 300 * SEC },
                { "1h", 3600 * SEC },
                { "1d", 86400 * SEC },
                { "1m30s", 90 * SEC },
                { "1h1m1s1ms1us", 3661 * SEC + MSEC + 1 },
                { "0", 0 },
                { "0s", 0 },
                { "7us", 7 },
                { "1s500ms", 1500 * MSEC },
                { "18446744073709us", 18446744073709ULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                usec_t v = 42;
                assert_int_equal(parse_duration(t[i].s, &v), 0);
                assert_int_equal(v, t[i].v);
        }
}

static void test_parse_bad(void **state) {
        static const char *const t[] = {
                "", "10", "10x", "-1s", "+1s", "1.5s", " 5s", "5s ", "5 s", "s", "ms", "1m30", "30s1m", "1s1s",
                "1sec", "1S", "00x", "0x10s", "1ms1m",
                "18446744073709551616us",  /* > UINT64_MAX */
                "18446744073709551615us",  /* == USEC_INFINITY: reserved */
                "213503982335d",           /* d overflows */
                "99999999999999999999999999s",
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                usec_t v = 42;
                int r = parse_duration(t[i], &v);
                if (r != -EINVAL)
                        fail_msg("\"%s\" parsed (r=%d, v=%llu)", t[i], r, (unsigned long long) v);
                assert_int_equal(v, 42); /* untouched on error */
        }
        usec_t v;
        assert_int_equal(parse_duration(NULL, &v), -EINVAL);
}

static void test_format(void **state) {
        static const struct {
                usec_t v;
                const char *s;
        } t[] = {
                { 0, "0" },
                { 250 * MSEC, "250ms" },
                { 90 * SEC, "1m30s" },
                { 10 * SEC, "10s" },
                { 600 * SEC, "10m" },
                { 3600 * SEC, "1h" },
                { 86400 * SEC + 1, "1d1us" },
                { 1500 * MSEC, "1s500ms" },
                { USEC_INFINITY, "infinity" },
        };
        char buf[64];
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                assert_string_equal(format_duration(buf, sizeof buf, t[i].v), t[i].s);

        /* Truncation keeps a terminated string. */
        char small[4];
        format_duration(small, sizeof small, 90 * SEC);
        assert_true(strlen(small) < sizeof small);
}

static void test_roundtrip(void **state) {
        static const usec_t t[] = { 1, 999, 1000, 1001, 59 * SEC, 61 * SEC + 5 * MSEC, 86400 * SEC * 400 + 3 };
        char buf[64];
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                usec_t v;
                assert_int_equal(parse_duration(format_duration(buf, sizeof buf, t[i]), &v), 0);
                assert_int_equal(v, t[i]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
