/* The sockets a process holds, from /proc/PID/fd: needs no capability beyond reading that process's fd
 * table (the same user, or root: with CAP_DAC_READ_SEARCH, or CAP_SETUID + CAP_SYS_PTRACE as the hardened
 * units have, through the owner's fsuid). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One socket of a process: the inode of a "socket:[INODE]" link, and the fd it sits at. */
typedef struct socket_ref {
        uint64_t inode;
        int fd;
        unsigned owner; /* tcpinfo_prefetch(): the query it belongs to */
} socket_ref;

/* Up to max of pid's sockets into refs. -ESRCH: no such process; -EACCES: not ours to read. */
int proc_fds_sockets(pid_t pid, socket_ref *refs, size_t max, size_t *ret_n);
/* Whether pid still holds that socket at that fd: one readlink, not a scan of its fd table. */
bool proc_fds_holds(pid_t pid, int fd, uint64_t inode);
/* Order-independent digest of a set of sockets: tells whether a process's sockets changed. */
uint64_t socket_refs_fingerprint(const socket_ref *refs, size_t n);
/* qsort/bsearch order: by inode. */
int socket_ref_cmp(const void *a, const void *b);
