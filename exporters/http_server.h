/* The daemon's HTTP endpoint: libmicrohttpd in epoll mode, driven by the sd-event loop.
 * `/` a small HTML page, `/metrics` rendered at request time (gzip on request), `/healthz`. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "http_conns.h"

#include "../monitor/base/macro.h"

typedef struct http_server http_server;

/* Parses metrics.listen: "127.0.0.1:10122", "0.0.0.0:10122", "[::1]:10122" (port 0: any). -EINVAL. */
int http_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Is the parsed listen address loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? Anything else serves
 * /metrics, unauthenticated and in clear text, beyond this host. */
bool http_listen_is_loopback(const struct sockaddr_storage *ss);

/* A path whose text is rendered at request time (malloc'ed into *ret; -errno fails the request with 500). */
typedef int (*http_render_t)(void *userdata, char **ret, size_t *len);
typedef struct http_route {
        const char *path;             /* "/metrics" */
        const char *content_type;
        http_render_t render;
} http_route;

/* Listens on listen and serves routes (and "/", "/healthz"), each rendered with userdata at request time
 * (routes and what userdata points to must outlive the server). Does not log
 * failures: -EINVAL bad address, else the bind/listen errno. Logs one warning when listen is not loopback.
 * At most 64 connections are served at once (a new one evicts the stalest, preferring the address that
 * holds the most), and each must complete its request within 10 s of accept (or of its previous request). */
int http_server_start(sd_event *e, const char *listen, const http_route *routes, size_t n_routes, void *userdata,
                      http_server **ret);
/* Stops serving and closes every connection. Accepts NULL; returns NULL. */
http_server *http_server_free(http_server *s);
/* The bound port (useful after listening on port 0), or a negative errno. */
int http_server_port(http_server *s);

/* Serves an already connected socket as if accepted (tests, fuzzing). Takes fd, also on failure. */
int http_server_add_connection(http_server *s, int fd, const struct sockaddr *sa, socklen_t len);

void http_server_get_stats(const http_server *s, http_server_stats *ret);
