/* Why the bastion refused a mux probe's channel: the ControlMaster's own log line in the tunnel unit's
 * journal ("open failed: administratively prohibited" versus "connect failed"), the only place that says.
 * journald ingests that line asynchronously, so it is looked for a few times; and sd-journal reads files
 * synchronously, so a child process does the looking and the loop only reads its one-line answer from a
 * pipe. Requires SIGCHLD blocked in the whole program (sd_event_add_child). */
#pragma once

#include <systemd/sd-event.h>

#include "mux_proto.h"

#define MUX_JOURNAL_REASON_MAX 200

/* One look at the journal: the failure logged for unit since the realtime `since`, its reason into
 * reason; MUX_OPEN_FAILURE_UNKNOWN when none (yet). Runs in the child. */
typedef mux_open_failure (*mux_journal_search_t)(const char *unit, usec_t since, char *reason, size_t size);
/* The real one: the unit's entries in the local system journal, newest first, back to since. */
mux_open_failure mux_journal_search(const char *unit, usec_t since, char *reason, size_t size);
/* The tunnel's own forward refused since the unit's process started at since: LISTEN_BUSY with reason
 * "port N" (ssh's "remote port forwarding failed for listen port N"); or the bastion's host key refused
 * ("Host key verification failed."): HOST_KEY with reason as mux_host_key_reason; else UNKNOWN. Newest first, back to
 * since, at most MUX_JOURNAL_FORWARD_ENTRIES entries (the line comes at the start of a run). */
#define MUX_JOURNAL_FORWARD_ENTRIES 500
mux_open_failure mux_journal_search_forward(const char *unit, usec_t since, char *reason, size_t size);
/* mux_journal_search_forward's reading of a run's lines, newest first as the journal gives them. Pure. */
mux_open_failure mux_forward_lines_classify(const char *const *lines, size_t n, char *reason, size_t size);
/* HOST_KEY's reason: "changed" or "not known", then "; " and ssh's fix ('ssh-keygen -f "F" -R "H"') if it gave one. */
void mux_host_key_reason(bool changed, const char *fix, char *reason, size_t size);

typedef struct mux_journal_query {
        const char *unit;
        usec_t since;    /* CLOCK_REALTIME: only lines logged since the probe began are about its channel */
        usec_t deadline; /* CLOCK_MONOTONIC: the probe's; the answer comes before it (USEC_INFINITY: none) */
        mux_journal_search_t search; /* NULL: mux_journal_search */
        unsigned tries;  /* looks while journald may still be catching up; 0: 5 */
} mux_journal_query;

typedef struct mux_journal mux_journal;
/* f is UNKNOWN (reason "") when the journal did not say in time, or the child failed. */
typedef void (*mux_journal_done_t)(mux_journal *j, mux_open_failure f, const char *reason, void *userdata);

/* Forks the child and watches it on the loop. done is called once, from the loop, with the child reaped:
 * when it answered, or gave up after its tries, or at the latest shortly before q->deadline (the child is
 * killed then), so that a refusal never turns into the probe's timeout. q is read here only (the child
 * has its own copy). The callee frees j, also from inside done. */
int mux_journal_start(sd_event *e, const mux_journal_query *q, mux_journal_done_t done, void *userdata,
                      mux_journal **ret);
/* Kills (by pid) and reaps the child if it still runs; no callback. Accepts NULL; returns NULL. */
mux_journal *mux_journal_free(mux_journal *j);

/* The child's answer on the pipe, one line: "prohibited REASON\n", "refused REASON\n" or "listen_busy
 * REASON\n" or "host_key REASON\n"; nothing for unknown. Pure. format returns the length, or 0 for UNKNOWN (nothing to write); parse gives UNKNOWN for
 * anything but one whole line of that form. */
size_t mux_journal_answer_format(mux_open_failure f, const char *reason, char *buf, size_t size);
mux_open_failure mux_journal_answer_parse(const char *buf, size_t n, char *reason, size_t size);
