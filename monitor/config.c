/* The configuration: built-in defaults, then the INI file (libinih), then --section.key=value overrides. */
#include <arpa/inet.h>
#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <strings.h>

#include "config.h"
#include "duration.h"

#define CONFIG_MAX_LINE 4096

enum { SET_INTERVAL = 1 << 0, SET_TIMEOUT = 1 << 1, SET_FAILURES = 1 << 2, SET_GRACE = 1 << 3,
       SET_PROBE = 1 << 4, SET_EXPECT = 1 << 5 };

typedef enum section_type { SECTION_NONE, SECTION_MONITOR, SECTION_HEAL, SECTION_METRICS, SECTION_ALERT,
                            SECTION_TUNNEL } section_type;

/* Where a value came from, for messages printed after parsing (line in the file, or an override). */
typedef struct origin {
        unsigned line;
        const char *override; /* the override string, printed up to override_len ("section.key") */
        int override_len;
} origin;

typedef struct alert_extra {
        origin header;   /* first [alert NAME] line, for "missing type/url" */
        int url_key;     /* 0 none, 1 url, 2 url_file: both in the file is an error */
} alert_extra;

typedef struct loader {
        config *c;
        const char *file;
        FILE *f;
        unsigned line;
        bool at_line_start, failed;
        int error;               /* what stopped the reader (inih only sees end of input) */
        origin cur;              /* where the key being applied comes from */
        char label[512];         /* "monitor.timeout", "tunnel.UNIT.timeout": names the key in messages */
        section_type section;
        size_t index;            /* alert or tunnel of the current section */
        alert_extra *ax;         /* parallel to c->alerts */
        unsigned *tset;          /* parallel to c->tunnels: SET_* bits given in [tunnel] */
        origin backoff_origin, backoff_max_origin;
} loader;

static void vfail(loader *l, origin o, const char *suffix, const char *fmt, va_list ap) {
        char what[1024];
        vsnprintf(what, sizeof what, fmt, ap);
        if (o.override)
                fprintf(stderr, "--%.*s: %s%s\n", o.override_len, o.override, what, suffix ? suffix : "");
        else
                fprintf(stderr, "%s:%u: %s%s\n", l->file, o.line, what, suffix ? suffix : "");
        l->failed = true;
}

_printf_(3, 4) static int fail_at(loader *l, origin o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfail(l, o, NULL, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* "invalid duration "x" for monitor.timeout" in the file; "--monitor.timeout: invalid duration "x"". */
_printf_(3, 4) static int fail_value(loader *l, const char *why, const char *fmt, ...) {
        char suffix[700] = "";
        if (!l->cur.override)
                snprintf(suffix, sizeof suffix, " for %s", l->label);
        if (why)
                snprintf(suffix + strlen(suffix), sizeof suffix - strlen(suffix), " (%s)", why);
        va_list ap;
        va_start(ap, fmt);
        vfail(l, l->cur, suffix, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int parse_dur(loader *l, const char *v, bool allow_zero, usec_t *ret) {
        usec_t u;
        if (parse_duration(v, &u) < 0)
                return fail_value(l, "e.g. 250ms, 10s, 5m, 1h, 1m30s", "invalid duration \"%s\"", v);
        if (u == 0 && !allow_zero)
                return fail_value(l, "must be greater than 0", "invalid duration \"%s\"", v);
        *ret = u;
        return 0;
}

static int parse_min1(loader *l, const char *v, unsigned *ret) {
        char *end;
        if (!isdigit((unsigned char) v[0]))
                return fail_value(l, NULL, "invalid number \"%s\"", v);
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || n > 1000000)
                return fail_value(l, NULL, "invalid number \"%s\"", v);
        if (n < 1)
                return fail_value(l, "must be at least 1", "invalid number \"%s\"", v);
        *ret = (unsigned) n;
        return 0;
}

static int parse_bool(loader *l, const char *v, bool *ret) {
        static const char *const yes[] = { "yes", "true", "1", "on" }, *const no[] = { "no", "false", "0", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *ret = true, 0;
                if (strcasecmp(v, no[i]) == 0)
                        return *ret = false, 0;
        }
        return fail_value(l, "yes/no, true/false, on/off, 1/0", "invalid boolean \"%s\"", v);
}

static int set_string(char **p, const char *v) {
        char *s = strdup(v);
        if (!s)
                return -ENOMEM;
        free(*p);
        *p = s;
        return 0;
}

static int parse_port(const char *s) {
        char *end;
        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        unsigned long n = strtoul(s, &end, 10);
        return *end || n < 1 || n > 65535 ? -EINVAL : (int) n;
}

/* "127.0.0.1:10122", "[::1]:10122"; with allow_name also "localhost:21022" and a bare "21022". */
static bool address_valid(const char *s, bool allow_name) {
        char host[256];
        const char *colon;
        if (allow_name && parse_port(s) > 0)
                return true;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t) (close - s - 1) >= sizeof host)
                        return false;
                memcpy(host, s + 1, close - s - 1);
                host[close - s - 1] = 0;
                struct in6_addr a6;
                return inet_pton(AF_INET6, host, &a6) == 1 && parse_port(close + 2) > 0;
        }
        colon = strrchr(s, ':');
        if (!colon || colon == s || (size_t) (colon - s) >= sizeof host || parse_port(colon + 1) < 0)
                return false;
        memcpy(host, s, colon - s);
        host[colon - s] = 0;
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return true;
        return allow_name && !strpbrk(host, ":[] \t");
}

