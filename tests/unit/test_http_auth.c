/* Basic auth against bcrypt hashes (http_auth.c): verdicts, the cache of successful checks, the budget of
 * bcrypt rounds per second; and the refusal counters with their once-per-source-and-minute log rule
 * (http_refusals.c). Real crypt_r: the hashes are real (cost 4 where speed matters, 10 for the budget). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../exporters/http_auth.h"
#include "../../exporters/http_refusals.h"

/* "s3cret" at cost 4 and 10 (libxcrypt, $2b$); exporter-toolkit's "fakepassword" at cost 10 ($2y$, as
 * htpasswd writes it). */
#define S3CRET_4 "$2b$04$Op5Nz3PccgTtoJZIIrF7T.wOWG71LEsjjGQ70bpTmFXc.5WowBaLu"
#define S3CRET_10 "$2b$10$I6Qm4HMJDmRZqMUZ7GCCNecqPPjNgkqiuw1GMaXyLLyJNN2T4zGB2"
#define FAKE_10 "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

static web_config config_of(web_user *users, size_t n) {
        return (web_config) { .users = users, .n_users = n };
}

static void test_verdicts(void **state) {
        web_user users[] = { { .name = "prom", .hash = S3CRET_4, .cost = 4 },
                             { .name = "legacy", .hash = FAKE_10, .cost = 10 } };
        web_config c = config_of(users, 2);
        http_auth a = {};
        usec_t now = 1000 * USEC_PER_SEC;

        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(&a, &c, "legacy", "fakepassword", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(&a, &c, NULL, NULL, now), HTTP_AUTH_MISSING);
        assert_int_equal(http_auth_check(&a, &c, "prom", "wrong", now), HTTP_AUTH_BAD);
        assert_int_equal(http_auth_check(&a, &c, "prom", "", now), HTTP_AUTH_BAD);
        assert_int_equal(http_auth_check(&a, &c, "Prom", "s3cret", now), HTTP_AUTH_BAD);
        /* An unknown user is hashed all the same (exporter-toolkit's fixed hash), and still refused even
         * with the password that fixed hash was made from. */
        uint64_t before = a.hashes;
        assert_int_equal(http_auth_check(&a, &c, "nobody", "fakepassword", now), HTTP_AUTH_BAD);
        assert_int_equal(a.hashes, before + 1);
        /* Without users: everything passes, credentials or not. */
        web_config none = config_of(NULL, 0);
        assert_int_equal(http_auth_check(&a, &none, NULL, NULL, now), HTTP_AUTH_OK);
        http_auth_done(&a);
}

static void test_cache(void **state) {
        web_user users[] = { { .name = "prom", .hash = S3CRET_4, .cost = 4 } };
        web_config c = config_of(users, 1);
        http_auth a = {};
        usec_t now = 5 * USEC_PER_SEC;

        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", now), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, 1);
        for (int i = 0; i < 50; i++)
                assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", now), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, 1); /* served from the cache */
        assert_int_equal(a.cache_hits, 50);
        /* Failures are not cached: each costs a hash (and budget). */
        assert_int_equal(http_auth_check(&a, &c, "prom", "wrong", now), HTTP_AUTH_BAD);
        assert_int_equal(http_auth_check(&a, &c, "prom", "wrong", now), HTTP_AUTH_BAD);
        assert_int_equal(a.hashes, 3);
        /* A new hash for the user (the file changed): the cached success does not carry over. */
        users[0].hash = "$2b$04$vFzEO0yiedkWgc2cWT4MsucgwmazOlkxm8pQpbmZxHIwFEJEf/6rK";
        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", now), HTTP_AUTH_BAD);
        assert_int_equal(http_auth_check(&a, &c, "prom", "other", now), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, 5);
        http_auth_done(&a);
}

static void test_cache_bounded(void **state) {
        /* More distinct successes than the cache holds (one per user, same hash): it keeps its size, and the
         * oldest entry is the one that goes. */
        enum { N = HTTP_AUTH_CACHE_SIZE + 1 };
        static char names[N][16];
        static web_user users[N];
        for (size_t i = 0; i < N; i++) {
                snprintf(names[i], sizeof names[i], "u%zu", i);
                users[i] = (web_user) { .name = names[i], .hash = S3CRET_4, .cost = 4 };
        }
        web_config c = config_of(users, N);
        http_auth a = {};
        for (size_t i = 0; i < N; i++)
                assert_int_equal(http_auth_check(&a, &c, names[i], "s3cret", USEC_PER_SEC), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, N);
        assert_int_equal(a.n_cache, HTTP_AUTH_CACHE_SIZE);
        assert_int_equal(http_auth_check(&a, &c, names[N - 1], "s3cret", USEC_PER_SEC), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, N); /* the newest: cached */
        assert_int_equal(http_auth_check(&a, &c, names[0], "s3cret", USEC_PER_SEC), HTTP_AUTH_OK);
        assert_int_equal(a.hashes, N + 1); /* the oldest: evicted, hashed again */
        http_auth_done(&a);
}

