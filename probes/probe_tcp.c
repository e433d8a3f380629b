/* The tcp probe: nonblocking connect to the forward's listen address, optional send, expect the answer.
 * For a monitor running on the bastion itself, or a forward reachable directly. The socks kind is the same
 * connect to a -D forward's local port, then the SOCKS5 greeting and, with a target, a CONNECT through it
 * (socks_proto.c) before the send and expect. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "../monitor/base/hostport.h"
#include "probe.h"
#include "socks_proto.h"

#define TCP_MAX_ADDRS 8

typedef struct tcp_state {
        probe *probe;
        int fd;
        sd_event_source *io;
        bool connected;
        size_t sent;

        struct sockaddr_storage addrs[TCP_MAX_ADDRS];
        socklen_t addr_lens[TCP_MAX_ADDRS];
        size_t n_addrs, current;
        int last_error;
        char where[300]; /* "localhost:21022", for details */

        expect_buffer answer;

        /* socks: 1 greeting sent, 2 CONNECT sent, 3 through (the rest is the target's) */
        int socks_phase;
        uint8_t socks_in[SOCKS_REPLY_MAX];
        size_t socks_len;
        char socks_where[300];
} tcp_state;

static void tcp_close(tcp_state *st) {
        st->io = sd_event_source_disable_unref(st->io);
        if (st->fd >= 0)
                close(st->fd);
        st->fd = -1;
}

static void tcp_add_addr(tcp_state *st, int family, const char *numeric, uint16_t port) {
        struct sockaddr_storage *ss = &st->addrs[st->n_addrs];

        if (st->n_addrs >= TCP_MAX_ADDRS)
                return;
        memset(ss, 0, sizeof *ss);
        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                (void) inet_pton(AF_INET, numeric, &in->sin_addr);
                st->addr_lens[st->n_addrs++] = sizeof *in;
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                (void) inet_pton(AF_INET6, numeric, &in6->sin6_addr);
                st->addr_lens[st->n_addrs++] = sizeof *in6;
        }
}

static int tcp_resolve(tcp_state *st, const char *host, uint16_t port) {
        /* "localhost" (a wildcard bind's too) tried as ssh binds it: both loopbacks. */
        host = forward_connect_host(host);
        if (streq(host, "localhost")) {
                tcp_add_addr(st, AF_INET, "127.0.0.1", port);
                tcp_add_addr(st, AF_INET6, "::1", port);
                return 0;
        }

        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV,
        }, *res = NULL;
        char service[8];
        (void) snprintf(service, sizeof service, "%u", (unsigned) port);

        int r = getaddrinfo(host, service, &hints, &res);
        if (r != 0)
                return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai && st->n_addrs < TCP_MAX_ADDRS; ai = ai->ai_next) {
                if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
                        continue;
                memcpy(&st->addrs[st->n_addrs], ai->ai_addr, ai->ai_addrlen);
                st->addr_lens[st->n_addrs++] = ai->ai_addrlen;
        }
        freeaddrinfo(res);
        return st->n_addrs > 0 ? 0 : -EHOSTUNREACH;
}

static void tcp_fail_connect(tcp_state *st) {
        int e = st->last_error ?: EHOSTUNREACH;

        if (e == ECONNREFUSED)
                probe_finish(st->probe, PROBE_REFUSED, "connection refused by %s", st->where);
        else if (e == ETIMEDOUT)
                probe_finish(st->probe, PROBE_TIMEOUT, "connect to %s timed out", st->where);
        else
                probe_finish(st->probe, PROBE_ERROR, "connect to %s failed: %s", st->where, strerror(e));
}

static int tcp_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Tries the addresses from st->current on; the first one that does not fail at once wins. */
static void tcp_connect_next(tcp_state *st) {
        for (; st->current < st->n_addrs; st->current++) {
                const struct sockaddr_storage *ss = &st->addrs[st->current];

                st->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (st->fd < 0) {
                        st->last_error = errno;
                        continue;
                }
                if (connect(st->fd, (const struct sockaddr *) ss, st->addr_lens[st->current]) < 0 &&
                    errno != EINPROGRESS) {
                        st->last_error = errno;
                        tcp_close(st);
                        continue;
                }
                /* Connected or in progress: writable either way once the handshake is done. */
                int r = sd_event_add_io(probe_event(st->probe), &st->io, st->fd, EPOLLOUT, tcp_on_io, st);
                if (r < 0) {
                        tcp_close(st);
                        probe_finish(st->probe, PROBE_ERROR, "failed to watch socket: %s", strerror(-r));
                        return;
                }
                return;
        }
        tcp_fail_connect(st);
}

