/* An authorized_keys file, line by line as auth2-pubkeyfile.c auth_check_authkey_line reads it: the key
 * at the start of the line, or else options first and the key after them. A line sshd would refuse is a
 * problem; the others are key lines. */
#include <stdarg.h>

#include "authkeys.h"

void authkey_line_done(authkey_line *k) {
        if (!k)
                return;
        free(k->file);
        free(k->key_type);
        free(k->fingerprint);
        free(k->comment);
        free(k->command);
        free(k->from);
        free(k->principals);
        strv_free(k->environment);
        for (size_t i = 0; i < k->n_permitlisten; i++) {
                free(k->permitlisten[i].host);
                free(k->permitlisten[i].text);
        }
        free(k->permitlisten);
        for (size_t i = 0; i < k->n_permitopen; i++) {
                free(k->permitopen[i].host);
                free(k->permitopen[i].text);
        }
        free(k->permitopen);
        *k = (authkey_line) {};
}

void authkeys_done(authkeys *keys) {
        for (size_t i = 0; i < keys->n_lines; i++)
                authkey_line_done(&keys->lines[i]);
        free(keys->lines);
        for (size_t i = 0; i < keys->n_problems; i++) {
                free(keys->problems[i].file);
                free(keys->problems[i].message);
        }
        free(keys->problems);
        *keys = (authkeys) {};
}

static int add_problem(authkeys *keys, const char *file, unsigned line, const char *fmt, ...) _printf_(4, 5);
static int add_problem(authkeys *keys, const char *file, unsigned line, const char *fmt, ...) {
        if (keys->n_problems >= AUTHKEYS_PROBLEMS_MAX) {
                keys->n_problems_dropped++;
                return 0;
        }
        if (greedy_realloc((void **) &keys->problems, &keys->problems_allocated, keys->n_problems + 1,
                           sizeof(authkey_problem)) < 0)
                return -ENOMEM;
        authkey_problem p = { .file = strdup(file), .line = line };
        va_list ap;
        va_start(ap, fmt);
        p.message = vstrdupf(fmt, ap);
        va_end(ap);
        if (!p.file || !p.message) {
                free(p.file);
                free(p.message);
                return -ENOMEM;
        }
        keys->problems[keys->n_problems++] = p;
        return 0;
}

/* Up to 40 bytes of what the line says, control characters escaped: a message quotes, never forges. */
static const char *snippet(char *buf, size_t size, const char *s) {
        char head[41];
        size_t n = strnlen(s, sizeof head);
        memcpy(head, s, MIN(n, sizeof head - 1));
        head[MIN(n, sizeof head - 1)] = 0;
        escape_control_to(buf, size - 3, head);
        if (n >= sizeof head)
                strcat(buf, "...");
        return buf;
}

typedef struct key_attempt {
        bool type_known;
        const char *why;
} key_attempt;

/* sshkey_read at *cpp: type word, blanks, base64 blob, blanks; *cpp left at the comment. */
static int read_key(char **cpp, authkey_line *k, key_attempt *a) {
        char *cp = *cpp;
        size_t n = strcspn(cp, " \t");
        a->type_known = authkey_type_known(cp, n);
        if (!a->type_known) {
                a->why = "unknown key type";
                return -EINVAL;
        }
        if (!cp[n]) {
                a->why = "no key after the key type";
                return -EINVAL;
        }
        _cleanup_(freep) char *type = strndup(cp, n);
        if (!type)
                return -ENOMEM;
        for (cp += n; *cp == ' ' || *cp == '\t'; cp++)
                ;
        /* The blob ends at a blank: cut there for the check and put the byte back (the line is ours). */
        n = strcspn(cp, " \t");
        char saved = cp[n], *fp = NULL;
        cp[n] = 0;
        int r = authkey_blob_check(type, cp, &fp, &a->why);
        cp[n] = saved;
        if (r < 0)
                return r;
        for (cp += n; *cp == ' ' || *cp == '\t'; cp++)
                ;
        free(k->key_type);
        free(k->fingerprint);
        k->key_type = TAKE_PTR(type);
        k->fingerprint = fp;
        *cpp = cp;
        return 0;
}

/* sshkey_advance_past_options: to the first blank outside double quotes; -EINVAL when a quote is open. */
static int advance_past_options(char **cpp) {
        char *cp = *cpp;
        bool quoted = false;
        for (; *cp && (quoted || (*cp != ' ' && *cp != '\t')); cp++) {
                if (*cp == '\\' && cp[1] == '"')
                        cp++;
                else if (*cp == '"')
                        quoted = !quoted;
        }
        *cpp = cp;
        return !*cp && quoted ? -EINVAL : 0;
}

/* Whether the first word of line reads as options (then the key type was the word after it). */
static bool first_word_is_options(const char *line) {
        _cleanup_(authkey_line_done) authkey_line scratch = {};
        const char *why, *where;
        return authkey_options_parse(line, &scratch, &why, &where) == 0;
}

