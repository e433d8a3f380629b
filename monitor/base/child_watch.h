/* One child and the streams it writes (stdout, stderr), read on the loop as they come: the shape `ssh -G`
 * (monitor/resolve.c), the ssh probe (probes/probe_ssh.c) and the mux probe's journal lookup
 * (probes/mux_journal.c) share. The child is reaped here rather than by sd-event, so freeing the watch
 * knows whether anything is left to kill. SIGCHLD must be blocked. */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

typedef enum child_stream { CHILD_STDOUT, CHILD_STDERR, _CHILD_STREAM_MAX } child_stream;

typedef struct child_watch child_watch;

typedef struct child_watch_ops {
        /* n > 0 bytes of stream s; n == 0 its end; n < 0 a read error (-errno): the stream is closed after
         * n <= 0. A negative return ends the watch with that error (ended follows at once). */
        int (*read)(child_watch *w, child_stream s, const void *data, ssize_t n, void *userdata);
        /* Called once. r < 0: read() said so. r == 0: the child exited (status as waitpid() gives it) and what
         * its streams held by then has been read; with wait_eof both streams have ended too. Everything is
         * released by then (a child still running killed and reaped, fds closed). May free w. */
        void (*ended)(child_watch *w, int r, int status, void *userdata);
} child_watch_ops;

/* Takes pid (our child; when it leads its own session, setsid, the session is killed with it) and the read
 * ends of its stdout and stderr (-1: none) in every case: on failure (-ENOMEM) the child is killed and
 * reaped and the fds are closed. */
int child_watch_new(pid_t pid, int out_fd, int err_fd, child_watch **ret);
/* Reads on e from now on. wait_eof: after the exit, ended waits for both streams to end (a helper of the
 * child that holds them keeps it waiting); otherwise what they hold at the exit is read, then ended. */
int child_watch_attach(child_watch *w, sd_event *e, bool wait_eof, const child_watch_ops *ops, void *userdata);
/* Kills the child now (a deadline): what its streams hold is read, then ended as for an exit (r == 0, status
 * says SIGKILL), whatever wait_eof says. Nothing when the watch has ended or was never attached. */
void child_watch_kill(child_watch *w);
/* Kills the child's session and the child when it still runs, reaps it, closes the fds; no callback after
 * this. Also from inside a callback. Accepts NULL, returns NULL. */
child_watch *child_watch_free(child_watch *w);