/* Decodes \r \n \t \\ \0 \xHH (and \" \'). */
static int parse_send(loader *l, const char *v, char **ret, size_t *ret_len) {
        _cleanup_(freep) char *out = malloc(strlen(v) + 1);
        size_t n = 0;
        if (!out)
                return -ENOMEM;
        for (const char *p = v; *p; p++) {
                if (*p != '\\') {
                        out[n++] = *p;
                        continue;
                }
                p++;
                switch (*p) {
                case 'r': out[n++] = '\r'; break;
                case 'n': out[n++] = '\n'; break;
                case 't': out[n++] = '\t'; break;
                case '0': out[n++] = '\0'; break;
                case '\\': case '"': case '\'': out[n++] = *p; break;
                case 'x':
                        if (isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2])) {
                                char hex[3] = { p[1], p[2], 0 };
                                out[n++] = (char) strtoul(hex, NULL, 16);
                                p += 2;
                                break;
                        }
                        __attribute__((fallthrough));
                default:
                        return fail_value(l, "known: \\r \\n \\t \\\\ \\0 \\xHH", "invalid escape in \"%s\"", v);
                }
        }
        out[n] = 0;
        free(*ret);
        *ret = n > 0 ? TAKE_PTR(out) : NULL;
        *ret_len = n;
        return 0;
}

