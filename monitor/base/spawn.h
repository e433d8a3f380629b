/* Every child of rtun-monitor starts here: with fds 0, 1, 2 and nothing else, a clean signal state, and as
 * the tunnel unit's User= when that is not us, so nothing from a user's ssh configuration (ProxyCommand,
 * Match exec, LocalCommand, identity files) runs or opens anything with more privilege than that user has. */
#pragma once

#include <sys/types.h>

#include "macro.h"

#define RUN_IDENTITY_GROUPS_MAX 64

/* Who a unit's processes run as (User=), resolved in the parent: getpwnam() is not safe after fork(). */
typedef struct run_identity {
        uid_t uid;
        gid_t gid;
        gid_t groups[RUN_IDENTITY_GROUPS_MAX]; /* supplementary groups, as initgroups(3) would set them */
        int n_groups;
        char name[64];
        char home[256];
} run_identity;

/* The identity of User=NAME; NULL or "" is root, systemd's default. -ESRCH: no such user here. */
int run_identity_for_user(const char *user, run_identity *ret);
/* The child runs as id, and we are someone else: a switch is needed (and possible only as root). */
bool run_identity_differs(const run_identity *id);
/* We can act as id: we are root, or we are id. A probe as anyone else would say nothing about the tunnel. */
bool run_identity_reachable(const run_identity *id);

typedef struct spawn_request {
        char *const *argv;         /* argv[0] is an absolute path */
        int stdin_fd;              /* -1: /dev/null */
        int stdout_fd;             /* -1: /dev/null */
        int stderr_fd;             /* -1: /dev/null */
        const run_identity *as;    /* NULL, or the same as us: run as ourselves */
        bool new_session;          /* setsid(): kill(-pid) then takes the child's helpers (ProxyCommand) too */
} spawn_request;

/* fork + exec. The fds named in req may be anything (also CLOEXEC, also 0-2); every other fd of ours, CLOEXEC
 * or not (libcurl's sockets are not), is closed in the child. When req->as differs from us the child gets
 * that user's uid, gid and groups, no_new_privs, a minimal environment (HOME, USER, LOGNAME, PATH) and
 * cwd "/". The child's own failures before exec are written to its stderr and end it with status 127. */
int spawn_child(const spawn_request *req, pid_t *ret);
/* Closes every fd from lowest up, whatever its flags. Async-signal-safe: for a child between fork() and
 * exec (or _exit). */
void close_fds_from(int lowest);
