/* The web config file read with libyaml's document loader (nodes keep their line), then checked key by
 * key as exporter-toolkit's yaml.UnmarshalStrict and Validate() do. Only three levels are ever walked, so
 * an alias cannot make the walk blow up. */
#include <ctype.h>
#include <yaml.h>

#include "../monitor/base/macro.h"
#include "web_config.h"

static const char *const web_client_auth_table[_WEB_CLIENT_AUTH_MAX] = {
        [WEB_NO_CLIENT_CERT] = "NoClientCert",
        [WEB_REQUEST_CLIENT_CERT] = "RequestClientCert",
        [WEB_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
        [WEB_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
        [WEB_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};
DEFINE_STRING_TABLE_LOOKUP(web_client_auth, web_client_auth);

static const char *const web_tls_version_table[_WEB_TLS_VERSION_MAX] = {
        [WEB_TLS10] = "TLS10",
        [WEB_TLS11] = "TLS11",
        [WEB_TLS12] = "TLS12",
        [WEB_TLS13] = "TLS13",
};
DEFINE_STRING_TABLE_LOOKUP(web_tls_version, web_tls_version);

/* Go's tls.CipherSuites() (Go 1.19, as in promtool 2.42) and the GnuTLS parts of each. */
typedef struct cipher_suite {
        const char *go, *kx, *cipher, *mac;
} cipher_suite;
static const cipher_suite cipher_suites[] = {
        { "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1" },
        { "TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1" },
        { "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD" },
        { "TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD" },
        { "TLS_AES_128_GCM_SHA256", NULL, "AES-128-GCM", "AEAD" },
        { "TLS_AES_256_GCM_SHA384", NULL, "AES-256-GCM", "AEAD" },
        { "TLS_CHACHA20_POLY1305_SHA256", NULL, "CHACHA20-POLY1305", "AEAD" },
        { "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1" },
        { "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1" },
        { "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1" },
        { "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1" },
        { "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD" },
        { "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD" },
        { "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD" },
        { "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD" },
        { "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD" },
        { "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD" },
};

static const struct {
        const char *go, *gnutls;
} curves[] = {
        { "CurveP256", "GROUP-SECP256R1" },
        { "CurveP384", "GROUP-SECP384R1" },
        { "CurveP521", "GROUP-SECP521R1" },
        { "X25519", "GROUP-X25519" },
};

/* exporter-toolkit's extraHTTPHeaders: the only headers it sets, some with a closed set of values. */
static const struct {
        const char *name;
        const char *values[3];
} allowed_headers[] = {
        { "Strict-Transport-Security", {} },
        { "X-Content-Type-Options", { "nosniff" } },
        { "X-Frame-Options", { "deny", "sameorigin" } },
        { "X-XSS-Protection", {} },
        { "Content-Security-Policy", {} },
};

typedef struct parse_ctx {
        yaml_document_t *doc;
        const char *file;
        web_config *c;
        char *err;
        size_t errlen;
} parse_ctx;

static unsigned line_of(const yaml_node_t *n) {
        return (unsigned) n->start_mark.line + 1;
}

#define FAIL(p, node, fmt, ...) \
        set_err((p)->err, (p)->errlen, -EINVAL, "%s:%u: " fmt, (p)->file, line_of(node), ##__VA_ARGS__)

static const char *scalar(const yaml_node_t *n) {
        return (const char *) n->data.scalar.value;
}

/* A plain null (`key:`, `~`, `null`): the zero value, as yaml.v2 leaves it. */
static bool is_null(const yaml_node_t *n) {
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = scalar(n);
        return !*v || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL");
}

static const char *kind(const yaml_node_t *n) {
        return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* Any scalar as a string (yaml.v2 turns `123` into "123"); NUL bytes refused; null and "" give NULL (Go's
 * zero value: unset). */
static int get_string(parse_ctx *p, const char *key, const yaml_node_t *n, char **ret) {
        if (n->type != YAML_SCALAR_NODE)
                return FAIL(p, n, "%s: expected a string, got %s", key, kind(n));
        if (is_null(n) || !*scalar(n))
                return *ret = mfree(*ret), 0;
        if (strlen(scalar(n)) != n->data.scalar.length)
                return FAIL(p, n, "%s: NUL byte in the value", key);
        return free_and_strdup(ret, scalar(n));
}

/* YAML 1.1 booleans, as yaml.v2 resolves a plain scalar; a quoted "true" is a string, refused. */
static int get_bool(parse_ctx *p, const char *key, const yaml_node_t *n, bool *ret) {
        static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE" },
                                 *const no[] = { "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False",
                                                 "FALSE" };
        if (is_null(n))
                return *ret = false, 0;
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                        if (streq(scalar(n), yes[i]))
                                return *ret = true, 0;
                        if (streq(scalar(n), no[i]))
                                return *ret = false, 0;
                }
        return FAIL(p, n, "%s: expected true or false", key);
}

/* The pairs of a mapping node, each key a scalar and said once. */
typedef int (*pair_fn)(parse_ctx *p, const yaml_node_t *key, const char *k, const yaml_node_t *value);

static int each_pair(parse_ctx *p, const char *what, const yaml_node_t *n, pair_fn fn) {
        if (is_null(n))
                return 0;
        if (n->type != YAML_MAPPING_NODE)
                return FAIL(p, n, "%s: expected a mapping, got %s", what, kind(n));
        for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
                yaml_node_t *k = yaml_document_get_node(p->doc, a->key), *v = yaml_document_get_node(p->doc, a->value);
                if (!k || !v)
                        return FAIL(p, n, "%s: broken mapping", what);
                if (k->type != YAML_SCALAR_NODE)
                        return FAIL(p, k, "%s: keys must be strings, got %s", what, kind(k));
                for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
                        yaml_node_t *bk = yaml_document_get_node(p->doc, b->key);
                        if (bk && bk->type == YAML_SCALAR_NODE && streq(scalar(bk), scalar(k)))
                                return FAIL(p, k, "%s: key \"%s\" already set", what, scalar(k));
                }
                int r = fn(p, k, scalar(k), v);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A list of names, each found by lookup (its index, or -1). */
static int get_names(parse_ctx *p, const char *key, const yaml_node_t *n, int (*lookup)(const char *),
                     char ***ret) {
        strv_free(*ret);
        *ret = NULL;
        if (is_null(n))
                return 0;
        if (n->type != YAML_SEQUENCE_NODE)
                return FAIL(p, n, "%s: expected a list, got %s", key, kind(n));
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                yaml_node_t *e = yaml_document_get_node(p->doc, *i);
                if (!e || e->type != YAML_SCALAR_NODE)
                        return FAIL(p, e ?: n, "%s: expected a list of names", key);
                if (lookup(scalar(e)) < 0)
                        return FAIL(p, e, "%s: unknown name \"%s\"", key, scalar(e));
                if (strv_push(ret, scalar(e)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int cipher_index(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(cipher_suites); i++)
                if (streq(cipher_suites[i].go, s))
                        return (int) i;
        return -1;
}

static int curve_index(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(curves); i++)
                if (streq(curves[i].go, s))
                        return (int) i;
        return -1;
}

/* Relative paths are the file's directory's, as exporter-toolkit's SetDirectory. */
static int join_dir(parse_ctx *p, char **path) {
        if (!*path || (*path)[0] == '/')
                return 0;
        const char *slash = strrchr(p->file, '/');
        char *j;
        if (asprintf(&j, "%.*s%s", slash ? (int) (slash - p->file + 1) : 0, p->file, *path) < 0)
                return -ENOMEM;
        free(*path);
        *path = j;
        return 0;
}

static int tls_pair(parse_ctx *p, const yaml_node_t *kn, const char *k, const yaml_node_t *v) {
        web_config *c = p->c;
        _cleanup_(freep) char *s = NULL;
        int r;

        if (streq(k, "cert_file"))
                return c->cert_line = line_of(kn), get_string(p, k, v, &c->cert_file);
        if (streq(k, "key_file"))
                return c->key_line = line_of(kn), get_string(p, k, v, &c->key_file);
        if (streq(k, "client_ca_file"))
                return c->client_ca_line = line_of(kn), get_string(p, k, v, &c->client_ca_file);
        if (streq(k, "client_auth_type")) {
                if ((r = get_string(p, k, v, &s)) < 0)
                        return r;
                c->tls = c->tls || !isempty_str(s);
                if (isempty_str(s))
                        return c->client_auth = WEB_NO_CLIENT_CERT, 0;
                /* RequireClientCert: exporter-toolkit's old name, kept for compatibility. */
                c->client_auth = streq(s, "RequireClientCert") ? WEB_REQUIRE_ANY_CLIENT_CERT
                                                                : web_client_auth_from_string(s);
                if ((int) c->client_auth < 0)
                        return FAIL(p, v, "invalid client_auth_type \"%s\" (NoClientCert, RequestClientCert, "
                                    "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)", s);
                return 0;
        }
        if (streq(k, "min_version") || streq(k, "max_version")) {
                if ((r = get_string(p, k, v, &s)) < 0)
                        return r;
                web_tls_version t = web_tls_version_from_string(s);
                if ((int) t < 0)
                        return FAIL(p, v, "%s: unknown TLS version \"%s\" (TLS10, TLS11, TLS12, TLS13)", k, strempty(s));
                *(k[1] == 'i' ? &c->min_version : &c->max_version) = t;
                return 0;
        }
        if (streq(k, "cipher_suites"))
                return get_names(p, k, v, cipher_index, &c->cipher_suites);
        if (streq(k, "curve_preferences"))
                return get_names(p, k, v, curve_index, &c->curves);
        if (streq(k, "prefer_server_cipher_suites"))
                return get_bool(p, k, v, &c->prefer_server_cipher_suites);
        return FAIL(p, kn, "tls_server_config: unknown key \"%s\"", k);
}

static int header_pair(parse_ctx *p, const yaml_node_t *kn, const char *k, const yaml_node_t *v) {
        web_config *c = p->c;
        _cleanup_(freep) char *s = NULL;
        int r = get_string(p, k, v, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(allowed_headers); i++) {
                if (!streq(allowed_headers[i].name, k))
                        continue;
                bool ok = !allowed_headers[i].values[0];
                for (size_t j = 0; !ok && j < ELEMENTSOF(allowed_headers[i].values) && allowed_headers[i].values[j]; j++)
                        ok = streq_ptr(allowed_headers[i].values[j], s);
                if (!ok)
                        return FAIL(p, v, "invalid value for %s \"%s\" (%s%s%s)", k, strempty(s),
                                    allowed_headers[i].values[0], allowed_headers[i].values[1] ? " or " : "",
                                    strempty(allowed_headers[i].values[1]));
                /* A value with a line break would forge a header of its own. */
                for (const char *q = strempty(s); *q; q++)
                        if ((unsigned char) *q < 0x20 && *q != '\t')
                                return FAIL(p, v, "%s: control character in the value", k);
                if (isempty_str(s))
                        return 0; /* "Unset if blank." */
                web_header *h = realloc(c->headers, (c->n_headers + 1) * sizeof *h);
                if (!h)
                        return -ENOMEM;
                c->headers = h;
                h[c->n_headers++] = (web_header) { .name = allowed_headers[i].name, .value = TAKE_PTR(s) };
                return 0;
        }
        return FAIL(p, kn, "HTTP header \"%s\" can not be configured", k);
}

static int http_pair(parse_ctx *p, const yaml_node_t *kn, const char *k, const yaml_node_t *v) {
        if (streq(k, "http2"))
                return get_bool(p, k, v, &p->c->http2);
        if (streq(k, "headers"))
                return each_pair(p, "headers", v, header_pair);
        return FAIL(p, kn, "http_server_config: unknown key \"%s\"", k);
}

int web_bcrypt_cost(const char *hash, char *err, size_t errlen) {
        /* As Go's bcrypt.Cost(): "$2" + optional minor + "$NN$" + 22 salt + 31 hash characters. */
        size_t len = strlen(hash);
        if (len < 59)
                return set_err(err, errlen, -EINVAL, "not a bcrypt hash: too short");
        if (hash[0] != '$' || hash[1] != '2' || !strchr("abxy", hash[2]) || hash[3] != '$')
                return set_err(err, errlen, -EINVAL, "not a bcrypt hash: must start with $2a$, $2b$ or $2y$");
        if (!isdigit((unsigned char) hash[4]) || !isdigit((unsigned char) hash[5]) || hash[6] != '$')
                return set_err(err, errlen, -EINVAL, "not a bcrypt hash: expected $2y$NN$ and 53 characters");
        int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
        if (cost < 4 || cost > 31)
                return set_err(err, errlen, -EINVAL, "bcrypt cost %d outside 4..31", cost);
        return cost;
}

static int user_pair(parse_ctx *p, const yaml_node_t *kn, const char *k, const yaml_node_t *v) {
        web_config *c = p->c;
        _cleanup_(freep) char *hash = NULL;
        char why[128];
        int r = get_string(p, "basic_auth_users", v, &hash);
        if (r < 0)
                return r;
        if (strlen(k) != kn->data.scalar.length || strchr(k, ':'))
                return FAIL(p, kn, "basic_auth_users: a user name cannot hold ':' or a NUL byte");
        /* Never echo the hash: it is a secret of sorts. The line names it. */
        int cost = web_bcrypt_cost(strempty(hash), why, sizeof why);
        if (cost < 0)
                return FAIL(p, v, "basic_auth_users: user \"%s\": %s", k, why);
        if (cost > WEB_BCRYPT_COST_MAX)
                return FAIL(p, v, "basic_auth_users: user \"%s\": bcrypt cost %d above %d (each check would stall "
                            "the loop; htpasswd -nBC 10)", k, cost, WEB_BCRYPT_COST_MAX);
        web_user *u = realloc(c->users, (c->n_users + 1) * sizeof *u);
        if (!u)
                return -ENOMEM;
        c->users = u;
        u[c->n_users] = (web_user) { .name = strdup(k), .hash = TAKE_PTR(hash), .cost = (unsigned) cost };
        if (!u[c->n_users].name) {
                free(u[c->n_users].hash);
                return -ENOMEM;
        }
        c->n_users++;
        return 0;
}

static int top_pair(parse_ctx *p, const yaml_node_t *kn, const char *k, const yaml_node_t *v) {
        if (streq(k, "tls_server_config"))
                return p->c->tls_line = p->c->cert_line = p->c->key_line = line_of(kn), each_pair(p, k, v, tls_pair);
        if (streq(k, "http_server_config"))
                return each_pair(p, k, v, http_pair);
        if (streq(k, "basic_auth_users"))
                return each_pair(p, k, v, user_pair);
        return FAIL(p, kn, "unknown key \"%s\" (tls_server_config, http_server_config, basic_auth_users)", k);
}

/* exporter-toolkit's ConfigToTLSConfig checks, those that need no file. */
static int check_tls(parse_ctx *p, const yaml_node_t *root) {
        web_config *c = p->c;
        c->tls = c->tls || c->cert_file || c->key_file || c->client_ca_file;
        /* Go would accept the file and then fail every handshake once TLS is on; say so now, on or not. */
        if (c->min_version > c->max_version)
                return set_err(p->err, p->errlen, -EINVAL, "%s:%u: min_version %s is above max_version %s", p->file,
                               c->tls_line, web_tls_version_to_string(c->min_version),
                               web_tls_version_to_string(c->max_version));
        if (!c->tls)
                return 0;
        if (!c->cert_file)
                return set_err(p->err, p->errlen, -EINVAL, "%s:%u: tls_server_config: missing cert_file", p->file,
                               c->cert_line);
        if (!c->key_file)
                return set_err(p->err, p->errlen, -EINVAL, "%s:%u: tls_server_config: missing key_file", p->file,
                               c->key_line);
        if (c->client_ca_file && c->client_auth == WEB_NO_CLIENT_CERT)
                return set_err(p->err, p->errlen, -EINVAL,
                               "%s:%u: client_ca_file is set without a client_auth_type (RequireAndVerifyClientCert)",
                               p->file, c->client_ca_line);
        int r = join_dir(p, &c->cert_file);
        if (r >= 0)
                r = join_dir(p, &c->key_file);
        if (r >= 0)
                r = join_dir(p, &c->client_ca_file);
        return r;
}

int web_config_parse(const char *file, const char *data, size_t size, web_config *ret, char *err, size_t errlen) {
        yaml_parser_t parser;
        yaml_document_t doc;
        web_config c = {
                .min_version = WEB_TLS12,
                .max_version = WEB_TLS13,
                .prefer_server_cipher_suites = true,
                .http2 = true,
        };
        parse_ctx p = { .doc = &doc, .file = file, .c = &c, .err = err, .errlen = errlen };
        int r;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) data, size);
        if (!yaml_parser_load(&parser, &doc)) {
                r = parser.error == YAML_MEMORY_ERROR
                            ? -ENOMEM
                            : set_err(err, errlen, -EINVAL, "%s:%zu: YAML: %s%s%s", file,
                                      (parser.problem_offset || parser.problem_mark.line ? parser.problem_mark.line
                                                                                        : parser.context_mark.line) + 1,
                                      strna(parser.problem), parser.context ? " " : "", strempty(parser.context));
                yaml_parser_delete(&parser);
                return r;
        }
        yaml_parser_delete(&parser);

        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!(c.path = strdup(file)))
                r = -ENOMEM;
        else if (!root) /* an empty file: no TLS, no users, as promtool says */
                r = 0;
        else if (root->type != YAML_MAPPING_NODE && !is_null(root))
                r = FAIL(&p, root, "expected a mapping at the top, got %s", kind(root));
        else
                r = each_pair(&p, "web config", root, top_pair);
        if (r >= 0)
                r = check_tls(&p, root);
        yaml_document_delete(&doc);
        if (r < 0) {
                web_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

void web_config_done(web_config *c) {
        if (!c)
                return;
        free(c->path);
        free(c->cert_file);
        free(c->key_file);
        free(c->client_ca_file);
        strv_free(c->cipher_suites);
        strv_free(c->curves);
        for (size_t i = 0; i < c->n_headers; i++)
                free(c->headers[i].value);
        free(c->headers);
        for (size_t i = 0; i < c->n_users; i++) {
                free(c->users[i].name);
                /* The hashes are not secret, but the cache's passwords are: keep the habit of wiping. */
                free(c->users[i].hash);
        }
        free(c->users);
        *c = (web_config) {};
}

web_config *web_config_free(web_config *c) {
        web_config_done(c);
        free(c);
        return NULL;
}

static const char *const gnutls_versions[_WEB_TLS_VERSION_MAX] = {
        [WEB_TLS10] = "VERS-TLS1.0", [WEB_TLS11] = "VERS-TLS1.1", [WEB_TLS12] = "VERS-TLS1.2", [WEB_TLS13] = "VERS-TLS1.3",
};

/* Appends ":+WHAT" unless already there. */
static int add_token(char *buf, size_t size, const char *prefix, const char *what) {
        char tok[64];
        snprintf(tok, sizeof tok, ":%s%s", prefix, what);
        if (strstr(buf, tok))
                return 0;
        size_t len = strlen(buf);
        if (len + strlen(tok) + 1 > size)
                return -ENOBUFS;
        strcpy(buf + len, tok);
        return 0;
}

int web_config_priorities(const web_config *c, char *buf, size_t size) {
        int r = 0;
        if (size < 64)
                return -ENOBUFS;
        strcpy(buf, "NORMAL:-VERS-ALL");
        for (web_tls_version v = c->min_version; r >= 0 && v <= c->max_version; v++)
                r = add_token(buf, size, "+", gnutls_versions[v]);
        if (c->cipher_suites && r >= 0) {
                /* GnuTLS chooses ciphers, key exchanges and MACs separately, not suites: the union of the listed
                 * suites' parts. As in Go, TLS 1.3's suites stay whatever the list says. */
                r = add_token(buf, size, "-", "CIPHER-ALL");
                for (const char *t13 = "AES-128-GCM\0AES-256-GCM\0CHACHA20-POLY1305\0"; r >= 0 && *t13; t13 += strlen(t13) + 1)
                        r = add_token(buf, size, "+", t13);
                if (r >= 0)
                        r = add_token(buf, size, "-", "KX-ALL");
                if (r >= 0)
                        r = add_token(buf, size, "-", "MAC-ALL");
                if (r >= 0)
                        r = add_token(buf, size, "+", "AEAD");
                for (char **s = c->cipher_suites; r >= 0 && *s; s++) {
                        const cipher_suite *cs = &cipher_suites[cipher_index(*s)];
                        r = add_token(buf, size, "+", cs->cipher);
                        if (r >= 0 && cs->kx)
                                r = add_token(buf, size, "+", cs->kx);
                        if (r >= 0)
                                r = add_token(buf, size, "+", cs->mac);
                }
        }
        if (c->curves && r >= 0) {
                r = add_token(buf, size, "-", "GROUP-ALL");
                for (char **s = c->curves; r >= 0 && *s; s++)
                        r = add_token(buf, size, "+", curves[curve_index(*s)].gnutls);
        }
        if (c->prefer_server_cipher_suites && r >= 0) {
                size_t len = strlen(buf);
                if (len + sizeof(":%SERVER_PRECEDENCE") > size)
                        return -ENOBUFS;
                strcpy(buf + len, ":%SERVER_PRECEDENCE");
        }
        return r;
}
