/* tcp_info of one process's TCP connection: its socket inodes from /proc/PID/fd, then one
 * SOCK_DIAG_BY_FAMILY dump per address family with INET_DIAG_INFO, matched by inode. A dump walks every
 * bucket of the host's TCP hash table (hundreds of microseconds even when empty), so the kernel filters
 * it by the remote port, and a connection once found is asked for again by its address (an O(1) lookup)
 * while the same socket sits at the same fd. */
#include <dirent.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "../monitor/base/macro.h"
#include "tcpinfo.h"

#define TCPINFO_MAX_SOCKETS 256
/* Bounds the lookup cache: a daemon keeps one entry per tunnel, a dead ssh's entry ages out. */
#define TCPINFO_CACHE_MAX 1024
/* A process without a matching connection is dumped again when its sockets change, or after this. */
#define TCPINFO_NEGATIVE_TTL (60 * USEC_PER_SEC)
/* Every state of a connection that still exists, not listeners (TIME_WAIT has no owner any more). */
#define TCPINFO_STATES                                                                                     \
        ((1U << TCP_ESTABLISHED) | (1U << TCP_SYN_SENT) | (1U << TCP_FIN_WAIT1) | (1U << TCP_FIN_WAIT2) | \
         (1U << TCP_CLOSE_WAIT) | (1U << TCP_LAST_ACK) | (1U << TCP_CLOSING))

typedef struct socket_ref {
        uint64_t inode;
        int fd;
        unsigned owner; /* tcpinfo_prefetch(): the query it belongs to */
} socket_ref;

typedef struct candidate {
        int fd; /* INT32_MAX: none yet */
        uint64_t inode;
        uint8_t family;
        struct inet_diag_sockid id; /* the kernel's key to ask for this socket alone */
        tcp_view view;
} candidate;

/* What the last call for (pid, remote_port) found; the daemon is single-threaded, so is this cache. */
typedef struct cache_entry {
        pid_t pid; /* 0: free */
        uint16_t remote_port;
        uint64_t used; /* LRU stamp */
        bool found;
        int fd; /* found: the socket, at that fd, with that key */
        uint64_t inode;
        uint8_t family;
        struct inet_diag_sockid id;
        uint64_t fingerprint; /* not found: the process's socket inodes then, and when */
        usec_t at;
} cache_entry;

static unsigned dumps_done;
static cache_entry *cache;
static size_t cache_n, cache_allocated;
static uint64_t cache_clock;

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static usec_t mono_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* Order-independent digest of a set of inodes (splitmix64 of each, summed). */
static uint64_t refs_fingerprint(const socket_ref *refs, size_t n) {
        uint64_t fp = n;
        for (size_t i = 0; i < n; i++) {
                uint64_t z = refs[i].inode + 0x9e3779b97f4a7c15ULL;
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                fp += z ^ (z >> 31);
        }
        return fp;
}

static cache_entry *cache_find(pid_t pid, uint16_t remote_port) {
        for (size_t i = 0; i < cache_n; i++)
                if (cache[i].pid == pid && cache[i].remote_port == remote_port)
                        return &cache[i];
        return NULL;
}

/* An entry for (pid, remote_port): the existing one, a free or new slot, or the least recently used. */
static cache_entry *cache_slot(pid_t pid, uint16_t remote_port) {
        cache_entry *e = cache_find(pid, remote_port), *lru = NULL;

        if (e)
                return e;
        for (size_t i = 0; i < cache_n && !e; i++)
                if (cache[i].pid == 0)
                        e = &cache[i];
        if (!e && cache_n < cache_allocated)
                e = &cache[cache_n++];
        /* Before growing: the entries of processes gone (a restarted ssh has a new pid). */
        for (size_t i = 0; i < cache_n && !e; i++)
                if (kill(cache[i].pid, 0) < 0 && errno == ESRCH)
                        e = &cache[i];
        if (!e && cache_allocated < TCPINFO_CACHE_MAX) {
                size_t n = MAX(cache_allocated * 2, (size_t) 16);
                cache_entry *c = reallocarray(cache, n, sizeof *c);
                if (c) {
                        cache = c;
                        cache_allocated = n;
                        e = &cache[cache_n++];
                }
        }
        for (size_t i = 0; i < cache_n && !e; i++)
                if (!lru || cache[i].used < lru->used)
                        lru = &cache[i];
        if (!e)
                e = lru;
        if (e)
                *e = (cache_entry) { .pid = pid, .remote_port = remote_port };
        return e;
}

