/* Where a probe connects to reach a forward's listener on the bastion. */
#include "../monitor/base/macro.h"
#include "ssh_target.h"

const char *forward_connect_host(const char *listen_host) {
        /* The bastion's sshd (or we, for the tcp probe) connects to what we name: never to a wildcard. */
        if (isempty_str(listen_host) || streq(listen_host, "*") || streq(listen_host, "0.0.0.0"))
                return "localhost";
        if (streq(listen_host, "::"))
                return "::1";
        return listen_host;
}
