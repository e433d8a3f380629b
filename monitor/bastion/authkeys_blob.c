/* The key of an authorized_keys line: type word, base64 blob, fingerprint. Follows sshkey.c sshkey_read and
 * sshkey_from_blob_internal and the per-type deserialize_public functions; the fingerprint is SHA256 over
 * the key re-serialized as the plain key (sshkey_fingerprint_raw's to_blob(..., force_plain)), so a
 * certificate or a non-canonical mpint gives the fingerprint ssh-keygen prints. Not done (would need the
 * curve and signature arithmetic): the EC point's on-curve check and a certificate's CA signature. */
#include <ctype.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "authkeys.h"

typedef enum key_family {
        FAMILY_ED25519,
        FAMILY_ED25519_SK,
        FAMILY_ECDSA,
        FAMILY_ECDSA_SK,
        FAMILY_RSA,
} key_family;

typedef struct key_type {
        const char *name;
        key_family family;
        bool cert;
        const char *curve;      /* ECDSA variants: the curve name inside the blob */
        unsigned point_len;     /* ECDSA variants: uncompressed point length */
        const char *plain_name; /* what to_blob writes for the plain key */
} key_type;

/* sshkey.c keyimpls[] as built with OpenSSL and security keys (Debian's sshd); ssh-dss is gone since 10.0. */
static const key_type key_types[] = {
        { "ssh-ed25519", FAMILY_ED25519, false, NULL, 0, "ssh-ed25519" },
        { "ssh-ed25519-cert-v01@openssh.com", FAMILY_ED25519, true, NULL, 0, "ssh-ed25519" },
        { "sk-ssh-ed25519@openssh.com", FAMILY_ED25519_SK, false, NULL, 0, "sk-ssh-ed25519@openssh.com" },
        { "sk-ssh-ed25519-cert-v01@openssh.com", FAMILY_ED25519_SK, true, NULL, 0, "sk-ssh-ed25519@openssh.com" },
        { "ecdsa-sha2-nistp256", FAMILY_ECDSA, false, "nistp256", 65, "ecdsa-sha2-nistp256" },
        { "ecdsa-sha2-nistp256-cert-v01@openssh.com", FAMILY_ECDSA, true, "nistp256", 65, "ecdsa-sha2-nistp256" },
        { "ecdsa-sha2-nistp384", FAMILY_ECDSA, false, "nistp384", 97, "ecdsa-sha2-nistp384" },
        { "ecdsa-sha2-nistp384-cert-v01@openssh.com", FAMILY_ECDSA, true, "nistp384", 97, "ecdsa-sha2-nistp384" },
        { "ecdsa-sha2-nistp521", FAMILY_ECDSA, false, "nistp521", 133, "ecdsa-sha2-nistp521" },
        { "ecdsa-sha2-nistp521-cert-v01@openssh.com", FAMILY_ECDSA, true, "nistp521", 133, "ecdsa-sha2-nistp521" },
        { "sk-ecdsa-sha2-nistp256@openssh.com", FAMILY_ECDSA_SK, false, "nistp256", 65, "sk-ecdsa-sha2-nistp256@openssh.com" },
        { "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", FAMILY_ECDSA_SK, true, "nistp256", 65,
          "sk-ecdsa-sha2-nistp256@openssh.com" },
        { "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", FAMILY_ECDSA_SK, false, "nistp256", 65,
          "sk-ecdsa-sha2-nistp256@openssh.com" },
        { "webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", FAMILY_ECDSA_SK, true, "nistp256", 65,
          "sk-ecdsa-sha2-nistp256@openssh.com" },
        { "ssh-rsa", FAMILY_RSA, false, NULL, 0, "ssh-rsa" },
        { "ssh-rsa-cert-v01@openssh.com", FAMILY_RSA, true, NULL, 0, "ssh-rsa" },
        { "rsa-sha2-256", FAMILY_RSA, false, NULL, 0, "ssh-rsa" },
        { "rsa-sha2-512", FAMILY_RSA, false, NULL, 0, "ssh-rsa" },
        { "rsa-sha2-256-cert-v01@openssh.com", FAMILY_RSA, true, NULL, 0, "ssh-rsa" },
        { "rsa-sha2-512-cert-v01@openssh.com", FAMILY_RSA, true, NULL, 0, "ssh-rsa" },
};

