/* One small interface for every probe kind: start with a deadline, get exactly one callback, or cancel.
 * A probe never calls D-Bus and never decides anything: it reports what it saw. */
#pragma once

#include <regex.h>
#include <systemd/sd-event.h>

#include "../monitor/base/spawn.h"
#include "probe_result.h"
#include "ssh_target.h"

typedef struct probe_request {
        const char *unit;             /* for logs and for reading the unit's journal */
        probe_kind kind;              /* MUX, SSH or TCP (the caller resolves AUTO: probe_kind_pick) */
        const ssh_target *ssh;        /* bastion, identity, ControlPath */
        const forward_address *forward; /* the -R forward to probe: its listen address on the bastion (mux,
                                         * ssh); the address to connect to (tcp, socks: a -D's local port) */
        const char *socks_host;       /* socks: CONNECT to socks_host:socks_port; NULL: the greeting only */
        uint16_t socks_port;
        const regex_t *expect;        /* NULL: an opened forward is enough */
        const char *send;             /* sent first when non-NULL */
        size_t send_len;
        usec_t timeout;               /* deadline of the whole probe */
        const char *ssh_binary;       /* "ssh" path for the ssh probe; NULL means "/usr/bin/ssh" */
        const run_identity *as;       /* the unit's User=: the ssh probe runs as it, the ControlMaster must be
                                       * it; NULL means root */
        /* The passive view the result carries: tcp_pid's TCP connection to tcp_port (the tunnel's ssh to
         * its bastion) as the probe ended, looked up through tcp. NULL or tcp_pid <= 0: none. */
        tcpinfo *tcp;
        pid_t tcp_pid;
        uint16_t tcp_port;
        /* Realtime start of the unit's ssh (0: unknown). A failure that a refused forward explains is then
         * looked up in the unit's journal since that start: ssh's "remote port forwarding failed for listen
         * port N" makes it PROBE_LISTEN_BUSY (probe_listen_busy_explains). Needs unit. */
        usec_t unit_started_at;
        /* A result known without the network (the unit is not active): kind NONE, delivered as this probe's
         * own after that journal look. NULL: run the kind. */
        const probe_result *known;
} probe_request;

/* The failures a bastion that still holds the forward's port explains: the new ssh exited on it
 * (unit_down, no_master), or runs on without its forward (timeout through the old listener, refused). */
bool probe_listen_busy_explains(probe_status s);
/* How long the journal look after a failure may take, beyond the probe's own deadline. */
#define PROBE_LISTEN_BUSY_LOOKUP_MAX (2 * USEC_PER_SEC)

/* The kind to run for a configured one: AUTO is mux when control_path is a socket (or one we may not look
 * at: the mux probe then says so), else ssh; any other kind as it is. */
probe_kind probe_kind_pick(probe_kind configured, const char *control_path);

typedef struct probe probe;
typedef void (*probe_done_t)(probe *p, const probe_result *r, void *userdata);

/* Starts the probe on the loop. done is called exactly once (never from inside probe_start), unless the
 * probe is cancelled first. The request's pointers must stay valid until then. */
int probe_start(sd_event *e, const probe_request *req, probe_done_t done, void *userdata, probe **ret);
/* Stops it (kills and reaps a child, closes sockets); no callback. Returns NULL. Accepts NULL. */
probe *probe_cancel(probe *p);

/* Kind-specific operations, implemented by probe_ssh.c, probe_tcp.c, probe_mux.c. */
typedef struct probe_ops {
        size_t size;                                   /* of the kind's state, allocated zeroed */
        int (*start)(probe *p, void *state);           /* <0: failed to start (reported as PROBE_ERROR) */
        void (*cancel)(probe *p, void *state);         /* release everything; called once, also after finish */
} probe_ops;

extern const probe_ops probe_ssh_ops;
extern const probe_ops probe_tcp_ops;
extern const probe_ops probe_mux_ops;
extern const probe_ops probe_socks_ops;

/* For the kinds: */
sd_event *probe_event(probe *p);
const probe_request *probe_get_request(probe *p);
/* Ends the probe with this result (once; later calls are ignored). Defers the callback to the loop. */
void probe_finish(probe *p, probe_status status, const char *detail_fmt, ...) _printf_(3, 4);
/* Ends it as PROBE_ERROR that is ours, not the tunnel's (no permission to look): the verdict is unknown. */
void probe_finish_ours(probe *p, const char *detail_fmt, ...) _printf_(2, 3);

/* The answer matcher shared by all kinds: accumulate bytes, match monitor.expect. */
#define EXPECT_PATTERN_MAX 256 /* bytes of a monitor.expect pattern */
#define EXPECT_WEIGHT_MAX 256  /* its atoms once bounded repetitions are expanded, as regcomp expands them */
#define EXPECT_WINDOW 256      /* the first bytes of an answer that monitor.expect is matched against */
/* Validates monitor.expect (POSIX ERE without back-references, within the bounds above) and compiles it
 * for expect_feed. On failure returns -EINVAL (or -ENOMEM) and, with err, says why in one line. */
int expect_compile(const char *pattern, regex_t *ret, char *err, size_t errlen);
typedef struct expect_buffer {
        char data[4096];
        size_t len;
} expect_buffer;
/* EXPECT_BUSY: an sshd was expected and the far end is one that turned this connection away for load
 * ("Exceeded MaxStartups"): the bytes crossed the whole tunnel, so the path works. */
typedef enum expect_verdict { EXPECT_MORE, EXPECT_MATCH, EXPECT_FULL, EXPECT_BUSY } expect_verdict;
#define EXPECT_BUSY_DETAIL "host's sshd busy (\"Exceeded MaxStartups\"): the path works"
expect_verdict expect_feed(expect_buffer *b, const regex_t *re, const void *data, size_t n);
/* Printable excerpt of what was received, for reasons like "bad answer: \"HTTP/1.1 400\"". */
const char *expect_excerpt(const expect_buffer *b, char *buf, size_t size);
/* expect_feed, and what its verdict means for every kind: true once the answer matched or cannot (the probe's
 * status and detail are then in *ret_status and detail: "answered \"SSH-2.0-...\"", "bad answer: ...", the
 * busy sshd), false while more is to be read. */
bool expect_answer(expect_buffer *b, const regex_t *re, const void *data, size_t n, probe_status *ret_status,
                   char *detail, size_t size);
