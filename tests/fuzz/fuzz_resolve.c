/* libFuzzer target for ssh_resolved_parse, the parser of `ssh -G` output.
 * Build: clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *          tests/fuzz/fuzz_resolve.c monitor/resolve_parse.c monitor/base/hostport.c monitor/base/util.c \
 *          monitor/base/log.c -o build/fuzz_resolve
 * Run:   build/fuzz_resolve -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The parser takes a C string, as ssh_resolve_exec hands it one. */
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        ssh_resolved r = {};
        char err[128];
        if (ssh_resolved_parse(text, &r, err, sizeof(err)) == 0) {
                char buf[300];
                /* Every kept forward must be probeable and formattable, and findable by its own name. */
                for (size_t i = 0; i < r.n_forwards; i++) {
                        if (r.forwards[i].listen_port == 0 || !r.forwards[i].listen_host || !r.forwards[i].target)
                                abort();
                        ssh_forward_format(&r.forwards[i], buf, sizeof(buf));
                        if (strlen(buf) < sizeof(buf) - 1 && !ssh_resolved_find_forward(&r, buf))
                                abort();
                }
                if (!r.hostname || !r.bastion || r.port == 0)
                        abort();
                /* What the state file keeps reads back the same. */
                char *formatted = NULL;
                ssh_resolved b = {};
                if (ssh_resolved_format(&r, &formatted) == 0) {
                        if (ssh_resolved_parse(formatted, &b, NULL, 0) != 0 || strcmp(b.bastion, r.bastion) != 0 ||
                            b.n_forwards != r.n_forwards || !streq_ptr(b.control_path, r.control_path) ||
                            !streq_ptr(b.user, r.user) || strv_length(b.identity_files) != strv_length(r.identity_files))
                                abort();
                        for (size_t i = 0; i < r.n_forwards; i++)
                                if (strcmp(b.forwards[i].listen_host, r.forwards[i].listen_host) != 0 ||
                                    b.forwards[i].listen_port != r.forwards[i].listen_port ||
                                    strcmp(b.forwards[i].target, r.forwards[i].target) != 0)
                                        abort();
                }
                ssh_resolved_done(&b);
                free(formatted);
        }
        ssh_resolved_done(&r);
        free(text);
        return 0;
}