#define ED25519_PK_SIZE 32
#define RSA_MIN_BITS 1024              /* SSH_RSA_MINIMUM_MODULUS_SIZE */
#define BIGNUM_MAX_BYTES (16384 / 8)   /* SSHBUF_MAX_BIGNUM */
#define CERT_MAX_PRINCIPALS 256        /* SSHKEY_CERT_MAX_PRINCIPALS */
#define CERT_TYPE_USER 1
#define CERT_TYPE_HOST 2

static const key_type *type_lookup(const char *s, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
                if (strlen(key_types[i].name) == len && memcmp(key_types[i].name, s, len) == 0)
                        return &key_types[i];
        return NULL;
}

bool authkey_type_known(const char *word, size_t len) {
        return type_lookup(word, len) != NULL;
}

/* sshbuf's getters over the decoded blob: big-endian u32 lengths, nothing read past the end. */
typedef struct reader {
        const uint8_t *p;
        size_t n;
} reader;

static bool skip(reader *r, size_t n) {
        if (r->n < n)
                return false;
        r->p += n;
        r->n -= n;
        return true;
}

static bool get_u32(reader *r, uint32_t *v) {
        if (r->n < 4)
                return false;
        *v = (uint32_t) r->p[0] << 24 | (uint32_t) r->p[1] << 16 | (uint32_t) r->p[2] << 8 | r->p[3];
        return skip(r, 4);
}

static bool get_string(reader *r, const uint8_t **d, size_t *len) {
        uint32_t n;
        if (!get_u32(r, &n) || r->n < n)
                return false;
        *d = r->p;
        *len = n;
        return skip(r, n);
}

/* sshbuf_get_cstring: a NUL only as the last byte, and then not part of the string. */
static bool get_cstring(reader *r, const uint8_t **d, size_t *len) {
        if (!get_string(r, d, len))
                return false;
        const uint8_t *z = memchr(*d, 0, *len);
        if (z && z < *d + *len - 1)
                return false;
        if (z)
                (*len)--;
        return true;
}

/* sshbuf_get_bignum2_bytes_direct: no negative, not over 16384 bits, leading zeros trimmed. */
static bool get_mpint(reader *r, const uint8_t **d, size_t *len) {
        if (!get_string(r, d, len))
                return false;
        if (*len > 0 && (**d & 0x80))
                return false;
        if (*len > BIGNUM_MAX_BYTES + 1 || (*len == BIGNUM_MAX_BYTES + 1 && **d != 0))
                return false;
        while (*len > 0 && **d == 0) {
                (*d)++;
                (*len)--;
        }
        return true;
}

static bool string_is(const uint8_t *d, size_t len, const char *s) {
        return len == strlen(s) && memcmp(d, s, len) == 0;
}

/* The fingerprint's input, written as sshbuf_put_* would. */
static void put_string(struct sha256_ctx *h, const void *d, size_t len) {
        uint8_t l[4] = { (uint8_t) (len >> 24), (uint8_t) (len >> 16), (uint8_t) (len >> 8), (uint8_t) len };
        sha256_update(h, 4, l);
        sha256_update(h, len, d);
}

static void put_mpint(struct sha256_ctx *h, const uint8_t *d, size_t len) {
        bool pad = len > 0 && (d[0] & 0x80);
        uint8_t zero = 0;
        size_t n = len + pad;
        uint8_t l[4] = { (uint8_t) (n >> 24), (uint8_t) (n >> 16), (uint8_t) (n >> 8), (uint8_t) n };
        sha256_update(h, 4, l);
        if (pad)
                sha256_update(h, 1, &zero);
        sha256_update(h, len, d);
}

