#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "../base/log.h"
#include "reaper.h"

typedef struct pending {
        reaper *owner;
        int pidfd;
        pid_t pid;
        sd_event_source *timer;
} pending;

#define PENDING_MAX 64

struct reaper {
        sd_event *event;
        pending slots[PENDING_MAX];
};

static int pidfd_open_(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

static int pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int reaper_new(sd_event *e, reaper **ret) {
        reaper *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->event = e;
        for (size_t i = 0; i < PENDING_MAX; i++)
                r->slots[i] = (pending) { .owner = r, .pidfd = -1 };
        *ret = r;
        return 0;
}

static void pending_done(pending *p) {
        p->timer = sd_event_source_disable_unref(p->timer);
        closep(&p->pidfd);
        p->pidfd = -1;
}

reaper *reaper_free(reaper *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < PENDING_MAX; i++)
                if (r->slots[i].pidfd >= 0) {
                        (void) pidfd_signal(r->slots[i].pidfd, SIGKILL);
                        pending_done(&r->slots[i]);
                }
        free(r);
        return NULL;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        pending *p = userdata;
        int k = pidfd_signal(p->pidfd, SIGKILL);
        if (k >= 0)
                log_notice("Session %d did not end on SIGTERM within %llu s: SIGKILL.", (int) p->pid,
                           (unsigned long long) (REAP_KILL_AFTER / USEC_PER_SEC));
        pending_done(p);
        return 0;
}

int reaper_end_session(reaper *r, pid_t pid, uid_t uid) {
        char path[64];
        struct stat st;
        pending *slot = NULL;

        for (size_t i = 0; i < PENDING_MAX && !slot; i++)
                if (r->slots[i].pidfd < 0)
                        slot = &r->slots[i];
        if (!slot)
                return -EBUSY;
        if (pid <= 1 || uid == 0)
                return -EPERM;
        _cleanup_(closep) int fd = pidfd_open_(pid);
        if (fd < 0)
                return fd;
        /* Whose it is, asked after the pidfd pins the process: the pid cannot be someone else's by now. */
        snprintf(path, sizeof path, "/proc/%d", (int) pid);
        if (stat(path, &st) < 0)
                return -errno;
        if (st.st_uid != uid)
                return -EPERM;
        int k = pidfd_signal(fd, SIGTERM);
        if (k < 0)
                return k;
        *slot = (pending) { .owner = r, .pidfd = TAKE_FD(fd), .pid = pid };
        k = sd_event_add_time_relative(r->event, &slot->timer, CLOCK_MONOTONIC, REAP_KILL_AFTER, 0, on_kill_timer, slot);
        if (k < 0)
                log_warning_errno(k, "No SIGKILL timer for session %d: %m", (int) pid);
        return 0;
}
