/* The Prometheus exporter-toolkit web config file (`--web.config.file`, `promtool check web-config`): TLS,
 * basic auth users with bcrypt hashes, extra response headers. The keys and what is refused follow
 * exporter-toolkit as vendored by promtool 2.42 (Debian 12): strict (an unknown key, a duplicate key, a
 * wrong type is an error), paths relative to the file's directory. YAML read with libyaml. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Verifying client certificates without a client_ca_file trusts the system's CAs, as Go does. */
#define WEB_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define WEB_SYSTEM_CA_FILE_MAX (4 * 1024 * 1024)
/* A web config is a few hundred bytes; the cap bounds what a mistaken path (a log, /dev/zero) costs. Also
 * each certificate, key and CA file. */
#define WEB_CONFIG_FILE_MAX (256 * 1024)
/* exporter-toolkit accepts bcrypt costs up to 31 (hours per check); one check runs on the loop, so a cost
 * above this is refused: 12 is about 0.3 s of a core, 4 times the documented cost 10. */
#define WEB_BCRYPT_COST_MAX 12

typedef enum web_client_auth {
        WEB_NO_CLIENT_CERT,
        WEB_REQUEST_CLIENT_CERT,
        WEB_REQUIRE_ANY_CLIENT_CERT,
        WEB_VERIFY_CLIENT_CERT_IF_GIVEN,
        WEB_REQUIRE_AND_VERIFY_CLIENT_CERT,
        _WEB_CLIENT_AUTH_MAX,
        _WEB_CLIENT_AUTH_INVALID = -1,
} web_client_auth;

typedef enum web_tls_version {
        WEB_TLS10,
        WEB_TLS11,
        WEB_TLS12,
        WEB_TLS13,
        _WEB_TLS_VERSION_MAX,
        _WEB_TLS_VERSION_INVALID = -1,
} web_tls_version;

typedef struct web_user {
        char *name;
        char *hash;      /* "$2y$10$..." */
        unsigned cost;
} web_user;

typedef struct web_header {
        const char *name;  /* one of exporter-toolkit's allowed headers (static) */
        char *value;
} web_header;

/* Where each file-valued key was, for FILE:LINE messages about the files it names. */
typedef struct web_config {
        char *path;                /* the file read */
        bool tls;                  /* cert_file, key_file, client_auth_type or client_ca_file set */
        char *cert_file, *key_file, *client_ca_file; /* absolute (joined to the file's directory) or NULL */
        unsigned tls_line, cert_line, key_line, client_ca_line;
        web_client_auth client_auth;
        web_tls_version min_version, max_version; /* TLS12, TLS13 */
        char **cipher_suites;      /* Go names (tls.CipherSuites()), NULL: GnuTLS's defaults */
        char **curves;             /* CurveP256 CurveP384 CurveP521 X25519, NULL: defaults */
        bool prefer_server_cipher_suites; /* true */
        bool http2;                /* accepted; libmicrohttpd speaks HTTP/1.1 only */
        web_header *headers;
        size_t n_headers;
        web_user *users;
        size_t n_users;
} web_config;

const char *web_client_auth_to_string(web_client_auth a);
web_client_auth web_client_auth_from_string(const char *s);
const char *web_tls_version_to_string(web_tls_version v);
web_tls_version web_tls_version_from_string(const char *s);

/* Parses size bytes of YAML named file (its directory anchors relative paths) into *ret. Does not read
 * the files named in it. On a bad file: -EINVAL and "FILE:LINE: what is wrong" in err. -ENOMEM. */
int web_config_parse(const char *file, const char *data, size_t size, web_config *ret, char *err, size_t errlen);
void web_config_done(web_config *c);
web_config *web_config_free(web_config *c);
static inline void web_config_freep(web_config **c) {
        web_config_free(*c);
}

/* The bcrypt cost of a hash as exporter-toolkit's validation reads it ("$2y$10$" + 53 characters), or
 * -EINVAL with why in err. */
int web_bcrypt_cost(const char *hash, char *err, size_t errlen);

/* The GnuTLS priority string for the config's versions, ciphers, curves and preference (static or in buf). */
int web_config_priorities(const web_config *c, char *buf, size_t size);

/* What the files looked like when read: a stat per file tells a change without reading it. */
typedef struct web_stamp {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        bool missing;
} web_stamp;

/* A loaded config: the parsed file plus the PEM text of the files it names, checked as exporter-toolkit's
 * Validate() does (the key pair loads and matches; the client CA file holds a certificate). */
typedef struct web_config_loaded {
        web_config cfg;
        char *cert_pem, *key_pem, *ca_pem;
        size_t cert_len, key_len, ca_len;
        web_stamp stamps[4]; /* the file, cert_file, key_file, client_ca_file */
} web_config_loaded;

/* Reads path (at most WEB_CONFIG_FILE_MAX; owned by root or us and writable by no one else, as are the
 * files it names, which are read too). On failure "FILE:LINE: what" or "FILE: what" in err and -EINVAL (bad
 * content, bad owner or mode), -errno (unreadable), -ENOMEM. Does not log. */
int web_config_load(const char *path, web_config_loaded **ret, char *err, size_t errlen);
web_config_loaded *web_config_loaded_free(web_config_loaded *l);
static inline void web_config_loaded_freep(web_config_loaded **l) {
        web_config_loaded_free(*l);
}
/* The files of l as they are now (stat(2) only): differing from l->stamps means changed, appeared or gone. */
void web_config_stamps(const web_config_loaded *l, web_stamp ret[static 4]);
bool web_stamps_eq(const web_stamp a[static 4], const web_stamp b[static 4]);
/* Do two loads differ in what the TLS layer is built from (files' contents, versions, ciphers, client auth)? */
bool web_config_tls_differs(const web_config_loaded *a, const web_config_loaded *b);
