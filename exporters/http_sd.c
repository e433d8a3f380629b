#include <jansson.h>

#include "http_sd.h"

int http_sd_render(const port_table *t, char **ret, size_t *ret_len) {
        _cleanup_(json_decrefp) json_t *list = json_array();
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
                const port_entry *e = &t->entries[i];
                if (e->kind != PORT_KIND_METRICS || isempty_str(e->key->comment))
                        continue;
                char target[32];
                snprintf(target, sizeof target, "127.0.0.1:%d", e->port);
                json_t *entry = json_pack("{s:[s],s:{s:s}}", "targets", target, "labels", "host", e->key->comment);
                if (!entry || json_array_append_new(list, entry) < 0)
                        return -ENOMEM;
        }
        char *text = json_dumps(list, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!text)
                return -ENOMEM;
        *ret = text;
        *ret_len = strlen(text);
        return 0;
}
