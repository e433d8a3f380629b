/* The keys of each section and how their values are read (contract.md's table): one table, one parser per
 * kind of value. */
#include <ctype.h>
#include <stddef.h>
#include <strings.h>

#include "../exporters/web_config.h"
#include "../probes/probe.h"
#include "config_error.h"
#include "config_keys.h"
#include "base/duration.h"
#include "base/hostport.h"

enum { DURATION_ZERO_OK = 1 };

static int parse_dur(loader *l, const char *v, void *field, int ltype) {
        usec_t u;
        if (parse_duration(v, &u) < 0)
                return config_fail_value(l, "e.g. 250ms, 10s, 5m, 1h, 1m30s", "invalid duration \"%s\"", v);
        if (u == 0 && !(ltype & DURATION_ZERO_OK))
                return config_fail_value(l, "must be greater than 0", "invalid duration \"%s\"", v);
        *(usec_t *) field = u;
        return 0;
}

/* heal.backoff and heal.backoff_max: 0 allowed; where each was set (ltype: its origin in the loader) is
 * kept for the cross-check at the end. */
static int parse_backoff(loader *l, const char *v, void *field, int ltype) {
        *(origin *) ((uint8_t *) l + ltype) = l->cur;
        return parse_dur(l, v, field, DURATION_ZERO_OK);
}

/* Decimal digits only (no sign, no blanks) within min..max: -EINVAL otherwise. */
static int parse_number(const char *v, unsigned long min, unsigned long max, unsigned *ret) {
        char *end;
        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || n < min || n > max)
                return -EINVAL;
        *ret = (unsigned) n;
        return 0;
}

/* A key whose value is one name of an enum's string table (NAME_from_string): fn parses it into a TYPE. */
#define DEFINE_ENUM_PARSER(fn, type, from_string, choices, what)                                         \
        static int fn(loader *l, const char *v, void *field, int ltype) {                                \
                type k = from_string(v);                                                                  \
                if ((int) k < 0)                                                                          \
                        return config_fail_value(l, choices, "invalid " what " \"%s\"", v);               \
                *(type *) field = k;                                                                      \
                return 0;                                                                                 \
        }

static int parse_min1(loader *l, const char *v, void *field, int ltype) {
        unsigned n;
        if (parse_number(v, 0, 1000000, &n) < 0)
                return config_fail_value(l, NULL, "invalid number \"%s\"", v);
        if (n < 1)
                return config_fail_value(l, "must be at least 1", "invalid number \"%s\"", v);
        *(unsigned *) field = (unsigned) n;
        return 0;
}

static int parse_bool(loader *l, const char *v, void *field, int ltype) {
        static const char *const yes[] = { "yes", "true", "1", "on" }, *const no[] = { "no", "false", "0", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *(bool *) field = true, 0;
                if (strcasecmp(v, no[i]) == 0)
                        return *(bool *) field = false, 0;
        }
        return config_fail_value(l, "yes/no, true/false, on/off, 1/0", "invalid boolean \"%s\"", v);
}

/* The kinds a user may pick for a tunnel (socks is a -D forward's own). */
static probe_kind probe_kind_configurable(const char *v) {
        probe_kind k = probe_kind_from_string(v);
        return k == PROBE_KIND_SOCKS ? _PROBE_KIND_INVALID : k;
}

DEFINE_ENUM_PARSER(parse_probe, probe_kind, probe_kind_configurable, "auto, mux, ssh, tcp or none", "probe")

