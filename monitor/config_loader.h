/* Inside the configuration loader: what config.c (file, sections, overrides) and config_keys.c (the
 * keys and their values) share. Not for other users of config.h. */
#pragma once

#include <stdio.h>

#include "config.h"

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
        unsigned *tset;          /* parallel to c->tunnels: SET_* bits given in [tunnel] */
        size_t alerts_cap, tunnels_cap; /* of c->alerts/l->ax and c->tunnels/l->tset: grown by doubling */
        name_index alert_index;  /* [alert NAME] by name; tunnels use c->tunnel_index */
        origin backoff_origin, backoff_max_origin;
} loader;

/* Print "FILE:LINE: what" (or "--section.key: what") and mark the load failed; return -EINVAL. */
_printf_(3, 4) int config_fail_at(loader *l, origin o, const char *fmt, ...);
/* The same for the value being applied, naming its key: "invalid duration "x" for monitor.timeout". */
_printf_(3, 4) int config_fail_value(loader *l, const char *why, const char *fmt, ...);

extern const char *const config_section_names[];
/* Applies one key of the current section (l->section, l->index) from l->cur. */
int config_apply_key(loader *l, const char *key, const char *v);
