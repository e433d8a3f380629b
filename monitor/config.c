/* The configuration: built-in defaults, then the INI file (libinih), then --section.key=value overrides.
 * This file reads lines and sections and applies each key through config_keys.c's table. */
#include <ctype.h>
#include <ini.h>
#include <strings.h>

#include "config_error.h"
#include "config_keys.h"
#include "base/duration.h"
#include "base/hostport.h"

#define CONFIG_MAX_LINE 4096

static const char *const section_type_table[_SECTION_FILE_MAX] = {
        [SECTION_MONITOR] = "monitor", [SECTION_HEAL] = "heal", [SECTION_METRICS] = "metrics",
        [SECTION_ALERT] = "alert", [SECTION_TUNNEL] = "tunnel", [SECTION_BASTION] = "bastion",
};

DEFINE_STRING_TABLE_LOOKUP(section_type, section_type);

static bool section_named(section_type t) {
        return t == SECTION_ALERT || t == SECTION_TUNNEL;
}

static bool name_valid(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isgraph((unsigned char) *s) || strchr("\"'[]", *s))
                        return false;
        return true;
}

static uint64_t name_hash(const char *s) {
        uint64_t h = 14695981039346656037ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return h;
}

typedef const char *(*name_of_fn)(const config *c, size_t i);
static const char *alert_name(const config *c, size_t i) {
        return c->alerts[i].name;
}
static const char *tunnel_name(const config *c, size_t i) {
        return c->tunnels[i].unit;
}

/* The index of name, or SIZE_MAX. */
static size_t index_find(const name_index *x, const config *c, name_of_fn name_of, const char *name) {
        if (x->n_slots == 0)
                return SIZE_MAX;
        for (size_t i = name_hash(name) & (x->n_slots - 1);; i = (i + 1) & (x->n_slots - 1)) {
                if (x->slots[i] == 0)
                        return SIZE_MAX;
                if (streq(name_of(c, x->slots[i] - 1), name))
                        return x->slots[i] - 1;
        }
}

static void index_put_slot(size_t *slots, size_t n_slots, uint64_t hash, size_t value) {
        size_t i = hash & (n_slots - 1);
        while (slots[i] != 0)
                i = (i + 1) & (n_slots - 1);
        slots[i] = value + 1;
}

/* Adds value (its name not in the index yet); kept at most half full so probes stay short. */
static int index_add(name_index *x, const config *c, name_of_fn name_of, size_t value) {
        if ((x->n_used + 1) * 2 > x->n_slots) {
                size_t n = MAX(x->n_slots * 2, (size_t) 16);
                size_t *slots = calloc(n, sizeof *slots);
                if (!slots)
                        return -ENOMEM;
                for (size_t i = 0; i < x->n_slots; i++)
                        if (x->slots[i])
                                index_put_slot(slots, n, name_hash(name_of(c, x->slots[i] - 1)), x->slots[i] - 1);
                free(x->slots);
                x->slots = slots;
                x->n_slots = n;
        }
        index_put_slot(x->slots, x->n_slots, name_hash(name_of(c, value)), value);
        x->n_used++;
        return 0;
}

static void index_done(name_index *x) {
        free(x->slots);
        *x = (name_index) {};
}

