/* libFuzzer target for the lines of sshd's log the bastion daemon reads (monitor/bastion/sshd_log.c): their
 * text is partly the clients' (user names, key comments), so anyone who reaches sshd writes some of it.
 * Build and run: make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_sshd_log 60 */
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/bastion/sshd_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int port = sshd_log_refused_port((const char *) data, size);
        if (port < 0 || port > 65535 || (size > SSHD_LOG_LINE_MAX && port != 0))
                abort();
        return 0;
}
