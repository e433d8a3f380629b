/* libmicrohttpd in external epoll mode on the sd-event loop, the shape of systemd's journal-remote:
 * MHD's epoll fd is one io source, and a timer re-armed after every MHD_run() from MHD_get_timeout() and
 * from our own connection deadlines.
 *
 * Connections are bounded by http_conns.c: an absolute request deadline, and eviction past a cap. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../monitor/base/hostport.h"
#include "../monitor/base/log.h"
#include "http_auth.h"
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
        struct sockaddr_storage addr;  /* where it listens */
        web_config_loaded *web;        /* NULL: plain HTTP, no auth */
        web_stamp failed[4];           /* the files as they were when a re-read failed: not retried as is */
        bool failed_valid;
        http_auth auth;
        http_refusals refusals;
        unsigned handshakes_failed;    /* failed TLS handshakes MHD reported, not yet matched to a close */
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

static void refused_from(http_server *s, const struct sockaddr *sa, http_refusal why);

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
                http_conn *conn = *socket_context;
                /* MHD said a handshake failed (on_mhd_log); the connection closed without a request is it. */
                if (s->handshakes_failed > 0 && conn && !conn->requested) {
                        s->handshakes_failed--;
                        const union MHD_ConnectionInfo *addr =
                                MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                        refused_from(s, addr ? addr->client_addr : NULL, HTTP_REFUSED_TLS_HANDSHAKE);
                }
                http_conns_remove(&s->conns, conn);
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

/* http_server_config.headers, on every answer as exporter-toolkit sets them. */
static void add_web_headers(const http_server *s, struct MHD_Response *resp) {
        for (size_t i = 0; s->web && i < s->web->cfg.n_headers; i++)
                (void) MHD_add_response_header(resp, s->web->cfg.headers[i].name, s->web->cfg.headers[i].value);
}