/* The rule (dialect, what is refused, the bounds) is expect_compile's; here it only gets a FILE:LINE. */
static int parse_expect(loader *l, const char *v, void *field, int ltype) {
        regex_t re;
        char msg[256];
        int r = expect_compile(v, &re, msg, sizeof msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return config_fail_value(l, msg, "invalid regular expression \"%s\"", v);
        regfree(&re);
        return free_and_strdup(field, v);
}

/* The space-separated words of v (NULL when there are none). */
static int split_words(const char *v, char ***ret) {
        _cleanup_(strv_freep) char **words = NULL;
        _cleanup_(freep) char *copy = strdup(v);
        char *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                if (strv_push(&words, w) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(words);
        return 0;
}

static int parse_units(loader *l, const char *v, void *field, int ltype) {
        _cleanup_(strv_freep) char **units = NULL;
        if (split_words(v, &units) < 0)
                return -ENOMEM;
        if (!units)
                return config_fail_value(l, "at least one pattern is needed", "empty unit list \"%s\"", v);
        strv_free(*(char ***) field);
        *(char ***) field = TAKE_PTR(units);
        return 0;
}

/* "127.0.0.1:10122", "[::1]:10122"; "" means no server. */
static int parse_listen(loader *l, const char *v, void *field, int ltype) {
        hostport h;
        if (*v && hostport_parse(v, 0, &h, NULL) < 0)
                return config_fail_value(l, "forms: 127.0.0.1:10122, [::1]:10122, 0.0.0.0:10122 or empty",
                                         "invalid address \"%s\"", v);
        return free_and_strdup(field, v);
}

static int parse_textfile(loader *l, const char *v, void *field, int ltype) {
        if (*v && v[0] != '/')
                return config_fail_value(l, "must be an absolute path", "invalid path \"%s\"", v);
        return free_and_strdup(field, *v ? v : NULL);
}

/* "localhost:21022", "[::1]:21022", or a bare "21022". */
static int parse_forward(loader *l, const char *v, void *field, int ltype) {
        hostport h;
        if (hostport_parse(v, HOSTPORT_NAME | HOSTPORT_BARE_PORT, &h, NULL) < 0)
                return config_fail_value(l, "forms: PORT, HOST:PORT, [IPv6]:PORT", "invalid forward \"%s\"", v);
        return free_and_strdup(field, v);
}

/* Decodes \r \n \t \\ \0 \xHH (and \" \') of v into *ret (NULL when empty) and *ret_len. */
static int decode_escapes(loader *l, const char *v, char **ret, size_t *ret_len) {
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
        *ret = n > 0 ? TAKE_PTR(out) : NULL;
        *ret_len = n;
        return 0;
}

/* Decodes the escapes into the tunnel's send and send_len (field: the tunnel_config). */
static int parse_send(loader *l, const char *v, void *field, int ltype) {
        tunnel_config *t = field;
        char *out;
        size_t n;
        int r = decode_escapes(l, v, &out, &n);
        if (r < 0)
                return r;
        free(t->send);
        t->send = out;
        t->send_len = n;
        return 0;
}

/* "FORWARD REST": the forward_check entry of FORWARD (created on first sight), REST in *ret_rest. */
static int forward_check_for(loader *l, tunnel_config *t, const char *v, forward_check **ret, const char **ret_rest) {
        size_t flen = strcspn(v, " \t");
        char spec[300];
        hostport h;
        if (flen == 0 || flen >= sizeof spec)
                return config_fail_value(l, "form: ADDR:PORT VALUE (the forward's listen address first)",
                                         "invalid forward in \"%s\"", v);
        memcpy(spec, v, flen);
        spec[flen] = 0;
        if (hostport_parse(spec, HOSTPORT_NAME | HOSTPORT_BARE_PORT, &h, NULL) < 0)
                return config_fail_value(l, "forms: PORT, HOST:PORT, [IPv6]:PORT", "invalid forward \"%s\"", spec);
        *ret_rest = v + flen + strspn(v + flen, " \t");
        for (size_t i = 0; i < t->n_forward_checks; i++)
                if (strcasecmp(t->forward_checks[i].forward, spec) == 0)
                        return *ret = &t->forward_checks[i], 0;
        if (t->n_forward_checks >= TUNNEL_FORWARD_CHECKS_MAX)
                return config_fail_value(l, NULL, "more than %d forwards named", TUNNEL_FORWARD_CHECKS_MAX);
        forward_check *m = reallocarray(t->forward_checks, t->n_forward_checks + 1, sizeof *m);
        if (!m)
                return -ENOMEM;
        t->forward_checks = m;
        m[t->n_forward_checks] = (forward_check) { .forward = strdup(spec) };
        if (!m[t->n_forward_checks].forward)
                return -ENOMEM;
        *ret = &m[t->n_forward_checks++];
        return 0;
}

/* forward_send = ADDR:PORT TEXT (C escapes): sent through that forward before its expect. */
static int parse_forward_send(loader *l, const char *v, void *field, int ltype) {
        forward_check *fc;
        const char *rest;
        char *out;
        size_t n;
        int r = forward_check_for(l, field, v, &fc, &rest);
        if (r < 0)
                return r;
        if ((r = decode_escapes(l, rest, &out, &n)) < 0)
                return r;
        free(fc->send);
        fc->send = out;
        fc->send_len = n;
        return 0;
}

/* forward_expect = ADDR:PORT PATTERN: what that forward's far end must answer (nothing: an opened one will do). */
static int parse_forward_expect(loader *l, const char *v, void *field, int ltype) {
        forward_check *fc;
        const char *rest;
        int r = forward_check_for(l, field, v, &fc, &rest);
        if (r < 0)
                return r;
        return parse_expect(l, rest, &fc->expect, 0);
}

/* socks_probe = HOST:PORT: the target a -D forward is asked to CONNECT to. */
static int parse_socks_probe(loader *l, const char *v, void *field, int ltype) {
        hostport h;
        if (hostport_parse(v, HOSTPORT_NAME, &h, NULL) < 0 || strlen(h.host) > 255)
                return config_fail_value(l, "forms: HOST:PORT, [IPv6]:PORT", "invalid socks_probe \"%s\"", v);
        return free_and_strdup(field, v);
}

static const char *const alert_type_table[_ALERT_TYPE_MAX] = {
        [ALERT_SLACK] = "slack",
        [ALERT_WEBHOOK] = "webhook",
};

DEFINE_STRING_TABLE_LOOKUP(alert_type, alert_type);

DEFINE_ENUM_PARSER(parse_alert_type, alert_type, alert_type_from_string, "slack or webhook", "alert type")

static int parse_events(loader *l, const char *v, void *field, int ltype) {
        _cleanup_(freep) char *copy = strdup(v);
        char *save = NULL;
        unsigned ev = 0;
        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                tunnel_event e = tunnel_event_from_string(w);
                if (e == 0)
                        return config_fail_value(l, "down recovered restarted gave_up network_down network_up host_down "
                                                 "host_up reaped key_expiring",
                                                 "unknown event \"%s\"", w);
                ev |= e;
        }
        if (ev == 0)
                return config_fail_value(l, NULL, "empty event list");
        *(unsigned *) field = ev;
        return 0;
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
                        return config_fail_value(l, "$CREDENTIALS_DIRECTORY is not set",
                                                 "cannot read url_file \"%s\"", v);
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

/* url and url_file (ltype says which) both set the receiver's url. */
static int parse_url(loader *l, const char *v, void *field, int ltype) {
        alert_extra *x = &l->ax[l->index];
        _cleanup_(freep) char *url = NULL;
        int r;
        /* In the file only one of the two; an override replaces whichever was there. */
        if (!l->cur.override && x->url_key != URL_KEY_NONE && x->url_key != (url_key) ltype)
                return config_fail_value(l, NULL, "url and url_file both set; use one");
        if (ltype == URL_KEY_URL)
                url = strdup(v);
        else if ((r = read_url_file(l, v, &url)) < 0)
                return r;
        if (!url)
                return -ENOMEM;
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
                /* Never echo the value: a webhook URL is a secret. The key and line name it. */
                return ltype == URL_KEY_URL
                               ? config_fail_value(l, "must start with http:// or https://", "invalid url")
                               : config_fail_value(l, "must start with http:// or https://",
                                                   "invalid url in url_file \"%s\"", v);
        free(*(char **) field);
        *(char **) field = TAKE_PTR(url);
        x->url_key = (url_key) ltype;
        return 0;
}

/* Space-separated words; "" clears (bastion.authorized_keys: back to the users' files). ltype 1: at least one. */
static int parse_words(loader *l, const char *v, void *field, int ltype) {
        _cleanup_(strv_freep) char **words = NULL;
        if (split_words(v, &words) < 0)
                return -ENOMEM;
        if (!words && ltype)
                return config_fail_value(l, "at least one is needed", "empty list \"%s\"", v);
        strv_free(*(char ***) field);
        *(char ***) field = TAKE_PTR(words);
        return 0;
}

static int parse_paths(loader *l, const char *v, void *field, int ltype) {
        int r = parse_words(l, v, field, ltype);
        for (char **p = *(char ***) field; r >= 0 && p && *p; p++)
                if (**p != '/')
                        return config_fail_value(l, "must be absolute paths", "invalid path \"%s\"", *p);
        return r;
}

static int parse_path(loader *l, const char *v, void *field, int ltype) {
        if (v[0] != '/')
                return config_fail_value(l, "must be an absolute path", "invalid path \"%s\"", v);
        return free_and_strdup(field, v);
}

/* The file is read (and the certificates it names) now, so a bad one stops every command with its own
 * FILE:LINE; the daemons read it again when they start serving. "" means none. */
static int parse_web_config(loader *l, const char *v, void *field, int ltype) {
        _cleanup_(web_config_loaded_freep) web_config_loaded *w = NULL;
        char err[1024], out[4096];
        if (!*v)
                return free_and_strdup(field, NULL);
        if (v[0] != '/')
                return config_fail_value(l, "must be an absolute path", "invalid path \"%s\"", v);
        int r = web_config_load(v, &w, err, sizeof err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                fprintf(stderr, "%s\n", escape_control_to(out, sizeof out, err));
                return config_fail_value(l, NULL, "invalid web config \"%s\"", v);
        }
        return free_and_strdup(field, v);
}

static int parse_sshd_log(loader *l, const char *v, void *field, int ltype) {
        if (v[0] != '/' && !streq(v, "journal") && !streq(v, "none"))
                return config_fail_value(l, "journal, none or an absolute path", "invalid sshd log \"%s\"", v);
        return free_and_strdup(field, v);
}

static int parse_port_range(loader *l, const char *v, void *field, int ltype) {
        if (port_range_parse(v, field) < 0)
                return config_fail_value(l, "e.g. 21000-21999 or 21022", "invalid port range \"%s\"", v);
        return 0;
}

static int parse_offset(loader *l, const char *v, void *field, int ltype) {
        if (parse_number(v, 1, 65534, field) < 0)
                return config_fail_value(l, "1 to 65534", "invalid port offset \"%s\"", v);
        return 0;
}

DEFINE_ENUM_PARSER(parse_reap, bastion_reap, bastion_reap_from_string, "yes, no or dry-run", "reap")

static int parse_bastion_listen(loader *l, const char *v, void *field, int ltype) {
        hostport h;
        if (hostport_parse(v, 0, &h, NULL) < 0)
                return config_fail_value(l, "forms: 127.0.0.1:10123, [::1]:10123, 0.0.0.0:10123",
                                         "invalid address \"%s\"", v);
        return free_and_strdup(field, v);
}

#define SETTING(key, parse, field, ltype) { SECTION_SETTINGS, key, parse, offsetof(monitor_settings, field), ltype }

static const config_key config_keys[] = {
        SETTING("interval", parse_dur, interval, 0),
        SETTING("timeout", parse_dur, timeout, 0),
        SETTING("failures", parse_min1, failures, 0),
        SETTING("grace", parse_dur, grace, DURATION_ZERO_OK),
        SETTING("probe", parse_probe, probe, 0),
        SETTING("expect", parse_expect, expect, 0),
        { SECTION_MONITOR, "units", parse_units, offsetof(config, units), 0 },
        { SECTION_HEAL, "enabled", parse_bool, offsetof(heal_settings, enabled), 0 },
        { SECTION_HEAL, "all_down_guard", parse_bool, offsetof(heal_settings, all_down_guard), 0 },
        { SECTION_HEAL, "max_restarts", parse_min1, offsetof(heal_settings, max_restarts), 0 },
        { SECTION_HEAL, "window", parse_dur, offsetof(heal_settings, window), 0 },
        { SECTION_HEAL, "backoff", parse_backoff, offsetof(heal_settings, backoff), offsetof(loader, backoff_origin) },
        { SECTION_HEAL, "backoff_max", parse_backoff, offsetof(heal_settings, backoff_max),
          offsetof(loader, backoff_max_origin) },
        { SECTION_METRICS, "listen", parse_listen, offsetof(config, metrics_listen), 0 },
        { SECTION_METRICS, "textfile", parse_textfile, offsetof(config, metrics_textfile), 0 },
        { SECTION_METRICS, "web_config", parse_web_config, offsetof(config, metrics_web_config), 0 },
        { SECTION_ALERT, "type", parse_alert_type, offsetof(alert_receiver_config, type), 0 },
        { SECTION_ALERT, "events", parse_events, offsetof(alert_receiver_config, events), 0 },
        { SECTION_ALERT, "url", parse_url, offsetof(alert_receiver_config, url), URL_KEY_URL },
        { SECTION_ALERT, "url_file", parse_url, offsetof(alert_receiver_config, url), URL_KEY_FILE },
        { SECTION_TUNNEL, "forward", parse_forward, offsetof(tunnel_config, forward), 0 },
        { SECTION_TUNNEL, "send", parse_send, 0, 0 },
        { SECTION_TUNNEL, "forward_send", parse_forward_send, 0, 0 },
        { SECTION_TUNNEL, "forward_expect", parse_forward_expect, 0, 0 },
        { SECTION_TUNNEL, "socks_probe", parse_socks_probe, offsetof(tunnel_config, socks_probe), 0 },
        { SECTION_BASTION, "users", parse_words, offsetof(bastion_config, users), 1 },
        { SECTION_BASTION, "authorized_keys", parse_paths, offsetof(bastion_config, authorized_keys), 0 },
        { SECTION_BASTION, "ssh_ports", parse_port_range, offsetof(bastion_config, settings.ssh_ports), 0 },
        { SECTION_BASTION, "service_ports", parse_port_range, offsetof(bastion_config, settings.service_ports), 0 },
        { SECTION_BASTION, "metrics_port_offset", parse_offset, offsetof(bastion_config, settings.metrics_port_offset), 0 },
        { SECTION_BASTION, "reap", parse_reap, offsetof(bastion_config, reap), 0 },
        { SECTION_BASTION, "expiry_warning", parse_dur, offsetof(bastion_config, settings.expiry_warning), DURATION_ZERO_OK },
        { SECTION_BASTION, "sshd_config", parse_path, offsetof(bastion_config, sshd_config), 0 },
        { SECTION_BASTION, "sshd_log", parse_sshd_log, offsetof(bastion_config, sshd_log), 0 },
        { SECTION_BASTION, "listen", parse_bastion_listen, offsetof(bastion_config, listen), 0 },
        { SECTION_BASTION, "web_config", parse_web_config, offsetof(bastion_config, web_config), 0 },
};

const config_key *config_key_find(section_type section, const char *key) {
        bool settings = section == SECTION_MONITOR || section == SECTION_TUNNEL;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if ((config_keys[i].section == section || (settings && config_keys[i].section == SECTION_SETTINGS)) &&
                    streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}
