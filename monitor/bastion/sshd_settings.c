/* The `sshd -T` output parser. */
#include "sshd_settings.h"

void sshd_settings_done(sshd_settings *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->entries[i].key);
                free(s->entries[i].value);
        }
        free(s->entries);
        *s = (sshd_settings) {};
}

const char *sshd_settings_get(const sshd_settings *s, const char *key) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->entries[i].key, key))
                        return s->entries[i].value;
        return NULL;
}

static bool is_key_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int parse_line(const char *line, size_t len, unsigned lineno, sshd_setting *ret, char *err, size_t errlen) {
        size_t k = 0;
        while (k < len && is_key_char(line[k]))
                k++;
        if (k == 0 || (k < len && line[k] != ' ' && line[k] != '\t'))
                return set_err(err, errlen, -EBADMSG, "line %u: not \"key value\"", lineno);
        size_t v = k;
        while (v < len && (line[v] == ' ' || line[v] == '\t'))
                v++;
        size_t e = len;
        while (e > v && strchr(" \t\r", line[e - 1]))
                e--;
        ret->key = strndup(line, k);
        ret->value = strndup(line + v, e - v);
        if (!ret->key || !ret->value)
                return -ENOMEM;
        /* OpenSSH 9.x prints most keys lowercase but "PermitOpen", "PermitListen", "IPQoS" as written. */
        for (char *c = ret->key; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        return 0;
}

int sshd_settings_parse(const char *data, size_t size, sshd_settings *ret, char *err, size_t errlen) {
        _cleanup_(sshd_settings_done) sshd_settings s = {};
        unsigned lineno = 0;

        if (size > SSHD_SETTINGS_MAX)
                return set_err(err, errlen, -EFBIG, "more than %d bytes", SSHD_SETTINGS_MAX);
        if (memchr(data, 0, size))
                return set_err(err, errlen, -EBADMSG, "a NUL byte");
        size_t allocated = 0;
        const char *line, *p = data, *end = data + size;
        for (size_t len; line_next(&p, end, &line, &len);) {
                lineno++;
                if (len > SSHD_SETTINGS_LINE_MAX)
                        return set_err(err, errlen, -EBADMSG, "line %u: longer than %d bytes", lineno, SSHD_SETTINGS_LINE_MAX);
                size_t blank = 0;
                while (blank < len && strchr(" \t\r", line[blank]))
                        blank++;
                if (blank == len)
                        continue;
                if (s.n >= SSHD_SETTINGS_ENTRIES_MAX)
                        return set_err(err, errlen, -E2BIG, "more than %d lines", SSHD_SETTINGS_ENTRIES_MAX);
                if (s.n == allocated) {
                        size_t a = allocated ? allocated * 2 : 128;
                        sshd_setting *m = reallocarray(s.entries, a, sizeof(sshd_setting));
                        if (!m)
                                return -ENOMEM;
                        s.entries = m;
                        allocated = a;
                }
                s.entries[s.n] = (sshd_setting) {};
                int r = parse_line(line, len, lineno, &s.entries[s.n], err, errlen);
                if (r < 0) {
                        free(s.entries[s.n].key);
                        free(s.entries[s.n].value);
                        s.entries[s.n] = (sshd_setting) {};
                        return r;
                }
                s.n++;
        }
        *ret = s;
        s = (sshd_settings) {};
        return 0;
}