static void cache_forget_pid(pid_t pid) {
        for (size_t i = 0; i < cache_n; i++)
                if (cache[i].pid == pid)
                        cache[i].pid = 0;
}

static void cache_store(pid_t pid, uint16_t remote_port, const candidate *best, uint64_t fingerprint, usec_t now) {
        cache_entry *e = cache_slot(pid, remote_port);
        if (!e)
                return;
        e->used = ++cache_clock;
        e->found = best->fd != INT32_MAX;
        e->fd = best->fd;
        e->inode = best->inode;
        e->family = best->family;
        e->id = best->id;
        e->fingerprint = fingerprint;
        e->at = now;
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

/* The socket of one query: the lowest matching fd, as a process's first connection is its bastion's. */
static void consider(const struct inet_diag_msg *m, size_t len, const socket_ref *ref, uint16_t remote_port,
                     candidate *best) {
        if (!ref || ref->fd >= best->fd)
                return;
        if (remote_port != 0 && ntohs(m->id.idiag_dport) != remote_port)
                return;
        /* A lookup by address answers whatever state the socket is in now. */
        if (m->idiag_state >= 32 || !(TCPINFO_STATES & (1U << m->idiag_state)))
                return;

        size_t rta_len = len - NLMSG_ALIGN(sizeof *m);
        for (const struct rtattr *a = (const struct rtattr *) ((const uint8_t *) m + NLMSG_ALIGN(sizeof *m));
             RTA_OK(a, rta_len); a = RTA_NEXT(a, rta_len))
                if (a->rta_type == INET_DIAG_INFO) {
                        view_from_info(RTA_DATA(a), RTA_PAYLOAD(a), &best->view);
                        best->fd = ref->fd;
                        best->inode = m->idiag_inode;
                        best->family = m->idiag_family;
                        best->id = m->id;
                        return;
                }
}

/* What a dump's sockets are matched against: the sockets of one or many processes, sorted by inode,
 * each ref naming its query (0 when there is one). */
typedef struct match_set {
        const socket_ref *refs;
        size_t n_refs;
        const uint16_t *remote_ports; /* per query */
        candidate *best;              /* per query */
} match_set;

static int ref_cmp(const void *a, const void *b) {
        const socket_ref *x = a, *y = b;
        return (x->inode > y->inode) - (x->inode < y->inode);
}

static void match(const struct inet_diag_msg *m, size_t len, const match_set *set) {
        const socket_ref key = { .inode = m->idiag_inode };
        const socket_ref *ref = bsearch(&key, set->refs, set->n_refs, sizeof key, ref_cmp);
        if (!ref)
                return;
        /* The same process may be asked about for several ports: each of its queries sees the socket. */
        while (ref > set->refs && ref[-1].inode == key.inode)
                ref--;
        for (; ref < set->refs + set->n_refs && ref->inode == key.inode; ref++)
                consider(m, len, ref, set->remote_ports[ref->owner], &set->best[ref->owner]);
}

/* Sends one request and hands each socket of the answer to consider(), until the dump ends (or after
 * the single answer to a lookup). An unknown family or socket (-ENOENT) is an empty answer. */
static int diag_exchange(int nl, void *req, size_t size, const match_set *set) {
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
                                match(NLMSG_DATA(h), h->nlmsg_len - NLMSG_LENGTH(0), set);
                        if (!(h->nlmsg_flags & NLM_F_MULTI))
                                return 0;
                }
        }
}

