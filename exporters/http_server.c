/* libmicrohttpd in external epoll mode on the sd-event loop, the shape of systemd's journal-remote:
 * MHD's epoll fd is one io source, and a timer re-armed after every MHD_run() from MHD_get_timeout() and
 * from our own connection deadlines.
 *
 * Connections are bounded by http_conns.c: an absolute request deadline, and eviction past a cap. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <zlib.h>

#include "../monitor/base/hostport.h"
#include "../monitor/base/log.h"
#include "http_conns.h"
#include "http_server.h"
#include "metrics.h"

/* MHD's own limit, above ours: at it MHD stops accepting, so it is reached only between two runs. */
#define HTTP_CONNECTIONS_HARD_MAX (2u * HTTP_CONNECTIONS_MAX)
/* MHD's idle timeout: no byte either way for this long closes a connection. */
#define HTTP_IDLE_TIMEOUT_SEC 10u

struct http_server {
        struct MHD_Daemon *daemon;
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer;
        const http_route *routes;      /* the paths rendered at request time; borrowed */
        size_t n_routes;
        void *userdata;                /* handed to each render */
        http_conns conns;
        bool closed_in_run; /* MHD re-adds its listen socket only at the start of a run */
};

static const char index_html[] =
        "<!DOCTYPE html>\n"
        "<html><head><title>rtun-monitor</title></head>\n"
        "<body><h1>rtun-monitor</h1>\n"
        "<p>Health monitor for reverse SSH tunnels.</p>\n"
        "<p><a href=\"/metrics\">Metrics</a> &middot; <a href=\"/healthz\">Health</a></p>\n"
        "</body></html>\n";

int http_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len) {
        hostport h;

        if (isempty_str(listen) || hostport_parse(listen, HOSTPORT_PORT_ZERO, &h, NULL) < 0)
                return -EINVAL;
        *ret = (struct sockaddr_storage) {};
        if (h.family == AF_INET6) {
                struct sockaddr_in6 *sa = (struct sockaddr_in6 *) ret;
                *sa = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_port = htons(h.port),
                                              .sin6_addr = h.addr.in6 };
                *ret_len = sizeof(*sa);
        } else {
                struct sockaddr_in *sa = (struct sockaddr_in *) ret;
                *sa = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons(h.port), .sin_addr = h.addr.in };
                *ret_len = sizeof(*sa);
        }
        return 0;
}

bool http_listen_is_loopback(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) ss)->sin_addr.s_addr) >> 24) == 127;
        if (ss->ss_family != AF_INET6)
                return false;
        const struct in6_addr *a = &((const struct sockaddr_in6 *) ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static usec_t loop_now(http_server *s) {
        usec_t now;
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
                return now_usec(CLOCK_MONOTONIC);
        return now;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        http_server *s = cls;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
                const union MHD_ConnectionInfo *addr =
                        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                if (fd)
                        *socket_context = http_conns_add(&s->conns, fd->connect_fd, addr ? addr->client_addr : NULL,
                                                         loop_now(s));
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                http_conns_remove(&s->conns, *socket_context);
                *socket_context = NULL;
                s->closed_in_run = true;
        }
}

static http_conn *conn_of(struct MHD_Connection *connection) {
        const union MHD_ConnectionInfo *i = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return i ? i->socket_context : NULL;
}

/* A request answered (or abandoned): the connection's next request has a deadline of its own. */
static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        http_server *s = cls;
        http_conns_request_done(&s->conns, conn_of(connection), loop_now(s));
}

/* Does Accept-Encoding allow gzip? Tokens separated by commas, "gzip;q=0" refuses it. */
static bool accepts_gzip(const char *h) {
        while (h && *h) {
                h += strspn(h, " \t,");
                size_t n = strcspn(h, ",");
                size_t name = strcspn(h, " \t;,");
                if ((name == 4 && strncasecmp(h, "gzip", 4) == 0) || (name == 6 && strncasecmp(h, "x-gzip", 6) == 0)) {
                        const char *q = memmem(h, n, "q=", 2);
                        if (!q)
                                return true;
                        return strtod(q + 2, NULL) > 0;
                }
                h += n;
        }
        return false;
}