/* Queues one response; data is static (PERSISTENT) or malloc'ed and handed over (MUST_FREE). */
static enum MHD_Result respond(const http_server *s, struct MHD_Connection *c, unsigned status,
                               const char *content_type, void *data, size_t len, enum MHD_ResponseMemoryMode mode,
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
        add_web_headers(s, resp);
        enum MHD_Result r = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result respond_text(const http_server *s, struct MHD_Connection *c, unsigned status,
                                    const char *text) {
        return respond(s, c, status, "text/plain; charset=utf-8", (void *) text, strlen(text),
                       MHD_RESPMEM_PERSISTENT, NULL, NULL);
}

/* Appends the server's own counters to a route's text (a malloc'ed buffer of *len bytes, NUL-terminated). */
static int append_server_metrics(const http_server *s, char **text, size_t *len) {
        _cleanup_(freep) char *more = NULL;
        size_t n;
        int r = http_refusals_render(&s->refusals, &more, &n);
        if (r < 0)
                return r;
        char *t = realloc(*text, *len + n + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t + *len, more, n + 1);
        *text = t;
        *len += n;
        return 0;
}

/* A route's text, rendered at request time, gzip'ed when the client asks. */
static enum MHD_Result serve_route(http_server *s, const http_route *route, struct MHD_Connection *c) {
        char *text = NULL, *z = NULL;
        size_t len = 0, zlen = 0;
        int r;

        r = route->render(s->userdata, &text, &len);
        /* Without a web config nothing is ever refused: the output stays metrics_render()'s alone. */
        if (r >= 0 && route->server_metrics && s->web)
                r = append_server_metrics(s, &text, &len);
        if (r < 0) {
                free(text);
                log_error_errno(r, "Failed to render %s: %m", route->path);
                return respond_text(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to render\n");
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
        add_web_headers(s, resp);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static const struct sockaddr *client_addr(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        return i ? i->client_addr : NULL;
}

/* Counts a refusal; logs it when it is the first from that address this minute. */
static void refused_from(http_server *s, const struct sockaddr *sa, http_refusal why) {
        static const char *const what[_HTTP_REFUSAL_MAX] = {
                [HTTP_REFUSED_NO_AUTH] = "no credentials (401)",
                [HTTP_REFUSED_BAD_AUTH] = "unknown user or wrong password (401)",
                [HTTP_REFUSED_RATE_LIMITED] = "password checks over their budget (429)",
                [HTTP_REFUSED_CLIENT_CERT] = "no client certificate, or one client_ca_file did not sign (closed)",
                [HTTP_REFUSED_TLS_HANDSHAKE] = "TLS handshake failed (plain HTTP to the TLS port?)",
        };
        if (!http_refusals_note(&s->refusals, why, sa, loop_now(s)))
                return;
        char addr[INET6_ADDRSTRLEN] = "?";
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, addr, sizeof addr);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, addr, sizeof addr);
        log_warning("HTTP: refused %s: %s (further refusals from it within a minute are only counted).", addr,
                    what[why]);
}

static void refused(http_server *s, struct MHD_Connection *c, http_refusal why) {
        refused_from(s, client_addr(c), why);
}

/* client_auth_type, checked once per connection: GnuTLS has the peer's chain and the client_ca_file
 * certificates MHD was given as trust. */
static bool client_cert_ok(http_server *s, struct MHD_Connection *c) {
        web_client_auth a = s->web->cfg.tls ? s->web->cfg.client_auth : WEB_NO_CLIENT_CERT;
        if (a == WEB_NO_CLIENT_CERT || a == WEB_REQUEST_CLIENT_CERT)
                return true;
        const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!i || !i->tls_session)
                return false;
        gnutls_session_t session = i->tls_session;
        unsigned n = 0;
        if (!gnutls_certificate_get_peers(session, &n) || n == 0)
                return a == WEB_VERIFY_CLIENT_CERT_IF_GIVEN;
        if (a == WEB_REQUIRE_ANY_CLIENT_CERT)
                return true;
        unsigned status = 0;
        return gnutls_certificate_verify_peers2(session, &status) >= 0 && status == 0;
}

/* basic_auth_users: true to go on serving; else the 401/429 is queued and *ret says how that went. */
static bool authorized(http_server *s, struct MHD_Connection *c, enum MHD_Result *ret) {
        if (s->web->cfg.n_users == 0)
                return true;
        char *password = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &password);
        http_auth_verdict v = http_auth_check(&s->auth, &s->web->cfg, user, password, loop_now(s));
        if (password) {
                explicit_bzero(password, strlen(password));
                MHD_free(password);
        }
        MHD_free(user);
        if (v == HTTP_AUTH_OK)
                return true;
        if (v == HTTP_AUTH_BUSY) {
                refused(s, c, HTTP_REFUSED_RATE_LIMITED);
                *ret = respond(s, c, MHD_HTTP_TOO_MANY_REQUESTS, "text/plain; charset=utf-8",
                               (void *) "Too Many Requests\n", strlen("Too Many Requests\n"), MHD_RESPMEM_PERSISTENT,
                               MHD_HTTP_HEADER_RETRY_AFTER, "1");
                return false;
        }
        refused(s, c, v == HTTP_AUTH_MISSING ? HTTP_REFUSED_NO_AUTH : HTTP_REFUSED_BAD_AUTH);
        /* exporter-toolkit's answer: "WWW-Authenticate: Basic", 401 Unauthorized. */
        *ret = respond(s, c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", (void *) "Unauthorized\n",
                       strlen("Unauthorized\n"), MHD_RESPMEM_PERSISTENT, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic");
        return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        http_server *s = cls;

        http_conn *conn = conn_of(c);
        /* The whole request arrived in time: the answer gets a full deadline. */
        http_conns_request_started(&s->conns, conn, loop_now(s));
        if (conn)
                conn->requested = true;
        /* The web config's checks come first, for every path, as exporter-toolkit's handler wraps them all. */
        if (s->web) {
                /* Once per connection (an untracked one, out of memory, every time). */
                if (!conn || !conn->cert_ok) {
                        if (!client_cert_ok(s, c)) {
                                refused(s, c, HTTP_REFUSED_CLIENT_CERT);
                                return MHD_NO; /* closes the connection, as a failed handshake would */
                        }
                        if (conn)
                                conn->cert_ok = true;
                }
                enum MHD_Result r;
                if (!authorized(s, c, &r))
                        return r;
        }
        /* Every answer is decided by method and path alone; a request body is never read. */
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                               (void *) "method not allowed\n", strlen("method not allowed\n"),
                               MHD_RESPMEM_PERSISTENT, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        for (size_t i = 0; i < s->n_routes; i++)
                if (streq(url, s->routes[i].path))
                        return serve_route(s, &s->routes[i], c);
        if (streq(url, "/healthz"))
                return respond_text(s, c, MHD_HTTP_OK, "ok\n");
        if (streq(url, "/"))
                return respond(s, c, MHD_HTTP_OK, "text/html; charset=utf-8", (void *) index_html,
                               sizeof(index_html) - 1, MHD_RESPMEM_PERSISTENT, NULL, NULL);
        return respond_text(s, c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        http_server *s = cls;
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        /* MHD's only word on a failed TLS handshake (plain HTTP to the TLS port, a client that rejects our
         * certificate); the close that follows in the same run says who it was. */
        if (strstr(buf, "handshake"))
                s->handshakes_failed++;
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

static void reload_web_config(http_server *s);

static int run(http_server *s) {
        /* Before MHD accepts anything: a changed web config applies to the very next connection. */
        if (s->web)
                reload_web_config(s);
        /* Past-deadline connections are shut down first, so this very run closes them. */
        http_conns_sweep(&s->conns, loop_now(s));
        s->closed_in_run = false;
        if (MHD_run(s->daemon) != MHD_YES)
                log_debug("microhttpd: MHD_run() failed");
        /* A handshake failure not matched to a close in its run stays counted, only without an address. */
        while (s->handshakes_failed > 0) {
                s->handshakes_failed--;
                refused_from(s, NULL, HTTP_REFUSED_TLS_HANDSHAKE);
        }
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

/* Without TLS and authentication, say it once, at start, with what to do instead. */
static void warn_if_public(const char *listen, const struct sockaddr_storage *ss, uint16_t port) {
        if (http_listen_is_loopback(ss))
                return;
        log_warning("metrics.listen=%s serves /metrics to anyone who can reach that address: no TLS, no "
                    "authentication. Set web_config (TLS and basic auth, the Prometheus exporter-toolkit's file), "
                    "bind it to 127.0.0.1 and scrape through the host's tunnel (-R localhost:2XXXX:localhost:%u), "
                    "or put a reverse proxy in front of it.", listen, port);
}

static uint16_t addr_port(const struct sockaddr_storage *ss) {
        return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *) ss)->sin6_port
                                               : ((const struct sockaddr_in *) ss)->sin_port);
}

/* Starts libmicrohttpd on s->addr, or on listen_fd (a quiesced daemon's socket) when >= 0, with s->web's
 * TLS. -errno; does not log. */
static int start_mhd(http_server *s, MHD_socket listen_fd, struct MHD_Daemon **ret) {
        const web_config_loaded *w = s->web && s->web->cfg.tls ? s->web : NULL;
        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (s->addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                         (w ? MHD_USE_TLS : 0);
        struct MHD_OptionItem o[16];
        char priorities[512];
        size_t n = 0;
        int r;

        /* The logger first: MHD warns about (and uses its own logger for) options before it. */
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) on_mhd_log, s };
        if (listen_fd != MHD_INVALID_SOCKET)
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL };
        else
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_SOCK_ADDR, 0, &s->addr };
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTIONS_HARD_MAX, NULL };
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_SEC, NULL };
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_connection, s };
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, s };
        if (w) {
                r = web_config_priorities(&w->cfg, priorities, sizeof priorities);
                if (r < 0)
                        return r;
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_KEY, 0, w->key_pem };
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert_pem };
                o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_PRIORITIES, 0, priorities };
                /* MHD asks for a client certificate only when it has trust to give GnuTLS; without a
                 * client_ca_file our own certificate stands in (RequestClientCert, RequireAnyClientCert). */
                if (w->cfg.client_auth != WEB_NO_CLIENT_CERT)
                        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                           w->ca_pem ? w->ca_pem : w->cert_pem };
        }
        o[n++] = (struct MHD_OptionItem) { MHD_OPTION_END, 0, NULL };

        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: MHD's default is SO_REUSEADDR (fast restarts), while
         * reuse=1 adds SO_REUSEPORT, which would let a second instance silently share the port. */
        errno = 0;
        struct MHD_Daemon *d = MHD_start_daemon(flags, addr_port(&s->addr), NULL, NULL, on_request, s,
                                                MHD_OPTION_ARRAY, o, MHD_OPTION_END);
        if (!d)
                return errno > 0 ? -errno : -EIO;
        *ret = d;
        return 0;
}

