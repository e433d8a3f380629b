/* `bastion status`: the article's port table, live. One entry per allocated port. Only reads. */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "bastion_port.h"

/* contract.md: {"hosts":[{"host", "fingerprint", "file", "line", "port", "kind", "state", "session_pid",
 * "peer", "connected_since", "reason", "reaped"}]}. NULL on out of memory. */
json_t *bastion_status_json(const bastion_port *ports, size_t n);
/* The same as a table, one line per port, control characters escaped. */
void bastion_status_print(const bastion_port *ports, size_t n, FILE *f);
/* "ADDR:PORT" ("[::1]:PORT" for IPv6) of the session's host, into buf; NULL when not known. */
const char *bastion_port_peer(const bastion_port *p, char *buf, size_t size);
