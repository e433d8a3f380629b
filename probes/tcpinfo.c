/* tcp_info of one process's TCP connection: its socket inodes from /proc/PID/fd, then one
 * SOCK_DIAG_BY_FAMILY dump per address family with INET_DIAG_INFO, matched by inode. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "tcpinfo.h"

#define TCPINFO_MAX_SOCKETS 256
/* Every state of a connection that still exists, not listeners (TIME_WAIT has no owner any more). */
#define TCPINFO_STATES                                                                                     \
        ((1U << TCP_ESTABLISHED) | (1U << TCP_SYN_SENT) | (1U << TCP_FIN_WAIT1) | (1U << TCP_FIN_WAIT2) | \
         (1U << TCP_CLOSE_WAIT) | (1U << TCP_LAST_ACK) | (1U << TCP_CLOSING))

typedef struct socket_ref {
        uint64_t inode;
        int fd;
} socket_ref;

typedef struct candidate {
        int fd; /* INT_MAX: none yet */
        tcp_view view;
} candidate;

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Collects "socket:[INODE]" links of /proc/PID/fd. */
static int list_socket_inodes(pid_t pid, socket_ref *refs, size_t max, size_t *ret_n) {
        char path[64];
        size_t n = 0;

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ESRCH : -errno;

        struct dirent *de;
        while ((de = readdir(d)) && n < max) {
                char target[64];
                unsigned long long ino;
                char *end;

                if (de->d_name[0] == '.')
                        continue;
                ssize_t l = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
                if (l < 0)
                        continue; /* closed meanwhile */
                target[l] = 0;
                if (sscanf(target, "socket:[%llu]", &ino) != 1)
                        continue;
                long fd = strtol(de->d_name, &end, 10);
                if (*end || fd < 0 || fd > INT32_MAX)
                        continue;
                refs[n++] = (socket_ref) { .inode = ino, .fd = (int) fd };
        }
        *ret_n = n;
        return 0;
}

static const socket_ref *find_ref(const socket_ref *refs, size_t n, uint64_t inode) {
        for (size_t i = 0; i < n; i++)
                if (refs[i].inode == inode)
                        return &refs[i];
        return NULL;
}

static void view_from_info(const void *data, size_t len, tcp_view *v) {
        struct tcp_info ti = {};

        /* Older kernels send a shorter struct: what is missing stays zero. */
        memcpy(&ti, data, MIN(len, sizeof ti));
        *v = (tcp_view) {
                .valid = true,
                .rtt_seconds = ti.tcpi_rtt / 1e6,
                .unacked = ti.tcpi_unacked,
                .retransmits_total = ti.tcpi_total_retrans,
                .last_ack_age_seconds = ti.tcpi_last_ack_recv / 1e3,
        };
}

static void consider(const struct inet_diag_msg *m, size_t len, const socket_ref *refs, size_t n_refs,
                     uint16_t remote_port, candidate *best) {
        const socket_ref *ref = find_ref(refs, n_refs, m->idiag_inode);
        if (!ref || ref->fd >= best->fd)
                return;
        if (remote_port != 0 && ntohs(m->id.idiag_dport) != remote_port)
                return;

        size_t rta_len = len - NLMSG_ALIGN(sizeof *m);
        for (const struct rtattr *a = (const struct rtattr *) ((const uint8_t *) m + NLMSG_ALIGN(sizeof *m));
             RTA_OK(a, rta_len); a = RTA_NEXT(a, rta_len))
                if (a->rta_type == INET_DIAG_INFO) {
                        view_from_info(RTA_DATA(a), RTA_PAYLOAD(a), &best->view);
                        best->fd = ref->fd;
                        return;
                }
}

static int dump_family(int nl, uint8_t family, const socket_ref *refs, size_t n_refs, uint16_t remote_port,
                       candidate *best) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
        } req = {
                .h = {
                        .nlmsg_len = sizeof req,
                        .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                        .nlmsg_seq = family,
                },
                .r = {
                        .sdiag_family = family,
                        .sdiag_protocol = IPPROTO_TCP,
                        .idiag_ext = 1U << (INET_DIAG_INFO - 1),
                        .idiag_states = TCPINFO_STATES,
                },
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

        if (sendto(nl, &req, sizeof req, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
                return -errno;

        for (;;) {
                /* Aligned for nlmsghdr; the kernel sizes its dump batches to what we read (<= 32 KiB). */
                long buf[32 * 1024 / sizeof(long)];
                ssize_t n = recv(nl, buf, sizeof buf, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                size_t left = (size_t) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                        if (h->nlmsg_seq != family)
                                continue;
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e))
                                        return -EBADMSG;
                                /* A kernel without IPv6 has no diag handler for it: nothing to find. */
                                return e->error == -ENOENT ? 0 : e->error;
                        }
                        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                                continue;
                        consider(NLMSG_DATA(h), h->nlmsg_len - NLMSG_LENGTH(0), refs, n_refs, remote_port, best);
                }
        }
}

int tcpinfo_for_pid_port(pid_t pid, uint16_t remote_port, tcp_view *ret) {
        socket_ref refs[TCPINFO_MAX_SOCKETS];
        size_t n_refs = 0;
        candidate best = { .fd = INT32_MAX };
        int r;

        if (pid <= 0 || !ret)
                return -EINVAL;
        r = list_socket_inodes(pid, refs, ELEMENTSOF(refs), &n_refs);
        if (r < 0)
                return r;
        if (n_refs == 0)
                return -ENOENT;

        _cleanup_(closep) int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0)
                return -errno;

        r = dump_family(nl, AF_INET, refs, n_refs, remote_port, &best);
        if (r >= 0)
                r = dump_family(nl, AF_INET6, refs, n_refs, remote_port, &best);
        if (r < 0)
                return r;
        if (best.fd == INT32_MAX)
                return -ENOENT;
        *ret = best.view;
        return 0;
}

int tcpinfo_for_pid(pid_t pid, tcp_view *ret) {
        return tcpinfo_for_pid_port(pid, 0, ret);
}

int tcpinfo_explain(const tcp_view *v, char *buf, size_t size) {
        int n;

        if (!buf || size == 0)
                return 0;
        buf[0] = 0;
        /* Unacked data that old means the path is dead in at least one direction, whatever ssh thinks. */
        if (!v || !v->valid || v->unacked == 0 || v->last_ack_age_seconds < 2.0)
                return 0;
        n = snprintf(buf, size, "no ACK from bastion for %.0f s, %u segment%s unacked", v->last_ack_age_seconds,
                     v->unacked, v->unacked == 1 ? "" : "s");
        return n < 0 ? 0 : (int) MIN((size_t) n, size - 1);
}