static unsigned bignum_bits(const uint8_t *d, size_t len) {
        if (len == 0)
                return 0;
        unsigned top = 0;
        for (uint8_t b = d[0]; b; b >>= 1)
                top++;
        return (unsigned) (len - 1) * 8 + top;
}

/* The public part of a key of type t (deserialize_public), hashed into h when h is not NULL. */
static const char *read_public(reader *r, const key_type *t, struct sha256_ctx *h) {
        const uint8_t *a, *b;
        size_t la, lb;

        if (h)
                put_string(h, t->plain_name, strlen(t->plain_name));
        switch (t->family) {
        case FAMILY_ED25519:
        case FAMILY_ED25519_SK:
                if (!get_string(r, &a, &la) || la != ED25519_PK_SIZE)
                        return "key blob is malformed (Ed25519 public key)";
                if (h)
                        put_string(h, a, la);
                break;
        case FAMILY_ECDSA:
        case FAMILY_ECDSA_SK:
                if (!get_cstring(r, &a, &la))
                        return "key blob is malformed (EC curve name)";
                if (!string_is(a, la, t->curve))
                        return "key blob's EC curve does not match its key type";
                /* sshbuf_get_ec: uncompressed points only, of the curve's size. */
                if (!get_string(r, &b, &lb) || lb != t->point_len || b[0] != 0x04)
                        return "key blob is malformed (EC point)";
                if (h) {
                        put_string(h, t->curve, strlen(t->curve));
                        put_string(h, b, lb);
                }
                break;
        case FAMILY_RSA:
                if (!get_mpint(r, &a, &la) || !get_mpint(r, &b, &lb))
                        return "key blob is malformed (RSA exponent or modulus)";
                if (bignum_bits(b, lb) < RSA_MIN_BITS)
                        return "RSA key shorter than 1024 bits (sshd refuses it)";
                if (h) {
                        put_mpint(h, a, la);
                        put_mpint(h, b, lb);
                }
                break;
        }
        if (t->family == FAMILY_ED25519_SK || t->family == FAMILY_ECDSA_SK) {
                if (!get_cstring(r, &a, &la))
                        return "key blob is malformed (security key application)";
                if (h)
                        put_string(h, a, la);
        }
        return NULL;
}

static const char *read_key(reader *r, bool allow_cert, const key_type **ret, struct sha256_ctx *h);

/* A string holding pairs of strings (critical options, extensions). */
static bool string_pairs(reader *r) {
        const uint8_t *d, *k, *v;
        size_t len, lk, lv;
        if (!get_string(r, &d, &len))
                return false;
        for (reader in = { d, len }; in.n > 0;)
                if (!get_string(&in, &k, &lk) || !get_string(&in, &v, &lv))
                        return false;
        return true;
}

/* cert_parse up to the signature, which is not verified (see the top of the file). */
static const char *read_cert_body(reader *r) {
        uint32_t type;
        const uint8_t *d, *sig;
        size_t len, lsig;

        if (!skip(r, 8) || !get_u32(r, &type) || !get_cstring(r, &d, &len))
                return "certificate is malformed";
        if (!get_string(r, &d, &len))
                return "certificate is malformed (principals)";
        unsigned n = 0;
        for (reader p = { d, len }; p.n > 0; n++)
                if (n >= CERT_MAX_PRINCIPALS || !get_cstring(&p, &d, &len))
                        return "certificate is malformed (principals)";
        if (!skip(r, 16) || !string_pairs(r) || !string_pairs(r) || !get_string(r, &d, &len))
                return "certificate is malformed (options or extensions)";
        if (!get_string(r, &d, &len))
                return "certificate is malformed (CA key)";
        reader ca = { d, len };
        const key_type *ca_type;
        if (read_key(&ca, false, &ca_type, NULL) || ca.n != 0)
                return "certificate's CA key is invalid";
        if (!get_string(r, &sig, &lsig))
                return "certificate is malformed (signature)";
        if (type != CERT_TYPE_USER && type != CERT_TYPE_HOST)
                return "certificate of unknown type";
        return NULL;
}

