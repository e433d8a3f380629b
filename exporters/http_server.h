/* The daemon's HTTP endpoint: libmicrohttpd in epoll mode, driven by the sd-event loop.
 * `/` a small HTML page, `/metrics` rendered at request time (gzip on request), `/healthz`. */
#pragma once

#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "../monitor/monitor.h"

typedef struct http_server http_server;

/* Parses metrics.listen: "127.0.0.1:10122", "0.0.0.0:10122", "[::1]:10122" (port 0: any). -EINVAL. */
int http_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Listens on listen and serves m (read at request time; m must outlive the server). Does not log
 * failures: -EINVAL bad address, else the bind/listen errno. */
int http_server_start(sd_event *e, const char *listen, const monitor *m, http_server **ret);
/* Stops serving and closes every connection. Accepts NULL; returns NULL. */
http_server *http_server_free(http_server *s);
/* The bound port (useful after listening on port 0), or a negative errno. */
int http_server_port(http_server *s);
