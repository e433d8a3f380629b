/* What the bastion tests share: real public keys with the fingerprints ssh-keygen -lf printed for them, and
 * a builder of key blobs sshd would or would not accept. Include after cmocka.h. */
#pragma once

#include <nettle/base64.h>

#include "../../monitor/bastion/authkeys.h"

#define ED1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJAE6YVSaWhIU+Mw7mFydfGhjANO/XCtftoVvIIoCpDm"
#define ED1_FP "SHA256:t0JcOfXr/2jUGX4X2yDrF1q7KpqJ2gwoP1gHaHUImHA"
#define ED2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICiQC/FID2VsJhWcsxt12PymKx2NtP/9jqiBd9I1+p7Y"
#define ED2_FP "SHA256:SLStrzQZtADf1CvyX35m7Dhw/E5xcJwDWFHaipuU+7w"
#define ED3 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKViCYNMDj+iMNtPfMzfLlA1rJVOR1gt+yG7ZiWH87Aj"
#define ED3_FP "SHA256:H6X75nqIOjxyIFN/maX6E3WlXLswltW5Sdga5RV8LEY"
#define RSA1024                                                                                                   \
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCwLLlWx7BzTcYuaaAwhInAxnaAxq1u2bItZXSZmKjlXl0Pr/Ka9ITPzDWgDya34vZ455tULOSo" \
        "ym1W4DIel/wcXgHx6uSo7gYx/1lbx6yBHheMWHEYzw4NzUcUYRRAe29zhT91AGj0cRI0ddlfgYtRv8WojGkuEMaa5c9UdmWLQw=="
#define RSA1024_FP "SHA256:hckxp6uUV06cEZhqBO5t3Wx7blOl0Nci0ir59Z8apaA"
#define EC256                                                                                                     \
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBH4+wzuoWPViKay1oCfht05P5WOrPaA94gFnt" \
        "lNfWM/2MKCFVdkQ8b0c9iGk/rhYbmpXhsTUOPQ2tycXJY+LkbA="
#define EC256_FP "SHA256:VoR5yIdvbolhRuwT5idhqTIXWKmoLY0n5krKWfFxoUs"
/* The blob of ED1 alone. */
#define ED1_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIJAE6YVSaWhIU+Mw7mFydfGhjANO/XCtftoVvIIoCpDm"

/* A blob written field by field, as sshbuf_put_* would. */
typedef struct blob {
        uint8_t d[4096];
        size_t n;
} blob;

static inline void blob_raw(blob *b, const void *d, size_t n) {
        assert_true(b->n + n <= sizeof b->d);
        memcpy(b->d + b->n, d, n);
        b->n += n;
}

static inline void blob_u32(blob *b, uint32_t v) {
        uint8_t x[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };
        blob_raw(b, x, 4);
}

static inline void blob_string(blob *b, const void *d, size_t n) {
        blob_u32(b, (uint32_t) n);
        blob_raw(b, d, n);
}

static inline void blob_cstring(blob *b, const char *s) {
        blob_string(b, s, strlen(s));
}

/* Base64 of the blob in a static buffer. */
static inline const char *blob_b64(const blob *b) {
        static char out[BASE64_ENCODE_RAW_LENGTH(4096) + 1];
        base64_encode_raw(out, b->n, b->d);
        out[BASE64_ENCODE_RAW_LENGTH(b->n)] = 0;
        return out;
}

/* Parses text as one file "t" into *k (zeroed first). */
static inline void parse_text(authkeys *k, const char *text) {
        *k = (authkeys) {};
        assert_int_equal(authkeys_parse(k, "t", text, strlen(text)), 0);
}

/* The only key line of text, asserting there is no problem. */
static inline const authkey_line *parse_one(authkeys *k, const char *text) {
        parse_text(k, text);
        if (k->n_problems > 0)
                fail_msg("unexpected problem: %s", k->problems[0].message);
        assert_int_equal(k->n_lines, 1);
        return &k->lines[0];
}

/* The only problem of text, asserting there is no key line; returns its message. */
static inline const char *parse_bad(authkeys *k, const char *text) {
        parse_text(k, text);
        assert_int_equal(k->n_lines, 0);
        assert_int_equal(k->n_problems, 1);
        return k->problems[0].message;
}
