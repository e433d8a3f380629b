/* The configuration of contract.md: INI file (libinih) plus --section.key=value overrides. */
#pragma once

#include <regex.h>

#include "bastion/bastion_config.h"
#include "tunnel.h"

/* monitor.* keys; also the per-tunnel overrides of [tunnel "UNIT"]. */
typedef struct monitor_settings {
        usec_t interval;       /* 10s */
        usec_t timeout;        /* 5s */
        unsigned failures;     /* 2, >= 1 */
        usec_t grace;          /* 20s */
        probe_kind probe;      /* auto */
        char *expect;          /* "^SSH-"; "" means an opened forward is enough. Validated by expect_compile()
                                * when read; each probe compiles its own copy (probes/expect.c says why) */
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

/* What one forward other than the tunnel's own must answer: forward_send / forward_expect. */
typedef struct forward_check {
        char *forward;         /* "ADDR:PORT" or "PORT" as written: the forward's listen address */
        char *send;            /* decoded C escapes; NULL: send nothing */
        size_t send_len;
        char *expect;          /* POSIX ERE (validated); NULL: the default for the forward; "": none */
} forward_check;

/* Forward checks of one [tunnel] section: more is a mistake. */
#define TUNNEL_FORWARD_CHECKS_MAX 64

typedef struct tunnel_config {
        char *unit;            /* [tunnel "UNIT"] */
        monitor_settings settings; /* global monitor.* with this section's keys applied on top */
        char *forward;         /* "ADDR:PORT" of the -R forward to probe; NULL: the first */
        char *send;            /* decoded C escapes; NULL: send nothing */
        size_t send_len;
        forward_check *forward_checks; /* forward_send / forward_expect, one entry per forward named */
        size_t n_forward_checks;
        char *socks_probe;     /* "HOST:PORT": -D forwards are asked to CONNECT there; NULL: greeting only */
} tunnel_config;

/* Open addressing hash of section names to their index: 60,000 [tunnel "UNIT"] sections load and look
 * up in linear time. Slots hold index + 1; 0 is empty. */
typedef struct name_index {
        size_t *slots;
        size_t n_slots;        /* a power of two, or 0 */
        size_t n_used;
} name_index;

typedef struct config {
        char *path;            /* file read, NULL when the default file was missing */
        char **units;          /* monitor.units patterns, default {"reverse-ssh@*.service"} */
        monitor_settings monitor;
        heal_settings heal;
        char *metrics_listen;  /* "127.0.0.1:10122"; "" means no server */
        char *metrics_textfile;/* NULL: none */
        char *metrics_web_config; /* exporter-toolkit web config file (TLS, basic auth); NULL: none */
        alert_receiver_config *alerts;
        size_t n_alerts;
        tunnel_config *tunnels;
        size_t n_tunnels;
        name_index tunnel_index; /* over tunnels[].unit */
        bastion_config bastion;  /* the bastion role's [bastion] */
} config;

#define CONFIG_DEFAULT_PATH "/etc/rtun-monitor/rtun-monitor.conf"
/* A config is a few KiB; the cap keeps a mistaken or hostile file (a FIFO, /dev/zero, a log) from hanging
 * or filling the monitor. Also bounds the number of sections (about 85,000 of the shortest kind). */
#define CONFIG_FILE_MAX (1024 * 1024)
/* url_file holds one URL (a systemd credential): 8 KiB is far more than any webhook URL. */
#define CONFIG_URL_FILE_MAX (8 * 1024)

/* Loads defaults, then the file, then overrides (each "section.key=value", without the leading "--").
 * path NULL: the default path, and a missing file means built-in defaults; a path given explicitly must
 * exist. The file must be a regular file of at most CONFIG_FILE_MAX bytes (a FIFO is refused without
 * blocking). On any error, prints "FILE:LINE: what is wrong", "FILE: what is wrong" (unreadable, not a
 * regular file, too large) or "--section.key: what is wrong" for an override to stderr, control characters
 * escaped and never the value of a url, and returns -EINVAL, or the -errno of reading the file (-ENOENT,
 * -EBADFD not a regular file, -EFBIG too large, ...). */
int config_load(config *c, const char *path, char *const *overrides);
/* The same from the file's contents (size bytes, which may contain NUL bytes: an error), file naming it in
 * messages; data NULL: no file (defaults and overrides only). config_load reads the file and calls this. */
int config_load_data(config *c, const char *file, const char *data, size_t size, char *const *overrides);
void config_done(config *c);

const char *alert_type_to_string(alert_type t);
alert_type alert_type_from_string(const char *s);

/* Effective monitor.* for a unit: the [tunnel "UNIT"] section's settings or the global ones. */
const monitor_settings *config_settings_for_unit(const config *c, const char *unit);
const tunnel_config *config_tunnel_for_unit(const config *c, const char *unit);
/* The forward_send / forward_expect entry whose forward is listen_host:port ("PORT" entries match any
 * host), or NULL. */
const forward_check *config_forward_check(const tunnel_config *t, const char *listen_host, uint16_t port);