/* The io source on d's epoll fd (replacing any old one). */
static int attach_mhd(http_server *s, struct MHD_Daemon *d) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return -EIO;
        s->io = sd_event_source_disable_unref(s->io);
        int r = sd_event_add_io(s->event, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io, "http-io");
        return 0;
}

int http_server_start(sd_event *e, const char *listen, const http_route *routes, size_t n_routes, void *userdata,
                      http_server **ret) {
        return http_server_start_web(e, listen, NULL, routes, n_routes, userdata, ret);
}

int http_server_start_web(sd_event *e, const char *listen, web_config_loaded *web, const http_route *routes,
                          size_t n_routes, void *userdata, http_server **ret) {
        socklen_t sl;
        int r;

        http_server *s = calloc(1, sizeof(http_server));
        if (!s) {
                web_config_loaded_free(web);
                return -ENOMEM;
        }
        s->web = web;
        r = http_listen_parse(listen, &s->addr, &sl);
        if (r < 0) {
                web_config_loaded_free(web);
                free(s);
                return r;
        }
        s->routes = routes;
        s->n_routes = n_routes;
        s->userdata = userdata;
        s->event = sd_event_ref(e);

        r = start_mhd(s, MHD_INVALID_SOCKET, &s->daemon);
        if (r < 0)
                goto fail;
        r = attach_mhd(s, s->daemon);
        if (r < 0)
                goto fail;

        /* 1 ms accuracy: "run again at once" must not wait for sd-event's default 250 ms coalescing. */
        r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC, on_timer, s);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(s->timer, "http-timer");
        r = rearm(s);
        if (r < 0)
                goto fail;

        if (!web || !web->cfg.tls)
                warn_if_public(listen, &s->addr, addr_port(&s->addr));
        log_debug("Serving metrics on %s (port %d%s).", listen, http_server_port(s), web && web->cfg.tls ? ", TLS" : "");
        *ret = s;
        return 0;

