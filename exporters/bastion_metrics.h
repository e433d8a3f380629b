/* The bastion role's /metrics (contract.md "The bastion role"): every allocated port, its listener, its
 * session's TCP view, the keys' expiry, the audit's findings. Only reads what it is handed. */
#pragma once

#include "../monitor/bastion/audit.h"
#include "../monitor/bastion/bastion_port.h"

typedef struct bastion_metrics_input {
        const bastion_port *ports;
        size_t n_ports;
        const authkeys *keys;
        unsigned (*findings)[_AUDIT_SEVERITY_MAX]; /* [_AUDIT_CHECK_MAX][_AUDIT_SEVERITY_MAX] */
        usec_t round_duration;
} bastion_metrics_input;

/* One malloc'ed NUL-terminated text; -ENOMEM. */
int bastion_metrics_render(const bastion_metrics_input *in, char **ret, size_t *len);
