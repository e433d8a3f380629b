/* The answer matcher shared by every probe kind: accumulate what the far end sent, match monitor.expect. */
#include <assert.h>
#include <ctype.h>

#include "probe.h"

/* The pattern as regexec sees it: "somewhere in the answer" spelled as one match anchored at the buffer's
 * start. glibc retries an unanchored search from every offset (quadratic in the answer); this prefix makes
 * one pass. "." takes neither NUL nor (with REG_NEWLINE) newline, "[^.]" takes NUL, the literal newline the
 * newline, so the prefix covers every byte. */
#define SEARCH_PREFIX "\\`(.|[^.]|\n)*("
#define SEARCH_SUFFIX ")"

#define NESTING_MAX 32

typedef struct group_weight {
        uint64_t branches; /* atoms of the group's earlier alternatives */
        uint64_t branch;   /* atoms of the current one */
        uint64_t last;     /* the last atom, which a repetition applies to */
} group_weight;

static uint64_t weight_add(uint64_t a, uint64_t b) {
        return MIN(a + b, (uint64_t) UINT32_MAX);
}

/* Skips a bracket expression starting at p[0] == '['; returns its end (past ']'), or the string's end. */
static const char *skip_bracket(const char *p) {
        p++;
        if (*p == '^')
                p++;
        if (*p == ']') /* a ']' first is a member */
                p++;
        while (*p && *p != ']') {
                if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
                        char close[3] = { p[1], ']', 0 };
                        const char *e = strstr(p + 2, close);
                        if (!e)
                                return p + strlen(p);
                        p = e + 2;
                } else
                        p++;
        }
        return *p ? p + 1 : p;
}

/* Reads "{m}", "{m,}", "{m,n}" or "{,n}" at p; returns the count of copies regcomp makes, 0 if malformed
 * (then regcomp says what is wrong). */
static uint64_t read_interval(const char **p) {
        const char *s = *p + 1;
        unsigned long m = 0, n;
        char *end;

        if (isdigit((unsigned char) *s)) {
                m = strtoul(s, &end, 10);
                s = end;
        }
        n = m;
        if (*s == ',') {
                s++;
                if (isdigit((unsigned char) *s)) {
                        n = strtoul(s, &end, 10);
                        s = end;
                } else
                        n = m + 1; /* {m,}: m copies and a star */
        }
        if (*s != '}')
                return 0;
        *p = s;
        return MAX(MAX(m, n), 1UL);
}

/* Refuses what makes glibc's regcomp or regexec cost without bound: back-references (a backtracking matcher
 * that overflows its stack or runs for minutes), and sizes (nested bounded repetitions expand into
 * millions of states at compile time). Syntax errors are left to regcomp. */
static int expect_check(const char *pattern, char *err, size_t errlen) {
        group_weight g[NESTING_MAX + 1] = {};
        size_t depth = 0;
        bool repeated = false; /* the last token was a repetition */

        if (strlen(pattern) > EXPECT_PATTERN_MAX)
                return set_err(err, errlen, -EINVAL, "longer than %d bytes", EXPECT_PATTERN_MAX);

        for (const char *p = pattern; *p; p++) {
                group_weight *cur = &g[depth];
                uint64_t atom = 1, copies;
                bool was_repeated = repeated;

                repeated = false;

                switch (*p) {
                case '\\':
                        if (p[1] >= '1' && p[1] <= '9')
                                return set_err(err, errlen, -EINVAL, "back-reference \\%c is not supported", p[1]);
                        if (p[1])
                                p++;
                        break;
                case '[':
                        p = skip_bracket(p) - 1;
                        break;
                case '(':
                        if (depth >= NESTING_MAX)
                                return set_err(err, errlen, -EINVAL, "groups nested deeper than %d", NESTING_MAX);
                        g[++depth] = (group_weight) {};
                        continue;
                case ')':
                        /* glibc takes an unmatched ')' as a literal; it would close SEARCH_PREFIX's group. */
                        if (depth == 0)
                                return set_err(err, errlen, -EINVAL, "unmatched ')' (a literal one is written \\))");
                        atom = weight_add(weight_add(cur->branches, cur->branch), 1);
                        cur = &g[--depth];
                        break;
                case '|':
                        cur->branches = weight_add(cur->branches, cur->branch);
                        cur->branch = cur->last = 0;
                        continue;
                case '*':
                case '?':
                case '+': /* regcomp writes a+ as aa* */
                case '{':
                        /* "a***...": undefined in POSIX, and glibc's regcomp takes exponential time on it. */
                        if (was_repeated)
                                return set_err(err, errlen, -EINVAL, "a repetition of a repetition");
                        repeated = true;
                        copies = *p == '*' || *p == '?' ? 1 : *p == '+' ? 2 : read_interval(&p);
                        if (copies == 0)
                                continue;
                        cur->branch -= cur->last;
                        cur->last = copies > UINT32_MAX / MAX(cur->last, 1) ? UINT32_MAX : cur->last * copies;
                        cur->branch = weight_add(cur->branch, cur->last);
                        if (cur->branch > EXPECT_WEIGHT_MAX)
                                return set_err(err, errlen, -EINVAL, "repetitions expand to more than %d atoms",
                                               EXPECT_WEIGHT_MAX);
                        continue;
                }
                cur->last = atom;
                cur->branch = weight_add(cur->branch, atom);
                if (weight_add(cur->branches, cur->branch) > EXPECT_WEIGHT_MAX)
                        return set_err(err, errlen, -EINVAL, "more than %d atoms", EXPECT_WEIGHT_MAX);
        }
        return 0;
}

int expect_compile(const char *pattern, regex_t *ret, char *err, size_t errlen) {
        /* REG_NOSUB: regexec then stops at the first match instead of looking for the longest. */
        const int flags = REG_EXTENDED | REG_NEWLINE | REG_NOSUB;
        _cleanup_(freep) char *search = NULL;
        regex_t re;
        int r, e;

        assert(pattern);
        assert(ret);

        r = expect_check(pattern, err, errlen);
        if (r < 0)
                return r;

        /* The pattern alone first, so that its syntax errors name its own text, not the prefix's. */
        e = regcomp(&re, pattern, flags);
        if (e == 0) {
                regfree(&re);
                if (asprintf(&search, SEARCH_PREFIX "%s" SEARCH_SUFFIX, pattern) < 0)
                        return -ENOMEM;
                e = regcomp(&re, search, flags);
        }
        if (e != 0) {
                char msg[128];
                regerror(e, &re, msg, sizeof msg);
                return set_err(err, errlen, e == REG_ESPACE ? -ENOMEM : -EINVAL, "%s", msg);
        }
        *ret = re;
        return 0;
}

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

        /* Only the window is matched, once per read that adds to it: with expect_compile's single-pass
         * pattern, at most EXPECT_WINDOW passes over at most EXPECT_WINDOW bytes per probe. */
        if (take > 0 && b->len - take < EXPECT_WINDOW) {
                size_t window = MIN(b->len, (size_t) EXPECT_WINDOW);
                /* REG_STARTEND: a NUL byte from the peer must not hide what follows it. REG_NOTEOL: where the
                 * window cuts the answer is no end of line for "$". */
                regmatch_t m[1] = { { .rm_so = 0, .rm_eo = (regoff_t) window } };
                if (regexec(re, b->data, 1, m, REG_STARTEND | (window < b->len ? REG_NOTEOL : 0)) == 0)
                        return EXPECT_MATCH;
        }

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