fail:
        http_server_free(s);
        return r;
}

static bool same_file(int a, int b) {
        struct stat x, y;
        return fstat(a, &x) >= 0 && fstat(b, &y) >= 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* start_mhd on a duplicate of fd: libmicrohttpd closes a provided listening socket on some failures (TLS
 * setup) and not on others, so it only ever gets a copy, and ours survives any failure. */
static int start_on(http_server *s, int fd, struct MHD_Daemon **ret) {
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        int r = start_mhd(s, copy, ret);
        if (r < 0 && same_file(copy, fd))
                close(copy);
        return r;
}

/* Moves the listening socket to a new daemon built with web (taken); the old daemon and its connections go.
 * On failure the old configuration is served again on the same socket. */
static int rebuild(http_server *s, web_config_loaded *web) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        struct MHD_Daemon *d = NULL;
        web_config_loaded *old = s->web;
        int r;

        if (fd == MHD_INVALID_SOCKET) {
                web_config_loaded_free(web);
                return -EIO;
        }
        s->web = web;
        r = start_on(s, fd, &d);
        if (r < 0) {
                s->web = old;
                web_config_loaded_free(web);
                if (start_on(s, fd, &d) < 0) {
                        /* Not even the old one: nothing serves; say it loudly, once. */
                        log_error("HTTP: cannot listen again after a failed reconfiguration; not serving.");
                        close(fd);
                        return r;
                }
                old = NULL;
        }
        close(fd); /* the new daemon listens on its copy */
        /* The old daemon's sources go first: its epoll fd closes with it. */
        s->io = sd_event_source_disable_unref(s->io);
        MHD_stop_daemon(s->daemon);
        s->daemon = d;
        web_config_loaded_free(old);
        int k = attach_mhd(s, d);
        if (k < 0)
                return k;
        (void) rearm(s);
        return r;
}

int http_server_set_web_config(http_server *s, web_config_loaded *web) {
        bool tls_now = s->web && s->web->cfg.tls, tls_then = web && web->cfg.tls;
        if (tls_now || tls_then) {
                if (!tls_now || !tls_then || web_config_tls_differs(s->web, web))
                        return rebuild(s, web);
        }
        /* Users and headers: no new daemon, only what each request reads. */
        web_config_loaded_free(s->web);
        s->web = web;
        return 0;
}

const http_refusals *http_server_refusals(const http_server *s) {
        return &s->refusals;
}

static void reload_web_config(http_server *s) {
        web_stamp now[4];
        web_config_stamps(s->web, now);
        if (web_stamps_eq(now, s->web->stamps))
                return;
        if (s->failed_valid && web_stamps_eq(now, s->failed))
                return; /* the same broken version: said once already */
        _cleanup_(freep) char *path = strdup(s->web->cfg.path);
        web_config_loaded *web = NULL;
        char err[1024];
        int r = path ? web_config_load(path, &web, err, sizeof err) : -ENOMEM;
        if (r < 0) {
                memcpy(s->failed, now, sizeof now);
                s->failed_valid = true;
                if (r == -ENOMEM)
                        log_oom();
                else
                        log_error("%s", err);
                log_warning("HTTP: keeping the web config read before; fix the file and it is read again.");
                return;
        }
        s->failed_valid = false;
        bool tls = web->cfg.tls;
        r = http_server_set_web_config(s, web);
        if (r < 0)
                log_error_errno(r, "HTTP: cannot serve with the changed web config %s, keeping the one before: %m",
                                path);
        else
                log_info("HTTP: web config %s read again (%s, %zu user%s).", path, tls ? "TLS" : "no TLS",
                         s->web->cfg.n_users, s->web->cfg.n_users == 1 ? "" : "s");
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
        web_config_loaded_free(s->web);
        http_auth_done(&s->auth);
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
