/* The port table the article keeps by hand, from the key lines: every permitlisten port of every host
 * and its kind by the configured ranges. Pure. */
#pragma once

#include "authkeys.h"
#include "settings.h"

typedef enum port_kind {
        PORT_KIND_SSH,     /* in bastion.ssh_ports: the far end is the host's sshd */
        PORT_KIND_SERVICE, /* in bastion.service_ports */
        PORT_KIND_METRICS, /* an ssh port of the same line + bastion.metrics_port_offset */
        _PORT_KIND_MAX,
        _PORT_KIND_INVALID = -1, /* in no range: an audit finding */
} port_kind;

const char *port_kind_to_string(port_kind k);
port_kind port_kind_from_string(const char *s);

/* The kind of port on line k. Metrics is tested first: ssh port + 1000 falls in the default service
 * range, and the relation to the host's own ssh port is the more specific fact. */
port_kind port_kind_of(const authkey_line *k, int port, const bastion_settings *s);

typedef struct port_entry {
        const authkey_line *key; /* borrowed from the authkeys the table was built from */
        int port;
        port_kind kind;
        const char *listen_host; /* borrowed: the permitlisten host ("localhost", "*") */
} port_entry;

typedef struct port_table {
        port_entry *entries;
        size_t n;
} port_table;

/* One entry per numeric permitlisten port per key line (a port named twice on a line once), sorted by
 * port, then file and line. Ports in no range are kept (kind _PORT_KIND_INVALID); "*" and service-name
 * ports and cert-authority lines (not one host) are left out. -ENOMEM only. */
int port_table_build(const authkeys *keys, const bastion_settings *s, port_table *ret);
void port_table_done(port_table *t);
