/* Variable expansion of ExecStart the way systemd's exec-util does it, for the subset units use. */
#include <ctype.h>

#include "unit_env.h"

static const char *env_lookup(char *const *env, const char *name, size_t len) {
        const char *found = NULL;
        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
                        found = *e + len + 1; /* the last assignment wins */
        return found;
}

static char *strip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

int unit_env_parse(const char *text, char ***env) {
        _cleanup_(freep) char *copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line = strip(line);
                if (*line == 0 || *line == '#' || *line == ';')
                        continue;
                char *eq = strchr(line, '=');
                if (!eq || eq == line)
                        continue;
                *eq = 0;
                char *key = strip(line), *value = strip(eq + 1);
                size_t n = strlen(value);
                if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
                        value[n - 1] = 0;
                        value++;
                }
                _cleanup_(freep) char *kv = NULL;
                if (asprintf(&kv, "%s=%s", key, value) < 0)
                        return -ENOMEM;
                if (strv_push(env, kv) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int unit_env_read_file(const char *path, char ***env) {
        _cleanup_(freep) char *text = NULL;
        /* A regular file only (a FIFO must not hang discovery), whole or not at all: a silently cut file
         * would give a different command line than systemd's. */
        int r = read_file_bounded(path, UNIT_ENV_FILE_MAX, 0, &text, NULL);
        if (r < 0)
                return r;
        return unit_env_parse(text, env);
}

static bool is_name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

static int append(char **buf, size_t *len, const char *s, size_t n) {
        char *b = realloc(*buf, *len + n + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + *len, s, n);
        *len += n;
        b[*len] = 0;
        *buf = b;
        return 0;
}

int unit_argv_expand(char *const *argv, char *const *env, char ***ret) {
        _cleanup_(strv_freep) char **out = NULL;

        for (char *const *a = argv; a && *a; a++) {
                const char *w = *a;
                /* "$VAR" alone: one argument per whitespace-separated word of the value. */
                if (w[0] == '$' && w[1] != '{' && w[1] != '$' && w[1]) {
                        size_t n = strlen(w + 1);
                        bool whole = true;
                        for (size_t i = 1; i <= n; i++)
                                whole = whole && is_name_char(w[i]);
                        if (whole) {
                                const char *v = env_lookup(env, w + 1, n);
                                _cleanup_(freep) char *copy = strdup(v ?: "");
                                if (!copy)
                                        return -ENOMEM;
                                char *save = NULL;
                                for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
                                        if (strv_push(&out, t) < 0)
                                                return -ENOMEM;
                                continue;
                        }
                }
                _cleanup_(freep) char *buf = strdup("");
                size_t len = 0;
                if (!buf)
                        return -ENOMEM;
                for (const char *p = w; *p;) {
                        if (p[0] == '$' && p[1] == '$') {
                                if (append(&buf, &len, "$", 1) < 0)
                                        return -ENOMEM;
                                p += 2;
                        } else if (p[0] == '$' && p[1] == '{' && strchr(p + 2, '}')) {
                                const char *end = strchr(p + 2, '}');
                                const char *v = env_lookup(env, p + 2, (size_t) (end - p - 2));
                                if (v && append(&buf, &len, v, strlen(v)) < 0)
                                        return -ENOMEM;
                                p = end + 1;
                        } else {
                                if (append(&buf, &len, p, 1) < 0)
                                        return -ENOMEM;
                                p++;
                        }
                }
                if (strv_push(&out, buf) < 0)
                        return -ENOMEM;
        }
        if (!out && !(out = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}
