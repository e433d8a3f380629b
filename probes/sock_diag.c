/* NETLINK_SOCK_DIAG, the TCP half: one dump per address family with INET_DIAG_INFO, matched by inode. A
 * dump walks every bucket of the host's TCP hash table (hundreds of microseconds even when empty), so the
 * kernel filters it by the remote port, and a connection once found is asked for by its address. */
#include <stddef.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "../monitor/base/macro.h"
#include "sock_diag.h"

/* Every state of a connection that still exists, not listeners (TIME_WAIT has no owner any more). */
#define TCP_CONNECTION_STATES                                                                              \
        ((1U << TCP_ESTABLISHED) | (1U << TCP_SYN_SENT) | (1U << TCP_FIN_WAIT1) | (1U << TCP_FIN_WAIT2) | \
         (1U << TCP_CLOSE_WAIT) | (1U << TCP_LAST_ACK) | (1U << TCP_CLOSING))

/* What every request says: one SOCK_DIAG_BY_FAMILY message (a dump or one socket), about TCP sockets of one
 * family in these states, with or without INET_DIAG_INFO. */
#define DIAG_HEADER(len, flags, seq)                                                                      \
        { .nlmsg_len = (len), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | (flags),  \
          .nlmsg_seq = (seq) }
#define DIAG_TCP(family, states, ext) \
        .sdiag_family = (family), .sdiag_protocol = IPPROTO_TCP, .idiag_ext = (ext), .idiag_states = (states)
#define DIAG_EXT_INFO (1U << (INET_DIAG_INFO - 1))

int sock_diag_open(void) {
        int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        return nl < 0 ? -errno : nl;
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
                .backoff = ti.tcpi_backoff,
        };
}

/* The socket of one query: the lowest matching fd. */
static void consider(const struct inet_diag_msg *m, size_t len, const socket_ref *ref, uint16_t remote_port,
                     candidate *best) {
        if (!ref || ref->fd >= best->fd)
                return;
        if (remote_port != 0 && ntohs(m->id.idiag_dport) != remote_port)
                return;
        /* A lookup by address answers whatever state the socket is in now. */
        if (m->idiag_state >= 32 || !(TCP_CONNECTION_STATES & (1U << m->idiag_state)))
                return;

        size_t rta_len = len - NLMSG_ALIGN(sizeof *m);
        for (const struct rtattr *a = (const struct rtattr *) ((const uint8_t *) m + NLMSG_ALIGN(sizeof *m));
             RTA_OK(a, rta_len); a = RTA_NEXT(a, rta_len))
                if (a->rta_type == INET_DIAG_INFO) {
                        view_from_info(RTA_DATA(a), RTA_PAYLOAD(a), &best->view);
                        best->view.peer_family = m->idiag_family;
                        memcpy(best->view.peer_addr, m->id.idiag_dst, sizeof best->view.peer_addr);
                        best->view.peer_port = ntohs(m->id.idiag_dport);
                        best->view.queued = m->idiag_wqueue;
                        best->fd = ref->fd;
                        best->inode = m->idiag_inode;
                        best->family = m->idiag_family;
                        best->id = m->id;
                        return;
                }
}

static void match(const struct inet_diag_msg *m, size_t len, void *userdata) {
        const match_set *set = userdata;
        const socket_ref key = { .inode = m->idiag_inode };
        const socket_ref *ref = bsearch(&key, set->refs, set->n_refs, sizeof key, socket_ref_cmp);
        if (!ref)
                return;
        /* The same process may be asked about for several ports: each of its queries sees the socket. */
        while (ref > set->refs && ref[-1].inode == key.inode)
                ref--;
        for (; ref < set->refs + set->n_refs && ref->inode == key.inode; ref++)
                consider(m, len, ref, set->remote_ports[ref->owner], &set->best[ref->owner]);
}

typedef void (*diag_handler)(const struct inet_diag_msg *m, size_t len, void *userdata);

/* Sends one request and hands each socket of the answer to the handler, until the dump ends (or after the
 * single answer to a lookup). An unknown family or socket (-ENOENT) is an empty answer. */
static int diag_exchange(int nl, void *req, size_t size, diag_handler handler, void *userdata) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        const struct nlmsghdr *q = req;

        if (sendto(nl, req, size, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
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
                        if (h->nlmsg_seq != q->nlmsg_seq)
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
                        if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
                            h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                                handler(NLMSG_DATA(h), h->nlmsg_len - NLMSG_LENGTH(0), userdata);
                        if (!(h->nlmsg_flags & NLM_F_MULTI))
                                return 0;
                }
        }
}

int sock_diag_dump(int nl, uint8_t family, uint16_t remote_port, const match_set *set) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
                struct rtattr a;
                struct inet_diag_bc_op op;
                struct inet_diag_hostcond cond; /* AF_UNSPEC, prefix 0: any address, this port */
        } req = {
                .h = DIAG_HEADER(offsetof(__typeof__(req), a), NLM_F_DUMP, family),
                .r = { DIAG_TCP(family, TCP_CONNECTION_STATES, DIAG_EXT_INFO) },
                .a = {
                        .rta_len = RTA_LENGTH(sizeof req.op + sizeof req.cond),
                        .rta_type = INET_DIAG_REQ_BYTECODE,
                },
                /* Match: run past the end (accept); no match: jump 4 bytes beyond it (reject). */
                .op = {
                        .code = INET_DIAG_BC_D_COND,
                        .yes = sizeof req.op + sizeof req.cond,
                        .no = sizeof req.op + sizeof req.cond + 4,
                },
                .cond = { .family = AF_UNSPEC, .prefix_len = 0, .port = remote_port },
        };
        _Static_assert(sizeof req == offsetof(__typeof__(req), cond) + sizeof req.cond, "request not packed");

        if (remote_port != 0)
                req.h.nlmsg_len = sizeof req;
        return diag_exchange(nl, &req, req.h.nlmsg_len, match, (void *) set);
}

int sock_diag_lookup(int nl, const candidate *known, uint16_t remote_port, candidate *ret) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
        } req = {
                .h = DIAG_HEADER(sizeof req, 0, 1),
                .r = { DIAG_TCP(known->family, TCP_CONNECTION_STATES, DIAG_EXT_INFO), .id = known->id },
        };
        const socket_ref ref = { .inode = known->inode, .fd = known->fd };
        const match_set set = { .refs = &ref, .n_refs = 1, .remote_ports = &remote_port, .best = ret };

        return diag_exchange(nl, &req, sizeof req, match, (void *) &set);
}

typedef struct listen_ctx {
        sock_diag_listener_t cb;
        void *userdata;
} listen_ctx;

static void on_listener(const struct inet_diag_msg *m, size_t len, void *userdata) {
        const listen_ctx *c = userdata;
        if (m->idiag_state != TCP_LISTEN)
                return;
        sock_listener l = {
                .family = m->idiag_family,
                .port = ntohs(m->id.idiag_sport),
                .inode = m->idiag_inode,
                .uid = m->idiag_uid,
        };
        memcpy(l.addr, m->id.idiag_src, sizeof l.addr);
        c->cb(&l, c->userdata);
}

int sock_diag_listeners(int nl, uint8_t family, sock_diag_listener_t cb, void *userdata) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
        } req = {
                .h = DIAG_HEADER(sizeof req, NLM_F_DUMP, family),
                .r = { DIAG_TCP(family, 1U << TCP_LISTEN, 0) },
        };
        listen_ctx c = { .cb = cb, .userdata = userdata };
        return diag_exchange(nl, &req, sizeof req, on_listener, &c);
}
