/* See http_refusals.h. */
#include <inttypes.h>
#include <netinet/in.h>

#include "../monitor/base/hostport.h"
#include "http_refusals.h"

static const char *const http_refusal_table[_HTTP_REFUSAL_MAX] = {
        [HTTP_REFUSED_NO_AUTH] = "no_auth",
        [HTTP_REFUSED_BAD_AUTH] = "bad_auth",
        [HTTP_REFUSED_RATE_LIMITED] = "rate_limited",
        [HTTP_REFUSED_CLIENT_CERT] = "client_cert",
        [HTTP_REFUSED_TLS_HANDSHAKE] = "tls_handshake",
};

const char *http_refusal_to_string(http_refusal r) {
        return (size_t) r < ELEMENTSOF(http_refusal_table) ? http_refusal_table[r] : NULL;
}

bool http_refusals_note(http_refusals *t, http_refusal why, const struct sockaddr *sa, usec_t now) {
        uint8_t key[17];
        size_t i, quietest = 0;

        t->count[why]++;
        sockaddr_key(sa, false, key);
        for (i = 0; i < t->n_sources; i++) {
                if (memcmp(t->sources[i].key, key, sizeof key) == 0)
                        break;
                if (t->sources[i].logged < t->sources[quietest].logged)
                        quietest = i;
        }
        if (i < t->n_sources) {
                if (now < t->sources[i].logged + HTTP_REFUSAL_LOG_INTERVAL) {
                        t->unlogged++;
                        return false;
                }
        } else if (t->n_sources < HTTP_REFUSAL_LOG_SOURCES)
                i = t->n_sources++;
        else
                i = quietest;
        memcpy(t->sources[i].key, key, sizeof key);
        t->sources[i].logged = now;
        return true;
}

int http_refusals_render(const http_refusals *t, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs("# HELP rtun_http_refused_total Requests and connections refused by the web config, by reason.\n"
              "# TYPE rtun_http_refused_total counter\n", f);
        for (http_refusal r = 0; r < _HTTP_REFUSAL_MAX; r++)
                fprintf(f, "rtun_http_refused_total{reason=\"%s\"} %" PRIu64 "\n", http_refusal_to_string(r), t->count[r]);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
