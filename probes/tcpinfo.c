/* tcp_info of one process's TCP connection: its socket inodes from /proc/PID/fd (proc_fds.c), then the
 * kernel's view of them (sock_diag.c). What a lookup found is remembered per (pid, remote port) in the
 * tcpinfo object its owner (the round) holds: a connection once found is asked for again by its address,
 * an O(1) lookup, while the same socket sits at the same fd. */
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "../monitor/base/macro.h"
#include "sock_diag.h"
#include "tcpinfo.h"

#define TCPINFO_MAX_SOCKETS 256
/* Bounds the lookup cache: a daemon keeps one entry per tunnel, a dead ssh's entry ages out. */
#define TCPINFO_CACHE_MAX 1024
/* A process without a matching connection is dumped again when its sockets change, or after this. */
#define TCPINFO_NEGATIVE_TTL (60 * USEC_PER_SEC)

/* What the last call for (pid, remote_port) found. */
typedef struct cache_entry {
        pid_t pid; /* 0: free */
        uint16_t remote_port;
        uint64_t used; /* LRU stamp */
        bool found;
        candidate conn;       /* found: the socket, at that fd, with that key */
        uint64_t fingerprint; /* not found: the process's socket inodes then, and when */
        usec_t at;
} cache_entry;

struct tcpinfo {
        cache_entry *cache;
        size_t n, allocated;
        uint64_t clock;
        unsigned dumps; /* of the socket table, for tests and benchmarks */
};

int tcpinfo_new(tcpinfo **ret) {
        tcpinfo *ti = calloc(1, sizeof *ti);
        if (!ti)
                return -ENOMEM;
        *ret = ti;
        return 0;
}

tcpinfo *tcpinfo_free(tcpinfo *ti) {
        if (ti) {
                free(ti->cache);
                free(ti);
        }
        return NULL;
}

static usec_t mono_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

static cache_entry *cache_find(tcpinfo *ti, pid_t pid, uint16_t remote_port) {
        for (size_t i = 0; i < ti->n; i++)
                if (ti->cache[i].pid == pid && ti->cache[i].remote_port == remote_port)
                        return &ti->cache[i];
        return NULL;
}

/* An entry for (pid, remote_port): the existing one, a free or new slot, or the least recently used. */
static cache_entry *cache_slot(tcpinfo *ti, pid_t pid, uint16_t remote_port) {
        cache_entry *e = cache_find(ti, pid, remote_port), *lru = NULL;

        if (e)
                return e;
        for (size_t i = 0; i < ti->n && !e; i++)
                if (ti->cache[i].pid == 0)
                        e = &ti->cache[i];
        if (!e && ti->n < ti->allocated)
                e = &ti->cache[ti->n++];
        /* Before growing: the entries of processes gone (a restarted ssh has a new pid). */
        for (size_t i = 0; i < ti->n && !e; i++)
                if (kill(ti->cache[i].pid, 0) < 0 && errno == ESRCH)
                        e = &ti->cache[i];
        if (!e && ti->allocated < TCPINFO_CACHE_MAX) {
                size_t n = MAX(ti->allocated * 2, (size_t) 16);
                cache_entry *c = reallocarray(ti->cache, n, sizeof *c);
                if (c) {
                        ti->cache = c;
                        ti->allocated = n;
                        e = &ti->cache[ti->n++];
                }
        }
        for (size_t i = 0; i < ti->n && !e; i++)
                if (!lru || ti->cache[i].used < lru->used)
                        lru = &ti->cache[i];
        if (!e)
                e = lru;
        if (e)
                *e = (cache_entry) { .pid = pid, .remote_port = remote_port };
        return e;
}

static void cache_forget_pid(tcpinfo *ti, pid_t pid) {
        for (size_t i = 0; i < ti->n; i++)
                if (ti->cache[i].pid == pid)
                        ti->cache[i].pid = 0;
}

static void cache_store(tcpinfo *ti, pid_t pid, uint16_t remote_port, const candidate *best, uint64_t fingerprint,
                        usec_t now) {
        cache_entry *e = cache_slot(ti, pid, remote_port);
        if (!e)
                return;
        e->used = ++ti->clock;
        e->found = best->fd != INT32_MAX;
        e->conn = *best;
        e->fingerprint = fingerprint;
        e->at = now;
}

static int dump_family(tcpinfo *ti, int nl, uint8_t family, uint16_t remote_port, const match_set *set) {
        ti->dumps++;
        return sock_diag_dump(nl, family, remote_port, set);
}

/* The socket found last time, if it is still there and still a connection. */
static int tcpinfo_cached(const cache_entry *e, tcp_view *ret) {
        candidate best = { .fd = INT32_MAX };

        if (!proc_fds_holds(e->pid, e->conn.fd, e->conn.inode))
                return -ENOENT;
        _cleanup_(closep) int nl = sock_diag_open();
        if (nl < 0)
                return nl;
        int r = sock_diag_lookup(nl, &e->conn, e->remote_port, &best);
        if (r < 0)
                return r;
        if (best.fd == INT32_MAX)
                return -ENOENT;
        *ret = best.view;
        return 0;
}

