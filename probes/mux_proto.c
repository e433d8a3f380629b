/* Encoder and decoder of OpenSSH's mux protocol. Every frame: uint32 length, then the message; a message
 * starts with a uint32 type; strings are uint32 length + bytes; all big-endian. Input is hostile: every
 * read is bounds-checked against the frame, never the buffer. */
#include "mux_proto.h"

/* Longest connect host we send (DNS names are shorter; OpenSSH has no tighter rule). */
#define MUX_HOST_MAX 1024U

typedef struct writer {
        uint8_t *p;
        size_t size, len;
        bool overflow;
} writer;

static void put_u32(writer *w, uint32_t v) {
        if (w->size - w->len < 4) {
                w->overflow = true;
                return;
        }
        w->p[w->len++] = (uint8_t) (v >> 24);
        w->p[w->len++] = (uint8_t) (v >> 16);
        w->p[w->len++] = (uint8_t) (v >> 8);
        w->p[w->len++] = (uint8_t) v;
}

static void put_string(writer *w, const char *s, size_t n) {
        put_u32(w, (uint32_t) n);
        if (w->overflow || w->size - w->len < n) {
                w->overflow = true;
                return;
        }
        if (n > 0)
                memcpy(w->p + w->len, s, n);
        w->len += n;
}

/* Writes the frame's length word over the 4 bytes reserved at the start. */
static ssize_t finish_frame(writer *w) {
        if (w->overflow)
                return -ENOBUFS;
        writer head = { .p = w->p, .size = 4 };
        put_u32(&head, (uint32_t) (w->len - 4));
        return (ssize_t) w->len;
}

ssize_t mux_build_hello(void *buf, size_t size) {
        writer w = { .p = buf, .size = buf ? size : 0 };

        put_u32(&w, 0); /* length, filled in below */
        put_u32(&w, MUX_MSG_HELLO);
        put_u32(&w, MUX_PROTOCOL_VERSION);
        return finish_frame(&w);
}

ssize_t mux_build_new_stdio_fwd(void *buf, size_t size, uint32_t request_id, const char *host, uint32_t port) {
        writer w = { .p = buf, .size = buf ? size : 0 };
        size_t n;

        if (!host)
                return -EINVAL;
        n = strnlen(host, MUX_HOST_MAX + 1);
        if (n == 0 || n > MUX_HOST_MAX)
                return -EINVAL;

        put_u32(&w, 0);
        put_u32(&w, MUX_C_NEW_STDIO_FWD);
        put_u32(&w, request_id);
        put_string(&w, NULL, 0); /* reserved */
        put_string(&w, host, n);
        put_u32(&w, port);       /* a u32 in mux.c, whatever PROTOCOL.mux says */
        return finish_frame(&w);
}

typedef struct reader {
        const uint8_t *p;
        size_t len, off;
} reader;

static int get_u32(reader *r, uint32_t *ret) {
        if (r->len - r->off < 4)
                return -EBADMSG;
        const uint8_t *p = r->p + r->off;
        *ret = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
        r->off += 4;
        return 0;
}

/* Points *ret into the frame; the bytes are not NUL-terminated. */
static int get_string(reader *r, const uint8_t **ret, size_t *ret_len) {
        uint32_t n;

        if (get_u32(r, &n) < 0)
                return -EBADMSG;
        if (r->len - r->off < n)
                return -EBADMSG;
        *ret = r->p + r->off;
        *ret_len = n;
        r->off += n;
        return 0;
}

/* Keeps a reason fit for a log line: control and non-ASCII bytes become '?', an embedded NUL ends it. */
static int get_reason(reader *r, char *buf, size_t size) {
        const uint8_t *s;
        size_t n, i;

        if (get_string(r, &s, &n) < 0)
                return -EBADMSG;
        for (i = 0; i < n && i + 1 < size && s[i] != 0; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char) s[i] : '?';
        buf[i] = 0;
        return 0;
}

static ssize_t parse_hello(reader *r, mux_message *m) {
        if (get_u32(r, &m->version) < 0)
                return -EBADMSG;
        if (m->version != MUX_PROTOCOL_VERSION)
                return -EPROTONOSUPPORT;
        /* Extensions fill the rest of the message, in (name, value) pairs; none is meaningful to us. */
        while (r->off < r->len) {
                const uint8_t *s;
                size_t n;

                if (get_string(r, &s, &n) < 0 || get_string(r, &s, &n) < 0)
                        return -EBADMSG;
                m->n_extensions++;
        }
        return 0;
}

static ssize_t parse_reply(reader *r, uint32_t request_id, mux_message *m) {
        if (get_u32(r, &m->request_id) < 0)
                return -EBADMSG;

        switch (m->type) {
        case MUX_S_SESSION_OPENED:
                if (get_u32(r, &m->session_id) < 0)
                        return -EBADMSG;
                break;
        case MUX_S_FAILURE:
        case MUX_S_PERMISSION_DENIED:
                if (get_reason(r, m->reason, sizeof m->reason) < 0)
                        return -EBADMSG;
                break;
        default:
                return -EPROTO;
        }

        /* A reply to another request is out of order, like OpenSSH's "out of sequence reply". */
        return m->request_id == request_id ? 0 : -EPROTO;
}

