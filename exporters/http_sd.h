/* Prometheus http_sd for the bastion role: every host with an allocated metrics port, as a target on the
 * bastion's loopback (the far end is that host's own rtun-monitor, through its tunnel). */
#pragma once

#include "../monitor/bastion/ports.h"

/* [{"targets":["127.0.0.1:PORT"],"labels":{"host":"NAME"}}] for each metrics port of the table (by port;
 * a host without a name is left out: Prometheus would get an empty label), "[]" when none. The text is
 * malloc'ed. -ENOMEM only. */
int http_sd_render(const port_table *t, char **ret, size_t *ret_len);
