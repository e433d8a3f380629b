#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "../monitor/base/log.h"
#include "listen_view.h"
#include "sock_diag.h"

#define SESSION_SOCKETS_MAX 4096

typedef struct look {
        const uint16_t *ports;
        size_t n;
        listen_view *views;
} look;

static void on_listener(const sock_listener *l, void *userdata) {
        look *k = userdata;
        for (size_t i = 0; i < k->n; i++) {
                if (k->ports[i] != l->port || k->views[i].listener)
                        continue;
                k->views[i] = (listen_view) { .listener = true, .family = l->family, .uid = l->uid, .inode = l->inode };
                memcpy(k->views[i].addr, l->addr, sizeof l->addr);
        }
}

static bool uid_wanted(const listen_view *v, size_t n, uid_t uid) {
        for (size_t i = 0; i < n; i++)
                if (v[i].listener && !v[i].session_pid && v[i].uid == uid)
                        return true;
        return false;
}

/* Boot time in realtime, for /proc/PID/stat's start time (clock ticks since boot). */
static usec_t boot_realtime(void) {
        struct timespec rt, bt;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_BOOTTIME, &bt);
        return ((usec_t) rt.tv_sec - (usec_t) bt.tv_sec) * USEC_PER_SEC + (usec_t) rt.tv_nsec / 1000 -
                (usec_t) bt.tv_nsec / 1000;
}

static usec_t process_start(pid_t pid, usec_t boot) {
        char path[64], line[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t k = read(fd, line, sizeof line - 1);
        if (k <= 0)
                return 0;
        line[k] = 0;
        /* Field 22 counts from the state (field 3), which follows the last ')' of an arbitrary comm. */
        const char *p = strrchr(line, ')');
        for (int field = 2; p && field < 22; field++)
                p = strchr(p + 1, ' ');
        unsigned long long ticks;
        long hz = sysconf(_SC_CLK_TCK);
        if (!p || sscanf(p + 1, "%llu", &ticks) != 1 || hz <= 0)
                return 0;
        return boot + ticks * USEC_PER_SEC / (usec_t) hz;
}

/* Which process of a listener's owner holds each listening socket: a walk of /proc for those owners. */
static void find_sessions(listen_view *v, size_t n) {
        _cleanup_(freep) socket_ref *refs = malloc(SESSION_SOCKETS_MAX * sizeof *refs);
        DIR *d = opendir("/proc");
        usec_t boot = boot_realtime();
        if (!d || !refs) {
                if (d)
                        closedir(d);
                return;
        }
        for (struct dirent *e; (e = readdir(d));) {
                char *end;
                long pid = strtol(e->d_name, &end, 10);
                struct stat st;
                if (*end || pid <= 0 || fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !uid_wanted(v, n, st.st_uid))
                        continue;
                size_t nr = 0;
                if (proc_fds_sockets((pid_t) pid, refs, SESSION_SOCKETS_MAX, &nr) < 0)
                        continue;
                for (size_t i = 0; i < n; i++)
                        for (size_t j = 0; v[i].listener && !v[i].session_pid && j < nr; j++)
                                if (refs[j].inode == v[i].inode) {
                                        v[i].session_pid = (pid_t) pid;
                                        v[i].session_start = process_start((pid_t) pid, boot);
                                }
        }
        closedir(d);
}

int listen_view_look(const uint16_t *ports, size_t n, tcpinfo *ti, listen_view *ret) {
        look k = { .ports = ports, .n = n, .views = ret };
        int r;

        for (size_t i = 0; i < n; i++)
                ret[i] = (listen_view) {};
        _cleanup_(closep) int nl = sock_diag_open();
        if (nl < 0)
                return nl;
        r = sock_diag_listeners(nl, AF_INET, on_listener, &k);
        if (r >= 0)
                r = sock_diag_listeners(nl, AF_INET6, on_listener, &k);
        if (r < 0)
                return r;
        find_sessions(ret, n);
        /* One dump per family for every session not yet followed by address, not one per session. */
        _cleanup_(freep) tcpinfo_query *q = calloc(MAX(n, (size_t) 1), sizeof *q);
        size_t nq = 0;
        for (size_t i = 0; q && i < n; i++)
                if (ret[i].session_pid)
                        q[nq++] = (tcpinfo_query) { .pid = ret[i].session_pid };
        if (q && tcpinfo_prefetch(ti, q, nq) < 0)
                log_debug("Could not prefetch the sessions' TCP views; looking them up one by one.");
        /* The session's first connection (lowest fd) is the host's: forwarded channels come later. */
        for (size_t i = 0; i < n; i++)
                if (ret[i].session_pid && tcpinfo_for_pid(ti, ret[i].session_pid, &ret[i].tcp) < 0)
                        ret[i].tcp = (tcp_view) {};
        return 0;
}
