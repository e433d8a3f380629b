/* The exporter-toolkit web config: good files and bad ones by their exact FILE:LINE message (each bad
 * case is one promtool 2.42 `check web-config` also rejects, unless marked as our own rule), the files it
 * names (key pair, owner and mode, size), change detection, and the GnuTLS priority string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "../../exporters/web_config.h"
#include "../../monitor/config.h"
#include "test_files.h"

#include "web_fixtures.h"

#define HASH "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

static int parse(const char *text, web_config *c, char *err, size_t errlen) {
        return web_config_parse("/etc/w.yml", text, strlen(text), c, err, errlen);
}

static void test_good(void **state) {
        web_config c;
        char err[512] = "";

        /* Empty, null, an empty section: no TLS, no users (promtool: SUCCESS). */
        const char *const empty[] = { "", "---\n", "tls_server_config:\n", "tls_server_config: {}\nbasic_auth_users:\n",
                                      "tls_server_config:\n  cert_file: ''\n  key_file: ''\n" };
        for (size_t i = 0; i < ELEMENTSOF(empty); i++) {
                assert_int_equal(parse(empty[i], &c, err, sizeof err), 0);
                assert_false(c.tls);
                assert_int_equal(c.n_users, 0);
                assert_true(c.http2);
                assert_int_equal(c.min_version, WEB_TLS12);
                assert_int_equal(c.max_version, WEB_TLS13);
                web_config_done(&c);
        }

        assert_int_equal(parse("# comment\n"
                               "tls_server_config:\n"
                               "  cert_file: server.crt\n"
                               "  key_file: /etc/keys/server.key\n"
                               "  client_auth_type: RequireAndVerifyClientCert\n"
                               "  client_ca_file: ../ca.pem\n"
                               "  min_version: TLS13\n"
                               "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
                               "  curve_preferences:\n"
                               "    - X25519\n"
                               "  prefer_server_cipher_suites: off\n"
                               "http_server_config:\n"
                               "  http2: false\n"
                               "  headers:\n"
                               "    X-Frame-Options: sameorigin\n"
                               "    Strict-Transport-Security: max-age=31536000\n"
                               "    Content-Security-Policy: ''\n"
                               "basic_auth_users:\n"
                               "  alice: " HASH "\n"
                               "  \"bob\": '" HASH "'\n",
                               &c, err, sizeof err),
                         0);
        assert_true(c.tls);
        /* Relative paths are the file's directory's, as exporter-toolkit's SetDirectory. */
        assert_string_equal(c.cert_file, "/etc/server.crt");
        assert_string_equal(c.key_file, "/etc/keys/server.key");
        assert_string_equal(c.client_ca_file, "/etc/../ca.pem");
        assert_int_equal(c.cert_line, 3);
        assert_int_equal(c.key_line, 4);
        assert_int_equal(c.client_ca_line, 6);
        assert_int_equal(c.client_auth, WEB_REQUIRE_AND_VERIFY_CLIENT_CERT);
        assert_int_equal(c.min_version, WEB_TLS13);
        assert_string_equal(c.cipher_suites[0], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_string_equal(c.curves[0], "X25519");
        assert_false(c.prefer_server_cipher_suites);
        assert_false(c.http2);
        /* A blank header value means unset. */
        assert_int_equal(c.n_headers, 2);
        assert_string_equal(c.headers[0].name, "X-Frame-Options");
        assert_string_equal(c.headers[0].value, "sameorigin");
        assert_int_equal(c.n_users, 2);
        assert_string_equal(c.users[1].name, "bob");
        assert_string_equal(c.users[1].hash, HASH);
        assert_int_equal(c.users[1].cost, 10);
        web_config_done(&c);

        /* RequireClientCert: exporter-toolkit's old name for RequireAnyClientCert. */
        assert_int_equal(parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireClientCert\n",
                               &c, err, sizeof err),
                         0);
        assert_int_equal(c.client_auth, WEB_REQUIRE_ANY_CLIENT_CERT);
        web_config_done(&c);
}

