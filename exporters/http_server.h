/* The daemon's HTTP endpoint: libmicrohttpd in epoll mode, driven by the sd-event loop.
 * `/` a small HTML page, `/metrics` rendered at request time (gzip on request), `/healthz`. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "http_conns.h"
#include "http_refusals.h"
#include "web_config.h"

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
        bool server_metrics;          /* with a web config, append rtun_http_refused_total */
} http_route;

/* Listens on listen and serves routes (and "/", "/healthz"), each rendered with userdata at request time
 * (routes and what userdata points to must outlive the server). Does not log
 * failures: -EINVAL bad address, else the bind/listen errno. Logs one warning when listen is not loopback.
 * At most 64 connections are served at once (a new one evicts the stalest, preferring the address that
 * holds the most), and each must complete its request within 10 s of accept (or of its previous request). */
int http_server_start(sd_event *e, const char *listen, const http_route *routes, size_t n_routes, void *userdata,
                      http_server **ret);
/* The same, with a web config (taken, also on failure; NULL: none): TLS, basic auth, extra headers. The
 * not-loopback warning is left out when it has TLS. */
int http_server_start_web(sd_event *e, const char *listen, web_config_loaded *web, const http_route *routes,
                          size_t n_routes, void *userdata, http_server **ret);
/* Serves with a web config from now on (taken, NULL: none): TLS, basic auth, extra headers. Whenever the
 * file or a file it names changes, it is read again before the next connection is accepted (a stat(2)
 * per loop iteration, as exporter-toolkit reads it per request and handshake); a broken new version
 * keeps the current one and is logged once. A change in what TLS is made of restarts libmicrohttpd on the
 * same listening socket (open connections are closed). On failure (-errno from libmicrohttpd) the
 * server keeps serving as before and web is freed. Does not log failures. */
int http_server_set_web_config(http_server *s, web_config_loaded *web);
/* Refusals so far (counters). */
const http_refusals *http_server_refusals(const http_server *s);

/* Stops serving and closes every connection. Accepts NULL; returns NULL. */
http_server *http_server_free(http_server *s);
/* The bound port (useful after listening on port 0), or a negative errno. */
int http_server_port(http_server *s);

/* Serves an already connected socket as if accepted (tests, fuzzing). Takes fd, also on failure. */
int http_server_add_connection(http_server *s, int fd, const struct sockaddr *sa, socklen_t len);

void http_server_get_stats(const http_server *s, http_server_stats *ret);
