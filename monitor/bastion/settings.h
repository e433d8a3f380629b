/* The [bastion] keys the pure parts of the bastion role need (contract.md: ssh_ports, service_ports,
 * metrics_port_offset, expiry_warning), with their defaults and the parser of a port range. */
#pragma once

#include "../base/macro.h"

typedef struct port_range {
        uint16_t first, last; /* inclusive; first <= last */
} port_range;

typedef struct bastion_settings {
        port_range ssh_ports;         /* 21000-21999: far end is a host's sshd */
        port_range service_ports;     /* 22000-22999: other forwards */
        unsigned metrics_port_offset; /* 1000: a host's metrics forward = its ssh port + this */
        usec_t expiry_warning;        /* 30d: an expiry-time closer than this is a warning */
} bastion_settings;

#define BASTION_SSH_PORTS_DEFAULT "21000-21999"
#define BASTION_SERVICE_PORTS_DEFAULT "22000-22999"
#define BASTION_METRICS_PORT_OFFSET_DEFAULT 1000u
#define BASTION_EXPIRY_WARNING_DEFAULT (30ULL * 24 * 3600 * USEC_PER_SEC)

void bastion_settings_init(bastion_settings *s);

/* "21000-21999" or a single "21022"; ports 1..65535, first <= last, nothing else (no spaces, no signs).
 * -EINVAL otherwise. */
int port_range_parse(const char *s, port_range *ret);
static inline bool port_in_range(const port_range *r, int port) {
        return port >= r->first && port <= r->last;
}