static int parse_expect(loader *l, const char *v) {
        regex_t re;
        int e = regcomp(&re, v, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
        if (e != 0) {
                char msg[256];
                regerror(e, &re, msg, sizeof msg);
                return fail_value(l, msg, "invalid regular expression \"%s\"", v);
        }
        regfree(&re);
        return 0;
}

static int apply_monitor(loader *l, monitor_settings *s, unsigned *set, const char *key, const char *v) {
        int r;
        if (streq(key, "interval") || streq(key, "timeout") || streq(key, "grace")) {
                usec_t *p = streq(key, "interval") ? &s->interval : streq(key, "timeout") ? &s->timeout : &s->grace;
                r = parse_dur(l, v, streq(key, "grace"), p);
                *set |= streq(key, "interval") ? SET_INTERVAL : streq(key, "timeout") ? SET_TIMEOUT : SET_GRACE;
        } else if (streq(key, "failures")) {
                r = parse_min1(l, v, &s->failures);
                *set |= SET_FAILURES;
        } else if (streq(key, "probe")) {
                probe_kind k = probe_kind_from_string(v);
                if (k < 0)
                        return fail_value(l, "auto, mux, ssh, tcp or none", "invalid probe \"%s\"", v);
                s->probe = k;
                *set |= SET_PROBE;
                r = 0;
        } else if (streq(key, "expect")) {
                r = parse_expect(l, v);
                if (r >= 0)
                        r = set_string(&s->expect, v);
                *set |= SET_EXPECT;
        } else
                return -ENOKEY;
        return r;
}

static int apply_units(loader *l, const char *v) {
        _cleanup_(strv_freep) char **units = NULL;
        _cleanup_(freep) char *copy = strdup(v);
        char *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                if (strv_push(&units, w) < 0)
                        return -ENOMEM;
        if (!units)
                return fail_value(l, "at least one pattern is needed", "empty unit list \"%s\"", v);
        strv_free(l->c->units);
        l->c->units = TAKE_PTR(units);
        return 0;
}

static int apply_heal(loader *l, const char *key, const char *v) {
        heal_settings *h = &l->c->heal;
        if (streq(key, "enabled"))
                return parse_bool(l, v, &h->enabled);
        if (streq(key, "all_down_guard"))
                return parse_bool(l, v, &h->all_down_guard);
        if (streq(key, "max_restarts"))
                return parse_min1(l, v, &h->max_restarts);
        if (streq(key, "window"))
                return parse_dur(l, v, false, &h->window);
        if (streq(key, "backoff")) {
                l->backoff_origin = l->cur;
                return parse_dur(l, v, true, &h->backoff);
        }
        if (streq(key, "backoff_max")) {
                l->backoff_max_origin = l->cur;
                return parse_dur(l, v, true, &h->backoff_max);
        }
        return -ENOKEY;
}

static int apply_metrics(loader *l, const char *key, const char *v) {
        if (streq(key, "listen")) {
                if (*v && !address_valid(v, false))
                        return fail_value(l, "forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty",
                                          "invalid address \"%s\"", v);
                return set_string(&l->c->metrics_listen, v);
        }
        if (streq(key, "textfile")) {
                if (!*v) {
                        free(l->c->metrics_textfile);
                        l->c->metrics_textfile = NULL;
                        return 0;
                }
                if (v[0] != '/')
                        return fail_value(l, "must be an absolute path", "invalid path \"%s\"", v);
                return set_string(&l->c->metrics_textfile, v);
        }
        return -ENOKEY;
}

/* First line of the file, trailing whitespace stripped; "%d/" means $CREDENTIALS_DIRECTORY/ (systemd). */
static int read_url_file(loader *l, const char *v, char **ret) {
        _cleanup_(freep) char *path = NULL, *line = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        size_t n = 0;
        if (strncmp(v, "%d/", 3) == 0) {
                const char *d = getenv("CREDENTIALS_DIRECTORY");
                if (!d)
                        return fail_value(l, "$CREDENTIALS_DIRECTORY is not set", "cannot read url_file \"%s\"", v);
                if (asprintf(&path, "%s/%s", d, v + 3) < 0)
                        return -ENOMEM;
        } else if (!(path = strdup(v)))
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return fail_value(l, strerror(errno), "cannot read url_file \"%s\"", path);
        errno = 0;
        if (getline(&line, &n, f) < 0 && ferror(f))
                return fail_value(l, strerror(errno ?: EIO), "cannot read url_file \"%s\"", path);
        size_t len = line ? strlen(line) : 0;
        while (len > 0 && isspace((unsigned char) line[len - 1]))
                line[--len] = 0;
        if (len == 0)
                return fail_value(l, NULL, "empty url_file \"%s\"", path);
        *ret = TAKE_PTR(line);
        return 0;
}

static int apply_alert(loader *l, const char *key, const char *v) {
        alert_receiver_config *a = &l->c->alerts[l->index];
        alert_extra *x = &l->ax[l->index];
        if (streq(key, "type")) {
                a->type = streq(v, "slack") ? ALERT_SLACK : streq(v, "webhook") ? ALERT_WEBHOOK : _ALERT_TYPE_INVALID;
                if (a->type < 0)
                        return fail_value(l, "slack or webhook", "invalid alert type \"%s\"", v);
                return 0;
        }
        if (streq(key, "events")) {
                _cleanup_(freep) char *copy = strdup(v);
                char *save = NULL;
                unsigned ev = 0;
                if (!copy)
                        return -ENOMEM;
                for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                        tunnel_event e = tunnel_event_from_string(w);
                        if (e == 0)
                                return fail_value(l, "down recovered restarted gave_up network_down network_up",
                                                  "unknown event \"%s\"", w);
                        ev |= e;
                }
                if (ev == 0)
                        return fail_value(l, NULL, "empty event list");
                a->events = ev;
                return 0;
        }
        if (streq(key, "url") || streq(key, "url_file")) {
                int k = streq(key, "url") ? 1 : 2;
                _cleanup_(freep) char *url = NULL;
                int r;
                /* In the file only one of the two; an override replaces whichever was there. */
                if (!l->cur.override && x->url_key != 0 && x->url_key != k)
                        return fail_value(l, NULL, "url and url_file both set; use one");
                if (k == 1)
                        url = strdup(v);
                else if ((r = read_url_file(l, v, &url)) < 0)
                        return r;
                if (!url)
                        return -ENOMEM;
                if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
                        /* Do not echo what came from url_file: it is a secret. */
                        return k == 1 ? fail_value(l, "must start with http:// or https://", "invalid url \"%s\"", v)
                                      : fail_value(l, "must start with http:// or https://",
                                                   "invalid url in url_file \"%s\"", v);
                free(a->url);
                a->url = TAKE_PTR(url);
                x->url_key = k;
                return 0;
        }
        return -ENOKEY;
}

