/* The configuration of contract.md: INI file (libinih) plus --section.key=value overrides. */
#pragma once

#include <regex.h>

#include "tunnel.h"

/* monitor.* keys; also the per-tunnel overrides of [tunnel "UNIT"]. */
typedef struct monitor_settings {
        usec_t interval;       /* 10s */
        usec_t timeout;        /* 5s */
        unsigned failures;     /* 2, >= 1 */
        usec_t grace;          /* 20s */
        probe_kind probe;      /* auto */
        char *expect;          /* "^SSH-"; "" means an opened forward is enough */
        regex_t expect_re;     /* compiled REG_EXTENDED|REG_NEWLINE; valid when expect[0] != 0 */
        bool expect_compiled;
} monitor_settings;

typedef struct heal_settings {
        bool enabled;          /* yes */
        usec_t backoff;        /* 10s */
        usec_t backoff_max;    /* 10m */
        unsigned max_restarts; /* 5 */
        usec_t window;         /* 1h */
        bool all_down_guard;   /* yes */
} heal_settings;

typedef enum alert_type {
        ALERT_SLACK,
        ALERT_WEBHOOK,
        _ALERT_TYPE_MAX,
        _ALERT_TYPE_INVALID = -1,
} alert_type;

typedef struct alert_receiver_config {
        char *name;            /* NAME of [alert NAME] */
        alert_type type;
        char *url;             /* from url, or the first line of url_file (trailing whitespace stripped) */
        unsigned events;       /* tunnel_event bits; default DOWN|RECOVERED|GAVE_UP */
} alert_receiver_config;

typedef struct tunnel_config {
        char *unit;            /* [tunnel "UNIT"] */
        monitor_settings settings; /* global monitor.* with this section's keys applied on top */
        char *forward;         /* "ADDR:PORT" of the -R forward to probe; NULL: the first */
        char *send;            /* decoded C escapes; NULL: send nothing */
        size_t send_len;
} tunnel_config;

typedef struct config {
        char *path;            /* file read, NULL when the default file was missing */
        char **units;          /* monitor.units patterns, default {"reverse-ssh@*.service"} */
        monitor_settings monitor;
        heal_settings heal;
        char *metrics_listen;  /* "127.0.0.1:10122"; "" means no server */
        char *metrics_textfile;/* NULL: none */
        alert_receiver_config *alerts;
        size_t n_alerts;
        tunnel_config *tunnels;
        size_t n_tunnels;
} config;

#define CONFIG_DEFAULT_PATH "/etc/rtun-monitor/rtun-monitor.conf"

/* Loads defaults, then the file, then overrides (each "section.key=value", without the leading "--").
 * path NULL: the default path, and a missing file means built-in defaults; a path given explicitly must
 * exist. On any error, prints "FILE:LINE: what is wrong" (or "--section.key: what is wrong" for an
 * override) to stderr and returns -EINVAL (or -ENOENT for a missing explicit file). */
int config_load(config *c, const char *path, char *const *overrides);
void config_done(config *c);

/* Effective monitor.* for a unit: the [tunnel "UNIT"] section's settings or the global ones. */
const monitor_settings *config_settings_for_unit(const config *c, const char *unit);
const tunnel_config *config_tunnel_for_unit(const config *c, const char *unit);