static void test_budget(void **state) {
        web_user users[] = { { .name = "prom", .hash = S3CRET_10, .cost = 10 } };
        web_config c = config_of(users, 1);
        http_auth a = {};
        usec_t t = 100 * USEC_PER_SEC;

        /* The bucket starts full: HTTP_AUTH_ROUNDS_BURST / 2^10 = 4 checks at cost 10, then 429s. */
        for (int i = 0; i < 4; i++)
                assert_int_equal(http_auth_check(&a, &c, "prom", "guess", t), HTTP_AUTH_BAD);
        assert_int_equal(a.hashes, 4);
        assert_int_equal(http_auth_check(&a, &c, "prom", "guess", t), HTTP_AUTH_BUSY);
        assert_int_equal(http_auth_check(&a, &c, "nobody", "guess", t), HTTP_AUTH_BUSY);
        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", t), HTTP_AUTH_BUSY); /* even the right one */
        assert_int_equal(a.hashes, 4); /* nothing hashed while busy */
        /* Refill: HTTP_AUTH_ROUNDS_PER_SEC = two cost-10 checks a second. 0.4 s is not enough for one... */
        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", t + 400 * USEC_PER_MSEC), HTTP_AUTH_BUSY);
        /* ...0.5 s is, and many small steps add up the same (no remainder lost). */
        for (int i = 1; i <= 9; i++)
                assert_int_equal(http_auth_check(&a, &c, "nobody", "x", t + 400 * USEC_PER_MSEC + i * 10 * USEC_PER_MSEC),
                                 HTTP_AUTH_BUSY);
        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", t + 510 * USEC_PER_MSEC), HTTP_AUTH_OK);
        /* Cached now: served while the budget is spent. */
        assert_int_equal(http_auth_check(&a, &c, "prom", "guess", t + 510 * USEC_PER_MSEC), HTTP_AUTH_BUSY);
        assert_int_equal(http_auth_check(&a, &c, "prom", "s3cret", t + 510 * USEC_PER_MSEC), HTTP_AUTH_OK);
        /* A long quiet spell fills the bucket only to its burst. */
        uint64_t h = a.hashes;
        for (int i = 0; i < 5; i++)
                (void) http_auth_check(&a, &c, "prom", "guess", t + 3600 * USEC_PER_SEC);
        assert_int_equal(a.hashes, h + 4);
        http_auth_done(&a);
}

static struct sockaddr_in v4(const char *addr) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(12345) };
        assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
        return sa;
}

static void test_refusals(void **state) {
        http_refusals *t = calloc(1, sizeof *t);
        assert_non_null(t);
        struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
        usec_t now = 10 * USEC_PER_SEC;

        /* Logged once per source and minute, whatever the reason; every refusal counted. */
        assert_true(http_refusals_note(t, HTTP_REFUSED_NO_AUTH, (struct sockaddr *) &a, now));
        assert_false(http_refusals_note(t, HTTP_REFUSED_BAD_AUTH, (struct sockaddr *) &a, now + 1));
        struct sockaddr_in a2 = a;
        a2.sin_port = htons(999); /* another connection from the same address */
        assert_false(http_refusals_note(t, HTTP_REFUSED_BAD_AUTH, (struct sockaddr *) &a2, now + 59 * USEC_PER_SEC));
        assert_true(http_refusals_note(t, HTTP_REFUSED_BAD_AUTH, (struct sockaddr *) &b, now + 2));
        assert_true(http_refusals_note(t, HTTP_REFUSED_CLIENT_CERT, (struct sockaddr *) &a, now + 60 * USEC_PER_SEC));
        assert_true(http_refusals_note(t, HTTP_REFUSED_TLS_HANDSHAKE, NULL, now));
        assert_int_equal(t->count[HTTP_REFUSED_NO_AUTH], 1);
        assert_int_equal(t->count[HTTP_REFUSED_BAD_AUTH], 3);
        assert_int_equal(t->count[HTTP_REFUSED_CLIENT_CERT], 1);
        assert_int_equal(t->unlogged, 2);

        /* A flood from many addresses: the table stays bounded, each new address logged once. */
        unsigned logged = 0;
        for (unsigned i = 0; i < 1000; i++) {
                struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
                sa.sin6_addr.s6_addr[0] = 0x20;
                sa.sin6_addr.s6_addr[14] = (uint8_t) (i >> 8);
                sa.sin6_addr.s6_addr[15] = (uint8_t) i;
                logged += http_refusals_note(t, HTTP_REFUSED_NO_AUTH, (struct sockaddr *) &sa, now + 61 * USEC_PER_SEC);
        }
        assert_int_equal(logged, 1000);
        assert_int_equal(t->n_sources, HTTP_REFUSAL_LOG_SOURCES);

        char *text = NULL;
        size_t len = 0;
        assert_int_equal(http_refusals_render(t, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        assert_string_equal(text, "# HELP rtun_http_refused_total Requests and connections refused by the web config, "
                                  "by reason.\n"
                                  "# TYPE rtun_http_refused_total counter\n"
                                  "rtun_http_refused_total{reason=\"no_auth\"} 1001\n"
                                  "rtun_http_refused_total{reason=\"bad_auth\"} 3\n"
                                  "rtun_http_refused_total{reason=\"rate_limited\"} 0\n"
                                  "rtun_http_refused_total{reason=\"client_cert\"} 1\n"
                                  "rtun_http_refused_total{reason=\"tls_handshake\"} 1\n");
        free(text);
        free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verdicts),
                cmocka_unit_test(test_cache),
                cmocka_unit_test(test_cache_bounded),
                cmocka_unit_test(test_budget),
                cmocka_unit_test(test_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