int tcpinfo_for_pid_port(tcpinfo *ti, pid_t pid, uint16_t remote_port, tcp_view *ret) {
        socket_ref refs[TCPINFO_MAX_SOCKETS];
        size_t n_refs = 0;
        candidate best = { .fd = INT32_MAX };
        int r;

        if (!ti || pid <= 0 || !ret)
                return -EINVAL;

        cache_entry *e = cache_find(ti, pid, remote_port);
        if (e && e->found) {
                if (tcpinfo_cached(e, ret) >= 0) {
                        e->used = ++ti->clock;
                        return 0;
                }
                e->pid = 0; /* closed or moved on: look again */
                e = NULL;
        }

        r = proc_fds_sockets(pid, refs, ELEMENTSOF(refs), &n_refs);
        if (r == -ESRCH)
                cache_forget_pid(ti, pid);
        if (r < 0)
                return r;
        if (n_refs == 0)
                return -ENOENT;

        uint64_t fp = socket_refs_fingerprint(refs, n_refs);
        usec_t now = mono_now();
        if (e && e->fingerprint == fp && now - e->at < TCPINFO_NEGATIVE_TTL) {
                e->used = ++ti->clock;
                return -ENOENT; /* the same sockets as when nothing matched */
        }

        _cleanup_(closep) int nl = sock_diag_open();
        if (nl < 0)
                return nl;
        qsort(refs, n_refs, sizeof *refs, socket_ref_cmp);
        const match_set set = { .refs = refs, .n_refs = n_refs, .remote_ports = &remote_port, .best = &best };
        r = dump_family(ti, nl, AF_INET, remote_port, &set);
        if (r >= 0)
                r = dump_family(ti, nl, AF_INET6, remote_port, &set);
        if (r < 0)
                return r;

        cache_store(ti, pid, remote_port, &best, fp, now);
        if (best.fd == INT32_MAX)
                return -ENOENT;
        *ret = best.view;
        return 0;
}

/* The first lookups of a whole round at once: every process's sockets, then one dump per family and
 * distinct remote port (a per-tunnel dump would walk the host's TCP table once per tunnel). What is
 * found goes to the cache, where tcpinfo_for_pid_port() then finds it by address. */
int tcpinfo_prefetch(tcpinfo *ti, const tcpinfo_query *queries, size_t n) {
        _cleanup_(freep) socket_ref *refs = NULL;
        _cleanup_(freep) uint16_t *ports = NULL;
        _cleanup_(freep) candidate *best = NULL;
        _cleanup_(freep) uint64_t *fps = NULL;
        _cleanup_(freep) bool *wanted = NULL;
        size_t n_refs = 0, allocated = 0;
        int r;

        if (!ti)
                return -EINVAL;
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
                const cache_entry *e = cache_find(ti, queries[q].pid, queries[q].remote_port);

                ports[q] = queries[q].remote_port;
                best[q].fd = INT32_MAX;
                /* Already followed by address, or nothing to look for. */
                if (queries[q].pid <= 0 || (e && e->found) ||
                    proc_fds_sockets(queries[q].pid, one, ELEMENTSOF(one), &k) < 0 || k == 0)
                        continue;
                wanted[q] = true;
                fps[q] = socket_refs_fingerprint(one, k);
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
        qsort(refs, n_refs, sizeof *refs, socket_ref_cmp);

        _cleanup_(closep) int nl = sock_diag_open();
        if (nl < 0)
                return nl;
        const match_set set = { .refs = refs, .n_refs = n_refs, .remote_ports = ports, .best = best };
        for (size_t q = 0; q < n; q++) {
                bool done = false;
                for (size_t p = 0; p < q && !done; p++)
                        done = wanted[p] && ports[p] == ports[q];
                if (!wanted[q] || done)
                        continue;
                r = dump_family(ti, nl, AF_INET, ports[q], &set);
                if (r >= 0)
                        r = dump_family(ti, nl, AF_INET6, ports[q], &set);
                if (r < 0)
                        return r;
        }

        usec_t now = mono_now();
        for (size_t q = 0; q < n; q++)
                if (wanted[q])
                        cache_store(ti, queries[q].pid, queries[q].remote_port, &best[q], fps[q], now);
        return 0;
}

int tcpinfo_for_pid(tcpinfo *ti, pid_t pid, tcp_view *ret) {
        return tcpinfo_for_pid_port(ti, pid, 0, ret);
}

tcp_view tcpinfo_view(tcpinfo *ti, pid_t pid, uint16_t remote_port) {
        tcp_view v = {};

        if (tcpinfo_for_pid_port(ti, pid, remote_port, &v) < 0)
                return (tcp_view) {};
        return v;
}

unsigned tcpinfo_dumps(const tcpinfo *ti) {
        return ti ? ti->dumps : 0;
}

int tcpinfo_explain(const tcp_view *v, const char *peer, char *buf, size_t size) {
        int n;

        if (!buf || size == 0)
                return 0;
        buf[0] = 0;
        /* Unacked data that old means the path is dead in at least one direction, whatever ssh thinks. */
        if (!v || !v->valid || v->unacked == 0 || v->last_ack_age_seconds < 2.0)
                return 0;
        n = snprintf(buf, size, "no ACK from %s for %.0f s, %u segment%s unacked", peer, v->last_ack_age_seconds,
                     v->unacked, v->unacked == 1 ? "" : "s");
        return n < 0 ? 0 : (int) MIN((size_t) n, size - 1);
}