/* One family's connections; the kernel keeps only those to remote_port (bytecode "dport == P"). */
static int dump_family(int nl, uint8_t family, uint16_t remote_port, const match_set *set) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
                struct rtattr a;
                struct inet_diag_bc_op op;
                struct inet_diag_hostcond cond; /* AF_UNSPEC, prefix 0: any address, this port */
        } req = {
                .h = {
                        .nlmsg_len = offsetof(__typeof__(req), a),
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
        dumps_done++;
        return diag_exchange(nl, &req, req.h.nlmsg_len, set);
}

/* The cached socket alone, asked for by its address and cookie: no walk of the hash table. */
static int lookup_cached(int nl, const cache_entry *e, candidate *best) {
        struct {
                struct nlmsghdr h;
                struct inet_diag_req_v2 r;
        } req = {
                .h = {
                        .nlmsg_len = sizeof req,
                        .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                        .nlmsg_flags = NLM_F_REQUEST,
                        .nlmsg_seq = 1,
                },
                .r = {
                        .sdiag_family = e->family,
                        .sdiag_protocol = IPPROTO_TCP,
                        .idiag_ext = 1U << (INET_DIAG_INFO - 1),
                        .idiag_states = TCPINFO_STATES,
                        .id = e->id,
                },
        };
        const socket_ref ref = { .inode = e->inode, .fd = e->fd };
        const match_set set = { .refs = &ref, .n_refs = 1, .remote_ports = &e->remote_port, .best = best };

        return diag_exchange(nl, &req, sizeof req, &set);
}

/* Whether the process still holds that socket at that fd: one readlink, not a scan of its fd table. */
static bool holds_socket(pid_t pid, int fd, uint64_t inode) {
        char path[64], target[64], want[64];

        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) pid, fd);
        ssize_t l = readlink(path, target, sizeof target - 1);
        if (l < 0)
                return false;
        target[l] = 0;
        snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long) inode);
        return streq(target, want);
}

/* The socket found last time, if it is still there and still a connection. */
static int tcpinfo_cached(const cache_entry *e, tcp_view *ret) {
        candidate best = { .fd = INT32_MAX };

        if (!holds_socket(e->pid, e->fd, e->inode))
                return -ENOENT;
        _cleanup_(closep) int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0)
                return -errno;
        int r = lookup_cached(nl, e, &best);
        if (r < 0)
                return r;
        if (best.fd == INT32_MAX)
                return -ENOENT;
        *ret = best.view;
        return 0;
}

int tcpinfo_for_pid_port(pid_t pid, uint16_t remote_port, tcp_view *ret) {
        socket_ref refs[TCPINFO_MAX_SOCKETS];
        size_t n_refs = 0;
        candidate best = { .fd = INT32_MAX };
        int r;

        if (pid <= 0 || !ret)
                return -EINVAL;

        cache_entry *e = cache_find(pid, remote_port);
        if (e && e->found) {
                if (tcpinfo_cached(e, ret) >= 0) {
                        e->used = ++cache_clock;
                        return 0;
                }
                e->pid = 0; /* closed or moved on: look again */
                e = NULL;
        }

        r = list_socket_inodes(pid, refs, ELEMENTSOF(refs), &n_refs);
        if (r == -ESRCH)
                cache_forget_pid(pid);
        if (r < 0)
                return r;
        if (n_refs == 0)
                return -ENOENT;

        uint64_t fp = refs_fingerprint(refs, n_refs);
        usec_t now = mono_now();
        if (e && e->fingerprint == fp && now - e->at < TCPINFO_NEGATIVE_TTL) {
                e->used = ++cache_clock;
                return -ENOENT; /* the same sockets as when nothing matched */
        }

        _cleanup_(closep) int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0)
                return -errno;
        qsort(refs, n_refs, sizeof *refs, ref_cmp);
        const match_set set = { .refs = refs, .n_refs = n_refs, .remote_ports = &remote_port, .best = &best };
        r = dump_family(nl, AF_INET, remote_port, &set);
        if (r >= 0)
                r = dump_family(nl, AF_INET6, remote_port, &set);
        if (r < 0)
                return r;

        cache_store(pid, remote_port, &best, fp, now);
        if (best.fd == INT32_MAX)
                return -ENOENT;
        *ret = best.view;
        return 0;
}