static int apply_tunnel(loader *l, const char *key, const char *v) {
        tunnel_config *t = &l->c->tunnels[l->index];
        if (streq(key, "forward")) {
                if (!address_valid(v, true))
                        return fail_value(l, "forms: PORT, HOST:PORT, [IPv6]:PORT", "invalid forward \"%s\"", v);
                return set_string(&t->forward, v);
        }
        if (streq(key, "send"))
                return parse_send(l, v, &t->send, &t->send_len);
        return apply_monitor(l, &t->settings, &l->tset[l->index], key, v);
}

static const char *const section_names[] = {
        [SECTION_MONITOR] = "monitor", [SECTION_HEAL] = "heal", [SECTION_METRICS] = "metrics",
        [SECTION_ALERT] = "alert", [SECTION_TUNNEL] = "tunnel",
};

static int apply_key(loader *l, const char *key, const char *v) {
        int r;
        const char *name = l->section == SECTION_ALERT ? l->c->alerts[l->index].name
                           : l->section == SECTION_TUNNEL ? l->c->tunnels[l->index].unit : NULL;

        if (l->section == SECTION_NONE)
                return fail_at(l, l->cur, "key \"%s\" outside of any section", key);
        if (name)
                snprintf(l->label, sizeof l->label, "%s.%s.%s", section_names[l->section], name, key);
        else
                snprintf(l->label, sizeof l->label, "%s.%s", section_names[l->section], key);

        switch (l->section) {
        case SECTION_MONITOR: {
                unsigned dummy = 0;
                r = streq(key, "units") ? apply_units(l, v) : apply_monitor(l, &l->c->monitor, &dummy, key, v);
                break;
        }
        case SECTION_HEAL: r = apply_heal(l, key, v); break;
        case SECTION_METRICS: r = apply_metrics(l, key, v); break;
        case SECTION_ALERT: r = apply_alert(l, key, v); break;
        default: r = apply_tunnel(l, key, v); break;
        }
        if (r == -ENOKEY) {
                if (name)
                        return fail_at(l, l->cur, "unknown key \"%s\" in section [%s %s%s%s]", key,
                                       section_names[l->section], l->section == SECTION_TUNNEL ? "\"" : "", name,
                                       l->section == SECTION_TUNNEL ? "\"" : "");
                return fail_at(l, l->cur, "unknown key \"%s\" in section [%s]", key, section_names[l->section]);
        }
        if (r == -ENOMEM) {
                fprintf(stderr, "Out of memory.\n");
                l->failed = true;
        }
        return r;
}

static bool name_valid(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isgraph((unsigned char) *s) || strchr("\"'[]", *s))
                        return false;
        return true;
}

