/* The answer matcher shared by every probe kind: accumulate what the far end sent, match monitor.expect. */
#include "probe.h"

/* What OpenSSH's sshd writes, before closing, to a connection over its MaxStartups (sshd.c). */
#define SSHD_THROTTLED "Exceeded MaxStartups\r\n"

/* The answer is sshd's throttle message, and monitor.expect is after an sshd (it would take a banner). */
static bool sshd_turned_away(const expect_buffer *b, const regex_t *re) {
        return b->len == strlen(SSHD_THROTTLED) && memcmp(b->data, SSHD_THROTTLED, b->len) == 0 &&
               regexec(re, "SSH-2.0-OpenSSH_9.2p1\r\n", 0, NULL, 0) == 0;
}

/* With re == NULL any byte at all is a match; whether an opened forward with no byte yet is enough is the
 * caller's decision (the kinds report PROBE_OK as soon as the forward is open when req->expect is NULL). */
expect_verdict expect_feed(expect_buffer *b, const regex_t *re, const void *data, size_t n) {
        size_t room = sizeof b->data - 1 - MIN(b->len, sizeof b->data - 1);
        size_t take = MIN(n, room);

        if (take > 0) {
                memcpy(b->data + b->len, data, take);
                b->len += take;
        }
        b->data[b->len] = 0;

        if (!re)
                return b->len > 0 ? EXPECT_MATCH : EXPECT_MORE;

        /* REG_STARTEND: a NUL byte from the peer must not hide what follows it. */
        regmatch_t m[1] = { { .rm_so = 0, .rm_eo = (regoff_t) b->len } };
        if (b->len > 0 && regexec(re, b->data, 1, m, REG_STARTEND) == 0)
                return EXPECT_MATCH;

        if (sshd_turned_away(b, re))
                return EXPECT_BUSY;
        return b->len >= sizeof b->data - 1 ? EXPECT_FULL : EXPECT_MORE;
}

#define EXCERPT_MAX 60

const char *expect_excerpt(const expect_buffer *b, char *buf, size_t size) {
        size_t o = 0, i;

        if (!buf || size == 0)
                return "";

        for (i = 0; i < b->len && i < EXCERPT_MAX; i++) {
                unsigned char c = (unsigned char) b->data[i];
                char esc[5];

                switch (c) {
                case '\r':
                        strcpy(esc, "\\r");
                        break;
                case '\n':
                        strcpy(esc, "\\n");
                        break;
                case '\t':
                        strcpy(esc, "\\t");
                        break;
                case '\\':
                        strcpy(esc, "\\\\");
                        break;
                case '"':
                        strcpy(esc, "\\\"");
                        break;
                default:
                        if (c >= 0x20 && c < 0x7f) {
                                esc[0] = (char) c;
                                esc[1] = 0;
                        } else
                                (void) snprintf(esc, sizeof esc, "\\x%02x", c);
                }

                size_t l = strlen(esc);
                if (o + l + 1 > size)
                        break;
                memcpy(buf + o, esc, l);
                o += l;
        }

        /* Mark a cut, space permitting, so "SSH-2.0-Op..." is not mistaken for the whole answer. */
        if (i < b->len && o + 4 <= size) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = 0;
        return buf;
}
