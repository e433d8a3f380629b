/* `bastion audit`: the key lines and sshd's effective settings checked, each finding with its severity, its
 * line and the fix in words. Pure: given the parsed lines, the settings and now. */
#pragma once

#include <jansson.h>

#include "authkeys.h"
#include "settings.h"
#include "sshd_settings.h"

typedef enum audit_severity {
        AUDIT_INFO,
        AUDIT_WARNING,
        AUDIT_ERROR,
        _AUDIT_SEVERITY_MAX,
        _AUDIT_SEVERITY_INVALID = -1,
} audit_severity;

/* The checks. Names (audit.c's table) are the `check` of contract.md's JSON and the metric label.
 *
 *   check                  severity  finding
 *   key_line_invalid       error     sshd refuses the line (an authkeys problem: FILE:LINE: what is wrong)
 *   nul_byte               warning   the line holds a NUL byte: sshd reads it only up to there
 *   no_restrict            warning   neither restrict nor no-agent-forwarding,no-X11-forwarding,no-pty,
 *                                    no-user-rc: the key keeps capabilities a tunnel never needs
 *   no_command             warning   neither command= nor restrict: the key may run a shell on the bastion
 *   no_from                info      no from=: the key works from any address
 *   port_forwarding_off    error     restrict without port-forwarding (or no-port-forwarding): no tunnel
 *   no_permitlisten        error     no permitlisten: the host may listen on any port, another host's too
 *   permitlisten_any_port  error     permitlisten="HOST:*": the same
 *   port_shared            error     two key lines permit the same port: whoever connects first holds it
 *   port_outside_ranges    warning   a permitlisten port in none of bastion.ssh_ports/service_ports and not
 *                                    a metrics port
 *   port_by_name           warning   a permitlisten/permitopen port given as a service name: sshd refuses the
 *                                    line unless /etc/services knows it, and the port table cannot use it
 *   permitopen_missing     warning   permitopen entries, none for the line's own listen port: the host's
 *                                    end-to-end probe is refused (prohibited)
 *   permitopen_any         warning   permitopen="any:any" or "*:*", or no permitopen at all: the key may
 *                                    open connections to anything the bastion reaches
 *   key_expired            error     expiry-time is past: sshd refuses the key
 *   key_expiring           warning   expiry-time within bastion.expiry_warning
 *   no_host_name           warning   no comment: the host has no name in the port table
 *   duplicate_key          warning   the same key on two lines: sshd applies only the first line's options
 *   cert_authority         info      a cert-authority line: certificate holders are not listed one by one
 *   client_alive_off       warning   sshd: ClientAliveInterval 0: a dead host's port stays taken ~2 hours
 *   gateway_ports          error     sshd: GatewayPorts yes (warning for clientspecified): forwards listen
 *                                    on every address, reachable from the internet
 *   tcp_forwarding_off     error     sshd: AllowTcpForwarding no/local or DisableForwarding yes: no -R works
 *   permitlisten_global    error     sshd: a global PermitListen that refuses a key line's port
 */
typedef enum audit_check {
        AUDIT_KEY_LINE_INVALID,
        AUDIT_NUL_BYTE,
        AUDIT_NO_RESTRICT,
        AUDIT_NO_COMMAND,
        AUDIT_NO_FROM,
        AUDIT_PORT_FORWARDING_OFF,
        AUDIT_NO_PERMITLISTEN,
        AUDIT_PERMITLISTEN_ANY_PORT,
        AUDIT_PORT_SHARED,
        AUDIT_PORT_OUTSIDE_RANGES,
        AUDIT_PORT_BY_NAME,
        AUDIT_PERMITOPEN_MISSING,
        AUDIT_PERMITOPEN_ANY,
        AUDIT_KEY_EXPIRED,
        AUDIT_KEY_EXPIRING,
        AUDIT_NO_HOST_NAME,
        AUDIT_DUPLICATE_KEY,
        AUDIT_CERT_AUTHORITY,
        AUDIT_CLIENT_ALIVE_OFF,
        AUDIT_GATEWAY_PORTS,
        AUDIT_TCP_FORWARDING_OFF,
        AUDIT_PERMITLISTEN_GLOBAL,
        _AUDIT_CHECK_MAX,
        _AUDIT_CHECK_INVALID = -1,
} audit_check;

const char *audit_severity_to_string(audit_severity s);
audit_severity audit_severity_from_string(const char *s);
const char *audit_check_to_string(audit_check c);
audit_check audit_check_from_string(const char *s);
/* The severity a check has unless the finding says otherwise (gateway_ports clientspecified). */
audit_severity audit_check_severity(audit_check c);

typedef struct audit_finding {
        char *file;            /* NULL: none (an sshd setting) */
        unsigned line;         /* 0: none */
        char *host;            /* NULL: none */
        audit_check check;
        audit_severity severity;
        char *message;         /* what is wrong and the fix, in words */
} audit_finding;

typedef struct audit_findings {
        audit_finding *items;
        size_t n, allocated;
} audit_findings;

/* Every key line check, appended to *out. keys' problems become key_line_invalid. -ENOMEM only. */
int audit_key_lines(const authkeys *keys, const bastion_settings *s, usec_t now, audit_findings *out);
/* The sshd setting checks (a missing key is not checked); key lines for permitlisten_global. sshd_file
 * names the sshd_config in messages (may be NULL). -ENOMEM only. */
int audit_sshd(const sshd_settings *sshd, const authkeys *keys, const char *sshd_file, audit_findings *out);

/* Sorted by file (sshd settings first), line, check. */
void audit_findings_sort(audit_findings *f);
/* True when `audit` exits 1: any warning or error. */
bool audit_findings_fail(const audit_findings *f);
/* Per check and severity, for rtun_bastion_audit_findings{check,severity}: counts[check][severity]. */
void audit_findings_count(const audit_findings *f, unsigned counts[_AUDIT_CHECK_MAX][_AUDIT_SEVERITY_MAX]);
/* contract.md: {"findings":[{"file":..., "line":N|null, "host":...|null, "check":..., "severity":...,
 * "message":...}]}. NULL on out of memory. */
json_t *audit_findings_to_json(const audit_findings *f);
/* "FILE:LINE: SEVERITY: CHECK: MESSAGE (host NAME)", control characters escaped; NULL on out of memory. */
char *audit_finding_format(const audit_finding *f);
void audit_findings_done(audit_findings *f);

/* For audit_keys.c and audit_sshd.c: one finding (file, host may be NULL, line 0), message printf-style.
 * -ENOMEM only. */
int audit_add(audit_findings *out, const char *file, unsigned line, const char *host, audit_check check,
              audit_severity severity, const char *fmt, ...) _printf_(7, 8);
