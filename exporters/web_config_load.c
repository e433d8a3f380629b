/* Reading a web config and the files it names: size-bounded, owner and mode checked, the key pair and CA
 * loaded once by GnuTLS so a file promtool rejects is rejected here too (and before serving with it). */
#include <gnutls/gnutls.h>
#include <sys/stat.h>

#include "../monitor/base/macro.h"
#include "web_config.h"

enum { STAMP_FILE, STAMP_CERT, STAMP_KEY, STAMP_CA };

static void stamp_of(const struct stat *st, web_stamp *ret) {
        *ret = (web_stamp) { .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .mtime = st->st_mtim,
                             .ctime = st->st_ctim };
}

static void stamp_path(const char *path, web_stamp *ret) {
        struct stat st;
        if (!path)
                *ret = (web_stamp) {};
        else if (stat(path, &st) < 0)
                *ret = (web_stamp) { .missing = true };
        else
                stamp_of(&st, ret);
}

static bool stamp_eq(const web_stamp *a, const web_stamp *b) {
        return a->missing == b->missing && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The file is read as root and decides who may scrape: only root (or our own user) may be able to change
 * it. A group-writable file is fine when the group is root's. */
static int check_owner(const char *path, const struct stat *st, char *why, size_t size) {
        if (st->st_uid != 0 && st->st_uid != geteuid())
                return set_err(why, size, -EPERM, "owned by uid %u, not root", (unsigned) st->st_uid);
        if ((st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0))
                return set_err(why, size, -EPERM, "writable by others than root (mode %04o)",
                               (unsigned) (st->st_mode & 07777));
        return 0;
}

/* Reads one file; where (e.g. "FILE:LINE: cert_file /x" or "FILE") prefixes any message. */
static int read_checked(const char *where, const char *path, char **ret, size_t *ret_len, web_stamp *stamp,
                        char *err, size_t errlen) {
        struct stat st;
        char why[128];
        if (stat(path, &st) < 0)
                return set_err(err, errlen, -errno, "%s: %s", where, strerror(errno));
        if (check_owner(path, &st, why, sizeof why) < 0)
                return set_err(err, errlen, -EINVAL, "%s: %s: refused", where, why);
        stamp_of(&st, stamp);
        int r = read_file_bounded(path, WEB_CONFIG_FILE_MAX, 0, ret, ret_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_err(err, errlen, r == -EFBIG ? -EINVAL : r, "%s: %s", where,
                               r == -EFBIG ? "larger than 256 KiB" : read_file_strerror(r));
        return 0;
}

/* The pair loads and matches, the CA file holds at least one certificate: what GnuTLS will be handed. */
static int check_tls_files(const web_config_loaded *l, char *err, size_t errlen) {
        const web_config *c = &l->cfg;
        gnutls_certificate_credentials_t cred;
        int r;

        if (gnutls_certificate_allocate_credentials(&cred) < 0)
                return -ENOMEM;
        gnutls_datum_t cert = { (unsigned char *) l->cert_pem, (unsigned) l->cert_len },
                       key = { (unsigned char *) l->key_pem, (unsigned) l->key_len };
        r = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (r < 0) {
                r = set_err(err, errlen, -EINVAL, "%s:%u: cert_file %s and key_file %s: failed to load the key pair: %s",
                            c->path, c->cert_line, c->cert_file, c->key_file, gnutls_strerror(r));
                goto done;
        }
        if (l->ca_pem) {
                gnutls_datum_t ca = { (unsigned char *) l->ca_pem, (unsigned) l->ca_len };
                r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
                if (r <= 0) {
                        r = set_err(err, errlen, -EINVAL, "%s:%u: client_ca_file %s: no certificate in it%s%s",
                                    c->path, c->client_ca_file ? c->client_ca_line : c->tls_line,
                                    c->client_ca_file ?: WEB_SYSTEM_CA_FILE, r < 0 ? ": " : "",
                                    r < 0 ? gnutls_strerror(r) : "");
                        goto done;
                }
        }
        /* What versions, ciphers and curves became must be a priority string GnuTLS takes. */
        char prio[512];
        const char *errpos = NULL;
        gnutls_priority_t pc;
        r = web_config_priorities(c, prio, sizeof prio);
        if (r >= 0 && (r = gnutls_priority_init(&pc, prio, &errpos)) >= 0)
                gnutls_priority_deinit(pc);
        if (r < 0) {
                r = set_err(err, errlen, -EINVAL, "%s:%u: tls_server_config: GnuTLS refuses the versions, ciphers and "
                            "curves as \"%s\"", c->path, c->tls_line, errpos ?: prio);
                goto done;
        }
        r = 0;
done:
        gnutls_certificate_free_credentials(cred);
        return r;
}

int web_config_load(const char *path, web_config_loaded **ret, char *err, size_t errlen) {
        _cleanup_(web_config_loaded_freep) web_config_loaded *l = calloc(1, sizeof *l);
        _cleanup_(freep) char *data = NULL;
        char where[512];
        size_t size;
        int r;

        if (!l)
                return -ENOMEM;
        r = read_checked(path, path, &data, &size, &l->stamps[STAMP_FILE], err, errlen);
        if (r < 0)
                return r;
        r = web_config_parse(path, data, size, &l->cfg, err, errlen);
        if (r < 0)
                return r;
        const web_config *c = &l->cfg;
        if (c->tls) {
                snprintf(where, sizeof where, "%s:%u: cert_file %s", path, c->cert_line, c->cert_file);
                r = read_checked(where, c->cert_file, &l->cert_pem, &l->cert_len, &l->stamps[STAMP_CERT], err, errlen);
                if (r < 0)
                        return r;
                snprintf(where, sizeof where, "%s:%u: key_file %s", path, c->key_line, c->key_file);
                r = read_checked(where, c->key_file, &l->key_pem, &l->key_len, &l->stamps[STAMP_KEY], err, errlen);
                if (r < 0)
                        return r;
                if (c->client_ca_file) {
                        snprintf(where, sizeof where, "%s:%u: client_ca_file %s", path, c->client_ca_line,
                                 c->client_ca_file);
                        r = read_checked(where, c->client_ca_file, &l->ca_pem, &l->ca_len, &l->stamps[STAMP_CA], err,
                                         errlen);
                        if (r < 0)
                                return r;
                }
                bool verify = c->client_auth == WEB_VERIFY_CLIENT_CERT_IF_GIVEN ||
                              c->client_auth == WEB_REQUIRE_AND_VERIFY_CLIENT_CERT;
                if (verify && !c->client_ca_file) {
                        r = read_file_bounded(WEB_SYSTEM_CA_FILE, WEB_SYSTEM_CA_FILE_MAX, 0, &l->ca_pem, &l->ca_len);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return set_err(err, errlen, -EINVAL,
                                               "%s:%u: client_auth_type %s without client_ca_file: the system's CAs "
                                               "(%s): %s", path, c->tls_line, web_client_auth_to_string(c->client_auth),
                                               WEB_SYSTEM_CA_FILE, read_file_strerror(r));
                }
                r = check_tls_files(l, err, errlen);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void free_secret(char *p, size_t len) {
        if (p)
                explicit_bzero(p, len);
        free(p);
}

web_config_loaded *web_config_loaded_free(web_config_loaded *l) {
        if (!l)
                return NULL;
        web_config_done(&l->cfg);
        free(l->cert_pem);
        free_secret(l->key_pem, l->key_len);
        free(l->ca_pem);
        free(l);
        return NULL;
}

void web_config_stamps(const web_config_loaded *l, web_stamp ret[static 4]) {
        const char *paths[4] = { l->cfg.path, l->cfg.tls ? l->cfg.cert_file : NULL, l->cfg.tls ? l->cfg.key_file : NULL,
                                 l->cfg.tls ? l->cfg.client_ca_file : NULL };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                stamp_path(paths[i], &ret[i]);
}

bool web_stamps_eq(const web_stamp a[static 4], const web_stamp b[static 4]) {
        for (size_t i = 0; i < 4; i++)
                if (!stamp_eq(&a[i], &b[i]))
                        return false;
        return true;
}

static bool mem_eq(const char *a, size_t al, const char *b, size_t bl) {
        return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static bool strv_eq(char **a, char **b) {
        for (; a && *a && b && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return !(a && *a) && !(b && *b);
}

bool web_config_tls_differs(const web_config_loaded *a, const web_config_loaded *b) {
        const web_config *x = &a->cfg, *y = &b->cfg;
        return x->tls != y->tls || x->client_auth != y->client_auth || x->min_version != y->min_version ||
               x->max_version != y->max_version || x->prefer_server_cipher_suites != y->prefer_server_cipher_suites ||
               !strv_eq(x->cipher_suites, y->cipher_suites) || !strv_eq(x->curves, y->curves) ||
               !mem_eq(a->cert_pem, a->cert_len, b->cert_pem, b->cert_len) ||
               !mem_eq(a->key_pem, a->key_len, b->key_pem, b->key_len) ||
               !mem_eq(a->ca_pem, a->ca_len, b->ca_pem, b->ca_len);
}