static int gzip_compress(const char *in, size_t len, char **ret, size_t *ret_len) {
        z_stream z = {};
        /* Fastest level: the loop is single-threaded and metrics text compresses well anyway. */
        if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        uLong bound = deflateBound(&z, (uLong) len);
        char *out = malloc(bound);
        if (!out) {
                deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) len;
        z.next_out = (Bytef *) out;
        z.avail_out = (uInt) bound;
        int r = deflate(&z, Z_FINISH);
        *ret_len = z.total_out;
        deflateEnd(&z);
        if (r != Z_STREAM_END) {
                free(out);
                return -EIO;
        }
        *ret = out;
        return 0;
}

/* Queues one response; data is static (PERSISTENT) or malloc'ed and handed over (MUST_FREE). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *content_type,
                               void *data, size_t len, enum MHD_ResponseMemoryMode mode,
                               const char *header, const char *value) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, mode);
        if (!resp) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(data);
                return MHD_NO;
        }
        if (content_type)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (header)
                (void) MHD_add_response_header(resp, header, value);
        enum MHD_Result r = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text) {
        return respond(c, status, "text/plain; charset=utf-8", (void *) text, strlen(text),
                       MHD_RESPMEM_PERSISTENT, NULL, NULL);
}

/* A route's text, rendered at request time, gzip'ed when the client asks. */
static enum MHD_Result serve_route(http_server *s, const http_route *route, struct MHD_Connection *c) {
        char *text = NULL, *z = NULL;
        size_t len = 0, zlen = 0;
        int r;

        r = route->render(s->userdata, &text, &len);
        if (r < 0) {
                log_error_errno(r, "Failed to render %s: %m", route->path);
                return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to render\n");
        }

        const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        if (accepts_gzip(ae)) {
                r = gzip_compress(text, len, &z, &zlen);
                if (r < 0)
                        log_warning_errno(r, "Failed to compress %s, sending it plain: %m", route->path);
        }

        struct MHD_Response *resp = z ? MHD_create_response_from_buffer(zlen, z, MHD_RESPMEM_MUST_FREE)
                                      : MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                free(z);
                return MHD_NO;
        }
        if (z) {
                free(text);
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, route->content_type);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        http_server *s = cls;

        /* The whole request arrived in time: the answer gets a full deadline. */
        http_conns_request_started(&s->conns, conn_of(c), loop_now(s));
        /* Every answer is decided by method and path alone; a request body is never read. */
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                               (void *) "method not allowed\n", strlen("method not allowed\n"),
                               MHD_RESPMEM_PERSISTENT, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        for (size_t i = 0; i < s->n_routes; i++)
                if (streq(url, s->routes[i].path))
                        return serve_route(s, &s->routes[i], c);
        if (streq(url, "/healthz"))
                return respond_text(c, MHD_HTTP_OK, "ok\n");
        if (streq(url, "/"))
                return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", (void *) index_html,
                               sizeof(index_html) - 1, MHD_RESPMEM_PERSISTENT, NULL, NULL);
        return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        /* Mostly per-connection noise (resets, timeouts); failures to start are reported by the caller. */
        log_debug("microhttpd: %s", buf);
}

/* The next run is due at the earliest of: at once after a close (so MHD takes its listen socket back after
 * being at its limit), MHD's own timeout, our next request deadline. MHD_NO from MHD_get_timeout() only
 * means "nothing due now": every run re-arms, so later connections get their timeouts. */
