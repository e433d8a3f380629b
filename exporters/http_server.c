/* libmicrohttpd in external epoll mode on the sd-event loop, the shape of systemd's journal-remote:
 * MHD's epoll fd is one io source, and a timer re-armed after every MHD_run() from MHD_get_timeout() and
 * from our own connection deadlines.
 *
 * Connections are bounded here, not by MHD alone: MHD's idle timeout is reset by every byte (a client
 * dripping a header line every few seconds would hold its slot forever), and at MHD's connection limit new
 * clients wait unaccepted in the backlog, a scraper among them. So every connection gets an absolute
 * deadline for its request (HTTP_REQUEST_DEADLINE from accept, or from the end of its previous request),
 * and at HTTP_CONNECTIONS_MAX a new connection evicts the stalest one of the address holding the most,
 * below MHD's own (higher) limit: a new scraper always gets in, even when it shares an address with a
 * flood. A connection is dropped with shutdown(2) on its fd: MHD sees the hangup and closes it. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <zlib.h>

#include "../monitor/log.h"
#include "http_server.h"
#include "metrics.h"

/* Our cap; beyond it a new connection evicts an old one. */
#define HTTP_CONNECTIONS_MAX 64u
/* MHD's own limit, above ours: at it MHD stops accepting, so it is reached only between two runs. */
#define HTTP_CONNECTIONS_HARD_MAX (2u * HTTP_CONNECTIONS_MAX)
/* MHD's idle timeout: no byte either way for this long closes a connection. */
#define HTTP_IDLE_TIMEOUT_SEC 10u
/* A request must be received and answered within this much of accept (or of the previous request's end). */
#define HTTP_REQUEST_DEADLINE_USEC (10 * USEC_PER_SEC)

/* One client address (an IPv6 /64, where one host holds many addresses) and its connections. */
typedef struct http_peer {
        struct http_peer *next;
        uint8_t key[17]; /* family, then up to 16 address bytes */
        unsigned live;   /* connections not being dropped: what eviction weighs */
        unsigned refs;   /* every connection still open, dropped or not */
} http_peer;

typedef struct http_conn {
        struct http_conn *prev, *next; /* the server's list, oldest `since` first */
        http_peer *peer;
        int fd;          /* MHD's; only ever shut down here, never closed */
        usec_t since;    /* accept, or the start/end of the last request: the deadline counts from it */
        bool serving;    /* a complete request is being answered */
        bool dropping;   /* shut down, MHD closes it on its next run */
} http_conn;

struct http_server {
        struct MHD_Daemon *daemon;
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer;
        const monitor *m;
        http_conn *conns_head, *conns_tail;
        http_peer *peers;
        unsigned n_live;
        bool closed_in_run; /* MHD re-adds its listen socket only at the start of a run */
        http_server_stats stats;
};

static const char index_html[] =
        "<!DOCTYPE html>\n"
        "<html><head><title>rtun-monitor</title></head>\n"
        "<body><h1>rtun-monitor</h1>\n"
        "<p>Health monitor for reverse SSH tunnels.</p>\n"
        "<p><a href=\"/metrics\">Metrics</a> &middot; <a href=\"/healthz\">Health</a></p>\n"
        "</body></html>\n";

static int parse_port(const char *s, uint16_t *ret) {
        char *end;
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
                return -EINVAL;
        unsigned long p = strtoul(s, &end, 10);
        if (p > 65535)
                return -EINVAL;
        *ret = (uint16_t) p;
        return 0;
}

