/* Requests and connections the web config refused: counted by reason (rtun_http_refused_total{reason}),
 * and logged at most once per source address and minute, so a scanner or a misconfigured scraper cannot
 * flood the journal. Pure bookkeeping: the caller logs when told to. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../monitor/base/macro.h"

typedef enum http_refusal {
        HTTP_REFUSED_NO_AUTH,       /* no credentials: 401 */
        HTTP_REFUSED_BAD_AUTH,      /* unknown user or wrong password: 401 */
        HTTP_REFUSED_RATE_LIMITED,  /* bcrypt budget spent: 429 */
        HTTP_REFUSED_CLIENT_CERT,   /* no client certificate, or one no client_ca_file certificate signed */
        HTTP_REFUSED_TLS_HANDSHAKE, /* plain HTTP to the TLS port, or any other failed handshake */
        _HTTP_REFUSAL_MAX,
} http_refusal;

#define HTTP_REFUSAL_LOG_SOURCES 64
#define HTTP_REFUSAL_LOG_INTERVAL (60 * USEC_PER_SEC)

typedef struct http_refusals {
        uint64_t count[_HTTP_REFUSAL_MAX];
        struct {
                uint8_t key[17];    /* family, then the address bytes */
                usec_t logged;      /* when its last refusal was logged */
        } sources[HTTP_REFUSAL_LOG_SOURCES];
        size_t n_sources;
        uint64_t unlogged;          /* refusals not logged (same source within the minute) */
} http_refusals;

const char *http_refusal_to_string(http_refusal r);

/* Counts one refusal from sa (may be NULL); true when it is the first from that address within
 * HTTP_REFUSAL_LOG_INTERVAL (the table forgets the longest-quiet address when full). */
bool http_refusals_note(http_refusals *t, http_refusal why, const struct sockaddr *sa, usec_t now);

/* The counters in the text exposition format, every reason always present (malloc'ed, NUL-terminated). */
int http_refusals_render(const http_refusals *t, char **ret, size_t *ret_len);
