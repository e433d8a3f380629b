/* The HTTP server's connection table: who is connected, since when, and whom to drop. MHD's idle timeout is
 * reset by every byte (a client dripping a header line every few seconds would hold its slot forever), and at
 * MHD's own limit new clients wait unaccepted, a scraper among them. So every connection gets an absolute
 * deadline for its request (HTTP_REQUEST_DEADLINE from accept, or from its previous request), and past
 * HTTP_CONNECTIONS_MAX a new connection evicts the stalest one of the address holding the most: a new
 * scraper always gets in, even when it shares an address with a flood. Dropping is shutdown(2) on the fd:
 * its owner (MHD) sees the hangup and closes it. Pure bookkeeping: no clock reads, no logging above debug. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../monitor/base/macro.h"

/* Our cap; beyond it a new connection evicts an old one. */
#define HTTP_CONNECTIONS_MAX 64u
/* A request must be received and answered within this much of accept (or of the previous request's end). */
#define HTTP_REQUEST_DEADLINE_USEC (10 * USEC_PER_SEC)

typedef struct http_peer http_peer;

typedef struct http_conn {
        struct http_conn *prev, *next; /* the table's list, oldest `since` first */
        http_peer *peer;
        int fd;          /* the server's; only ever shut down here, never closed */
        usec_t since;    /* accept, or the start/end of the last request: the deadline counts from it */
        bool serving;    /* a complete request is being answered */
        bool dropping;   /* shut down, its owner closes it next */
        bool requested;  /* a whole request arrived on it (so a later close is no failed handshake) */
        bool cert_ok;    /* its TLS client certificate passed the web config's client_auth_type */
} http_conn;

typedef struct http_server_stats {
        uint64_t evicted;     /* dropped to make room for a newer connection */
        uint64_t timed_out;   /* dropped for not completing a request within the deadline */
        unsigned connections; /* open now (not counting those being dropped) */
} http_server_stats;

typedef struct http_conns {
        http_conn *head, *tail;
        http_peer *peers;
        unsigned n_live;
        http_server_stats stats;
} http_conns;

/* A new connection on fd from sa (may be NULL); evicts another when over the cap. NULL when out of memory:
 * then fd is already shut down, since an untracked connection would escape every bound. */
http_conn *http_conns_add(http_conns *t, int fd, const struct sockaddr *sa, usec_t now);
/* Its owner closed it. Accepts NULL. */
void http_conns_remove(http_conns *t, http_conn *c);
/* A whole request arrived (the answer gets a full deadline), or was answered (the next request gets one). */
void http_conns_request_started(http_conns *t, http_conn *c, usec_t now);
void http_conns_request_done(http_conns *t, http_conn *c, usec_t now);
/* Drops every connection past its deadline. */
void http_conns_sweep(http_conns *t, usec_t now);
/* When the next deadline falls, USEC_INFINITY when none. */
usec_t http_conns_next_deadline(const http_conns *t);