/* Makes room for need elements of size bytes in *p (capacity *cap), doubling: appends stay linear. */
static int grow(void **p, size_t *cap, size_t need, size_t size) {
        if (need <= *cap)
                return 0;
        size_t n = MAX(need, MAX(*cap * 2, (size_t) 8));
        void *q = reallocarray(*p, n, size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}

/* A [tunnel] section's settings before its keys: what stays unset is inherited from [monitor] at the end
 * (values no parser gives: a duration is never infinity, failures never 0). */
static const monitor_settings settings_unset = {
        .interval = USEC_INFINITY, .timeout = USEC_INFINITY, .failures = 0, .grace = USEC_INFINITY,
        .probe = _PROBE_KIND_INVALID, .expect = NULL,
};

/* Makes [alert NAME] / [tunnel "UNIT"] current, creating it on first sight (repeated sections merge). */
static int select_named(loader *l, section_type type, const char *raw) {
        char name[256];
        size_t n = strlen(raw);
        if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"')
                raw++, n -= 2;
        if (n == 0 || n >= sizeof name - 8)
                return config_fail_at(l, l->cur, "invalid %s name in section header", section_type_to_string(type));
        memcpy(name, raw, n);
        name[n] = 0;
        if (!name_valid(name))
                return config_fail_at(l, l->cur, "invalid %s name \"%s\"", section_type_to_string(type), name);
        /* Unit names like systemd's: "reverse-ssh@a" means "reverse-ssh@a.service". */
        if (type == SECTION_TUNNEL && !strchr(name, '.'))
                strcat(name, ".service");

        config *c = l->c;
        bool alert = type == SECTION_ALERT;
        name_index *index = alert ? &l->alert_index : &c->tunnel_index;
        name_of_fn name_of = alert ? alert_name : tunnel_name;
        size_t count = alert ? c->n_alerts : c->n_tunnels;
        size_t found = index_find(index, c, name_of, name);
        if (found != SIZE_MAX) {
                l->section = type, l->index = found;
                return 0;
        }

        _cleanup_(freep) char *copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        if (alert) {
                size_t cap = l->alerts_cap; /* both arrays grow to the same capacity */
                if (grow((void **) &c->alerts, &cap, count + 1, sizeof *c->alerts) < 0 ||
                    grow((void **) &l->ax, &l->alerts_cap, count + 1, sizeof *l->ax) < 0)
                        return -ENOMEM;
                c->alerts[count] = (alert_receiver_config) { .name = TAKE_PTR(copy), .type = _ALERT_TYPE_INVALID,
                                                             .events = EVENT_DOWN | EVENT_RECOVERED | EVENT_GAVE_UP };
                l->ax[count] = (alert_extra) { .header = l->cur };
                c->n_alerts++;
        } else {
                if (grow((void **) &c->tunnels, &l->tunnels_cap, count + 1, sizeof *c->tunnels) < 0)
                        return -ENOMEM;
                c->tunnels[count] = (tunnel_config) { .unit = TAKE_PTR(copy), .settings = settings_unset };
                c->n_tunnels++;
        }
        if (index_add(index, c, name_of, count) < 0)
                return -ENOMEM;
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
        section_type t = section_type_from_string(buf);
        if (section_named(t))
                return select_named(l, t, arg);
        if (t < 0 || *arg)
                return config_fail_at(l, l->cur, "unknown section [%.*s]", (int) len, text);
        l->section = t;
        return 0;
}

/* The object a key's offset is in, for the current section. */
static void *section_object(loader *l, section_type key_section) {
        config *c = l->c;
        switch (key_section) {
        case SECTION_SETTINGS:
                return l->section == SECTION_TUNNEL ? &c->tunnels[l->index].settings : &c->monitor;
        case SECTION_HEAL:
                return &c->heal;
        case SECTION_ALERT:
                return &c->alerts[l->index];
        case SECTION_TUNNEL:
                return &c->tunnels[l->index];
        case SECTION_BASTION:
                return &c->bastion;
        default: /* [monitor] units, [metrics] */
                return c;
        }
}

/* Applies one key of the current section (l->section, l->index) from l->cur. */
static int apply_key(loader *l, const char *key, const char *v) {
        const char *section = section_type_to_string(l->section);
        const char *name = l->section == SECTION_ALERT ? l->c->alerts[l->index].name
                           : l->section == SECTION_TUNNEL ? l->c->tunnels[l->index].unit : NULL;
        const char *quote = l->section == SECTION_TUNNEL ? "\"" : "";

        if (l->section == SECTION_NONE)
                return config_fail_at(l, l->cur, "key \"%s\" outside of any section", key);
        if (name)
                snprintf(l->label, sizeof l->label, "%s.%s.%s", section, name, key);
        else
                snprintf(l->label, sizeof l->label, "%s.%s", section, key);

        const config_key *k = config_key_find(l->section, key);
        if (!k && name)
                return config_fail_at(l, l->cur, "unknown key \"%s\" in section [%s %s%s%s]", key, section, quote,
                                      name, quote);
        if (!k)
                return config_fail_at(l, l->cur, "unknown key \"%s\" in section [%s]", key, section);
        int r = k->parse(l, v, (uint8_t *) section_object(l, k->section) + k->offset, k->ltype);
        if (r == -ENOMEM) {
                fprintf(stderr, "Out of memory.\n");
                l->failed = true;
        }
        return r;
}

/* One line of the buffer for inih (an fgets), counting lines and seeing section headers, which inih
 * does not report to handlers. */
static char *reader(char *str, int num, void *stream) {
        loader *l = stream;
        if (l->failed || l->pos >= l->size)
                return NULL;
        const char *start = l->data + l->pos, *nl = memchr(start, '\n', l->size - l->pos);
        size_t n = nl ? (size_t) (nl - start) + 1 : l->size - l->pos;
        l->line++;
        l->cur = (origin) { .line = l->line };
        /* inih works on C strings: a NUL would silently cut the line. */
        if (memchr(start, 0, n)) {
                l->error = config_fail_at(l, l->cur, "NUL byte in line (not a text file?)");
                return NULL;
        }
        if (num < 2 || n > (size_t) num - 1) {
                l->error = config_fail_at(l, l->cur, "line too long (more than %d characters)", num - 2);
                return NULL;
        }
        memcpy(str, start, n);
        str[n] = 0;
        l->pos += n;
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

        section_type t = section_type_from_string(section);
        if (t < 0 || (!section_named(t) && first != last))
                return config_fail_at(l, l->cur, "unknown section \"%s\"", section);
        if (section_named(t)) {
                if (first == last || (size_t) (last - first - 1) >= sizeof name)
                        return config_fail_at(l, l->cur, "expected --%s.NAME.key=value", section);
                memcpy(name, first + 1, last - first - 1);
                name[last - first - 1] = 0;
                int r = select_named(l, t, name);
                if (r < 0)
                        return r;
        } else
                l->section = t;

        _cleanup_(freep) char *key = strndup(last + 1, eq - last - 1);
        if (!key)
                return -ENOMEM;
        return apply_key(l, key, eq + 1);
}

/* Everything that needs the whole picture: inheritance, cross-key checks. */
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
                if (s->interval == USEC_INFINITY) s->interval = g->interval;
                if (s->timeout == USEC_INFINITY) s->timeout = g->timeout;
                if (s->failures == 0) s->failures = g->failures;
                if (s->grace == USEC_INFINITY) s->grace = g->grace;
                if (s->probe < 0) s->probe = g->probe;
                if (!s->expect && (r = free_and_strdup(&s->expect, g->expect)) < 0)
                        return r;
        }
        return 0;
}