typedef struct bad_case {
        const char *text;
        const char *message;
} bad_case;

static void test_bad(void **state) {
        static const bad_case cases[] = {
                { "[]\n", "/etc/w.yml:1: expected a mapping at the top, got a list" },
                { "just text\n", "/etc/w.yml:1: expected a mapping at the top, got a scalar" },
                { "tls_server_config: []\n", "/etc/w.yml:1: tls_server_config: expected a mapping, got a list" },
                { "basic_auth_users: [a]\n", "/etc/w.yml:1: basic_auth_users: expected a mapping, got a list" },
                { "\nrate_limit:\n  interval: 1s\n",
                  "/etc/w.yml:2: unknown key \"rate_limit\" (tls_server_config, http_server_config, basic_auth_users)" },
                { "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
                  "/etc/w.yml:4: tls_server_config: unknown key \"client_allowed_sans\"" },
                { "tls_server_config:\n  cert: x\n", "/etc/w.yml:2: tls_server_config: unknown key \"cert\"" },
                { "tls_server_config:\n  key_file: k\n", "/etc/w.yml:1: tls_server_config: missing cert_file" },
                { "tls_server_config:\n  cert_file: c\n", "/etc/w.yml:1: tls_server_config: missing key_file" },
                { "tls_server_config:\n  client_auth_type: NoClientCert\n",
                  "/etc/w.yml:1: tls_server_config: missing cert_file" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
                  "/etc/w.yml:4: client_ca_file is set without a client_auth_type (RequireAndVerifyClientCert)" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Bogus\n",
                  "/etc/w.yml:4: invalid client_auth_type \"Bogus\" (NoClientCert, RequestClientCert, "
                  "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS14\n",
                  "/etc/w.yml:4: min_version: unknown TLS version \"TLS14\" (TLS10, TLS11, TLS12, TLS13)" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites:\n    - TLS_RSA_WITH_RC4_128_SHA\n",
                  "/etc/w.yml:5: cipher_suites: unknown name \"TLS_RSA_WITH_RC4_128_SHA\"" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  curve_preferences: [CurveP224]\n",
                  "/etc/w.yml:4: curve_preferences: unknown name \"CurveP224\"" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  prefer_server_cipher_suites: \"yes\"\n",
                  "/etc/w.yml:4: prefer_server_cipher_suites: expected true or false" },
                { "tls_server_config:\n  cert_file: [a]\n  key_file: k\n",
                  "/etc/w.yml:2: cert_file: expected a string, got a list" },
                { "http_server_config:\n  http2: maybe\n", "/etc/w.yml:2: http2: expected true or false" },
                { "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                  "/etc/w.yml:3: invalid value for X-Frame-Options \"allow\" (deny or sameorigin)" },
                { "http_server_config:\n  headers:\n    x-frame-options: deny\n",
                  "/etc/w.yml:3: HTTP header \"x-frame-options\" can not be configured" },
                { "http_server_config:\n  headers:\n    Server: x\n",
                  "/etc/w.yml:3: HTTP header \"Server\" can not be configured" },
                { "http_server_config:\n  tls: x\n", "/etc/w.yml:2: http_server_config: unknown key \"tls\"" },
                { "basic_auth_users:\n  alice:\n", "/etc/w.yml:2: basic_auth_users: user \"alice\": not a bcrypt hash: too short" },
                { "basic_auth_users:\n  alice: notbcrypt\n",
                  "/etc/w.yml:2: basic_auth_users: user \"alice\": not a bcrypt hash: too short" },
                { "basic_auth_users:\n  alice: $2y$03$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
                  "/etc/w.yml:2: basic_auth_users: user \"alice\": bcrypt cost 3 outside 4..31" },
                { "basic_auth_users:\n  a: " HASH "\n  a: " HASH "\n",
                  "/etc/w.yml:3: basic_auth_users: key \"a\" already set" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\ntls_server_config: {}\n",
                  "/etc/w.yml:4: web config: key \"tls_server_config\" already set" },
                { "basic_auth_users:\n  alice: '" HASH "\n", "/etc/w.yml:3: YAML: found unexpected end of stream while "
                                                          "scanning a quoted scalar" },
                { "a: &x 1\nb: *x\n",
                  "/etc/w.yml:1: unknown key \"a\" (tls_server_config, http_server_config, basic_auth_users)" },
                /* Our own rules (promtool accepts these): a bcrypt cost that would stall the loop, a
                 * non-bcrypt "$1y$", versions that leave nothing to negotiate. */
                { "basic_auth_users:\n  alice: $2y$13$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
                  "/etc/w.yml:2: basic_auth_users: user \"alice\": bcrypt cost 13 above 12 (each check would stall "
                  "the loop; htpasswd -nBC 10)" },
                { "basic_auth_users:\n  alice: $1y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
                  "/etc/w.yml:2: basic_auth_users: user \"alice\": not a bcrypt hash: must start with $2a$, $2b$ or $2y$" },
                { "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n",
                  "/etc/w.yml:1: min_version TLS13 is above max_version TLS12" },
                { "http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\nSet-Cookie: x\"\n",
                  "/etc/w.yml:3: X-XSS-Protection: control character in the value" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                web_config c = {};
                char err[512] = "";
                int r = parse(cases[i].text, &c, err, sizeof err);
                if (r != -EINVAL || strcmp(err, cases[i].message) != 0)
                        fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, cases[i].message);
                assert_null(c.path); /* nothing left behind */
        }
}

