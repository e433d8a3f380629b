/* Runs a child to its end and keeps what it printed: stdout up to a cap, the start of stderr, the exit
 * status; killed (by its pid) at the deadline or the cap. For the short, synchronous looks of one-shot
 * commands (sshd -T, a user's own file read as that user); the loop's children use sd-event instead. */
#pragma once

#include "spawn.h"

#define CAPTURE_STDERR_MAX 512

typedef struct capture {
        char *out;                       /* NUL-terminated; malloc'ed */
        size_t out_len;
        char err[CAPTURE_STDERR_MAX];    /* first bytes of stderr, NUL-terminated */
        int status;                      /* as waitpid() says */
} capture;

/* -ETIMEDOUT, -EFBIG (more than max bytes on stdout), spawn_child's errors, -errno of pipes and poll.
 * The child is reaped in every case. */
int capture_run(char *const *argv, const run_identity *as, size_t max, usec_t timeout, capture *ret);
void capture_done(capture *c);
