/* The keys of each section and how their values are read (contract.md's table), for config.c. */
#include <ctype.h>
#include <strings.h>

#include "../probes/probe.h"
#include "config_loader.h"
#include "base/duration.h"
#include "base/hostport.h"

static int parse_dur(loader *l, const char *v, bool allow_zero, usec_t *ret) {
        usec_t u;
        if (parse_duration(v, &u) < 0)
                return config_fail_value(l, "e.g. 250ms, 10s, 5m, 1h, 1m30s", "invalid duration \"%s\"", v);
        if (u == 0 && !allow_zero)
                return config_fail_value(l, "must be greater than 0", "invalid duration \"%s\"", v);
        *ret = u;
        return 0;
}

static int parse_min1(loader *l, const char *v, unsigned *ret) {
        char *end;
        if (!isdigit((unsigned char) v[0]))
                return config_fail_value(l, NULL, "invalid number \"%s\"", v);
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || n > 1000000)
                return config_fail_value(l, NULL, "invalid number \"%s\"", v);
        if (n < 1)
                return config_fail_value(l, "must be at least 1", "invalid number \"%s\"", v);
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
        return config_fail_value(l, "yes/no, true/false, on/off, 1/0", "invalid boolean \"%s\"", v);
}

/* "127.0.0.1:10122", "[::1]:10122"; with allow_name also "localhost:21022" and a bare "21022". */
static bool address_valid(const char *s, bool allow_name) {
        hostport h;
        return hostport_parse(s, allow_name ? HOSTPORT_NAME | HOSTPORT_BARE_PORT : 0, &h, NULL) >= 0;
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
                        return config_fail_value(l, "known: \\r \\n \\t \\\\ \\0 \\xHH", "invalid escape in \"%s\"", v);
                }
        }
        out[n] = 0;
        free(*ret);
        *ret = n > 0 ? TAKE_PTR(out) : NULL;
        *ret_len = n;
        return 0;
}

/* The rule (dialect, what is refused, the bounds) is expect_compile's; here it only gets a FILE:LINE. */
static int parse_expect(loader *l, const char *v) {
        regex_t re;
        char msg[256];
        int r = expect_compile(v, &re, msg, sizeof msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return config_fail_value(l, msg, "invalid regular expression \"%s\"", v);
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
                        return config_fail_value(l, "auto, mux, ssh, tcp or none", "invalid probe \"%s\"", v);
                s->probe = k;
                *set |= SET_PROBE;
                r = 0;
        } else if (streq(key, "expect")) {
                r = parse_expect(l, v);
                if (r >= 0)
                        r = free_and_strdup(&s->expect, v);
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
                return config_fail_value(l, "at least one pattern is needed", "empty unit list \"%s\"", v);
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
                        return config_fail_value(l, "forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty",
                                          "invalid address \"%s\"", v);
                return free_and_strdup(&l->c->metrics_listen, v);
        }
        if (streq(key, "textfile")) {
                if (*v && v[0] != '/')
                        return config_fail_value(l, "must be an absolute path", "invalid path \"%s\"", v);
                return free_and_strdup(&l->c->metrics_textfile, *v ? v : NULL);
        }
        return -ENOKEY;
}

/* First line of the file, trailing whitespace stripped; "%d/" means $CREDENTIALS_DIRECTORY/ (systemd).
 * Messages name the file, never its contents: they are a secret. */
static int read_url_file(loader *l, const char *v, char **ret) {
        _cleanup_(freep) char *path = NULL, *data = NULL;
        size_t size;
        int r;
        if (strncmp(v, "%d/", 3) == 0) {
                const char *d = getenv("CREDENTIALS_DIRECTORY");
                if (!d)
                        return config_fail_value(l, "$CREDENTIALS_DIRECTORY is not set", "cannot read url_file \"%s\"", v);
                if (asprintf(&path, "%s/%s", d, v + 3) < 0)
                        return -ENOMEM;
        } else if (!(path = strdup(v)))
                return -ENOMEM;
        r = read_file_bounded(path, CONFIG_URL_FILE_MAX, 0, &data, &size);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                return config_fail_value(l, "larger than 8 KiB", "cannot read url_file \"%s\"", path);
        if (r < 0)
                return config_fail_value(l, read_file_strerror(r), "cannot read url_file \"%s\"", path);
        const char *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t) (nl - data) : size;
        if (memchr(data, 0, len))
                return config_fail_value(l, "NUL byte in its first line", "cannot read url_file \"%s\"", path);
        while (len > 0 && isspace((unsigned char) data[len - 1]))
                len--;
        data[len] = 0;
        if (len == 0)
                return config_fail_value(l, NULL, "empty url_file \"%s\"", path);
        *ret = TAKE_PTR(data);
        return 0;
}

