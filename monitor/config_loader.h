/* Inside the configuration loader: the state that config.c (file, sections, overrides), config_keys.c (the
 * keys and their values) and config_error.c (messages) share. Not for other users of config.h. */
#pragma once

#include <stdio.h>

#include "config.h"

typedef enum section_type {
        SECTION_NONE,
        SECTION_MONITOR,
        SECTION_HEAL,
        SECTION_METRICS,
        SECTION_ALERT,
        SECTION_TUNNEL,
        SECTION_BASTION,
        _SECTION_FILE_MAX,
        SECTION_SETTINGS = _SECTION_FILE_MAX, /* not in a file: the keys [monitor] and [tunnel] share */
        _SECTION_INVALID = -1,
} section_type;

const char *section_type_to_string(section_type t);
section_type section_type_from_string(const char *s); /* "monitor", ...; NONE and SETTINGS have no name */

/* Where a value came from, for messages printed after parsing (line in the file, or an override). */
typedef struct origin {
        unsigned line;
        const char *override; /* the override string, printed up to override_len ("section.key") */
        int override_len;
} origin;

typedef enum url_key { URL_KEY_NONE, URL_KEY_URL, URL_KEY_FILE } url_key;

typedef struct alert_extra {
        origin header;   /* first [alert NAME] line, for "missing type/url" */
        url_key url_key; /* which of url and url_file was given: both in the file is an error */
} alert_extra;

typedef struct loader {
        config *c;
        const char *file;
        const char *data;        /* the whole file, read by read_file_bounded; NULL: no file */
        size_t size, pos;
        unsigned line;
        bool failed;
        int error;               /* what stopped the reader (inih only sees end of input) */
        origin cur;              /* where the key being applied comes from */
        char label[512];         /* "monitor.timeout", "tunnel.UNIT.timeout": names the key in messages */
        section_type section;
        size_t index;            /* alert or tunnel of the current section */
        alert_extra *ax;         /* parallel to c->alerts */
        size_t alerts_cap, tunnels_cap; /* of c->alerts/l->ax and c->tunnels: grown by doubling */
        name_index alert_index;  /* [alert NAME] by name; tunnels use c->tunnel_index */
        origin backoff_origin, backoff_max_origin;
} loader;