static int config_defaults(config *c) {
        *c = (config) {
                .monitor = { .interval = 10 * USEC_PER_SEC, .timeout = 5 * USEC_PER_SEC, .failures = 2,
                             .grace = 20 * USEC_PER_SEC, .probe = PROBE_KIND_AUTO, .expect = strdup("^SSH-") },
                .heal = { .enabled = true, .backoff = 10 * USEC_PER_SEC, .backoff_max = 600 * USEC_PER_SEC,
                          .max_restarts = 5, .window = 3600 * USEC_PER_SEC, .all_down_guard = true },
                .metrics_listen = strdup("127.0.0.1:10122"),
                .bastion = { .sshd_config = strdup(BASTION_SSHD_CONFIG_DEFAULT), .listen = strdup(BASTION_LISTEN_DEFAULT),
                             .sshd_log = strdup(BASTION_SSHD_LOG_DEFAULT) },
        };
        bastion_settings_init(&c->bastion.settings);
        if (!c->monitor.expect || !c->metrics_listen || strv_push(&c->units, "reverse-ssh@*.service") < 0 ||
            !c->bastion.sshd_config || !c->bastion.listen || !c->bastion.sshd_log ||
            strv_push(&c->bastion.users, BASTION_USERS_DEFAULT) < 0)
                return -ENOMEM;
        return 0;
}

