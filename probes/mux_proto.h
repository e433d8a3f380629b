/* OpenSSH's ControlMaster protocol (PROTOCOL.mux, mux.c), the client half we need: HELLO and
 * MUX_C_NEW_STDIO_FWD out, the master's replies in. Pure: no I/O, so it can be tested and fuzzed. */
#pragma once

#include <sys/types.h>

#include "../monitor/base/macro.h"

#define MUX_MSG_HELLO 0x00000001U
#define MUX_C_NEW_STDIO_FWD 0x10000008U
#define MUX_S_OK 0x80000001U
#define MUX_S_PERMISSION_DENIED 0x80000002U
#define MUX_S_FAILURE 0x80000003U
#define MUX_S_EXIT_MESSAGE 0x80000004U
#define MUX_S_ALIVE 0x80000005U
#define MUX_S_SESSION_OPENED 0x80000006U

#define MUX_PROTOCOL_VERSION 4U
/* Our cap on one message (OpenSSH allows far more; the replies we accept are tiny). */
#define MUX_MESSAGE_MAX (64U * 1024U)
/* A whole frame: the length word plus the largest message we accept. */
#define MUX_FRAME_MAX (4U + MUX_MESSAGE_MAX)

/* What the master sends when the bastion refuses the channel, whatever the bastion's reason. */
#define MUX_REFUSED_BY_PEER "Session open refused by peer"

/* Which replies are legal now. */
typedef enum mux_phase {
        MUX_PHASE_HELLO,       /* after connecting: only the master's HELLO */
        MUX_PHASE_STDIO_REPLY, /* after MUX_C_NEW_STDIO_FWD: SESSION_OPENED, FAILURE, PERMISSION_DENIED */
} mux_phase;

typedef struct mux_message {
        uint32_t type;
        uint32_t version;      /* HELLO */
        size_t n_extensions;   /* HELLO: (name, value) pairs seen and ignored */
        uint32_t request_id;   /* every reply but HELLO */
        uint32_t session_id;   /* SESSION_OPENED */
        char reason[256];      /* FAILURE, PERMISSION_DENIED: printable, possibly cut */
} mux_message;

/* Encoders: write one framed message into buf; bytes written, or -ENOBUFS when it does not fit. */
ssize_t mux_build_hello(void *buf, size_t size);
/* -EINVAL for a NULL or overlong host. */
ssize_t mux_build_new_stdio_fwd(void *buf, size_t size, uint32_t request_id, const char *host, uint32_t port);

/* Decodes the first frame in buf[0..len). Returns 0 when more bytes are needed, the frame's size when
 * *ret holds a message, -E2BIG for a length above MUX_MESSAGE_MAX, -EBADMSG for a malformed message,
 * -EPROTONOSUPPORT for a HELLO of another version, -EPROTO for a type (ret->type) or request id that
 * is not legal in this phase. request_id is the one we sent (ignored in MUX_PHASE_HELLO). */
ssize_t mux_parse(const void *buf, size_t len, mux_phase phase, uint32_t request_id, mux_message *ret);

const char *mux_type_to_string(uint32_t type); /* "SESSION_OPENED", or NULL if unknown */

/* Why the bastion refused a channel, from the master's own log line ("channel 3: open failed: ..."), or
 * refused the tunnel's own -R forward ("remote port forwarding failed for listen port N"). */
typedef enum mux_open_failure {
        MUX_OPEN_FAILURE_UNKNOWN,     /* not such a line */
        MUX_OPEN_FAILURE_PROHIBITED,  /* "administratively prohibited": the key lacks permitopen */
        MUX_OPEN_FAILURE_REFUSED,     /* "connect failed" and the rest: nothing listens on the bastion */
        MUX_OPEN_FAILURE_LISTEN_BUSY, /* the bastion refused the forward's listen: it still holds the port */
        MUX_OPEN_FAILURE_HOST_KEY,    /* ssh refused the bastion's host key ("Host key verification failed") */
} mux_open_failure;

/* Classifies one log message; *reason (may be NULL) points at the text after "open failed: ". */
mux_open_failure mux_open_failure_from_log(const char *message, const char **reason);

/* ssh's own words when the bastion refused a -R forward (ssh.c, ssh_confirm_remote_forward): "Error: remote
 * port forwarding failed for listen port N" (ExitOnForwardFailure=yes: ssh exits) or "Warning: ..." (ssh
 * runs on without the forward). Returns N (1..65535), 0 for a line without a usable port ("listen path",
 * cut), -1 for any other line. */
int mux_forward_failure_from_log(const char *message);

/* ssh's lines when the bastion's host key does not match the pinned one (sshconnect.c, check_host_key),
 * newest first as the journal is read: "Host key verification failed.", "Host key for H has changed and you
 * have requested strict checking.", then its fix '  ssh-keygen -f "FILE" -R "H"'. */
typedef enum mux_host_key_line {
        MUX_HOST_KEY_LINE_NONE,
        MUX_HOST_KEY_LINE_FAILED,  /* ssh gave up on the bastion's key (changed, or unknown under strict checking) */
        MUX_HOST_KEY_LINE_CHANGED, /* the key differs from the known one ("has changed", "IDENTIFICATION HAS CHANGED") */
        MUX_HOST_KEY_LINE_REMOVE,  /* ssh's own fix; *fix points at "ssh-keygen ..." */
} mux_host_key_line;
mux_host_key_line mux_host_key_line_from_log(const char *message, const char **fix);
