/* /proc/PID/fd: which sockets a process holds, and at which fds. */
#include <dirent.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../monitor/base/macro.h"
#include "proc_fds.h"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* The file-system identity we had before fs_as_owner(). */
typedef struct fs_saved {
        uid_t uid;
        gid_t gid;
        bool switched;
} fs_saved;

static void fs_restore(fs_saved *s) {
        if (!s->switched)
                return;
        int e = errno;
        (void) setfsgid(s->gid);
        (void) setfsuid(s->uid);
        errno = e;
        s->switched = false;
}

/* Another uid's /proc/PID/fd is 0500 and its owner's: root without CAP_DAC_READ_SEARCH (the hardened units)
 * may list it only with the owner's file-system identity, and reads the links with CAP_SYS_PTRACE. Without
 * CAP_SETUID the switch does nothing and EACCES stays. */
static bool fs_as_owner(pid_t pid, fs_saved *s) {
        char path[32];
        struct stat st;

        snprintf(path, sizeof path, "/proc/%d", (int) pid);
        if (stat(path, &st) < 0 || st.st_uid == geteuid())
                return false;
        *s = (fs_saved) { .uid = (uid_t) setfsuid(st.st_uid), .gid = (gid_t) setfsgid(st.st_gid), .switched = true };
        return true;
}

int proc_fds_sockets(pid_t pid, socket_ref *refs, size_t max, size_t *ret_n) {
        char path[64];
        size_t n = 0;
        _cleanup_(fs_restore) fs_saved saved = {};

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d && errno == EACCES && fs_as_owner(pid, &saved))
                d = opendir(path);
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

bool proc_fds_holds(pid_t pid, int fd, uint64_t inode) {
        char path[64], target[64], want[64];
        _cleanup_(fs_restore) fs_saved saved = {};

        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) pid, fd);
        ssize_t l = readlink(path, target, sizeof target - 1);
        if (l < 0 && errno == EACCES && fs_as_owner(pid, &saved))
                l = readlink(path, target, sizeof target - 1);
        if (l < 0)
                return false;
        target[l] = 0;
        snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long) inode);
        return streq(target, want);
}

uint64_t socket_refs_fingerprint(const socket_ref *refs, size_t n) {
        /* splitmix64 of each inode, summed: the order of readdir() does not matter. */
        uint64_t fp = n;
        for (size_t i = 0; i < n; i++) {
                uint64_t z = refs[i].inode + 0x9e3779b97f4a7c15ULL;
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                fp += z ^ (z >> 31);
        }
        return fp;
}

int socket_ref_cmp(const void *a, const void *b) {
        const socket_ref *x = a, *y = b;
        return (x->inode > y->inode) - (x->inode < y->inode);
}
