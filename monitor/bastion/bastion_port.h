/* One allocated port as the bastion round sees it: its key line (from the fleet), the live view, the last
 * probe and the verdict. */
#pragma once

#include "../../probes/listen_view.h"
#include "../../probes/probe_result.h"
#include "port_state.h"
#include "reap_rule.h"
#include "ports.h"

#define BASTION_REASON_MAX 256

typedef struct bastion_port {
        const port_entry *entry;      /* borrowed from the fleet's port table */
        port_health health;
        listen_view view;
        probe_status probe;           /* the last probe's status (PROBE_OK when it answered) */
        usec_t probe_duration;
        char reason[BASTION_REASON_MAX]; /* why it is not up, in words; "" when up */
        unsigned reaped;              /* sessions ended for this port by the reaper */
        reap_budget budget;
        pid_t dry_run_said;           /* dry run: the session it last said it would end (said once) */
        pid_t ended_pid;              /* the session last ended for this port (0 once the port is up again) */
        usec_t claimed_at;            /* CLOCK_MONOTONIC: sshd refused a new session this port (its host asks
                                       * for it back; reap_state); 0: not claimed */
} bastion_port;

/* What the listener, probe and key say, in words: "" when up. Pure. */
void bastion_port_explain(bastion_port *p, const char *probe_detail, usec_t now_realtime);
