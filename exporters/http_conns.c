/* The HTTP server's connection table (see http_conns.h). */
#include <netinet/in.h>

#include "../monitor/base/hostport.h"
#include "../monitor/base/log.h"
#include "http_conns.h"

/* One client address (an IPv6 /64, where one host holds many addresses) and its connections. */
struct http_peer {
        struct http_peer *next;
        uint8_t key[17]; /* family, then up to 16 address bytes */
        unsigned live;   /* connections not being dropped: what eviction weighs */
        unsigned refs;   /* every connection still open, dropped or not */
};

static void conn_unlink(http_conns *t, http_conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                t->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                t->tail = c->prev;
        c->prev = c->next = NULL;
}

static void conn_append(http_conns *t, http_conn *c) {
        c->prev = t->tail;
        if (t->tail)
                t->tail->next = c;
        else
                t->head = c;
        t->tail = c;
}

/* Restarts c's deadline; the list stays sorted by `since`, so the sweep stops at the first live one. */
static void conn_touch(http_conns *t, http_conn *c, usec_t now) {
        c->since = now;
        conn_unlink(t, c);
        conn_append(t, c);
}

static http_peer *peer_ref(http_conns *t, const struct sockaddr *sa) {
        uint8_t key[17];
        sockaddr_key(sa, true, key);
        for (http_peer *p = t->peers; p; p = p->next)
                if (memcmp(p->key, key, sizeof(key)) == 0) {
                        p->refs++;
                        return p;
                }
        http_peer *p = calloc(1, sizeof(http_peer));
        if (!p)
                return NULL;
        memcpy(p->key, key, sizeof(key));
        p->refs = 1;
        p->next = t->peers;
        t->peers = p;
        return p;
}

static void peer_unref(http_conns *t, http_peer *p) {
        if (--p->refs > 0)
                return;
        for (http_peer **pp = &t->peers; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        free(p);
}

/* Shuts the socket down under MHD: its epoll sees the hangup and closes the connection on the next run. */
static void conn_drop(http_conns *t, http_conn *c, const char *why) {
        if (c->dropping)
                return;
        if (shutdown(c->fd, SHUT_RDWR) < 0)
                log_debug_errno(errno, "HTTP connection %d: shutdown() failed, ignoring: %m", c->fd);
        c->dropping = true;
        c->peer->live--;
        t->n_live--;
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

static void evict_one(http_conns *t, const http_conn *keep) {
        http_conn *victim = NULL;
        for (http_conn *c = t->head; c; c = c->next)
                if (c != keep && !c->dropping && victim_better(c, victim))
                        victim = c;
        if (!victim)
                return;
        t->stats.evicted++;
        conn_drop(t, victim, "connection limit reached, making room for a new one");
}

/* Drops every connection past its deadline (the list is oldest first: stops at the first one ahead). */
void http_conns_sweep(http_conns *t, usec_t now) {
        for (http_conn *c = t->head; c; c = c->next) {
                if (c->dropping)
                        continue;
                if (c->since + HTTP_REQUEST_DEADLINE_USEC > now)
                        return;
                t->stats.timed_out++;
                conn_drop(t, c, "request not completed in time");
        }
}

usec_t http_conns_next_deadline(const http_conns *t) {
        for (http_conn *c = t->head; c; c = c->next)
                if (!c->dropping)
                        return c->since + HTTP_REQUEST_DEADLINE_USEC;
        return USEC_INFINITY;
}


http_conn *http_conns_add(http_conns *t, int fd, const struct sockaddr *sa, usec_t now) {
        http_conn *c = calloc(1, sizeof(http_conn));
        if (c)
                c->peer = peer_ref(t, sa);
        if (!c || !c->peer) {
                (void) shutdown(fd, SHUT_RDWR);
                free(c);
                log_debug("HTTP connection refused: out of memory.");
                return NULL;
        }
        c->fd = fd;
        c->since = now;
        conn_append(t, c);
        c->peer->live++;
        t->n_live++;
        if (t->n_live > HTTP_CONNECTIONS_MAX)
                evict_one(t, c);
        return c;
}

void http_conns_remove(http_conns *t, http_conn *c) {
        if (!c)
                return;
        if (!c->dropping) {
                c->peer->live--;
                t->n_live--;
        }
        conn_unlink(t, c);
        peer_unref(t, c->peer);
        free(c);
}

void http_conns_request_started(http_conns *t, http_conn *c, usec_t now) {
        if (!c || c->serving)
                return;
        c->serving = true;
        conn_touch(t, c, now);
}

void http_conns_request_done(http_conns *t, http_conn *c, usec_t now) {
        if (!c)
                return;
        c->serving = false;
        conn_touch(t, c, now);
}