int config_load(config *c, const char *path, char *const *overrides) {
        _cleanup_(freep) char *data = NULL;
        const char *p = path ?: CONFIG_DEFAULT_PATH;
        size_t size = 0;

        int r = read_file_bounded(p, CONFIG_FILE_MAX, 0, &data, &size);
        if (r == -ENOENT && !path)
                return config_load_data(c, p, NULL, 0, overrides);
        if (r == -EFBIG)
                fprintf(stderr, "%s: file too large (more than %d bytes)\n", p, CONFIG_FILE_MAX);
        else if (r < 0)
                fprintf(stderr, "%s: %s\n", p, read_file_strerror(r));
        if (r < 0) {
                *c = (config) {};
                return r;
        }
        return config_load_data(c, p, data, size, overrides);
}

int config_load_data(config *c, const char *file, const char *data, size_t size, char *const *overrides) {
        loader l = { .c = c, .file = file, .data = data, .size = size };
        int r;

        r = config_defaults(c);
        if (r >= 0 && data) {
                c->path = strdup(file);
                r = c->path ? parse_file(&l) : -ENOMEM;
        }
        for (char *const *o = overrides; r >= 0 && o && *o; o++)
                r = apply_override(&l, *o);
        if (r >= 0)
                r = finish(&l);

        free(l.ax);
        index_done(&l.alert_index);
        if (r == -ENOMEM && !l.failed)
                fprintf(stderr, "Out of memory.\n");
        if (r < 0)
                config_done(c);
        return r;
}

static void monitor_settings_done(monitor_settings *s) {
        s->expect = mfree(s->expect);
}

void config_done(config *c) {
        if (!c)
                return;
        free(c->path);
        strv_free(c->units);
        monitor_settings_done(&c->monitor);
        free(c->metrics_listen);
        free(c->metrics_textfile);
        free(c->metrics_web_config);
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
                for (size_t k = 0; k < c->tunnels[i].n_forward_checks; k++) {
                        free(c->tunnels[i].forward_checks[k].forward);
                        free(c->tunnels[i].forward_checks[k].send);
                        free(c->tunnels[i].forward_checks[k].expect);
                }
                free(c->tunnels[i].forward_checks);
                free(c->tunnels[i].socks_probe);
        }
        free(c->tunnels);
        index_done(&c->tunnel_index);
        strv_free(c->bastion.users);
        strv_free(c->bastion.authorized_keys);
        free(c->bastion.sshd_config);
        free(c->bastion.sshd_log);
        free(c->bastion.listen);
        free(c->bastion.web_config);
        *c = (config) {};
}

const tunnel_config *config_tunnel_for_unit(const config *c, const char *unit) {
        if (!c || !unit)
                return NULL;
        size_t i = index_find(&c->tunnel_index, c, tunnel_name, unit);
        return i == SIZE_MAX ? NULL : &c->tunnels[i];
}

const monitor_settings *config_settings_for_unit(const config *c, const char *unit) {
        const tunnel_config *t = config_tunnel_for_unit(c, unit);
        return t ? &t->settings : &c->monitor;
}

const forward_check *config_forward_check(const tunnel_config *t, const char *listen_host, uint16_t port) {
        for (size_t i = 0; t && i < t->n_forward_checks; i++) {
                hostport h;
                if (hostport_parse(t->forward_checks[i].forward, HOSTPORT_ANY_HOST | HOSTPORT_BARE_PORT, &h, NULL) < 0 ||
                    h.port != port)
                        continue;
                if (isempty_str(h.host) || strcasecmp(h.host, strempty(listen_host)) == 0)
                        return &t->forward_checks[i];
        }
        return NULL;
}
