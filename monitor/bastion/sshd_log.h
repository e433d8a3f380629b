/* sshd's own log, followed on the loop for one kind of line: a new session refused the listen port it
 * asked for ("bind [127.0.0.1]:21022: Address already in use"), i.e. a host asking for its port back while
 * an old session still holds it. The line only says when to look; whether to reap stays the kernel's word
 * (reap_rule.h). Sources: sshd's journal (SYSLOG_IDENTIFIER=sshd) or a file sshd (or syslog) appends to. */
#pragma once

#include <systemd/sd-event.h>

#include "../base/macro.h"

/* Lines longer than this are not sshd's refusal (sshd's own is < 200 bytes): skipped whole. */
#define SSHD_LOG_LINE_MAX 1024
/* Read per wake-up: a flood of log lines cannot hold the loop. */
#define SSHD_LOG_READ_MAX (64 * 1024)
/* Journal entries looked at per wake-up, for the same reason. */
#define SSHD_LOG_ENTRIES_MAX 1000

#define SSHD_LOG_JOURNAL "journal"
#define SSHD_LOG_NONE "none"

/* The port of a refused listen in one line of sshd's log (not NUL-terminated, n bytes): sshd's
 * "bind [ADDR]:PORT: Address already in use" or "cannot listen to port: PORT", with whatever prefix the
 * log adds (a timestamp, "sshd[PID]: ", "error: "). 0 for any other line. Pure. */
int sshd_log_refused_port(const char *line, size_t n);

typedef struct sshd_log sshd_log;
/* A line named port: called from the loop. */
typedef void (*sshd_log_refused_t)(int port, void *userdata);

/* Follows source (SSHD_LOG_JOURNAL or an absolute path) from its end. A file that does not exist yet is
 * looked for again at each sshd_log_poll. */
int sshd_log_open(sd_event *e, const char *source, sshd_log_refused_t cb, void *userdata, sshd_log **ret);
/* Reads what came since (a file rotated or truncated is read from its start). For the round's timer: a
 * wake-up the loop missed costs one round at most. */
void sshd_log_poll(sshd_log *l);
sshd_log *sshd_log_free(sshd_log *l);
