/* What a tunnel unit's ssh command line means, as OpenSSH itself resolves it (`ssh -G`). */
#pragma once

#include <systemd/sd-event.h>

#include "base/macro.h"
#include "base/spawn.h"
#include "../probes/ssh_target.h"

/* Forwards of one kind kept from one command line: more is a mistake (or hostile ssh_config). */
#define SSH_FORWARDS_MAX 64

typedef struct ssh_forward {
        char *listen_host;     /* -R: bind address on the bastion; -L/-D: on this host ("localhost" when omitted) */
        uint16_t listen_port;
        char *target;          /* "[localhost]:22" as printed by ssh -G, for display; NULL for -D */
        char *target_host;     /* the target's host, brackets stripped; NULL: a unix socket, or -D */
        uint16_t target_port;  /* 0: none (unix socket, -D) */
} ssh_forward;

typedef struct ssh_resolved {
        char *hostname;        /* bastion, after HostName resolution of ssh_config */
        uint16_t port;
        char *user;
        char **identity_files; /* strv, in order */
        char *control_path;    /* NULL when none */
        char *control_master;  /* "no", "auto", ... */
        char *proxy_jump;      /* NULL when none */
        char *proxy_command;   /* NULL when none */
        char *host_key_alias;
        char *user_known_hosts_file;   /* as printed (space-separated list) */
        char *global_known_hosts_file;
        char *strict_host_key_checking;
        ssh_forward *forwards; /* every -R / RemoteForward with a listen port */
        size_t n_forwards;
        ssh_forward *local_forwards;   /* every -L / LocalForward with a TCP listen port */
        size_t n_local_forwards;
        ssh_forward *dynamic_forwards; /* every -D / DynamicForward with a TCP listen port */
        size_t n_dynamic_forwards;
        bool exit_on_forward_failure;
        unsigned server_alive_interval; /* seconds; 0: off */
        bool seen_forward_options;      /* the text said exitonforwardfailure (ssh -G always does): a
                                         * resolution kept by an older version lacks -L/-D and is not reused */
        char *bastion;         /* display form: hostname, or "hostname:port" when port != 22 */
        char **identity_warnings; /* identity files ssh -G said it cannot use ("not accessible: ..."), as
                                   * "PATH: REASON"; not kept in ssh_resolved_format() */
} ssh_resolved;

void ssh_resolved_done(ssh_resolved *r);

/* What a probe needs to reach the bastion as the tunnel does: borrowed pointers into r. */
static inline ssh_target ssh_resolved_target(const ssh_resolved *r) {
        return (ssh_target) {
                .hostname = r->hostname,
                .port = r->port,
                .user = r->user,
                .identity_files = r->identity_files,
                .control_path = r->control_path,
                .proxy_jump = r->proxy_jump,
                .proxy_command = r->proxy_command,
                .host_key_alias = r->host_key_alias,
                .user_known_hosts_file = r->user_known_hosts_file,
                .global_known_hosts_file = r->global_known_hosts_file,
                .strict_host_key_checking = r->strict_host_key_checking,
        };
}

/* Pure parser of `ssh -G` output (resolve_parse.c). -EINVAL on malformed input, with a message in err
 * (may be NULL). */
int ssh_resolved_parse(const char *text, ssh_resolved *ret, char *err, size_t errlen);
/* ssh's own words on stderr about identity files it cannot read, as it dropped them from its resolution:
 * "Warning: Identity file PATH not accessible: REASON." -> "PATH: REASON" pushed onto *list. -ENOMEM. */
int ssh_resolved_identity_warnings(const char *stderr_text, char ***list);
/* The fields kept, written back as `ssh -G` lines: ssh_resolved_parse() of the text gives r again. */
int ssh_resolved_format(const ssh_resolved *r, char **ret);

/* Is this ExecStart an ssh client? (basename of path is "ssh") */
bool exec_is_ssh(const char *path, char *const *argv);

/* Runs `ssh -G` with the unit's own arguments (argv[0] replaced by the ssh binary at path), with a
 * deadline, and parses. -ETIMEDOUT, -EINVAL (not ssh, ssh -G failed: err says why), -ENOENT. */
int ssh_resolve_exec(const char *path, char *const *argv, usec_t timeout, ssh_resolved *ret, char *err,
                     size_t errlen);

/* The same in two steps, so several `ssh -G` run at once: start spawns, finish reads, reaps, parses and
 * frees the job (also on error). The output (a few KiB) fits in the pipe, so children never wait on us. */
typedef struct ssh_resolve_job ssh_resolve_job;
int ssh_resolve_start(const char *path, char *const *argv, ssh_resolve_job **ret, char *err, size_t errlen);
/* The same as the unit's User= (NULL: as ourselves): ssh reads that user's ~/.ssh/config, expands ~ to that
 * user's home and runs its `Match exec` as that user, as the tunnel's ssh does. When we are neither root nor
 * that user, as ourselves. */
int ssh_resolve_start_as(const char *path, char *const *argv, const run_identity *as, ssh_resolve_job **ret,
                         char *err, size_t errlen);
int ssh_resolve_finish(ssh_resolve_job *j, usec_t deadline, ssh_resolved *ret, char *err, size_t errlen);
/* The loop's way: done is called once, from the loop, when ssh -G has answered (r >= 0: *resolved is the
 * callee's to keep), failed or missed the deadline (r < 0, err says why); the child is reaped by then and
 * the callee frees j. Until then ssh_resolve_job_free(j) cancels (no callback). SIGCHLD must be blocked. */
typedef void (*ssh_resolve_done_t)(ssh_resolve_job *j, int r, ssh_resolved *resolved, const char *err, void *userdata);
int ssh_resolve_watch(ssh_resolve_job *j, sd_event *e, usec_t deadline, ssh_resolve_done_t done, void *userdata);
void ssh_resolve_job_free(ssh_resolve_job *j);

/* Picks the forward named "ADDR:PORT" (or "PORT"), or the first when spec is NULL. NULL if absent. */
const ssh_forward *ssh_resolved_find_forward(const ssh_resolved *r, const char *spec);
/* Formats "listen_host:port" ("[::1]:2323" for IPv6) into buf. */
char *ssh_forward_format(const ssh_forward *f, char *buf, size_t size);