static void test_bcrypt_cost(void **state) {
        char why[128];
        assert_int_equal(web_bcrypt_cost(HASH, why, sizeof why), 10);
        assert_int_equal(web_bcrypt_cost("$2b$04$FoeDqVBnBnVCzTojvnMAcup84ijvdpyqjxFOlEqr95n1KLqRWLeAK", why, sizeof why), 4);
        assert_int_equal(web_bcrypt_cost("$2y$1x$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", why, sizeof why),
                         -EINVAL);
        assert_string_equal(why, "not a bcrypt hash: expected $2y$NN$ and 53 characters");
        assert_int_equal(web_bcrypt_cost("", why, sizeof why), -EINVAL);
}

static void write_tls_files(void) {
        test_write_text("server.crt", cert_pem);
        test_write_text("server.key", key_pem);
        test_write_text("other.key", other_key_pem);
        test_write_text("ca.pem", cert_pem);
}

static int load(const char *name, const char *text, web_config_loaded **ret, char *err, size_t errlen) {
        return web_config_load(test_write_text(name, text), ret, err, errlen);
}

static void test_load_files(void **state) {
        web_config_loaded *l = NULL;
        char err[1024] = "", want[1024];
        write_tls_files();

        /* Relative to the file; the pair and the CA loaded as they are. */
        assert_int_equal(load("w.yml",
                              "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                              "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
                              &l, err, sizeof err),
                         0);
        assert_true(l->cfg.tls);
        assert_int_equal(l->cert_len, strlen(cert_pem));
        assert_memory_equal(l->key_pem, key_pem, strlen(key_pem));
        assert_int_equal(l->ca_len, strlen(cert_pem));
        l = web_config_loaded_free(l);

        /* promtool: "failed to load X509KeyPair". */
        assert_int_equal(load("w.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", &l, err,
                              sizeof err),
                         -EINVAL);
        snprintf(want, sizeof want, "%s:2: cert_file %s and key_file %s: failed to load the key pair: ",
                 test_path("w.yml"), test_path("server.crt"), test_path("other.key"));
        assert_memory_equal(err, want, strlen(want));

        assert_int_equal(load("w.yml", "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", &l, err,
                              sizeof err),
                         -ENOENT);
        snprintf(want, sizeof want, "%s:2: cert_file %s: No such file or directory", test_path("w.yml"),
                 test_path("missing.crt"));
        assert_string_equal(err, want);

        /* A CA file without a certificate (our rule: promtool ignores it, and then nothing verifies). */
        assert_int_equal(load("w.yml",
                              "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                              "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: other.key\n",
                              &l, err, sizeof err),
                         -EINVAL);
        snprintf(want, sizeof want, "%s:5: client_ca_file %s: no certificate in it", test_path("w.yml"),
                 test_path("other.key"));
        assert_string_equal(err, want);

        /* The file itself: missing, not a regular file. */
        assert_int_equal(web_config_load(test_path("none.yml"), &l, err, sizeof err), -ENOENT);
        snprintf(want, sizeof want, "%s: No such file or directory", test_path("none.yml"));
        assert_string_equal(err, want);
        assert_int_equal(web_config_load(test_dir, &l, err, sizeof err), -EISDIR);
        assert_null(l);
}