ssize_t mux_parse(const void *buf, size_t len, mux_phase phase, uint32_t request_id, mux_message *ret) {
        reader head = { .p = buf, .len = buf ? len : 0 };
        mux_message m = {};
        uint32_t n;
        ssize_t r;

        if (get_u32(&head, &n) < 0)
                return 0;
        if (n > MUX_MESSAGE_MAX)
                return -E2BIG;
        if (head.len - head.off < n)
                return 0;

        reader body = { .p = head.p + 4, .len = n };
        if (get_u32(&body, &m.type) < 0)
                return -EBADMSG;

        if (phase == MUX_PHASE_HELLO)
                r = m.type == MUX_MSG_HELLO ? parse_hello(&body, &m) : -EPROTO;
        else
                r = m.type == MUX_MSG_HELLO ? -EPROTO : parse_reply(&body, request_id, &m);

        if (ret)
                *ret = m; /* also on errors: the type and id say what arrived */
        return r < 0 ? r : (ssize_t) (4 + (size_t) n);
}

const char *mux_type_to_string(uint32_t type) {
        static const struct {
                uint32_t type;
                const char *name;
        } table[] = {
                { MUX_MSG_HELLO, "HELLO" },
                { MUX_C_NEW_STDIO_FWD, "NEW_STDIO_FWD" },
                { MUX_S_OK, "OK" },
                { MUX_S_PERMISSION_DENIED, "PERMISSION_DENIED" },
                { MUX_S_FAILURE, "FAILURE" },
                { MUX_S_EXIT_MESSAGE, "EXIT_MESSAGE" },
                { MUX_S_ALIVE, "ALIVE" },
                { MUX_S_SESSION_OPENED, "SESSION_OPENED" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].type == type)
                        return table[i].name;
        return NULL;
}

mux_open_failure mux_open_failure_from_log(const char *message, const char **reason) {
        static const char marker[] = ": open failed: ";
        const char *p;

        if (reason)
                *reason = NULL;
        /* channels.c: logit("channel %d: open failed: %s%s%s", id, reason2txt(reason), ": ", msg) */
        if (!message || strncmp(message, "channel ", 8) != 0)
                return MUX_OPEN_FAILURE_UNKNOWN;
        p = strstr(message, marker);
        if (!p)
                return MUX_OPEN_FAILURE_UNKNOWN;
        p += strlen(marker);
        if (reason)
                *reason = p;

        if (strncmp(p, "administratively prohibited", 27) == 0)
                return MUX_OPEN_FAILURE_PROHIBITED;
        return MUX_OPEN_FAILURE_REFUSED;
}

int mux_forward_failure_from_log(const char *message) {
        static const char marker[] = "remote port forwarding failed", port_marker[] = " for listen port ";
        const char *p;

        /* fatal() and logit() print the bare message on stderr: "Error: " or "Warning: " first. */
        if (!message)
                return -1;
        if (strncmp(message, "Error: ", 7) == 0)
                p = message + 7;
        else if (strncmp(message, "Warning: ", 9) == 0)
                p = message + 9;
        else
                return -1;
        if (strncmp(p, marker, strlen(marker)) != 0)
                return -1;
        p += strlen(marker);
        if (*p == 0 || *p == '\r' || *p == '\n' || strncmp(p, " for listen path ", 17) == 0)
                return 0;
        if (strncmp(p, port_marker, strlen(port_marker)) != 0)
                return -1;
        p += strlen(port_marker);
        unsigned long port = 0;
        for (unsigned digits = 0; *p >= '0' && *p <= '9'; p++)
                if (++digits > 5 || (port = port * 10 + (unsigned long) (*p - '0')) > 65535)
                        return 0;
        return *p == 0 || *p == '\r' || *p == '\n' ? (int) port : 0;
}

mux_host_key_line mux_host_key_line_from_log(const char *message, const char **fix) {
        if (fix)
                *fix = NULL;
        if (!message)
                return MUX_HOST_KEY_LINE_NONE;
        /* The journal keeps ssh's indentation; a line cut at the journal's read size still starts right. */
        message += strspn(message, " \t");
        if (strncmp(message, "Host key verification failed.", 29) == 0)
                return MUX_HOST_KEY_LINE_FAILED;
        if ((strncmp(message, "Host key for ", 13) == 0 && strstr(message, " has changed and you have requested strict")) ||
            strstr(message, "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"))
                return MUX_HOST_KEY_LINE_CHANGED;
        if (strncmp(message, "ssh-keygen -f \"", 15) == 0 && strstr(message, "\" -R \"")) {
                if (fix)
                        *fix = message;
                return MUX_HOST_KEY_LINE_REMOVE;
        }
        return MUX_HOST_KEY_LINE_NONE;
}
