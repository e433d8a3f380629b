/* Prometheus text exposition (format 0.0.4) of the monitor's state: the metrics of contract.md. */
#pragma once

#include "../monitor/monitor.h"
#include "http_server.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every family of the contract, always in the same order, series sorted by tunnel name (and
 * receiver name), into one malloc'ed NUL-terminated buffer. Only reads m. -ENOMEM. */
int metrics_render(const monitor *m, char **ret, size_t *len);

/* http_server_start_web with /metrics rendering m (the host side's server); web is taken (NULL: none). */
int metrics_serve(sd_event *e, const char *listen, web_config_loaded *web, const monitor *m, http_server **ret);