int http_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *port;
        uint16_t p;

        if (isempty_str(listen))
                return -EINVAL;
        *ret = (struct sockaddr_storage) {};

        if (listen[0] == '[') {
                const char *close = strchr(listen, ']');
                if (!close || close[1] != ':' || (size_t) (close - listen - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, listen + 1, (size_t) (close - listen - 1));
                host[close - listen - 1] = 0;
                port = close + 2;

                struct sockaddr_in6 *sa = (struct sockaddr_in6 *) ret;
                if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1 || parse_port(port, &p) < 0)
                        return -EINVAL;
                sa->sin6_family = AF_INET6;
                sa->sin6_port = htons(p);
                *ret_len = sizeof(*sa);
                return 0;
        }

        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t) (colon - listen) >= sizeof(host))
                return -EINVAL;
        memcpy(host, listen, (size_t) (colon - listen));
        host[colon - listen] = 0;
        port = colon + 1;

        struct sockaddr_in *sa = (struct sockaddr_in *) ret;
        if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 || parse_port(port, &p) < 0)
                return -EINVAL;
        sa->sin_family = AF_INET;
        sa->sin_port = htons(p);
        *ret_len = sizeof(*sa);
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

static void conn_unlink(http_server *s, http_conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns_head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                s->conns_tail = c->prev;
        c->prev = c->next = NULL;
}

static void conn_append(http_server *s, http_conn *c) {
        c->prev = s->conns_tail;
        if (s->conns_tail)
                s->conns_tail->next = c;
        else
                s->conns_head = c;
        s->conns_tail = c;
}

/* Restarts c's deadline; the list stays sorted by `since`, so the sweep stops at the first live one. */
static void conn_touch(http_server *s, http_conn *c) {
        c->since = loop_now(s);
        conn_unlink(s, c);
        conn_append(s, c);
}

static void peer_key(const struct sockaddr *sa, uint8_t key[static 17]) {
        memset(key, 0, 17);
        if (!sa)
                return;
        key[0] = (uint8_t) sa->sa_family;
        if (sa->sa_family == AF_INET)
                memcpy(key + 1, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                /* One host usually owns a whole /64; an IPv4-mapped address is one IPv4 host. */
                memcpy(key + 1, a, IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8);
        }
}

static http_peer *peer_ref(http_server *s, const struct sockaddr *sa) {
        uint8_t key[17];
        peer_key(sa, key);
        for (http_peer *p = s->peers; p; p = p->next)
                if (memcmp(p->key, key, sizeof(key)) == 0) {
                        p->refs++;
                        return p;
                }
        http_peer *p = calloc(1, sizeof(http_peer));
        if (!p)
                return NULL;
        memcpy(p->key, key, sizeof(key));
        p->refs = 1;
        p->next = s->peers;
        s->peers = p;
        return p;
}

static void peer_unref(http_server *s, http_peer *p) {
        if (--p->refs > 0)
                return;
        for (http_peer **pp = &s->peers; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        free(p);
}

/* Shuts the socket down under MHD: its epoll sees the hangup and closes the connection on the next run. */
static void conn_drop(http_server *s, http_conn *c, const char *why) {
        if (c->dropping)
                return;
        if (shutdown(c->fd, SHUT_RDWR) < 0)
                log_debug_errno(errno, "HTTP connection %d: shutdown() failed, ignoring: %m", c->fd);
        c->dropping = true;
        c->peer->live--;
        s->n_live--;
        /* Debug only: a flood of connections must not become a flood of journal lines. */
        log_debug("HTTP connection %d dropped: %s.", c->fd, why);
}

/* Better victim: not being answered, then from the address holding the most, then the oldest. */
static bool victim_better(const http_conn *a, const http_conn *best) {
        if (!best)
                return true;
        if (a->serving != best->serving)
                return !a->serving;
        return a->peer->live > best->peer->live; /* ties keep best: the list is oldest first */
}

static void evict_one(http_server *s, const http_conn *keep) {
        http_conn *victim = NULL;
        for (http_conn *c = s->conns_head; c; c = c->next)
                if (c != keep && !c->dropping && victim_better(c, victim))
                        victim = c;
        if (!victim)
                return;
        s->stats.evicted++;
        conn_drop(s, victim, "connection limit reached, making room for a new one");
}

/* Drops every connection past its deadline (the list is oldest first: stops at the first one ahead). */
static void sweep_deadlines(http_server *s, usec_t now) {
        for (http_conn *c = s->conns_head; c; c = c->next) {
                if (c->dropping)
                        continue;
                if (c->since + HTTP_REQUEST_DEADLINE_USEC > now)
                        return;
                s->stats.timed_out++;
                conn_drop(s, c, "request not completed in time");
        }
}

static usec_t next_deadline(http_server *s) {
        for (http_conn *c = s->conns_head; c; c = c->next)
                if (!c->dropping)
                        return c->since + HTTP_REQUEST_DEADLINE_USEC;
        return USEC_INFINITY;
}

static void conn_started(http_server *s, struct MHD_Connection *connection, void **socket_context) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        http_conn *c = calloc(1, sizeof(http_conn));
        if (c)
                c->peer = peer_ref(s, addr ? addr->client_addr : NULL);
        if (!c || !c->peer || !fd) {
                /* Untracked it would escape every bound: refuse it instead. */
                if (fd)
                        (void) shutdown(fd->connect_fd, SHUT_RDWR);
                free(c);
                log_debug("HTTP connection refused: out of memory.");
                return;
        }
        c->fd = fd->connect_fd;
        c->since = loop_now(s);
        conn_append(s, c);
        c->peer->live++;
        s->n_live++;
        *socket_context = c;
        if (s->n_live > HTTP_CONNECTIONS_MAX)
                evict_one(s, c);
}

