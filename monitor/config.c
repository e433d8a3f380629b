/* The configuration: built-in defaults, then the INI file (libinih), then --section.key=value overrides.
 * This file reads lines and sections; config_keys.c knows the keys. */
#include <ctype.h>
#include <ini.h>
#include <stdarg.h>

#include "config_loader.h"
#include "duration.h"

#define CONFIG_MAX_LINE 4096

static void vfail(loader *l, origin o, const char *suffix, const char *fmt, va_list ap) {
        char what[1024];
        vsnprintf(what, sizeof what, fmt, ap);
        if (o.override)
                fprintf(stderr, "--%.*s: %s%s\n", o.override_len, o.override, what, suffix ? suffix : "");
        else
                fprintf(stderr, "%s:%u: %s%s\n", l->file, o.line, what, suffix ? suffix : "");
        l->failed = true;
}

_printf_(3, 4) int config_fail_at(loader *l, origin o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfail(l, o, NULL, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* "invalid duration "x" for monitor.timeout" in the file; "--monitor.timeout: invalid duration "x"". */
_printf_(3, 4) int config_fail_value(loader *l, const char *why, const char *fmt, ...) {
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
                return config_fail_at(l, l->cur, "invalid %s name in section header", config_section_names[type]);
        memcpy(name, raw, n);
        name[n] = 0;
        if (!name_valid(name))
                return config_fail_at(l, l->cur, "invalid %s name \"%s\"", config_section_names[type], name);
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
                return config_fail_at(l, l->cur, "section name too long");
        memcpy(buf, text, len);
        buf[len] = 0;

        char *arg = buf + strcspn(buf, " \t");
        if (*arg)
                *arg++ = 0;
        arg += strspn(arg, " \t");
        for (section_type t = SECTION_MONITOR; t <= SECTION_TUNNEL; t++) {
                if (!streq(buf, config_section_names[t]))
                        continue;
                bool named = t == SECTION_ALERT || t == SECTION_TUNNEL;
                if (named)
                        return select_named(l, t, arg);
                if (*arg)
                        break;
                l->section = t;
                return 0;
        }
        return config_fail_at(l, l->cur, "unknown section [%.*s]", (int) len, text);
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
                l->error = config_fail_at(l, l->cur, "line too long (more than %d characters)", num - 2);
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
        return config_apply_key(l, name, value) >= 0;
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
                return config_fail_at(l, (origin) { .line = (unsigned) r },
                               "syntax error (expected [section], key = value, or a comment)");
        return 0;
}

static int apply_override(loader *l, const char *o) {
        const char *eq = strchr(o, '=');
        char section[16], name[256];

        /* Messages name "--section.key", without the value. */
        l->cur = (origin) { .override = o, .override_len = eq ? (int) (eq - o) : (int) strlen(o) };
        if (!eq || eq == o)
                return config_fail_at(l, l->cur, "expected --section.key=value");
        const char *first = memchr(o, '.', eq - o), *last = first;
        for (const char *p = first; p && p < eq; p++)
                if (*p == '.')
                        last = p;
        if (!first || last + 1 == eq || (size_t) (first - o) >= sizeof section)
                return config_fail_at(l, l->cur, "expected --section.key=value");
        memcpy(section, o, first - o);
        section[first - o] = 0;

        int r = 0;
        if (streq(section, "alert") || streq(section, "tunnel")) {
                if (first == last || (size_t) (last - first - 1) >= sizeof name)
                        return config_fail_at(l, l->cur, "expected --%s.NAME.key=value", section);
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
                return config_fail_at(l, l->cur, "unknown section \"%s\"", section);
        if (r < 0)
                return r;

        _cleanup_(freep) char *key = strndup(last + 1, eq - last - 1);
        if (!key)
                return -ENOMEM;
        return config_apply_key(l, key, eq + 1);
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
                return config_fail_at(l, o, "heal.backoff (%s) is greater than heal.backoff_max (%s)",
                               format_duration(a, sizeof a, c->heal.backoff),
                               format_duration(b, sizeof b, c->heal.backoff_max));
        }
        for (size_t i = 0; i < c->n_alerts; i++) {
                if (c->alerts[i].type < 0)
                        return config_fail_at(l, l->ax[i].header, "[alert %s] needs type = slack or webhook",
                                       c->alerts[i].name);
                if (!c->alerts[i].url)
                        return config_fail_at(l, l->ax[i].header, "[alert %s] needs url or url_file", c->alerts[i].name);
        }
        for (size_t i = 0; i < c->n_tunnels; i++) {
                monitor_settings *s = &c->tunnels[i].settings, *g = &c->monitor;
                unsigned set = l->tset[i];
                if (!(set & SET_INTERVAL)) s->interval = g->interval;
                if (!(set & SET_TIMEOUT)) s->timeout = g->timeout;
                if (!(set & SET_FAILURES)) s->failures = g->failures;
                if (!(set & SET_GRACE)) s->grace = g->grace;
                if (!(set & SET_PROBE)) s->probe = g->probe;
                if (!(set & SET_EXPECT) && (r = config_set_string(&s->expect, g->expect)) < 0)
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
