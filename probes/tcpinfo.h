/* Passive view of a process's TCP connection (the tunnel's ssh to its bastion): the kernel's tcp_info
 * through NETLINK_SOCK_DIAG, matched by the socket inodes in /proc/PID/fd. No capability needed beyond
 * reading that process's fd table. Explains a failed probe ("no ACK from bastion for 12 s"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Passive view of the ssh process's TCP connection to the bastion (NETLINK_SOCK_DIAG). */
typedef struct tcp_view {
        bool valid;
        double rtt_seconds;
        uint32_t unacked;
        uint32_t queued;          /* bytes written and not yet acknowledged, sent or not (idiag_wqueue): a
                                   * local drop (a firewall's OUTPUT rule) keeps data here with unacked 0 */
        uint64_t retransmits_total;
        double last_ack_age_seconds;
        uint8_t backoff;          /* retransmission timeouts in a row the peer has not answered */
        uint8_t peer_family;      /* AF_INET, AF_INET6 (0: not known) */
        uint8_t peer_addr[16];    /* network order */
        uint16_t peer_port;
} tcp_view;

/* The lookups' memory: where each (pid, remote_port) connection was found, or that none was. Owned by
 * whoever runs the round (one per monitor), handed to every lookup; not thread-safe. */
typedef struct tcpinfo tcpinfo;
int tcpinfo_new(tcpinfo **ret);
tcpinfo *tcpinfo_free(tcpinfo *ti); /* accepts NULL; returns NULL */
static inline void tcpinfo_freep(tcpinfo **ti) {
        tcpinfo_free(*ti);
}

/* Fills *ret from the process's TCP socket to remote_port (0: any; then the lowest fd wins, which is
 * the bastion connection ssh made first, not a forwarded channel's). -ESRCH: no such process;
 * -EACCES: its fds are not ours to read; -ENOENT: it has no such TCP connection (e.g. ProxyCommand).
 * The connection found is remembered in ti per (pid, remote_port) and followed while it stays open at
 * that fd (about 10 us a call instead of a dump of every socket on the host); "none" is remembered while
 * the process's sockets stay the same, for up to 60 s. */
int tcpinfo_for_pid_port(tcpinfo *ti, pid_t pid, uint16_t remote_port, tcp_view *ret);
int tcpinfo_for_pid(tcpinfo *ti, pid_t pid, tcp_view *ret);
/* The same as a value, for a result: not valid when there is nothing to see (no process, no such
 * connection, not ours to read). */
tcp_view tcpinfo_view(tcpinfo *ti, pid_t pid, uint16_t remote_port);

/* Warms ti for many (pid, remote_port) at once: one dump per address family and distinct port instead
 * of one per query. For a run's first round over many tunnels; later calls find them by address. */
typedef struct tcpinfo_query {
        pid_t pid;
        uint16_t remote_port;
} tcpinfo_query;
int tcpinfo_prefetch(tcpinfo *ti, const tcpinfo_query *queries, size_t n);
/* Dumps of the socket table done so far through ti (for tests and benchmarks). */
unsigned tcpinfo_dumps(const tcpinfo *ti);

/* "no ACK from PEER for 12 s, 3 segments unacked" (peer: "bastion", "host") when data waits for an ACK for 2 s or more; an
 * empty string otherwise. Returns the length written. */
int tcpinfo_explain(const tcp_view *v, const char *peer, char *buf, size_t size);