/* Makes [alert NAME] / [tunnel "UNIT"] current, creating it on first sight (repeated sections merge). */
static int select_named(loader *l, section_type type, const char *raw) {
        char name[256];
        size_t n = strlen(raw);
        if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"')
                raw++, n -= 2;
        if (n == 0 || n >= sizeof name - 8)
                return fail_at(l, l->cur, "invalid %s name in section header", section_names[type]);
        memcpy(name, raw, n);
        name[n] = 0;
        if (!name_valid(name))
                return fail_at(l, l->cur, "invalid %s name \"%s\"", section_names[type], name);
        /* Unit names like systemd's: "reverse-ssh@a" means "reverse-ssh@a.service". */
        if (type == SECTION_TUNNEL && !strchr(name, '.'))
                strcat(name, ".service");

        config *c = l->c;
        size_t count = type == SECTION_ALERT ? c->n_alerts : c->n_tunnels;
        for (size_t i = 0; i < count; i++)
                if (streq(type == SECTION_ALERT ? c->alerts[i].name : c->tunnels[i].unit, name)) {
                        l->section = type, l->index = i;
                        return 0;
                }

        _cleanup_(freep) char *copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        if (type == SECTION_ALERT) {
                alert_receiver_config *a = realloc(c->alerts, (count + 1) * sizeof *a);
                if (!a)
                        return -ENOMEM;
                c->alerts = a;
                alert_extra *x = realloc(l->ax, (count + 1) * sizeof *x);
                if (!x)
                        return -ENOMEM;
                l->ax = x;
                a[count] = (alert_receiver_config) { .name = TAKE_PTR(copy), .type = _ALERT_TYPE_INVALID,
                                                     .events = EVENT_DOWN | EVENT_RECOVERED | EVENT_GAVE_UP };
                x[count] = (alert_extra) { .header = l->cur };
                c->n_alerts++;
        } else {
                tunnel_config *t = realloc(c->tunnels, (count + 1) * sizeof *t);
                if (!t)
                        return -ENOMEM;
                c->tunnels = t;
                unsigned *s = realloc(l->tset, (count + 1) * sizeof *s);
                if (!s)
                        return -ENOMEM;
                l->tset = s;
                t[count] = (tunnel_config) { .unit = TAKE_PTR(copy) };
                s[count] = 0;
                c->n_tunnels++;
        }
        l->section = type, l->index = count;
        return 0;
}

/* Section header text between the brackets: "monitor", "alert slack", "tunnel \"UNIT\"". */
static int select_section(loader *l, const char *text, size_t len) {
        char buf[512];
        while (len > 0 && isspace((unsigned char) *text))
                text++, len--;
        while (len > 0 && isspace((unsigned char) text[len - 1]))
                len--;
        if (len >= sizeof buf)
                return fail_at(l, l->cur, "section name too long");
        memcpy(buf, text, len);
        buf[len] = 0;

        char *arg = buf + strcspn(buf, " \t");
        if (*arg)
                *arg++ = 0;
        arg += strspn(arg, " \t");
        for (section_type t = SECTION_MONITOR; t <= SECTION_TUNNEL; t++) {
                if (!streq(buf, section_names[t]))
                        continue;
                bool named = t == SECTION_ALERT || t == SECTION_TUNNEL;
                if (named)
                        return select_named(l, t, arg);
                if (*arg)
                        break;
                l->section = t;
                return 0;
        }
        return fail_at(l, l->cur, "unknown section [%.*s]", (int) len, text);
}

