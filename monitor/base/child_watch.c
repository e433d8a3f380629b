/* A child's two output streams and its exit on the loop, for the children that run while the loop goes on
 * (`ssh -G`, the ssh probe). One-shot commands that may wait use capture.c instead. */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "child_watch.h"

struct child_watch {
        pid_t pid;                             /* > 0 until reaped */
        int status;                            /* wait status, once reaped */
        int fd[_CHILD_STREAM_MAX];             /* -1 once the stream ended */
        sd_event_source *io[_CHILD_STREAM_MAX], *child;
        bool wait_eof;
        const child_watch_ops *ops;
        void *userdata;
        unsigned busy;                         /* inside one of our dispatches: the memory stays until its end */
        bool freed;                            /* child_watch_free() ran while busy */
        bool ended;                            /* no callback any more */
};

static void close_stream(child_watch *w, child_stream s) {
        w->io[s] = sd_event_source_disable_unref(w->io[s]);
        if (w->fd[s] >= 0)
                close(w->fd[s]);
        w->fd[s] = -1;
}

static void kill_and_reap(child_watch *w) {
        w->child = sd_event_source_disable_unref(w->child);
        if (w->pid > 0) {
                /* A child that leads its own session takes the helpers it started (ProxyCommand, Match exec)
                 * along; for one that does not, there is no such group and the first kill does nothing. */
                (void) kill(-w->pid, SIGKILL);
                (void) kill(w->pid, SIGKILL);
                while (waitpid(w->pid, &w->status, 0) < 0 && errno == EINTR)
                        ;
                w->pid = 0;
        }
}

static void release(child_watch *w) {
        kill_and_reap(w);
        for (child_stream s = 0; s < _CHILD_STREAM_MAX; s++)
                close_stream(w, s);
}

int child_watch_new(pid_t pid, int out_fd, int err_fd, child_watch **ret) {
        child_watch *w = calloc(1, sizeof *w);
        if (!w) {
                child_watch orphan = { .pid = pid, .fd = { out_fd, err_fd } };
                release(&orphan);
                return -ENOMEM;
        }
        *w = (child_watch) { .pid = pid, .fd = { out_fd, err_fd } };
        *ret = w;
        return 0;
}

child_watch *child_watch_free(child_watch *w) {
        if (!w)
                return NULL;
        release(w);
        w->ended = true;
        if (w->busy)
                w->freed = true; /* the dispatch under way frees it as it returns */
        else
                free(w);
        return NULL;
}

static void end(child_watch *w, int r) {
        if (w->ended)
                return;
        w->ended = true;
        release(w);
        w->ops->ended(w, r, w->status, w->userdata);
}

static void maybe_end(child_watch *w) {
        if (!w->ended && w->pid == 0 && (!w->wait_eof || (w->fd[CHILD_STDOUT] < 0 && w->fd[CHILD_STDERR] < 0)))
                end(w, 0);
}

/* Hands what stream s holds to read() until it would block; closes it at its end or a read error. */
static void drain(child_watch *w, child_stream s) {
        char chunk[4096];

        while (w->fd[s] >= 0 && !w->ended) {
                ssize_t n = read(w->fd[s], chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        n = n < 0 ? -errno : 0;
                        close_stream(w, s);
                }
                int r = w->ops->read(w, s, chunk, n, w->userdata);
                if (r < 0)
                        end(w, r);
        }
}

static int leave(child_watch *w) {
        if (--w->busy == 0 && w->freed)
                free(w);
        return 0;
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        child_watch *w = userdata;

        w->busy++;
        drain(w, fd == w->fd[CHILD_STDOUT] ? CHILD_STDOUT : CHILD_STDERR);
        maybe_end(w);
        return leave(w);
}

static int on_child_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        child_watch *w = userdata;

        w->busy++;
        if (waitpid(w->pid, &w->status, WNOHANG) != w->pid)
                w->status = si->si_code == CLD_EXITED ? W_EXITCODE(si->si_status, 0) : si->si_status;
        w->pid = 0;
        w->child = sd_event_source_disable_unref(w->child);
        /* What the streams hold now was written before the exit. */
        for (child_stream s = 0; s < _CHILD_STREAM_MAX && !w->ended; s++)
                drain(w, s);
        maybe_end(w);
        return leave(w);
}

void child_watch_kill(child_watch *w) {
        if (!w || w->ended || !w->ops)
                return;
        w->busy++;
        kill_and_reap(w);
        for (child_stream s = 0; s < _CHILD_STREAM_MAX && !w->ended; s++)
                drain(w, s);
        end(w, 0);
        (void) leave(w);
}

int child_watch_attach(child_watch *w, sd_event *e, bool wait_eof, const child_watch_ops *ops, void *userdata) {
        static const char *const names[_CHILD_STREAM_MAX] = { "child-stdout", "child-stderr" };
        int r;

        w->wait_eof = wait_eof;
        w->ops = ops;
        w->userdata = userdata;
        for (child_stream s = 0; s < _CHILD_STREAM_MAX; s++) {
                if (w->fd[s] < 0)
                        continue;
                int flags = fcntl(w->fd[s], F_GETFL);
                if (flags < 0 || fcntl(w->fd[s], F_SETFL, flags | O_NONBLOCK) < 0)
                        return -errno;
                r = sd_event_add_io(e, &w->io[s], w->fd[s], EPOLLIN, on_io, w);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(w->io[s], names[s]);
        }
        r = sd_event_add_child(e, &w->child, w->pid, WEXITED, on_child_exit, w);
        if (r < 0)
                return r; /* -EBUSY: SIGCHLD not blocked */
        (void) sd_event_source_set_description(w->child, "child-exit");
        /* stderr first, so a reason printed together with stdout's end is in by then; the exit last, so its
         * streams are mostly read before it. */
        if (w->io[CHILD_STDERR])
                (void) sd_event_source_set_priority(w->io[CHILD_STDERR], SD_EVENT_PRIORITY_NORMAL - 1);
        (void) sd_event_source_set_priority(w->child, SD_EVENT_PRIORITY_NORMAL + 1);
        return 0;
}
