/* The bastion's side of a host's forwards, seen without connecting: who listens on each allocated port
 * (NETLINK_SOCK_DIAG), the sshd session process that holds that socket (its inode in /proc/PID/fd), and
 * that session's TCP connection to the host (the same TCP view the host side reads). */
#pragma once

#include "../monitor/base/macro.h"
#include "tcpinfo.h"

typedef struct listen_view {
        bool listener;
        uint8_t family;           /* of the listener found first (sshd's "localhost" binds IPv4 and IPv6) */
        uint8_t addr[16];
        uid_t uid;                /* the listening socket's owner: the tunnel user */
        uint64_t inode;
        pid_t session_pid;        /* 0: not found (not ours to read, or gone meanwhile) */
        usec_t session_start;     /* realtime the session process started (about when the host connected) */
        tcp_view tcp;             /* the session's connection to the host; tcp.valid false: not found */
} listen_view;

/* One look at ports[0..n) (any order, repeats allowed): ret[i] for ports[i]. Processes are searched only
 * among the listeners' owners, and never uid 0's unless a listener is root's. -errno only when the kernel
 * could not be asked at all; a port without a listener is a view, not an error. */
int listen_view_look(const uint16_t *ports, size_t n, tcpinfo *ti, listen_view *ret);
