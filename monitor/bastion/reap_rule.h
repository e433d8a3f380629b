/* When the bastion may end a host's sshd session: only on the kernel's word that the host is gone, and
 * within a budget. Pure. */
#pragma once

#include "../../probes/tcpinfo.h"
#include "port_state.h"

/* Data the bastion sent (the probes through the listener make sshd send on the host's connection) and the
 * host's kernel has not acknowledged for this long: a live host ACKs within its round-trip time whatever
 * its sshd is doing (a stopped or slow sshd still has a kernel that ACKs), so 10 s of silence is a dead
 * peer or a path that no longer exists. */
#define REAP_ACK_SILENCE_SECONDS 10.0
/* Or the kernel has already timed out this many retransmissions in a row (each doubling the wait; 200 ms
 * minimum RTO: at least 1.4 s of silence at 3). A live host's ACK resets it. */
#define REAP_BACKOFF_MIN 3
/* At most this many reaps of one port per window: a host that keeps dying does not get its sessions
 * ended in a loop, and a wrong rule cannot flap a port. */
#define REAP_BUDGET 3
#define REAP_WINDOW (3600 * USEC_PER_SEC)

/* sshd refused a new session the port (sshd_log.h): its host asks for it back. For this long after, one
 * failed probe through the listener stands for the monitor.failures rounds of `stale`; the kernel's evidence
 * is asked for all the same. Long enough for a few rounds at any monitor.timeout, short enough that an old
 * refusal does not lower the bar for good. */
#define REAP_CLAIM_WINDOW (30 * USEC_PER_SEC)

typedef struct reap_budget {
        usec_t at[REAP_BUDGET]; /* realtime of the last reaps, oldest first; 0: free */
} reap_budget;

/* Whether the session holding a stale port is dead, with the evidence in words ("no ACK for 12 s, 3
 * segments unacked, backoff 4") in why. Only a port that is stale (listener present, probes failing) and
 * whose session's connection the kernel shows. */
bool reap_evidence(port_state state, const tcp_view *v, char *why, size_t size);
/* The state the evidence rule sees: `stale` as port_decide said, or a listener whose probe failed this round
 * while the port is claimed (claimed_at within REAP_CLAIM_WINDOW before now; monotonic; 0: not claimed). */
port_state reap_state(port_state state, bool listener, bool probe_ok, usec_t claimed_at, usec_t now);
/* The budget allows a reap now (reaps older than the window are forgotten). */
bool reap_budget_allows(const reap_budget *b, usec_t now);
void reap_budget_spend(reap_budget *b, usec_t now);
