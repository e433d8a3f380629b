/* The cost of reading a bastion's authorized_keys (issue 11: 10,000 key lines under 50 ms): authkeys_parse
 * (monitor/bastion/authkeys.h) over one buffer of LINES key lines, RUNS times, each into a fresh authkeys
 * that is freed after (authkeys_done, timed apart). The lines are what a bastion holds: real ed25519 public
 * keys (nettle's ed25519_sha512_public_key of distinct seeds from a fixed PRNG, so the buffer is the same
 * every run), each with the article's options in the usual mixes: restrict,port-forwarding and one
 * permitlisten plus a permitopen on every line; a from= list on half, an expiry-time on a quarter, a
 * command= on a third, a second permitlisten (the host's metrics forward) on a fifth; a comment
 * host-NNNNN. With DUMP, the buffer is also written there, so `ssh-keygen -lf DUMP` can check that every
 * line is a key ssh-keygen reads and that the fingerprints agree.
 * Prints one JSON line per run ({"run":i,"parse_ms":...,"done_ms":...}) and one summary line
 * ({"lines":...,"bytes":...,"key_lines":...,"problems":...,"median_parse_ms":...,"first_fingerprint":...}).
 * `authkeys_cost keys N` prints N more such public keys ("ssh-ed25519 AAAA...", distinct, no comment) and
 * exits: run.sh's bastion file of section 6 takes its 1,000 keys from there (1,000 ssh-keygen processes
 * take about 40 s on the shared 2-core machine; `ssh-keygen -lf` then checks every line of that file).
 * Usage: authkeys_cost [LINES [RUNS [DUMP]]] | authkeys_cost keys N */
#include <nettle/base64.h>
#include <nettle/eddsa.h>
#include <time.h>

#include "../../monitor/bastion/authkeys.h"

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* xorshift64*: the same seeds on every run and machine. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_u64(void) {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 0x2545f4914f6cdd1dULL;
}

static void put_u32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* "AAAAC3NzaC1lZDI1NTE5AAAAI..." for a fresh key: string "ssh-ed25519", string pub (32 bytes). */
static void ed25519_blob_b64(char out[BASE64_ENCODE_RAW_LENGTH(51) + 1]) {
        uint8_t seed[32], pub[32], blob[4 + 11 + 4 + 32];
        for (size_t i = 0; i < sizeof seed; i += 8) {
                uint64_t v = next_u64();
                memcpy(seed + i, &v, 8);
        }
        ed25519_sha512_public_key(pub, seed);
        put_u32(blob, 11);
        memcpy(blob + 4, "ssh-ed25519", 11);
        put_u32(blob + 15, 32);
        memcpy(blob + 19, pub, 32);
        base64_encode_raw(out, sizeof blob, blob);
        out[BASE64_ENCODE_RAW_LENGTH(sizeof blob)] = 0;
}

static char *make_buffer(unsigned lines, size_t *ret_size) {
        size_t cap = (size_t) lines * 512 + 1, n = 0;
        char *buf = malloc(cap);
        char b64[BASE64_ENCODE_RAW_LENGTH(51) + 1];
        if (!buf)
                return NULL;
        for (unsigned i = 0; i < lines; i++) {
                unsigned port = 20000 + i % 10000;
                char opts[400];
                int o = snprintf(opts, sizeof opts, "restrict,port-forwarding");
                if (i % 3 == 0)
                        o += snprintf(opts + o, sizeof opts - (size_t) o, ",command=\"/sbin/nologin\"");
                if (i % 2 == 0)
                        o += snprintf(opts + o, sizeof opts - (size_t) o, ",from=\"198.51.100.0/24,203.0.113.%u\"", i % 250 + 1);
                if (i % 4 == 0)
                        o += snprintf(opts + o, sizeof opts - (size_t) o, ",expiry-time=\"2027%02u%02uZ\"", i % 12 + 1, i % 28 + 1);
                o += snprintf(opts + o, sizeof opts - (size_t) o, ",permitlisten=\"localhost:%u\"", port);
                if (i % 5 == 0)
                        o += snprintf(opts + o, sizeof opts - (size_t) o, ",permitlisten=\"localhost:%u\"", port + 1000);
                snprintf(opts + o, sizeof opts - (size_t) o, ",permitopen=\"localhost:%u\"", port);
                ed25519_blob_b64(b64);
                n += (size_t) snprintf(buf + n, cap - n, "%s ssh-ed25519 %s host-%05u\n", opts, b64, i);
        }
        *ret_size = n;
        return buf;
}

int main(int argc, char **argv) {
        if (argc == 3 && streq(argv[1], "keys")) {
                char b64[BASE64_ENCODE_RAW_LENGTH(51) + 1];
                rng ^= 0x5bd1e995; /* not the parse buffer's keys */
                for (int i = atoi(argv[2]); i > 0; i--) {
                        ed25519_blob_b64(b64);
                        printf("ssh-ed25519 %s\n", b64);
                }
                return fflush(stdout) == 0 ? 0 : 1;
        }
        unsigned lines = argc > 1 ? (unsigned) atoi(argv[1]) : 10000;
        int runs = argc > 2 ? atoi(argv[2]) : 7;
        const char *dump = argc > 3 ? argv[3] : NULL;
        size_t size;

        if (lines == 0 || runs <= 0)
                return 2;
        char *buf = make_buffer(lines, &size);
        double *t = calloc((size_t) runs, sizeof *t);
        if (!buf || !t)
                return 1;
        if (dump) {
                FILE *f = fopen(dump, "w");
                if (!f || fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
                        fprintf(stderr, "authkeys_cost: cannot write %s\n", dump);
                        return 1;
                }
        }

        size_t key_lines = 0, problems = 0;
        char first_fp[128] = "", first_problem[256] = "";
        for (int r = 0; r < runs; r++) {
                authkeys k = {};
                double s = now_ms();
                if (authkeys_parse(&k, "bench", buf, size) < 0)
                        return 1;
                double m = now_ms();
                key_lines = k.n_lines;
                problems = k.n_problems + k.n_problems_dropped;
                if (r == 0 && k.n_lines)
                        snprintf(first_fp, sizeof first_fp, "%s", k.lines[0].fingerprint);
                if (r == 0 && k.n_problems) {
                        char *p = authkey_problem_format(&k.problems[0]);
                        snprintf(first_problem, sizeof first_problem, "%s", p ?: "?");
                        free(p);
                        for (char *c = first_problem; *c; c++) /* printed inside a JSON string */
                                if (*c == '"' || *c == '\\' || (unsigned char) *c < 0x20)
                                        *c = '\'';
                }
                authkeys_done(&k);
                double d = now_ms();
                t[r] = m - s;
                printf("{\"run\":%d,\"parse_ms\":%.3f,\"done_ms\":%.3f}\n", r, m - s, d - m);
        }
        qsort(t, (size_t) runs, sizeof *t, cmp_double);
        double median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
        printf("{\"lines\":%u,\"bytes\":%zu,\"key_lines\":%zu,\"problems\":%zu,\"runs\":%d,\"median_parse_ms\":%.3f,"
               "\"min_parse_ms\":%.3f,\"max_parse_ms\":%.3f,\"first_fingerprint\":\"%s\",\"first_problem\":\"%s\"}\n",
               lines, size, key_lines, problems, runs, median, t[0], t[runs - 1], first_fp, first_problem);
        free(t);
        free(buf);
        return key_lines == lines && problems == 0 ? 0 : 3;
}