static void tcp_on_answer(tcp_state *st) {
        const probe_request *req = probe_get_request(st->probe);
        char chunk[2048], ex[256], detail[300];
        probe_status status;

        for (;;) {
                ssize_t n = read(st->fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        if (errno != ECONNRESET) {
                                probe_finish(st->probe, PROBE_ERROR, "read from %s failed: %m", st->where);
                                return;
                        }
                }
                if (n <= 0) {
                        const char *how = n == 0 ? "closed" : "reset";
                        if (st->answer.len == 0)
                                probe_finish(st->probe, PROBE_BAD_RESPONSE, "%s without answer", how);
                        else
                                probe_finish(st->probe, PROBE_BAD_RESPONSE, "bad answer: \"%s\" (then %s)",
                                             expect_excerpt(&st->answer, ex, sizeof ex), how);
                        return;
                }

                if (expect_answer(&st->answer, req->expect, chunk, (size_t) n, &status, detail, sizeof detail)) {
                        probe_finish(st->probe, status, "%s", detail);
                        return;
                }
        }
}

static bool is_socks(const tcp_state *st) {
        return probe_get_request(st->probe)->kind == PROBE_KIND_SOCKS;
}

/* One short message on a fresh socket: the kernel takes it whole, or something is wrong. */
static bool socks_send(tcp_state *st, const void *buf, ssize_t len) {
        if (len < 0) {
                probe_finish(st->probe, PROBE_ERROR, "cannot encode a SOCKS request: %s", strerror((int) -len));
                return false;
        }
        ssize_t n = send(st->fd, buf, (size_t) len, MSG_NOSIGNAL);
        if (n != len) {
                probe_finish(st->probe, PROBE_BAD_RESPONSE, "SOCKS request to %s not sent: %s", st->where,
                             n < 0 ? strerror(errno) : "short write");
                return false;
        }
        int r = sd_event_source_set_io_events(st->io, EPOLLIN);
        if (r < 0)
                probe_finish(st->probe, PROBE_ERROR, "failed to watch socket: %s", strerror(-r));
        return r >= 0;
}

static probe_status socks_status(uint8_t code) {
        switch (code) {
        case 0x02:
                return PROBE_PROHIBITED;
        case 0x03: case 0x04: case 0x05: case 0x06:
                return PROBE_REFUSED;
        default:
                return PROBE_BAD_RESPONSE;
        }
}

static void tcp_on_writable(tcp_state *st);
static void tcp_on_answer(tcp_state *st);

/* The server's replies, at most one in flight; what follows the CONNECT reply is the target's answer. */
static void socks_on_readable(tcp_state *st) {
        const probe_request *req = probe_get_request(st->probe);
        ssize_t n = read(st->fd, st->socks_in + st->socks_len, sizeof st->socks_in - st->socks_len);
        ssize_t k;
        uint8_t code = 0;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                probe_finish(st->probe, PROBE_BAD_RESPONSE, "SOCKS server at %s %s before its reply", st->where,
                             n == 0 ? "closed" : "reset");
                return;
        }
        st->socks_len += (size_t) n;
        k = st->socks_phase == 1 ? socks_parse_method_reply(st->socks_in, st->socks_len)
                                 : socks_parse_connect_reply(st->socks_in, st->socks_len, &code);
        if (k == 0 && st->socks_len < sizeof st->socks_in)
                return;
        if (k <= 0) {
                probe_finish(st->probe, PROBE_BAD_RESPONSE, "%s at %s: %s", k == -EACCES ? "SOCKS server wants authentication"
                             : k == -EPROTO ? "not a SOCKS5 server" : "malformed SOCKS reply", st->where,
                             st->socks_phase == 1 ? "greeting" : "CONNECT");
                return;
        }
        if (st->socks_phase == 1) {
                if (!req->socks_host) {
                        probe_finish(st->probe, PROBE_OK, "SOCKS5 greeting answered at %s", st->where);
                        return;
                }
                uint8_t out[4 + 1 + 255 + 2];
                st->socks_phase = 2;
                st->socks_len = 0;
                hostport_format(req->socks_host, req->socks_port, st->socks_where, sizeof st->socks_where);
                (void) socks_send(st, out, socks_build_connect(out, sizeof out, req->socks_host, req->socks_port));
                return;
        }
        if (code != 0) {
                probe_finish(st->probe, socks_status(code), "SOCKS CONNECT to %s: %s", st->socks_where,
                             socks_reply_to_string(code));
                return;
        }
        st->socks_phase = 3;
        /* ssh answers the CONNECT before the bastion has opened the channel: only the target's answer proves it. */
        size_t rest = st->socks_len - (size_t) k;
        probe_status status;
        char detail[300];
        if (req->expect && rest > 0 &&
            expect_answer(&st->answer, req->expect, st->socks_in + k, rest, &status, detail, sizeof detail)) {
                probe_finish(st->probe, status, "through SOCKS to %s: %s", st->socks_where, detail);
                return;
        }
        if (req->send && req->send_len > 0) {
                int r = sd_event_source_set_io_events(st->io, EPOLLOUT);
                if (r < 0)
                        probe_finish(st->probe, PROBE_ERROR, "failed to watch socket: %s", strerror(-r));
                return;
        }
        if (!req->expect)
                probe_finish(st->probe, PROBE_OK, "SOCKS CONNECT to %s accepted", st->socks_where);
}

