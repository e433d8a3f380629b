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
/* Optional copies of something that can match empty ("(a?){0,32}", "(){0,8}", "(^|$){0,8}"), each counted
 * once per way it can match empty: regcomp's epsilon closures grow with about the cube of that count
 * (measured: 24 cost at most about 3 ms, 32 up to 10 ms, 128 up to 130 ms, 252 up to 2.4 s). */
#define EXPECT_EMPTY_COPIES_MAX 24

/* One item (atom or group, with its repetition): what regcomp makes of it. */
typedef struct item_weight {
        uint64_t atoms;    /* nodes once bounded repetitions are expanded */
        uint64_t empties;  /* optional copies of something that can match empty, times its ways to, nested
                            * ones multiplied */
        uint64_t paths;    /* ways it can match the empty string; 0: it cannot */
} item_weight;

/* The alternatives of one group, the current one being read. */
typedef struct group_weight {
        item_weight branches;  /* the earlier alternatives, summed (paths too: any of them) */
        item_weight before;    /* the current alternative without its last item (paths: the product) */
        item_weight last;      /* its last item, which a repetition applies to */
        bool has_last;
} group_weight;

static uint64_t weight_add(uint64_t a, uint64_t b) {
        return MIN(a + b, (uint64_t) UINT32_MAX);
}

static uint64_t weight_mul(uint64_t a, uint64_t b) {
        return b != 0 && a > UINT32_MAX / b ? UINT32_MAX : a * b;
}

static void branch_begin(group_weight *g) {
        g->before = (item_weight) { .paths = 1 }; /* an empty alternative matches empty one way */
        g->last = (item_weight) { .paths = 1 };
        g->has_last = false;
}

/* The current alternative: its items in a row. */
static item_weight branch_of(const group_weight *g) {
        return (item_weight) {
                .atoms = weight_add(g->before.atoms, g->last.atoms),
                .empties = weight_add(g->before.empties, g->last.empties),
                .paths = weight_mul(g->before.paths, g->last.paths),
        };
}

static void branch_add(group_weight *g, item_weight it) {
        g->before = branch_of(g);
        g->last = it;
        g->has_last = true;
}

/* Takes the last item back out of the alternative (a repetition replaces it). */
static item_weight branch_pop(group_weight *g) {
        item_weight it = g->last;
        g->last = (item_weight) { .paths = 1 };
        g->has_last = false;
        return it;
}

static void branch_end(group_weight *g) {
        item_weight b = branch_of(g);
        g->branches.atoms = weight_add(g->branches.atoms, b.atoms);
        g->branches.empties = weight_add(g->branches.empties, b.empties);
        g->branches.paths = weight_add(g->branches.paths, b.paths);
}

/* The group as one item: its alternatives, and the group node itself. */
static item_weight group_close(group_weight *g) {
        branch_end(g);
        return (item_weight) {
                .atoms = weight_add(g->branches.atoms, 1),
                .empties = g->branches.empties,
                .paths = g->branches.paths,
        };
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

/* Reads "{m}", "{m,}", "{m,n}" or "{,n}" at p into the least and most copies regcomp makes ({m,}: m copies
 * and a star, counted as m + 1). False if malformed (then regcomp says what is wrong). */
static bool read_interval(const char **p, uint64_t *ret_min, uint64_t *ret_max) {
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
                        n = m + 1;
        }
        if (*s != '}')
                return false;
        *p = s;
        *ret_min = MIN(m, n);
        *ret_max = MAX(m, n);
        return true;
}

/* What a repetition of `it`, least..most copies, makes: the copies; the optional ones among them that can
 * match empty, each as many times as it can; and the ways the whole can match empty. */
static item_weight repeat(item_weight it, uint64_t least, uint64_t most) {
        uint64_t copies = MAX(most, 1), optional = most - MIN(least, most);
        return (item_weight) {
                .atoms = weight_mul(it.atoms, copies),
                .empties = weight_add(weight_mul(it.empties, copies), weight_mul(optional, it.paths)),
                .paths = it.paths > 0 ? weight_add(weight_mul(it.paths, copies), 1) : least == 0,
        };
}

/* The group so far, its open branch included, within the bounds? repeated: the last token was a repetition. */
static int weight_check(const group_weight *g, bool repeated, char *err, size_t errlen) {
        item_weight sum = branch_of(g);
        if (weight_add(g->branches.atoms, sum.atoms) > EXPECT_WEIGHT_MAX)
                return repeated ? set_err(err, errlen, -EINVAL, "repetitions expand to more than %d atoms",
                                          EXPECT_WEIGHT_MAX)
                                : set_err(err, errlen, -EINVAL, "more than %d atoms", EXPECT_WEIGHT_MAX);
        if (weight_add(g->branches.empties, sum.empties) > EXPECT_EMPTY_COPIES_MAX)
                return set_err(err, errlen, -EINVAL,
                               "more than %d optional repetitions of something that can match nothing",
                               EXPECT_EMPTY_COPIES_MAX);
        return 0;
}