static int apply_alert(loader *l, const char *key, const char *v) {
        alert_receiver_config *a = &l->c->alerts[l->index];
        alert_extra *x = &l->ax[l->index];
        if (streq(key, "type")) {
                a->type = streq(v, "slack") ? ALERT_SLACK : streq(v, "webhook") ? ALERT_WEBHOOK : _ALERT_TYPE_INVALID;
                if (a->type < 0)
                        return config_fail_value(l, "slack or webhook", "invalid alert type \"%s\"", v);
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
                                return config_fail_value(l, "down recovered restarted gave_up network_down network_up",
                                                  "unknown event \"%s\"", w);
                        ev |= e;
                }
                if (ev == 0)
                        return config_fail_value(l, NULL, "empty event list");
                a->events = ev;
                return 0;
        }
        if (streq(key, "url") || streq(key, "url_file")) {
                int k = streq(key, "url") ? 1 : 2;
                _cleanup_(freep) char *url = NULL;
                int r;
                /* In the file only one of the two; an override replaces whichever was there. */
                if (!l->cur.override && x->url_key != 0 && x->url_key != k)
                        return config_fail_value(l, NULL, "url and url_file both set; use one");
                if (k == 1)
                        url = strdup(v);
                else if ((r = read_url_file(l, v, &url)) < 0)
                        return r;
                if (!url)
                        return -ENOMEM;
                if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
                        /* Never echo the value: a webhook URL is a secret. The key and line name it. */
                        return k == 1 ? config_fail_value(l, "must start with http:// or https://", "invalid url")
                                      : config_fail_value(l, "must start with http:// or https://",
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
                        return config_fail_value(l, "forms: PORT, HOST:PORT, [IPv6]:PORT", "invalid forward \"%s\"", v);
                return free_and_strdup(&t->forward, v);
        }
        if (streq(key, "send"))
                return parse_send(l, v, &t->send, &t->send_len);
        return apply_monitor(l, &t->settings, &l->tset[l->index], key, v);
}

const char *const config_section_names[] = {
        [SECTION_MONITOR] = "monitor", [SECTION_HEAL] = "heal", [SECTION_METRICS] = "metrics",
        [SECTION_ALERT] = "alert", [SECTION_TUNNEL] = "tunnel",
};

int config_apply_key(loader *l, const char *key, const char *v) {
        int r;
        const char *name = l->section == SECTION_ALERT ? l->c->alerts[l->index].name
                           : l->section == SECTION_TUNNEL ? l->c->tunnels[l->index].unit : NULL;

        if (l->section == SECTION_NONE)
                return config_fail_at(l, l->cur, "key \"%s\" outside of any section", key);
        if (name)
                snprintf(l->label, sizeof l->label, "%s.%s.%s", config_section_names[l->section], name, key);
        else
                snprintf(l->label, sizeof l->label, "%s.%s", config_section_names[l->section], key);

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
                        return config_fail_at(l, l->cur, "unknown key \"%s\" in section [%s %s%s%s]", key,
                                       config_section_names[l->section], l->section == SECTION_TUNNEL ? "\"" : "", name,
                                       l->section == SECTION_TUNNEL ? "\"" : "");
                return config_fail_at(l, l->cur, "unknown key \"%s\" in section [%s]", key, config_section_names[l->section]);
        }
        if (r == -ENOMEM) {
                fprintf(stderr, "Out of memory.\n");
                l->failed = true;
        }
        return r;
}

