/* What a probe goes through, as the monitor resolved it (`ssh -G`): the tunnel's ssh connection to its
 * bastion, to reach it as the tunnel does, and one -R forward's listen address there. The probes define
 * what they consume; the monitor fills it from its resolution. The strings are borrowed: they must stay
 * valid until the probe has finished. */
#pragma once

#include <stdint.h>

typedef struct ssh_target {
        const char *hostname;                 /* bastion, after HostName resolution of ssh_config */
        uint16_t port;
        const char *user;
        char *const *identity_files;          /* strv, in order; NULL: none */
        const char *control_path;             /* NULL when none */
        const char *proxy_jump;               /* NULL or "none" when none */
        const char *proxy_command;            /* NULL or "none" when none */
        const char *host_key_alias;
        const char *user_known_hosts_file;    /* as printed (space-separated list) */
        const char *global_known_hosts_file;
        const char *strict_host_key_checking;
} ssh_target;

typedef struct forward_address {
        const char *listen_host;              /* bind address on the bastion; "localhost" when omitted */
        uint16_t listen_port;
} forward_address;

/* The host a connection to the forward names: a wildcard bind ("", "*", "0.0.0.0", "::") is reachable on
 * loopback ("localhost", "::1"), anything else as it is. */
const char *forward_connect_host(const char *listen_host);