/* Refuses what makes glibc's regcomp or regexec cost without bound: back-references (a backtracking matcher
 * that overflows its stack or runs for minutes), and sizes: nested bounded repetitions expand into millions
 * of states at compile time, and optional copies of what can match empty make regcomp's closures explode.
 * Syntax errors are left to regcomp. */
static int expect_check(const char *pattern, char *err, size_t errlen) {
        group_weight g[NESTING_MAX + 1];
        size_t depth = 0;
        bool repeated = false; /* the last token was a repetition */

        if (strlen(pattern) > EXPECT_PATTERN_MAX)
                return set_err(err, errlen, -EINVAL, "longer than %d bytes", EXPECT_PATTERN_MAX);

        g[0].branches = (item_weight) {};
        branch_begin(&g[0]);
        for (const char *p = pattern; *p; p++) {
                group_weight *cur = &g[depth];
                item_weight it = { .atoms = 1 };
                uint64_t least, most;
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
                case '^':
                case '$':
                        /* An anchor matches empty at its place; its context makes regcomp's closures dearer. */
                        it = (item_weight) { .atoms = 1, .paths = 2 };
                        break;
                case '(':
                        if (depth >= NESTING_MAX)
                                return set_err(err, errlen, -EINVAL, "groups nested deeper than %d", NESTING_MAX);
                        g[++depth].branches = (item_weight) {};
                        branch_begin(&g[depth]);
                        continue;
                case ')':
                        /* glibc takes an unmatched ')' as a literal; it would close SEARCH_PREFIX's group. */
                        if (depth == 0)
                                return set_err(err, errlen, -EINVAL, "unmatched ')' (a literal one is written \\))");
                        it = group_close(cur);
                        cur = &g[--depth];
                        break;
                case '|':
                        branch_end(cur);
                        branch_begin(cur);
                        continue;
                case '*':
                case '?':
                case '+': /* regcomp writes a+ as aa* */
                case '{':
                        /* "a***...": undefined in POSIX, and glibc's regcomp takes exponential time on it. */
                        if (was_repeated)
                                return set_err(err, errlen, -EINVAL, "a repetition of a repetition");
                        repeated = true;
                        if (*p != '{') { /* a* and a? are one copy (and a loop); a+ is written aa* */
                                least = *p == '+';
                                most = *p == '+' ? 2 : 1;
                        } else if (!read_interval(&p, &least, &most))
                                continue;
                        if (!cur->has_last)
                                continue; /* nothing to repeat: regcomp's to judge */
                        it = repeat(branch_pop(cur), least, most);
                        break;
                }
                branch_add(cur, it);
                int r = weight_check(cur, repeated, err, errlen);
                if (r < 0)
                        return r;
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
                static const char *const escapes[] = {
                        ['\r'] = "\\r", ['\n'] = "\\n", ['\t'] = "\\t", ['\\'] = "\\\\", ['"'] = "\\\"",
                };
                unsigned char c = (unsigned char) b->data[i];
                char esc[5];

                if (c < ELEMENTSOF(escapes) && escapes[c])
                        strcpy(esc, escapes[c]);
                else if (c >= 0x20 && c < 0x7f) {
                        esc[0] = (char) c;
                        esc[1] = 0;
                } else
                        (void) snprintf(esc, sizeof esc, "\\x%02x", c);

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

bool expect_answer(expect_buffer *b, const regex_t *re, const void *data, size_t n, probe_status *ret_status,
                   char *detail, size_t size) {
        char ex[256];

        switch (expect_feed(b, re, data, n)) {
        case EXPECT_MATCH:
                *ret_status = PROBE_OK;
                (void) snprintf(detail, size, "answered \"%s\"", expect_excerpt(b, ex, sizeof ex));
                return true;
        case EXPECT_FULL:
                *ret_status = PROBE_BAD_RESPONSE;
                (void) snprintf(detail, size, "bad answer: \"%s\"", expect_excerpt(b, ex, sizeof ex));
                return true;
        case EXPECT_BUSY:
                *ret_status = PROBE_OK;
                (void) snprintf(detail, size, "%s", EXPECT_BUSY_DETAIL);
                return true;
        default:
                return false;
        }
}