static void test_load_owner_mode(void **state) {
        web_config_loaded *l = NULL;
        char err[1024], want[1024];
        write_tls_files();

        const char *w = test_write_text("w.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        assert_int_equal(chmod(w, 0666), 0);
        assert_int_equal(web_config_load(w, &l, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s: writable by others than root (mode 0666): refused", w);
        assert_string_equal(err, want);

        /* Group-writable is fine when the group is root's; not when it is another group. */
        assert_int_equal(chmod(w, 0620), 0);
        assert_int_equal(chown(w, (uid_t) -1, 0), 0);
        assert_int_equal(web_config_load(w, &l, err, sizeof err), 0);
        l = web_config_loaded_free(l);
        if (geteuid() == 0) {
                assert_int_equal(chown(w, (uid_t) -1, 4), 0);
                assert_int_equal(web_config_load(w, &l, err, sizeof err), -EINVAL);
                snprintf(want, sizeof want, "%s: writable by others than root (mode 0620): refused", w);
                assert_string_equal(err, want);
                /* Owned by another user. */
                assert_int_equal(chown(w, 1, 0), 0);
                assert_int_equal(chmod(w, 0600), 0);
                assert_int_equal(web_config_load(w, &l, err, sizeof err), -EINVAL);
                snprintf(want, sizeof want, "%s: owned by uid 1, not root: refused", w);
                assert_string_equal(err, want);
                assert_int_equal(chown(w, 0, 0), 0);
        }
        assert_int_equal(chmod(w, 0600), 0);

        /* The key file is held to the same rule. */
        assert_int_equal(chmod(test_path("server.key"), 0646), 0);
        assert_int_equal(web_config_load(w, &l, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:3: key_file %s: writable by others than root (mode 0646): refused", w,
                 test_path("server.key"));
        assert_string_equal(err, want);
        assert_int_equal(chmod(test_path("server.key"), 0600), 0);

        /* Size bound: a web config past 256 KiB is refused without being parsed. */
        char *big = malloc(WEB_CONFIG_FILE_MAX + 2);
        assert_non_null(big);
        memset(big, '#', WEB_CONFIG_FILE_MAX + 1);
        big[WEB_CONFIG_FILE_MAX + 1] = 0;
        w = test_write_text("big.yml", big);
        free(big);
        assert_int_equal(web_config_load(w, &l, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s: larger than 256 KiB", w);
        assert_string_equal(err, want);
}

static void test_stamps(void **state) {
        web_config_loaded *l = NULL;
        web_stamp now[4];
        char err[1024];
        write_tls_files();

        const char *w = test_write_text("w.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        assert_int_equal(web_config_load(w, &l, err, sizeof err), 0);
        web_config_stamps(l, now);
        assert_true(web_stamps_eq(now, l->stamps));

        /* The certificate rewritten (same size, same bytes): a change all the same, as a renewal would be. */
        struct timespec t = { .tv_sec = 0, .tv_nsec = 2 * 1000 * 1000 };
        nanosleep(&t, NULL);
        test_write_text("server.crt", cert_pem);
        web_config_stamps(l, now);
        assert_false(web_stamps_eq(now, l->stamps));

        /* A load of the same contents: TLS does not differ; another key does. */
        web_config_loaded *m = NULL;
        assert_int_equal(web_config_load(w, &m, err, sizeof err), 0);
        assert_false(web_config_tls_differs(l, m));
        m = web_config_loaded_free(m);
        const char *w2 = test_write_text("w2.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                                                   "  min_version: TLS13\n");
        assert_int_equal(web_config_load(w2, &m, err, sizeof err), 0);
        assert_true(web_config_tls_differs(l, m));
        m = web_config_loaded_free(m);

        /* Gone: a change too. */
        unlink(test_path("server.key"));
        web_config_stamps(l, now);
        assert_false(web_stamps_eq(now, l->stamps));
        web_config_loaded_free(l);
}

static void test_priorities(void **state) {
        web_config c;
        char err[512], buf[512];

        assert_int_equal(parse("", &c, err, sizeof err), 0);
        assert_int_equal(web_config_priorities(&c, buf, sizeof buf), 0);
        assert_string_equal(buf, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:%SERVER_PRECEDENCE");
        web_config_done(&c);

        assert_int_equal(parse("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n"
                               "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,\n"
                               "    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA]\n  curve_preferences: [CurveP384, X25519]\n"
                               "  prefer_server_cipher_suites: false\n",
                               &c, err, sizeof err),
                         0);
        assert_int_equal(web_config_priorities(&c, buf, sizeof buf), 0);
        assert_string_equal(buf, "NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:"
                                 "+AES-256-GCM:+CHACHA20-POLY1305:-KX-ALL:-MAC-ALL:+AEAD:+ECDHE-ECDSA:+AES-256-CBC:"
                                 "+ECDHE-RSA:+SHA1:-GROUP-ALL:+GROUP-SECP384R1:+GROUP-X25519");
        assert_int_equal(web_config_priorities(&c, buf, 80), -ENOBUFS);
        web_config_done(&c);
}

/* metrics.web_config and bastion.web_config: the file is read with the configuration, its own FILE:LINE
 * first, then the key's; "" means none. */
static void test_config_keys(void **state) {
        config c;
        char out[4096], want[2048];
        stderr_capture cap;
        write_tls_files();
        const char *good = test_write_text("good.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        const char *bad = test_write_text("bad.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                                                     "  ciphers: [x]\n");
        char conf[1024];
        snprintf(conf, sizeof conf, "[metrics]\nweb_config = %s\n[bastion]\nweb_config = %s\n", good, good);
        assert_int_equal(config_load_data(&c, "/etc/r.conf", conf, strlen(conf), NULL), 0);
        assert_string_equal(c.metrics_web_config, good);
        assert_string_equal(c.bastion.web_config, good);
        config_done(&c);

        snprintf(conf, sizeof conf, "[metrics]\nlisten = 127.0.0.1:1\n\nweb_config = %s\n", bad);
        stderr_capture_begin(&cap);
        int r = config_load_data(&c, "/etc/r.conf", conf, strlen(conf), NULL);
        stderr_capture_end(&cap, out, sizeof out);
        assert_int_equal(r, -EINVAL);
        snprintf(want, sizeof want, "%s:4: tls_server_config: unknown key \"ciphers\"\n"
                 "/etc/r.conf:4: invalid web config \"%s\" for metrics.web_config\n", bad, bad);
        assert_string_equal(out, want);

        char *const rel[] = { (char *) "bastion.web_config=web.yml", NULL };
        stderr_capture_begin(&cap);
        r = config_load_data(&c, "/etc/r.conf", "", 0, rel);
        stderr_capture_end(&cap, out, sizeof out);
        assert_int_equal(r, -EINVAL);
        assert_string_equal(out, "--bastion.web_config: invalid path \"web.yml\" (must be an absolute path)\n");

        char *const none[] = { (char *) "metrics.web_config=", NULL };
        snprintf(conf, sizeof conf, "[metrics]\nweb_config = %s\n", good);
        assert_int_equal(config_load_data(&c, "/etc/r.conf", conf, strlen(conf), none), 0);
        assert_null(c.metrics_web_config);
        config_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_bcrypt_cost),
                cmocka_unit_test(test_load_files),
                cmocka_unit_test(test_load_owner_mode),
                cmocka_unit_test(test_stamps),
                cmocka_unit_test(test_priorities),
                cmocka_unit_test(test_config_keys),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
