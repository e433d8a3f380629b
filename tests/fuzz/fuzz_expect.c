/* libFuzzer target for expect_compile and expect_feed: a monitor.expect pattern and what the far end sends.
 * Input: the pattern, a NUL byte, then the peer's bytes; the first peer byte's low bits pick the read size
 * (1 byte per read, or larger), as a hostile peer would. Whatever expect_compile accepts must match within
 * the bound (regexec on back-references would crash or stall here, and -timeout catches a slow one). */
#include <stddef.h>
#include <stdint.h>

#include "../../probes/probe.h"

#define FEED_BOUND_USEC (500 * USEC_PER_MSEC) /* ~1 ms normally; sanitizers and a busy machine, generous */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        if (!nul || (size_t) (nul - data) > EXPECT_PATTERN_MAX + 8)
                return 0;

        regex_t re;
        char err[256];
        if (expect_compile((const char *) data, &re, err, sizeof err) < 0) {
                if (!err[0])
                        abort(); /* a refusal always says why */
                return 0;
        }

        const uint8_t *peer = nul + 1;
        size_t n = size - (size_t) (peer - data), chunk = n > 0 ? (size_t) (peer[0] % 4 == 0 ? 1 : peer[0]) : 1;
        expect_buffer b = { .len = 0 };
        expect_verdict v = EXPECT_MORE;
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        for (size_t o = 0; o < n && v == EXPECT_MORE; o += chunk)
                v = expect_feed(&b, &re, peer + o, MIN(chunk, n - o));
        if (now_usec(CLOCK_MONOTONIC) - t0 > FEED_BOUND_USEC)
                abort();
        if (b.len >= sizeof b.data || b.data[b.len] != 0)
                abort();
        regfree(&re);
        return 0;
}
