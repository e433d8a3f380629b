/* libFuzzer target for the SOCKS5 reply parsers (probes/socks_proto.c): what a -D forward's local port, or
 * whatever listens there, sends the socks probe; and ssh's identity warnings on stderr (resolve_parse.c).
 * Build and run: make fuzz (FUZZ_SECONDS), make fuzz-smoke. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/resolve.h"
#include "../../probes/socks_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Every prefix, as bytes arrive one read at a time: a reply is never longer than SOCKS_REPLY_MAX and
         * never claims more than it was given. */
        for (size_t n = 0; n <= size && n <= SOCKS_REPLY_MAX; n++) {
                uint8_t code = 0;
                ssize_t r = socks_parse_connect_reply(data, n, &code);
                if (r > 0 && ((size_t) r > n || r > SOCKS_REPLY_MAX || r < 8))
                        abort();
                r = socks_parse_method_reply(data, n);
                if (r > 0 && (r != 2 || n < 2))
                        abort();
                if (r > 0 && !socks_reply_to_string(data[1]))
                        abort();
        }

        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        char **w = NULL;
        if (ssh_resolved_identity_warnings(text, &w) == 0)
                for (char **i = w; i && *i; i++)
                        if (strlen(*i) > 1024 + 2 + 256)
                                abort();
        strv_free(w);
        free(text);
        return 0;
}