/* fgets for inih that counts lines and sees section headers (inih does not report them to handlers). */
static char *reader(char *str, int num, void *stream) {
        loader *l = stream;
        if (l->failed)
                return NULL;
        errno = 0;
        if (!fgets(str, num, l->f)) {
                /* A directory or an I/O error must not read as an empty file. */
                if (ferror(l->f)) {
                        l->error = -(errno ?: EIO);
                        fprintf(stderr, "%s: %s\n", l->file, strerror(-l->error));
                }
                return NULL;
        }
        size_t n = strlen(str);
        if (l->at_line_start)
                l->line++;
        l->at_line_start = n > 0 && str[n - 1] == '\n';
        l->cur = (origin) { .line = l->line };
        if (!l->at_line_start && !feof(l->f)) {
                l->error = fail_at(l, l->cur, "line too long (more than %d characters)", num - 2);
                return NULL;
        }
        const char *p = str;
        if (l->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
                p += 3;
        p += strspn(p, " \t");
        const char *close = *p == '[' ? strchr(p, ']') : NULL;
        /* A malformed header (no ']') is left to inih, which reports it as a syntax error. */
        int r = close ? select_section(l, p + 1, close - p - 1) : 0;
        if (r < 0) {
                l->error = r;
                return NULL;
        }
        return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        loader *l = user;
        return apply_key(l, name, value) >= 0;
}

static int parse_file(loader *l) {
        bool saved_multiline = ini_allow_multiline, saved_stop = ini_stop_on_first_error;
        int saved_max = ini_max_line;
        /* Indented lines are keys, not continuations; stop at the first error; long values (URLs) fit. */
        ini_allow_multiline = false;
        ini_stop_on_first_error = true;
        ini_max_line = CONFIG_MAX_LINE;
        l->at_line_start = true;
        int r = ini_parse_stream(reader, l, handler, l);
        ini_allow_multiline = saved_multiline;
        ini_stop_on_first_error = saved_stop;
        ini_max_line = saved_max;
        if (l->error < 0)
                return l->error;
        if (l->failed)
                return -EINVAL;
        if (r == -2)
                return -ENOMEM;
        if (r != 0)
                return fail_at(l, (origin) { .line = (unsigned) r },
                               "syntax error (expected [section], key = value, or a comment)");
        return 0;
}

static int apply_override(loader *l, const char *o) {
        const char *eq = strchr(o, '=');
        char section[16], name[256];

        /* Messages name "--section.key", without the value. */
        l->cur = (origin) { .override = o, .override_len = eq ? (int) (eq - o) : (int) strlen(o) };
        if (!eq || eq == o)
                return fail_at(l, l->cur, "expected --section.key=value");
        const char *first = memchr(o, '.', eq - o), *last = first;
        for (const char *p = first; p && p < eq; p++)
                if (*p == '.')
                        last = p;
        if (!first || last + 1 == eq || (size_t) (first - o) >= sizeof section)
                return fail_at(l, l->cur, "expected --section.key=value");
        memcpy(section, o, first - o);
        section[first - o] = 0;

        int r = 0;
        if (streq(section, "alert") || streq(section, "tunnel")) {
                if (first == last || (size_t) (last - first - 1) >= sizeof name)
                        return fail_at(l, l->cur, "expected --%s.NAME.key=value", section);
                memcpy(name, first + 1, last - first - 1);
                name[last - first - 1] = 0;
                r = select_named(l, streq(section, "alert") ? SECTION_ALERT : SECTION_TUNNEL, name);
        } else if (first == last && streq(section, "monitor"))
                l->section = SECTION_MONITOR;
        else if (first == last && streq(section, "heal"))
                l->section = SECTION_HEAL;
        else if (first == last && streq(section, "metrics"))
                l->section = SECTION_METRICS;
        else
                return fail_at(l, l->cur, "unknown section \"%s\"", section);
        if (r < 0)
                return r;

        _cleanup_(freep) char *key = strndup(last + 1, eq - last - 1);
        if (!key)
                return -ENOMEM;
        return apply_key(l, key, eq + 1);
}

static int compile_expect(monitor_settings *s) {
        if (!s->expect[0])
                return 0;
        if (regcomp(&s->expect_re, s->expect, REG_EXTENDED | REG_NEWLINE) != 0)
                return -EINVAL; /* validated when read */
        s->expect_compiled = true;
        return 0;
}

/* Everything that needs the whole picture: inheritance, regexes, cross-key checks. */
static int finish(loader *l) {
        config *c = l->c;
        int r;
        if (c->heal.backoff > c->heal.backoff_max) {
                char a[64], b[64];
                origin o = l->backoff_origin.line || l->backoff_origin.override ? l->backoff_origin
                                                                                 : l->backoff_max_origin;
                return fail_at(l, o, "heal.backoff (%s) is greater than heal.backoff_max (%s)",
                               format_duration(a, sizeof a, c->heal.backoff),
                               format_duration(b, sizeof b, c->heal.backoff_max));
        }
        for (size_t i = 0; i < c->n_alerts; i++) {
                if (c->alerts[i].type < 0)
                        return fail_at(l, l->ax[i].header, "[alert %s] needs type = slack or webhook",
                                       c->alerts[i].name);
                if (!c->alerts[i].url)
                        return fail_at(l, l->ax[i].header, "[alert %s] needs url or url_file", c->alerts[i].name);
        }
        for (size_t i = 0; i < c->n_tunnels; i++) {
                monitor_settings *s = &c->tunnels[i].settings, *g = &c->monitor;
                unsigned set = l->tset[i];
                if (!(set & SET_INTERVAL)) s->interval = g->interval;
                if (!(set & SET_TIMEOUT)) s->timeout = g->timeout;
                if (!(set & SET_FAILURES)) s->failures = g->failures;
                if (!(set & SET_GRACE)) s->grace = g->grace;
                if (!(set & SET_PROBE)) s->probe = g->probe;
                if (!(set & SET_EXPECT) && (r = set_string(&s->expect, g->expect)) < 0)
                        return r;
                if ((r = compile_expect(s)) < 0)
                        return r;
        }
        return compile_expect(&c->monitor);
}

static int config_defaults(config *c) {
        *c = (config) {
                .monitor = { .interval = 10 * USEC_PER_SEC, .timeout = 5 * USEC_PER_SEC, .failures = 2,
                             .grace = 20 * USEC_PER_SEC, .probe = PROBE_KIND_AUTO, .expect = strdup("^SSH-") },
                .heal = { .enabled = true, .backoff = 10 * USEC_PER_SEC, .backoff_max = 600 * USEC_PER_SEC,
                          .max_restarts = 5, .window = 3600 * USEC_PER_SEC, .all_down_guard = true },
                .metrics_listen = strdup("127.0.0.1:10122"),
        };
        if (!c->monitor.expect || !c->metrics_listen || strv_push(&c->units, "reverse-ssh@*.service") < 0)
                return -ENOMEM;
        return 0;
}

int config_load(config *c, const char *path, char *const *overrides) {
        loader l = { .c = c };
        int r;

        r = config_defaults(c);
        if (r >= 0) {
                const char *p = path ?: CONFIG_DEFAULT_PATH;
                l.file = p;
                l.f = fopen(p, "re");
                if (!l.f && (errno != ENOENT || path)) {
                        r = -errno;
                        fprintf(stderr, "%s: %s\n", p, strerror(errno));
                } else if (l.f) {
                        c->path = strdup(p);
                        r = c->path ? parse_file(&l) : -ENOMEM;
                        fclose(l.f);
                }
        }
        for (char *const *o = overrides; r >= 0 && o && *o; o++)
                r = apply_override(&l, *o);
        if (r >= 0)
                r = finish(&l);

        free(l.ax);
        free(l.tset);
        if (r == -ENOMEM && !l.failed)
                fprintf(stderr, "Out of memory.\n");
        if (r < 0)
                config_done(c);
        return r;
}

static void monitor_settings_done(monitor_settings *s) {
        if (s->expect_compiled)
                regfree(&s->expect_re);
        s->expect_compiled = false;
        free(s->expect);
        s->expect = NULL;
}

void config_done(config *c) {
        if (!c)
                return;
        free(c->path);
        strv_free(c->units);
        monitor_settings_done(&c->monitor);
        free(c->metrics_listen);
        free(c->metrics_textfile);
        for (size_t i = 0; i < c->n_alerts; i++) {
                free(c->alerts[i].name);
                free(c->alerts[i].url);
        }
        free(c->alerts);
        for (size_t i = 0; i < c->n_tunnels; i++) {
                free(c->tunnels[i].unit);
                monitor_settings_done(&c->tunnels[i].settings);
                free(c->tunnels[i].forward);
                free(c->tunnels[i].send);
        }
        free(c->tunnels);
        *c = (config) {};
}

const tunnel_config *config_tunnel_for_unit(const config *c, const char *unit) {
        for (size_t i = 0; c && unit && i < c->n_tunnels; i++)
                if (streq(c->tunnels[i].unit, unit))
                        return &c->tunnels[i];
        return NULL;
}

const monitor_settings *config_settings_for_unit(const config *c, const char *unit) {
        const tunnel_config *t = config_tunnel_for_unit(c, unit);
        return t ? &t->settings : &c->monitor;
}
