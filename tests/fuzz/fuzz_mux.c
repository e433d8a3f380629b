/* libFuzzer target for mux_parse, the decoder of what a ControlMaster (or anything listening on its
 * path) sends us, and for the classifiers of the master's log lines (refused channels, refused forwards).
 * Build: clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *          tests/fuzz/fuzz_mux.c probes/mux_proto.c -o build/fuzz_mux
 * Run:   build/fuzz_mux -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>

#include "../../probes/mux_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Consume frame after frame as the probe does, in both phases, with a fixed request id. */
        for (int phase = MUX_PHASE_HELLO; phase <= MUX_PHASE_STDIO_REPLY; phase++) {
                size_t off = 0;
                while (off < size) {
                        mux_message m;
                        ssize_t r = mux_parse(data + off, size - off, (mux_phase) phase, 7, &m);
                        if (r <= 0)
                                break;
                        if ((size_t) r > size - off || r < 8 || strlen(m.reason) >= sizeof m.reason)
                                abort();
                        if (phase == MUX_PHASE_HELLO && (m.type != MUX_MSG_HELLO || m.version != MUX_PROTOCOL_VERSION))
                                abort();
                        if (phase == MUX_PHASE_STDIO_REPLY && m.request_id != 7)
                                abort();
                        off += (size_t) r;
                }
        }

        char *line = malloc(size + 1);
        if (!line)
                return 0;
        memcpy(line, data, size);
        line[size] = 0;
        const char *reason;
        if (mux_open_failure_from_log(line, &reason) != MUX_OPEN_FAILURE_UNKNOWN &&
            (!reason || reason < line || reason > line + size))
                abort();
        int port = mux_forward_failure_from_log(line);
        if (port < -1 || port > 65535)
                abort();
        const char *fix;
        mux_host_key_line k = mux_host_key_line_from_log(line, &fix);
        if ((k == MUX_HOST_KEY_LINE_REMOVE) != (fix != NULL) || (fix && (fix < line || fix > line + size)))
                abort();
        free(line);
        return 0;
}