static int rearm(http_server *s) {
        MHD_UNSIGNED_LONG_LONG ms;
        usec_t now = loop_now(s), next = http_conns_next_deadline(&s->conns);

        if (s->closed_in_run)
                next = now;
        if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
                next = MIN(next, now + MIN((usec_t) ms, (usec_t) 24 * 3600 * 1000) * USEC_PER_MSEC);
        if (next == USEC_INFINITY)
                return sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        int r = sd_event_source_set_time(s->timer, next);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int run(http_server *s) {
        /* Past-deadline connections are shut down first, so this very run closes them. */
        http_conns_sweep(&s->conns, loop_now(s));
        s->closed_in_run = false;
        if (MHD_run(s->daemon) != MHD_YES)
                log_debug("microhttpd: MHD_run() failed");
        int r = rearm(s);
        if (r < 0)
                log_warning_errno(r, "Failed to re-arm the HTTP timer, ignoring: %m");
        return 0;
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        return run(userdata);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        return run(userdata);
}

/* Until TLS and authentication exist, say it once, at start, with what to do instead. */
static void warn_if_public(const char *listen, const struct sockaddr_storage *ss, uint16_t port) {
        if (http_listen_is_loopback(ss))
                return;
        log_warning("metrics.listen=%s serves /metrics to anyone who can reach that address: no TLS, no "
                    "authentication. Bind it to 127.0.0.1 and scrape through the host's tunnel "
                    "(-R localhost:2XXXX:localhost:%u), or put a reverse proxy with TLS and authentication "
                    "in front of it.", listen, port);
}

int http_server_start(sd_event *e, const char *listen, const http_route *routes, size_t n_routes, void *userdata,
                      http_server **ret) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int r;

        r = http_listen_parse(listen, &ss, &sl);
        if (r < 0)
                return r;

        http_server *s = calloc(1, sizeof(http_server));
        if (!s)
                return -ENOMEM;
        s->routes = routes;
        s->n_routes = n_routes;
        s->userdata = userdata;
        s->event = sd_event_ref(e);

        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                                       : ((struct sockaddr_in *) &ss)->sin_port);
        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: MHD's default is SO_REUSEADDR (fast restarts), while
         * reuse=1 adds SO_REUSEPORT, which would let a second instance silently share the port. */
        errno = 0;
        /* The logger first: MHD warns about (and uses its own logger for) options before it. */
        s->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
                                     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                     MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTIONS_HARD_MAX,
                                     MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_SEC,
                                     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                     MHD_OPTION_END);
        if (!s->daemon) {
                r = errno > 0 ? -errno : -EIO;
                goto fail;
        }

        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                r = -EIO;
                goto fail;
        }
        r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(s->io, "http-io");

        /* 1 ms accuracy: "run again at once" must not wait for sd-event's default 250 ms coalescing. */
        r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC, on_timer, s);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(s->timer, "http-timer");
        r = rearm(s);
        if (r < 0)
                goto fail;

        warn_if_public(listen, &ss, port);
        log_debug("Serving metrics on %s (port %d).", listen, http_server_port(s));
        *ret = s;
        return 0;

fail:
        http_server_free(s);
        return r;
}

int http_server_add_connection(http_server *s, int fd, const struct sockaddr *sa, socklen_t len) {
        if (MHD_add_connection(s->daemon, fd, sa, len) != MHD_YES)
                return errno > 0 ? -errno : -EIO; /* MHD closed fd */
        /* MHD queued it as ready: the re-armed timer runs it at once. */
        return rearm(s);
}

http_server *http_server_free(http_server *s) {
        if (!s)
                return NULL;
        /* The sources go first: MHD_stop_daemon() closes the epoll fd they watch. */
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        /* Its close notifications free every tracked connection (and peer). */
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int http_server_port(http_server *s) {
        if (!s || !s->daemon)
                return -EINVAL;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (!info)
                return -EIO;
        return info->port;
}

void http_server_get_stats(const http_server *s, http_server_stats *ret) {
        *ret = s->conns.stats;
        ret->connections = s->conns.n_live;
}