/* Connected: send what the request wants sent, then listen (or stop here when no answer is expected). */
static void tcp_on_writable(tcp_state *st) {
        const probe_request *req = probe_get_request(st->probe);

        if (is_socks(st) && st->socks_phase == 0) {
                uint8_t out[8];
                st->socks_phase = 1;
                (void) socks_send(st, out, socks_build_greeting(out, sizeof out));
                return;
        }

        while (req->send && st->sent < req->send_len) {
                ssize_t n = send(st->fd, req->send + st->sent, req->send_len - st->sent, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return; /* still EPOLLOUT */
                        probe_finish(st->probe, PROBE_BAD_RESPONSE, "send to %s failed: %m", st->where);
                        return;
                }
                st->sent += (size_t) n;
        }

        if (!req->expect) {
                if (is_socks(st))
                        probe_finish(st->probe, PROBE_OK, "SOCKS CONNECT to %s accepted, request sent", st->socks_where);
                else
                        probe_finish(st->probe, PROBE_OK, "connected to %s", st->where);
                return;
        }

        int r = sd_event_source_set_io_events(st->io, EPOLLIN);
        if (r < 0)
                probe_finish(st->probe, PROBE_ERROR, "failed to watch socket: %s", strerror(-r));
}

static int tcp_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        tcp_state *st = userdata;

        if (!st->connected) {
                int err = 0;
                socklen_t len = sizeof err;

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0) {
                        st->last_error = err;
                        tcp_close(st);
                        st->current++;
                        tcp_connect_next(st);
                        return 0;
                }
                st->connected = true;
        }

        if (revents & EPOLLOUT)
                tcp_on_writable(st);
        else if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && is_socks(st) && st->socks_phase < 3)
                socks_on_readable(st);
        else if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                tcp_on_answer(st);
        return 0;
}

static int tcp_start(probe *p, void *userdata) {
        tcp_state *st = userdata;
        const probe_request *req = probe_get_request(p);
        int r;

        st->probe = p;
        st->fd = -1;
        if (!req->forward || req->forward->listen_port == 0)
                return -EINVAL;

        const char *host = req->forward->listen_host;
        hostport_format(host, req->forward->listen_port, st->where, sizeof st->where);

        r = tcp_resolve(st, host, req->forward->listen_port);
        if (r < 0) {
                probe_finish(p, PROBE_ERROR, "cannot resolve %s: %s", strempty(host), strerror(-r));
                return 0;
        }
        tcp_connect_next(st);
        return 0;
}

static void tcp_cancel(probe *p, void *userdata) {
        tcp_close(userdata);
}

const probe_ops probe_tcp_ops = {
        .size = sizeof(tcp_state),
        .start = tcp_start,
        .cancel = tcp_cancel,
};

const probe_ops probe_socks_ops = {
        .size = sizeof(tcp_state),
        .start = tcp_start,
        .cancel = tcp_cancel,
};
