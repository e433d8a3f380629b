/* Defaults of the bastion keys and the port range parser. */
#include "settings.h"

void bastion_settings_init(bastion_settings *s) {
        *s = (bastion_settings) {
                .ssh_ports = { 21000, 21999 },
                .service_ports = { 22000, 22999 },
                .metrics_port_offset = BASTION_METRICS_PORT_OFFSET_DEFAULT,
                .expiry_warning = BASTION_EXPIRY_WARNING_DEFAULT,
        };
}

/* Digits only: strtoul would take " +21022" and a config value should mean one thing. */
static int parse_port(const char *s, size_t n, uint16_t *ret) {
        unsigned v = 0;
        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

int port_range_parse(const char *s, port_range *ret) {
        port_range r;
        if (!s)
                return -EINVAL;
        const char *dash = strchr(s, '-');
        if (!dash) {
                if (parse_port(s, strlen(s), &r.first) < 0)
                        return -EINVAL;
                r.last = r.first;
        } else if (parse_port(s, (size_t) (dash - s), &r.first) < 0 || parse_port(dash + 1, strlen(dash + 1), &r.last) < 0 ||
                   r.first > r.last)
                return -EINVAL;
        *ret = r;
        return 0;
}
