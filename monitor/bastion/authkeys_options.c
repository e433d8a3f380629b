/* The options of an authorized_keys line, as auth-options.c sshauthopt_parse reads them (with misc.c's
 * opt_flag, opt_match, opt_dequote): the same order of tests, the same prefix matching, the same words
 * for what is wrong. */
#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <strings.h>

#include "authkeys.h"

#define TUNID_ANY 0x7fffffff          /* SSH_TUNID_ANY */
#define TUNID_MAX (TUNID_ANY - 2)     /* SSH_TUNID_MAX */

/* opt_flag: -1 no match, 1 the option, 0 its "no-" form. A prefix match, as sshd's: "ptyx" matches "pty"
 * and then fails as an unknown option because no comma follows. */
static int opt_flag(const char *opt, bool allow_negate, const char **optsp) {
        const char *opts = *optsp;
        bool negate = false;
        if (allow_negate && strncasecmp(opts, "no-", 3) == 0) {
                opts += 3;
                negate = true;
        }
        /* The first letter first: each option is tried against a dozen names. */
        if (tolower((unsigned char) opts[0]) != opt[0])
                return -1;
        if (strncasecmp(opts, opt, strlen(opt)) == 0) {
                *optsp = opts + strlen(opt);
                return negate ? 0 : 1;
        }
        return -1;
}

static bool opt_match(const char **opts, const char *term) {
        size_t n = strlen(term);
        if (tolower((unsigned char) (*opts)[0]) == term[0] && strncasecmp(*opts, term, n) == 0 && (*opts)[n] == '=') {
                *opts += n + 1;
                return true;
        }
        return false;
}

/* opt_dequote: only \" is an escape; a backslash before anything else stays. NULL with *why, or
 * -ENOMEM as *r. Sized to the value, not to the rest of the line (sshd's strlen(s) + 1): a line of
 * thousands of options stays linear. */
static char *opt_dequote(const char **sp, const char **why, int *r) {
        const char *s = *sp, *e;
        if (*s != '"') {
                *why = "missing start quote";
                return NULL;
        }
        s++;
        for (e = s; *e && *e != '"'; e++)
                if (e[0] == '\\' && e[1] == '"')
                        e++;
        if (!*e) {
                *why = "missing end quote";
                return NULL;
        }
        char *ret = malloc((size_t) (e - s) + 1);
        if (!ret) {
                *r = -ENOMEM;
                return NULL;
        }
        size_t i = 0;
        while (s < e) {
                if (s[0] == '\\' && s[1] == '"')
                        s++;
                ret[i++] = *s++;
        }
        ret[i] = 0;
        *sp = e + 1;
        return ret;
}

/* strtonum(s, lo, hi): strtoll's syntax (leading space and sign allowed), the whole string, in range. */
static bool strtonum_ok(const char *s, long long lo, long long hi, long long *ret) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno || v < lo || v > hi)
                return false;
        *ret = v;
        return true;
}

/* hpdelim2: a "[...]" host or text up to ':' or '/'; *rest NULL when no delimiter follows. */
static char *hpdelim2(char **cp) {
        char *old = *cp, *s = *cp;
        if (*s == '[') {
                if (!(s = strchr(s, ']')))
                        return NULL;
                s++;
        } else if (!(s = strpbrk(s, ":/")))
                s = *cp + strlen(*cp);
        switch (*s) {
        case 0:
                *cp = NULL;
                break;
        case ':':
        case '/':
                *s = 0;
                *cp = s + 1;
                break;
        default:
                return NULL;
        }
        return old;
}

/* a2port: a number 1..65535 (strtonum's syntax), "*" for any, else a service name that sshd looks up in
 * /etc/services; we keep the name unresolved (pure) and the audit asks for the number. */
static bool permit_port(const char *cp, int *ret) {
        long long port;
        if (!cp || !*cp)
                return false;
        if (streq(cp, "*"))
                *ret = PERMIT_PORT_ANY;
        else if (strtonum_ok(cp, LLONG_MIN, LLONG_MAX, &port)) {
                if (port <= 0 || port > 65535)
                        return false;
                *ret = (int) port;
        } else if (!strpbrk(cp, " \t/:[]"))
                *ret = PERMIT_PORT_NAMED;
        else
                return false;
        return true;
}

