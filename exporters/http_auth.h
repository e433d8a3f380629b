/* Basic auth against a web config's bcrypt hashes, without letting bcrypt stall the loop: successful checks
 * are cached (keyed by a SHA-256 of user, hash and password, as exporter-toolkit keys its cache by all
 * three), and the hashing done for the rest is bounded by a token bucket counted in bcrypt rounds
 * (2^cost per check). Beyond it a request is answered 429 without hashing. */
#pragma once

#include <stdint.h>

#include "../monitor/base/macro.h"
#include "web_config.h"

#define HTTP_AUTH_CACHE_SIZE 100
/* Two cost-10 checks a second (about 0.15 s of a core), four at once; a cost-12 check takes the lot. */
#define HTTP_AUTH_ROUNDS_PER_SEC (2u << 10)
#define HTTP_AUTH_ROUNDS_BURST (4u << 10)

typedef enum http_auth_verdict {
        HTTP_AUTH_OK,
        HTTP_AUTH_MISSING,  /* no (or unreadable) Authorization header */
        HTTP_AUTH_BAD,      /* unknown user or wrong password */
        HTTP_AUTH_BUSY,     /* not in the cache and the bcrypt budget is spent: 429 */
} http_auth_verdict;

typedef struct http_auth {
        uint8_t cache[HTTP_AUTH_CACHE_SIZE][32];
        size_t n_cache, next;   /* entries used; the one replaced next (oldest first) */
        uint64_t tokens;        /* bcrypt rounds that may be spent now */
        usec_t refilled;        /* when tokens were last topped up; 0: never (full) */
        void *crypt_data;       /* libxcrypt's struct crypt_data (32 KiB), allocated on first use */
        uint64_t hashes;        /* bcrypt checks run */
        uint64_t cache_hits;
} http_auth;

/* The verdict for user/password (user NULL: no credentials) against c's users; now (monotonic) refills
 * the budget. c without users: always OK. */
http_auth_verdict http_auth_check(http_auth *a, const web_config *c, const char *user, const char *password,
                                  usec_t now);
void http_auth_done(http_auth *a);
