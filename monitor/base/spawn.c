/* Children of rtun-monitor: fork + exec with only the fds meant for them, as the unit's user when needed.
 * Between fork() and exec only async-signal-safe calls and raw system calls: libcurl may run resolver
 * threads, and glibc's set*id() wrappers would try to signal threads that do not exist in the child. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "spawn.h"

int run_identity_for_user(const char *user, run_identity *ret) {
        struct passwd pw, *found = NULL;
        char buf[4096];

        *ret = (run_identity) {};
        if (isempty_str(user))
                user = "root";
        int k = getpwnam_r(user, &pw, buf, sizeof buf, &found);
        if (k != 0)
                return -k;
        if (!found)
                return -ESRCH;
        if (strlen(pw.pw_name) >= sizeof ret->name || strlen(pw.pw_dir) >= sizeof ret->home)
                return -ENAMETOOLONG;
        ret->uid = pw.pw_uid;
        ret->gid = pw.pw_gid;
        strcpy(ret->name, pw.pw_name);
        strcpy(ret->home, pw.pw_dir);

        /* What initgroups(3) would give the user; more than fit means a directory we do not want to trust. */
        ret->n_groups = RUN_IDENTITY_GROUPS_MAX;
        if (getgrouplist(pw.pw_name, pw.pw_gid, ret->groups, &ret->n_groups) < 0)
                return -E2BIG;
        return 0;
}

bool run_identity_differs(const run_identity *id) {
        return id && id->uid != geteuid();
}

bool run_identity_reachable(const run_identity *id) {
        return !run_identity_differs(id) || geteuid() == 0;
}

/* Writes a constant message to fd 2 and ends the child: no stdio, no malloc after fork(). */
__attribute__((noreturn)) static void child_fail(const char *msg) {
        (void) !write(STDERR_FILENO, msg, strlen(msg));
        _exit(127);
}

/* close_range(2) when the kernel has it, else one by one up to the limit. */
void close_fds_from(int lowest) {
        if (syscall(SYS_close_range, (unsigned) lowest, ~0U, 0U) == 0)
                return;
        struct rlimit rl;
        int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? (int) MIN(rl.rlim_max, 1U << 20) : 65536;
        for (int fd = lowest; fd < max; fd++)
                (void) close(fd);
}

/* Lifts fd above 2 (so setting up 0-2 cannot clobber it), or opens /dev/null when none was given. */
static int child_lift(int fd, int flags) {
        return fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : open("/dev/null", flags | O_CLOEXEC);
}

__attribute__((noreturn)) static void child_exec(const spawn_request *req, bool switch_id, char **envp) {
        sigset_t none;

        if (req->new_session)
                (void) setsid();
        /* The loop blocks SIGCHLD and friends and ignores SIGPIPE: the child starts with defaults. */
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        (void) sigaction(s, &(struct sigaction) { .sa_handler = SIG_DFL }, NULL);
        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        int in = child_lift(req->stdin_fd, O_RDONLY);
        int out = child_lift(req->stdout_fd, O_WRONLY);
        int err = child_lift(req->stderr_fd, O_WRONLY);
        if (in < 0 || out < 0 || err < 0 || dup2(err, STDERR_FILENO) < 0)
                _exit(127);
        if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
                child_fail("rtun-monitor: cannot set up the child's stdin/stdout\n");
        close_fds_from(3);

        if (switch_id) {
                const run_identity *id = req->as;
                /* Raw system calls: they act on this (only) thread, which is all the child has. */
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    syscall(SYS_setgroups, (size_t) id->n_groups, id->groups) < 0 ||
                    syscall(SYS_setresgid, id->gid, id->gid, id->gid) < 0 ||
                    syscall(SYS_setresuid, id->uid, id->uid, id->uid) < 0)
                        child_fail("rtun-monitor: cannot switch to the unit's user\n");
                /* Paranoia that costs nothing: root must be out of reach for good. */
                if (id->uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0)
                        child_fail("rtun-monitor: root still reachable after the switch\n");
                if (chdir("/") < 0)
                        child_fail("rtun-monitor: cannot chdir to /\n");
        }

        extern char **environ;
        execve(req->argv[0], req->argv, switch_id ? envp : environ);
        child_fail("rtun-monitor: cannot execute the child's binary\n");
}

int spawn_child(const spawn_request *req, pid_t *ret) {
        char home[sizeof(((run_identity *) NULL)->home) + 8], user[80], logname[80];
        char *envp[] = { home, user, logname, (char *) "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
        bool switch_id = run_identity_differs(req->as);

        if (!req->argv || !req->argv[0] || req->argv[0][0] != '/')
                return -EINVAL;
        if (switch_id) {
                if (geteuid() != 0)
                        return -EPERM;
                /* Built before fork(): snprintf is not async-signal-safe. */
                snprintf(home, sizeof home, "HOME=%s", req->as->home);
                snprintf(user, sizeof user, "USER=%s", req->as->name);
                snprintf(logname, sizeof logname, "LOGNAME=%s", req->as->name);
        }

        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(req, switch_id, envp);
        *ret = pid;
        return 0;
}