/* The first lookups of a whole round at once: every process's sockets, then one dump per family and
 * distinct remote port (a per-tunnel dump would walk the host's TCP table once per tunnel). What is
 * found goes to the cache, where tcpinfo_for_pid_port() then finds it by address. */
int tcpinfo_prefetch(const tcpinfo_query *queries, size_t n) {
        _cleanup_(freep) socket_ref *refs = NULL;
        _cleanup_(freep) uint16_t *ports = NULL;
        _cleanup_(freep) candidate *best = NULL;
        _cleanup_(freep) uint64_t *fps = NULL;
        _cleanup_(freep) bool *wanted = NULL;
        size_t n_refs = 0, allocated = 0;
        int r;

        if (n == 0)
                return 0;
        ports = calloc(n, sizeof *ports);
        best = calloc(n, sizeof *best);
        fps = calloc(n, sizeof *fps);
        wanted = calloc(n, sizeof *wanted);
        if (!ports || !best || !fps || !wanted)
                return -ENOMEM;

        for (size_t q = 0; q < n; q++) {
                socket_ref one[TCPINFO_MAX_SOCKETS];
                size_t k = 0;
                const cache_entry *e = cache_find(queries[q].pid, queries[q].remote_port);

                ports[q] = queries[q].remote_port;
                best[q].fd = INT32_MAX;
                /* Already followed by address, or nothing to look for. */
                if (queries[q].pid <= 0 || (e && e->found) ||
                    list_socket_inodes(queries[q].pid, one, ELEMENTSOF(one), &k) < 0 || k == 0)
                        continue;
                wanted[q] = true;
                fps[q] = refs_fingerprint(one, k);
                if (n_refs + k > allocated) {
                        size_t want = MAX(allocated * 2, n_refs + k);
                        socket_ref *nr = reallocarray(refs, want, sizeof *nr);
                        if (!nr)
                                return -ENOMEM;
                        refs = nr;
                        allocated = want;
                }
                for (size_t i = 0; i < k; i++) {
                        refs[n_refs] = one[i];
                        refs[n_refs++].owner = q;
                }
        }
        if (n_refs == 0)
                return 0;
        qsort(refs, n_refs, sizeof *refs, ref_cmp);

        _cleanup_(closep) int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0)
                return -errno;
        const match_set set = { .refs = refs, .n_refs = n_refs, .remote_ports = ports, .best = best };
        for (size_t q = 0; q < n; q++) {
                bool done = false;
                for (size_t p = 0; p < q && !done; p++)
                        done = wanted[p] && ports[p] == ports[q];
                if (!wanted[q] || done)
                        continue;
                r = dump_family(nl, AF_INET, ports[q], &set);
                if (r >= 0)
                        r = dump_family(nl, AF_INET6, ports[q], &set);
                if (r < 0)
                        return r;
        }

        usec_t now = mono_now();
        for (size_t q = 0; q < n; q++)
                if (wanted[q])
                        cache_store(queries[q].pid, queries[q].remote_port, &best[q], fps[q], now);
        return 0;
}

int tcpinfo_for_pid(pid_t pid, tcp_view *ret) {
        return tcpinfo_for_pid_port(pid, 0, ret);
}

unsigned tcpinfo_dumps(void) {
        return dumps_done;
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