static void conn_closed(http_server *s, http_conn *c) {
        if (!c)
                return;
        if (!c->dropping) {
                c->peer->live--;
                s->n_live--;
        }
        conn_unlink(s, c);
        peer_unref(s, c->peer);
        free(c);
        s->closed_in_run = true;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        http_server *s = cls;
        if (code == MHD_CONNECTION_NOTIFY_STARTED)
                conn_started(s, connection, socket_context);
        else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                conn_closed(s, *socket_context);
                *socket_context = NULL;
        }
}

static http_conn *conn_of(struct MHD_Connection *connection) {
        const union MHD_ConnectionInfo *i = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return i ? i->socket_context : NULL;
}

static void conn_request_started(http_server *s, struct MHD_Connection *connection) {
        http_conn *c = conn_of(connection);
        if (!c || c->serving)
                return;
        c->serving = true;
        conn_touch(s, c); /* the whole request arrived in time: the answer gets a full deadline */
}

/* A request answered (or abandoned): the connection's next request has a deadline of its own. */
static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        http_server *s = cls;
        http_conn *c = conn_of(connection);
        if (!c)
                return;
        c->serving = false;
        conn_touch(s, c);
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

static enum MHD_Result serve_metrics(http_server *s, struct MHD_Connection *c) {
        char *text = NULL, *z = NULL;
        size_t len = 0, zlen = 0;
        int r;

        r = metrics_render(s->m, &text, &len);
        if (r < 0) {
                log_error_errno(r, "Failed to render metrics: %m");
                return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to render metrics\n");
        }

        const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        if (accepts_gzip(ae)) {
                r = gzip_compress(text, len, &z, &zlen);
                if (r < 0)
                        log_warning_errno(r, "Failed to compress metrics, sending them plain: %m");
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
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        http_server *s = cls;

        conn_request_started(s, c);
        /* Every answer is decided by method and path alone; a request body is never read. */
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                               (void *) "method not allowed\n", strlen("method not allowed\n"),
                               MHD_RESPMEM_PERSISTENT, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        if (streq(url, "/metrics"))
                return serve_metrics(s, c);
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
        usec_t now = loop_now(s), next = next_deadline(s);

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
        sweep_deadlines(s, loop_now(s));
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

int http_server_start(sd_event *e, const char *listen, const monitor *m, http_server **ret) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int r;

        r = http_listen_parse(listen, &ss, &sl);
        if (r < 0)
                return r;

        http_server *s = calloc(1, sizeof(http_server));
        if (!s)
                return -ENOMEM;
        s->m = m;
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
        *ret = s->stats;
        ret->connections = s->n_live;
}
