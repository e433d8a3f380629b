/* The cost of monitor.expect per probe against a hostile far end: the worst patterns expect_compile accepts,
 * fed EXPECT_WINDOW bytes of fresh random text one byte per read, PROBES times. Two ways side by side:
 * "per probe" compiles the pattern for each probe (what monitor_probe does) and frees it after; "shared"
 * keeps one compiled pattern for all probes (what the daemon did before): glibc's DFA cache then grows with
 * every new text. Prints one JSON line per pattern and way: median and worst ms per probe, heap growth.
 * Usage: expect_cost [PROBES] */
#include <malloc.h>
#include <time.h>

#include "../../probes/probe.h"

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static void feed(const regex_t *re, const char *text, size_t n) {
        expect_buffer b = {};
        for (size_t i = 0; i < n; i++)
                if (expect_feed(&b, re, text + i, 1) != EXPECT_MORE)
                        break;
}

int main(int argc, char **argv) {
        static const struct {
                const char *pattern, *alphabet;
        } cases[] = {
                { "(a|aa)*c", "a" },
                { "(a|b)*a(a|b){12}c", "ab" },
                { "a[ab]{100}c", "ab" },
                { "(a[a-z]{30}|b[a-z]{30}|c[a-z]{30})#", "abcdefghijklmnopqrstuvwxyz" },
                { "^SSH-", "ABCDEFGHIJKLMNOPQRSTUVWXYZSH-" },
        };
        int probes = argc > 1 ? atoi(argv[1]) : 200;
        double *t = calloc((size_t) probes, sizeof *t);
        char text[EXPECT_WINDOW];

        if (!t || probes <= 0)
                return 2;
        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                for (int shared = 0; shared < 2; shared++) {
                        regex_t re;
                        size_t la = strlen(cases[c].alphabet);

                        srand(1);
                        if (shared && expect_compile(cases[c].pattern, &re, NULL, 0) < 0)
                                return 1;
                        size_t heap0 = mallinfo2().uordblks;
                        for (int p = 0; p < probes; p++) {
                                for (size_t i = 0; i < sizeof text; i++)
                                        text[i] = cases[c].alphabet[(size_t) rand() % la];
                                double s = now_ms();
                                if (!shared && expect_compile(cases[c].pattern, &re, NULL, 0) < 0)
                                        return 1;
                                feed(&re, text, sizeof text);
                                if (!shared)
                                        regfree(&re);
                                t[p] = now_ms() - s;
                        }
                        double growth = ((double) mallinfo2().uordblks - (double) heap0) / 1048576.0;
                        if (shared)
                                regfree(&re);
                        qsort(t, (size_t) probes, sizeof *t, cmp_double);
                        printf("{\"pattern\":\"%s\",\"way\":\"%s\",\"probes\":%d,\"median_ms\":%.3f,\"max_ms\":%.3f,"
                               "\"heap_growth_mb\":%.2f}\n",
                               cases[c].pattern, shared ? "shared" : "per_probe", probes, t[probes / 2],
                               t[probes - 1], growth);
                }
        free(t);
        return 0;
}