static const char *read_key(reader *r, bool allow_cert, const key_type **ret, struct sha256_ctx *h) {
        const uint8_t *name, *nonce;
        size_t len, lnonce;

        if (!get_cstring(r, &name, &len))
                return "key blob is malformed (type)";
        const key_type *t = type_lookup((const char *) name, len);
        if (!t)
                return "key blob holds an unknown key type";
        if (t->cert && !allow_cert)
                return "certificate's CA key is a certificate";
        if (t->cert && !get_string(r, &nonce, &lnonce))
                return "certificate is malformed (nonce)";
        const char *why = read_public(r, t, h);
        if (!why && t->cert)
                why = read_cert_body(r);
        if (why)
                return why;
        *ret = t;
        return NULL;
}

/* b64_pton skips whitespace anywhere; nettle skips only some of it, so a blob holding any goes through a
 * copy without it. */
static int decode_base64(const char *b64, uint8_t **ret, size_t *ret_len) {
        size_t n = strlen(b64), k = 0;
        _cleanup_(freep) char *clean = NULL;
        _cleanup_(freep) uint8_t *out = malloc(BASE64_DECODE_LENGTH(n) + 1);
        if (!out)
                return -ENOMEM;
        const char *src = b64;
        if (strcspn(b64, " \t\n\v\f\r") < n) {
                if (!(clean = malloc(n + 1)))
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (!isspace((unsigned char) b64[i]))
                                clean[k++] = b64[i];
                src = clean;
        } else
                k = n;
        struct base64_decode_ctx ctx;
        size_t len = 0;
        base64_decode_init(&ctx);
        if (!base64_decode_update(&ctx, &len, out, k, src) || !base64_decode_final(&ctx))
                return -EINVAL;
        *ret = TAKE_PTR(out);
        *ret_len = len;
        return 0;
}

static char *fingerprint_text(struct sha256_ctx *h) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        char b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE) + 1];
        sha256_digest(h, sizeof digest, digest);
        base64_encode_raw(b64, sizeof digest, digest);
        b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE)] = 0;
        b64[strcspn(b64, "=")] = 0; /* as fingerprint_b64: padding trimmed */
        size_t n = strlen(b64);
        char *s = malloc(7 + n + 1);
        if (s) {
                memcpy(s, "SHA256:", 7);
                memcpy(s + 7, b64, n + 1);
        }
        return s;
}

int authkey_blob_check(const char *type, const char *b64, char **fingerprint, const char **why) {
        const key_type *want = type_lookup(type, strlen(type)), *got = NULL;
        _cleanup_(freep) uint8_t *blob = NULL;
        size_t len;

        if (!want) {
                *why = "unknown key type";
                return -EINVAL;
        }
        int r = decode_base64(b64, &blob, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *why = "key is not valid base64";
                return -EINVAL;
        }
        struct sha256_ctx h;
        sha256_init(&h);
        reader rd = { blob, len };
        *why = read_key(&rd, true, &got, &h);
        if (!*why && rd.n != 0)
                *why = "key blob has trailing data";
        /* sshkey_read: the blob's type must be the line's (rsa-sha2-256 names an ssh-rsa key), and so
         * must its curve. */
        if (!*why && (got->family != want->family || got->cert != want->cert))
                *why = "key blob's type does not match the key type of the line";
        if (!*why && !streq_ptr(got->curve, want->curve))
                *why = "key blob's EC curve does not match the key type of the line";
        if (*why)
                return -EINVAL;
        *fingerprint = fingerprint_text(&h);
        return *fingerprint ? 0 : -ENOMEM;
}
