/* Every key of the configuration, said once: section, name, parser and where the value goes, as systemd's
 * ConfigPerfItem tables. config.c finds a key here and calls its parser; parsers never call back. */
#pragma once

#include "config_loader.h"

/* Parses v into field (the key's offset in its section's object); ltype is the entry's own argument. Prints
 * its own message (config_error.h) and returns -EINVAL on a bad value; -ENOMEM unprinted. */
typedef int (*config_parser)(loader *l, const char *v, void *field, int ltype);

typedef struct config_key {
        section_type section; /* SECTION_SETTINGS: valid in [monitor] and [tunnel] */
        const char *key;
        config_parser parse;
        size_t offset;        /* in the section's object: monitor_settings (SECTION_SETTINGS), config ([monitor],
                               * [metrics]), heal_settings, alert_receiver_config, tunnel_config */
        int ltype;
} config_key;

/* The entry of key in a section of the file, or NULL: an unknown key. */
const config_key *config_key_find(section_type section, const char *key);