/* The words for a line with no readable key: the attempt that saw a known key type knows best. */
static const char *no_key_message(char *buf, size_t size, const char *line, const char *after_opts,
                                  const key_attempt *first, const key_attempt *second) {
        char what[200], w[200];
        if (second->type_known)
                return second->why;
        if (first->type_known)
                return first->why;
        const char *word = first_word_is_options(line) ? after_opts : line;
        if (!*word)
                return "no key type after the options";
        size_t n = MIN(strcspn(word, " \t"), sizeof w - 1);
        memcpy(w, word, n);
        w[n] = 0;
        snprintf(buf, size, "unknown key type \"%s\"", snippet(what, sizeof what, w));
        return buf;
}

static int add_line(authkeys *keys, authkey_line *k) {
        if (greedy_realloc((void **) &keys->lines, &keys->lines_allocated, keys->n_lines + 1, sizeof(authkey_line)) < 0)
                return -ENOMEM;
        keys->lines[keys->n_lines++] = *k;
        *k = (authkey_line) {};
        return 0;
}

/* One line that is neither blank nor a comment; s is NUL-terminated, its trailing blanks gone. */
static int parse_line(authkeys *keys, const char *file, unsigned lineno, char *s, bool nul_byte) {
        _cleanup_(authkey_line_done) authkey_line k = {};
        const char *nul_note = nul_byte ? " (the line holds a NUL byte: sshd reads it only up to there)" : "";
        char *cp = s, *opts = NULL, buf[300], what[200];
        key_attempt first = {}, second = {};
        const char *why = NULL, *where = NULL;

        int r = read_key(&cp, &k, &first);
        if (r == -EINVAL) {
                opts = cp = s;
                if (advance_past_options(&cp) < 0)
                        return add_problem(keys, file, lineno, "invalid key option string (a double quote is not closed)%s",
                                           nul_note);
                while (*cp == ' ' || *cp == '\t')
                        cp++;
                r = read_key(&cp, &k, &second);
                if (r == -EINVAL)
                        return add_problem(keys, file, lineno, "%s%s",
                                           no_key_message(buf, sizeof buf, s, cp, &first, &second), nul_note);
        }
        if (r < 0)
                return r;
        r = authkey_options_parse(opts, &k, &why, &where);
        if (r == -EINVAL)
                return add_problem(keys, file, lineno, "bad key options: %s (at \"%s\")%s", why,
                                   snippet(what, sizeof what, where), nul_note);
        if (r < 0)
                return r;
        /* auth_authorise_keyopts refuses these whoever connects. */
        if (k.principals && !k.cert_authority)
                return add_problem(keys, file, lineno, "principals=\"%s\" on a key without cert-authority: sshd refuses it",
                                   snippet(what, sizeof what, k.principals));
        if (k.from) {
                char *bad = NULL;
                r = authkey_from_check(k.from, &bad);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        snippet(what, sizeof what, bad);
                        free(bad);
                        return add_problem(keys, file, lineno,
                                           "from= entry \"%s\" is invalid (empty, mask too long or host bits set): "
                                           "sshd refuses every login with this key", what);
                }
        }
        if (keys->n_lines >= AUTHKEYS_LINES_MAX) {
                keys->n_lines_dropped++;
                return 0;
        }
        if (*cp && !(k.comment = strdup(cp)))
                return -ENOMEM;
        if (!(k.file = strdup(file)))
                return -ENOMEM;
        k.line = lineno;
        k.nul_byte = nul_byte;
        return add_line(keys, &k);
}

int authkeys_parse(authkeys *keys, const char *file, const char *data, size_t size) {
        if (size > AUTHKEYS_FILE_MAX)
                return add_problem(keys, file, 0, "larger than %d MiB: not read", AUTHKEYS_FILE_MAX / (1024 * 1024));
        _cleanup_(freep) char *buf = malloc(MIN(size, (size_t) AUTHKEYS_LINE_MAX) + 1);
        if (!buf)
                return -ENOMEM;
        unsigned lineno = 0;
        const char *line, *p = data, *end = data + size;
        for (size_t len; line_next(&p, end, &line, &len);) {
                lineno++;
                if (len > AUTHKEYS_LINE_MAX) {
                        int r = add_problem(keys, file, lineno, "line longer than %d bytes: not read", AUTHKEYS_LINE_MAX);
                        if (r < 0)
                                return r;
                        continue;
                }
                memcpy(buf, line, len);
                buf[len] = 0;
                bool nul_byte = strlen(buf) < len;
                /* Trailing blanks and a CR (a file from Windows) are nothing to sshd either. */
                for (size_t n = strlen(buf); n > 0 && strchr(" \t\r", buf[n - 1]); n--)
                        buf[n - 1] = 0;
                char *s = buf + strspn(buf, " \t");
                if (!*s || *s == '#')
                        continue;
                int r = parse_line(keys, file, lineno, s, nul_byte);
                if (r < 0)
                        return r;
        }
        return 0;
}

int authkeys_read(authkeys *keys, const char *path) {
        _cleanup_(freep) char *data = NULL;
        size_t size;
        int r = read_file_bounded(path, AUTHKEYS_FILE_MAX, 0, &data, &size);
        if (r < 0)
                return r;
        return authkeys_parse(keys, path, data, size);
}

char *authkey_problem_format(const authkey_problem *p) {
        _cleanup_(freep) char *file = escape_control(p->file);
        char *s = NULL;
        int r = p->line ? asprintf(&s, "%s:%u: %s", strna(file), p->line, p->message)
                        : asprintf(&s, "%s: %s", strna(file), p->message);
        return r < 0 ? NULL : s;
}
