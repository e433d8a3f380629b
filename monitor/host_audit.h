/* `rtun-monitor audit`: the host's tunnel units checked from their resolutions (ssh -G), each finding naming
 * the unit and what to change. Pure: given what the units resolved to and what the caller looked up. Same
 * shape as the bastion's (bastion/audit.h): {check, severity, unit, message}, --json alike.
 *
 *   check                     severity  finding
 *   not_resolved              warning   the unit's ssh command line could not be resolved: not audited
 *   local_port_shared         error     two -L/-D forwards (two units, or one twice) bind the same local port:
 *                                       the second gets "bind: Address already in use"
 *   remote_port_shared        error     two units ask the same bastion for the same remote port: whichever
 *                                       connects second gets "remote port forwarding failed"
 *   no_exit_on_forward_failure warning  ExitOnForwardFailure is not yes: a forward that failed to bind leaves
 *                                       ssh running without it, systemd sees nothing to restart
 *   no_server_alive           warning   ServerAliveInterval 0: a dead path is noticed only by TCP, hours later
 *   host_key_unpinned         error     StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null: anyone on
 *                                       the path can pose as the bastion
 *   identity_inaccessible     error     an identity file ssh cannot read as the unit's user (missing,
 *                                       permissions): ssh -G said so
 *   identity_exposed          error     an identity file group or others may access: ssh refuses it
 *   no_control_path           warning   no ControlPath: every probe is a new login on the bastion
 *   restart_not_always        warning   Restart= is not always: a tunnel that exits cleanly stays down
 */
#pragma once

#include <jansson.h>
#include <sys/types.h>

#include "bastion/audit.h"
#include "resolve.h"

typedef enum host_audit_check {
        HOST_AUDIT_NOT_RESOLVED,
        HOST_AUDIT_LOCAL_PORT_SHARED,
        HOST_AUDIT_REMOTE_PORT_SHARED,
        HOST_AUDIT_NO_EXIT_ON_FORWARD_FAILURE,
        HOST_AUDIT_NO_SERVER_ALIVE,
        HOST_AUDIT_HOST_KEY_UNPINNED,
        HOST_AUDIT_IDENTITY_INACCESSIBLE,
        HOST_AUDIT_IDENTITY_EXPOSED,
        HOST_AUDIT_NO_CONTROL_PATH,
        HOST_AUDIT_RESTART_NOT_ALWAYS,
        _HOST_AUDIT_CHECK_MAX,
        _HOST_AUDIT_CHECK_INVALID = -1,
} host_audit_check;

/* st_mode of an identity file the resolution names, as the unit's user sees it (as: NULL is root);
 * (mode_t) -1 when that user cannot see a regular file there. */
mode_t host_audit_identity_mode(const run_identity *as, const char *path);

const char *host_audit_check_to_string(host_audit_check c);
host_audit_check host_audit_check_from_string(const char *s);
audit_severity host_audit_check_severity(host_audit_check c);

/* One unit as the audit sees it. */
typedef struct host_audit_unit {
        const char *unit;
        const char *restart;           /* Restart=; NULL: unknown (not checked) */
        const ssh_resolved *ssh;       /* NULL: not resolved (resolve_error says why) */
        const char *resolve_error;
        const mode_t *identity_modes;  /* parallel to ssh->identity_files: st_mode of each as found, or
                                        * (mode_t) -1 when it does not exist or was not looked at; NULL: none */
} host_audit_unit;

typedef struct host_audit_finding {
        char *unit;
        host_audit_check check;
        audit_severity severity;
        char *message;                 /* what is wrong and the fix, in words */
} host_audit_finding;

typedef struct host_audit_findings {
        host_audit_finding *items;
        size_t n, allocated;
} host_audit_findings;

/* Every check over every unit, appended to *out, sorted by unit then check. -ENOMEM only. */
int host_audit(const host_audit_unit *units, size_t n, host_audit_findings *out);
/* True when `audit` exits 1: any warning or error. */
bool host_audit_fail(const host_audit_findings *f);
/* {"findings":[{"unit":..., "check":..., "severity":..., "message":...}]}; NULL on out of memory. */
json_t *host_audit_to_json(const host_audit_findings *f);
/* "UNIT: SEVERITY: CHECK: MESSAGE", control characters escaped; NULL on out of memory. */
char *host_audit_format(const host_audit_finding *f);
void host_audit_findings_done(host_audit_findings *f);

/* The command (host_audit_run.c): discovery, resolution, the audit, printed; the exit code of contract.md
 * (0 clean, 1 a warning or error, 3 no D-Bus). */
struct config;
int host_audit_command(const struct config *cfg, bool json);
/* check and daemon: the audit's errors over the resolved tunnels into the journal, each once per change
 * (m->audit_logged: what was logged; an error that went and came back is logged again). Runs only when a
 * resolution changed since the last time. */
struct monitor;
void monitor_audit_log(struct monitor *m);
