/* bcrypt through libxcrypt's crypt_r, SHA-256 through nettle; the decision itself is plain bookkeeping. */
#include <crypt.h>
#include <nettle/sha2.h>

#include "http_auth.h"

/* exporter-toolkit's fixed hash of "fakepassword": an unknown user costs as much as a known one, so timing
 * does not tell which users exist. */
static const char fake_hash[] = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

static void cache_key(const char *user, const char *hash, const char *password, uint8_t ret[32]) {
        struct sha256_ctx ctx;
        sha256_init(&ctx);
        /* Lengths first: ("ab","c") and ("a","bc") must not collide. */
        const char *parts[] = { user, hash, password };
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                uint64_t len = strlen(parts[i]);
                sha256_update(&ctx, sizeof len, (const uint8_t *) &len);
                sha256_update(&ctx, len, (const uint8_t *) parts[i]);
        }
        sha256_digest(&ctx, 32, ret);
}

static bool cache_has(const http_auth *a, const uint8_t key[32]) {
        for (size_t i = 0; i < a->n_cache; i++)
                if (memcmp(a->cache[i], key, 32) == 0)
                        return true;
        return false;
}

static void cache_add(http_auth *a, const uint8_t key[32]) {
        memcpy(a->cache[a->next], key, 32);
        a->next = (a->next + 1) % HTTP_AUTH_CACHE_SIZE;
        a->n_cache = MIN(a->n_cache + 1, (size_t) HTTP_AUTH_CACHE_SIZE);
}

static void refill(http_auth *a, usec_t now) {
        if (a->refilled == 0) {
                a->tokens = HTTP_AUTH_ROUNDS_BURST;
                a->refilled = now;
                return;
        }
        if (now <= a->refilled)
                return;
        uint64_t add = (now - a->refilled) * HTTP_AUTH_ROUNDS_PER_SEC / USEC_PER_SEC;
        if (add == 0)
                return; /* keep the remainder: many close calls must add up */
        a->tokens = MIN(a->tokens + add, (uint64_t) HTTP_AUTH_ROUNDS_BURST);
        a->refilled = now;
}

/* Compares without an early exit: the result string is the whole secret-dependent part. */
static bool hash_matches(http_auth *a, const char *hash, const char *password) {
        if (!a->crypt_data && !(a->crypt_data = calloc(1, sizeof(struct crypt_data))))
                return false;
        a->hashes++;
        const char *out = crypt_r(password, hash, a->crypt_data);
        if (!out || out[0] == '*' || strlen(out) != strlen(hash))
                return false;
        unsigned char diff = 0;
        for (size_t i = 0; hash[i]; i++)
                diff |= (unsigned char) (out[i] ^ hash[i]);
        return diff == 0;
}

http_auth_verdict http_auth_check(http_auth *a, const web_config *c, const char *user, const char *password,
                                  usec_t now) {
        if (c->n_users == 0)
                return HTTP_AUTH_OK;
        if (!user || !password)
                return HTTP_AUTH_MISSING;

        const web_user *u = NULL;
        for (size_t i = 0; i < c->n_users && !u; i++)
                if (streq(c->users[i].name, user))
                        u = &c->users[i];
        const char *hash = u ? u->hash : fake_hash;
        unsigned cost = u ? u->cost : 10;

        uint8_t key[32];
        cache_key(user, hash, password, key);
        if (u && cache_has(a, key)) {
                a->cache_hits++;
                return HTTP_AUTH_OK;
        }
        refill(a, now);
        uint64_t rounds = UINT64_C(1) << cost;
        if (a->tokens < rounds)
                return HTTP_AUTH_BUSY;
        a->tokens -= rounds;
        bool ok = hash_matches(a, hash, password) && u;
        /* crypt_data held the password's key schedule. */
        if (a->crypt_data)
                explicit_bzero(a->crypt_data, sizeof(struct crypt_data));
        if (!ok)
                return HTTP_AUTH_BAD;
        cache_add(a, key);
        return HTTP_AUTH_OK;
}

void http_auth_done(http_auth *a) {
        if (a->crypt_data)
                explicit_bzero(a->crypt_data, sizeof(struct crypt_data));
        free(a->crypt_data);
        explicit_bzero(a, sizeof *a);
}