/* handle_permit: [host:]port with port a number, "*" or (left unresolved here) a service name. */
static int handle_permit(const char **optsp, bool allow_bare_port, authkey_permit **permits, size_t *n,
                         const char **why) {
        int r = 0;
        if (*n > AUTHKEYS_PERMIT_MAX) { /* sshd tests before adding: 4097 entries pass, as there */
                *why = "too many permission directives";
                return -EINVAL;
        }
        _cleanup_(freep) char *opt = opt_dequote(optsp, why, &r);
        if (!opt)
                return r ?: -EINVAL;
        _cleanup_(freep) char *tmp = NULL;
        if (allow_bare_port && !strchr(opt, ':')) {
                if (asprintf(&tmp, "*:%s", opt) < 0)
                        return -ENOMEM;
        } else if (!(tmp = strdup(opt)))
                return -ENOMEM;
        char *cp = tmp, *host = hpdelim2(&cp);
        if (!host || strlen(host) >= NI_MAXHOST) {
                *why = "invalid permission hostname";
                return -EINVAL;
        }
        int value;
        if (!permit_port(cp, &value)) {
                *why = "invalid permission port";
                return -EINVAL;
        }
        authkey_permit *m = realloc(*permits, (*n + 1) * sizeof(authkey_permit));
        if (!m)
                return -ENOMEM;
        *permits = m;
        m[*n] = (authkey_permit) { .host = strdup(host), .port = value, .text = TAKE_PTR(opt) };
        if (!m[*n].host) {
                free(m[*n].text);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

static bool valid_env_name(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_')
                        return false;
        return true;
}

static int handle_environment(const char **optsp, authkey_line *k, const char **why) {
        int r = 0;
        if (strv_length(k->environment) > AUTHKEYS_ENV_MAX) {
                *why = "too many environment strings";
                return -EINVAL;
        }
        _cleanup_(freep) char *opt = opt_dequote(optsp, why, &r);
        if (!opt)
                return r ?: -EINVAL;
        char *eq = strchr(opt, '=');
        if (!eq || !valid_env_name(opt, (size_t) (eq - opt))) {
                *why = "invalid environment string";
                return -EINVAL;
        }
        size_t l = (size_t) (eq - opt);
        for (char **e = k->environment; e && *e; e++)
                if (strncmp(*e, opt, l) == 0 && (*e)[l] == '=')
                        return 0; /* the first of a name wins */
        return strv_push(&k->environment, opt);
}

/* A string option given once: command, principals, from. */
static int handle_once(const char **optsp, char **field, const char *twice, const char **why) {
        int r = 0;
        if (*field) {
                *why = twice;
                return -EINVAL;
        }
        *field = opt_dequote(optsp, why, &r);
        return *field ? 0 : (r ?: -EINVAL);
}

static int handle_expiry(const char **optsp, authkey_line *k, const char **why) {
        int r = 0;
        uint64_t t;
        _cleanup_(freep) char *opt = opt_dequote(optsp, why, &r);
        if (!opt)
                return r ?: -EINVAL;
        if (authkey_parse_time(opt, &t) < 0 || t == 0) {
                *why = "invalid expires time";
                return -EINVAL;
        }
        if (!k->has_expiry || t < k->expiry) /* the earliest wins */
                k->expiry = t;
        k->has_expiry = true;
        return 0;
}

static int handle_tunnel(const char **optsp, authkey_line *k, const char **why) {
        int r = 0;
        long long v;
        _cleanup_(freep) char *opt = opt_dequote(optsp, why, &r);
        if (!opt)
                return r ?: -EINVAL;
        if (strcasecmp(opt, "any") == 0)
                k->tunnel = TUNID_ANY;
        else if (strtonum_ok(opt, 0, TUNID_MAX, &v))
                k->tunnel = (int) v;
        else {
                *why = "invalid tun device";
                return -EINVAL;
        }
        return 0;
}

static void set_restricted(authkey_line *k) {
        k->restricted = true;
        k->port_forwarding = k->agent_forwarding = k->x11_forwarding = k->pty = k->user_rc = false;
}

/* One option at *opts (flags first, then name=value options, as sshd tests them). */
static int parse_one(const char **opts, authkey_line *k, const char **why) {
        int f;
        if (opt_flag("restrict", false, opts) != -1)
                set_restricted(k);
        else if ((f = opt_flag("cert-authority", false, opts)) != -1)
                k->cert_authority = f;
        else if ((f = opt_flag("port-forwarding", true, opts)) != -1)
                k->port_forwarding = f == 1;
        else if ((f = opt_flag("agent-forwarding", true, opts)) != -1)
                k->agent_forwarding = f == 1;
        else if ((f = opt_flag("x11-forwarding", true, opts)) != -1)
                k->x11_forwarding = f == 1;
        else if ((f = opt_flag("touch-required", true, opts)) != -1)
                k->no_touch_required = f != 1;
        else if ((f = opt_flag("verify-required", true, opts)) != -1)
                k->verify_required = f == 1;
        else if ((f = opt_flag("pty", true, opts)) != -1)
                k->pty = f == 1;
        else if ((f = opt_flag("user-rc", true, opts)) != -1)
                k->user_rc = f == 1;
        else if (opt_match(opts, "command"))
                return handle_once(opts, &k->command, "multiple \"command\" clauses", why);
        else if (opt_match(opts, "principals"))
                return handle_once(opts, &k->principals, "multiple \"principals\" clauses", why);
        else if (opt_match(opts, "from"))
                return handle_once(opts, &k->from, "multiple \"from\" clauses", why);
        else if (opt_match(opts, "expiry-time"))
                return handle_expiry(opts, k, why);
        else if (opt_match(opts, "environment"))
                return handle_environment(opts, k, why);
        else if (opt_match(opts, "permitopen"))
                return handle_permit(opts, false, &k->permitopen, &k->n_permitopen, why);
        else if (opt_match(opts, "permitlisten"))
                return handle_permit(opts, true, &k->permitlisten, &k->n_permitlisten, why);
        else if (opt_match(opts, "tunnel"))
                return handle_tunnel(opts, k, why);
        return 0; /* nothing matched: the comma test below calls it unknown */
}

int authkey_options_parse(const char *opts, authkey_line *k, const char **why, const char **where) {
        /* sshauthopt_new_with_keys_defaults */
        k->port_forwarding = k->agent_forwarding = k->x11_forwarding = k->pty = k->user_rc = true;
        k->tunnel = -1;
        if (!opts)
                return 0;
        while (*opts && *opts != ' ' && *opts != '\t') {
                *where = opts;
                int r = parse_one(&opts, k, why);
                if (r < 0)
                        return r;
                if (!*opts || *opts == ' ' || *opts == '\t')
                        break;
                if (*opts != ',') {
                        *why = "unknown key option";
                        return -EINVAL;
                }
                opts++;
                if (!*opts) {
                        *why = "unexpected end-of-options";
                        return -EINVAL;
                }
        }
        return 0;
}
