/* `rtun-monitor bastion status|audit|ssh-config|daemon`: the bastion role's commands. */
#pragma once

#include <stdbool.h>

struct config;

/* The command's exit code (contract.md): status 0 all up / 1 a port not up / 2 a source unreadable or bad
 * configuration; audit 0 clean / 1 a warning or error / 2; ssh-config 0 / 2. */
int bastion_command(const struct config *c, const char *sub, bool json, bool dry_run);
/* The loop: bastion_daemon.c. */
int bastion_daemon_run(const struct config *c, bool dry_run);

/* Shared by the commands and the daemon. */
#include "audit.h"
#include "bastion_round.h"
#include "fleet.h"
bool bastion_report_sources(const fleet *f);
fleet_sources bastion_sources(const struct config *c);
bastion_round_params bastion_params(const struct config *c);
int bastion_audit(const struct config *c, const fleet *f, audit_findings *out);
