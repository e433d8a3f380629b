/* Asking the kernel about TCP connections (NETLINK_SOCK_DIAG with INET_DIAG_INFO): a dump of one address
 * family's connections to a remote port, or one connection by its address, each answer matched against
 * the sockets of the processes asked about (proc_fds.h). */
#pragma once

#include <linux/inet_diag.h>

#include "proc_fds.h"
#include "tcpinfo.h"

/* What one query found so far: the socket at the lowest fd, as a process's first connection is its
 * bastion's (a forwarded channel's comes later). */
typedef struct candidate {
        int fd; /* INT32_MAX: none yet */
        uint64_t inode;
        uint8_t family;
        struct inet_diag_sockid id; /* the kernel's key to ask for this socket alone */
        tcp_view view;
} candidate;

/* What a dump's sockets are matched against: the sockets of one or many processes, sorted by inode,
 * each ref naming its query (0 when there is one). */
typedef struct match_set {
        const socket_ref *refs;
        size_t n_refs;
        const uint16_t *remote_ports; /* per query; 0: any port */
        candidate *best;              /* per query */
} match_set;

/* A NETLINK_SOCK_DIAG socket (CLOEXEC), or -errno. */
int sock_diag_open(void);
/* One family's connections, which the kernel filters to remote_port (0: every port). */
int sock_diag_dump(int nl, uint8_t family, uint16_t remote_port, const match_set *set);
/* The connection a candidate found before, asked for by its address: no walk of the hash table. */
int sock_diag_lookup(int nl, const candidate *known, uint16_t remote_port, candidate *ret);

/* A listening TCP socket: who listens where (the bastion's view of a host's forwards). */
typedef struct sock_listener {
        uint8_t family;    /* AF_INET, AF_INET6 */
        uint8_t addr[16];  /* bound address, network order (4 bytes used for AF_INET) */
        uint16_t port;
        uint64_t inode;    /* the socket's inode: /proc/PID/fd tells whose it is */
        uid_t uid;         /* the socket's owner */
} sock_listener;
typedef void (*sock_diag_listener_t)(const sock_listener *l, void *userdata);
/* Every listening socket of one family, each handed to cb. */
int sock_diag_listeners(int nl, uint8_t family, sock_diag_listener_t cb, void *userdata);
