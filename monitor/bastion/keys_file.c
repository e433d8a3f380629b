/* AuthorizedKeysFile token expansion. */
#include <limits.h>
#include <strings.h>

#include "keys_file.h"

static int append(char *buf, size_t *len, const char *s) {
        size_t n = strlen(s);
        if (*len + n >= PATH_MAX)
                return -ENAMETOOLONG;
        memcpy(buf + *len, s, n + 1);
        *len += n;
        return 0;
}

int authorized_keys_path(const char *pattern, const char *user, const char *home, uid_t uid, char **ret) {
        char buf[PATH_MAX] = "", uidstr[32], one[2] = "";
        size_t len = 0;
        int r;

        snprintf(uidstr, sizeof uidstr, "%llu", (unsigned long long) uid);
        /* Not absolute after expansion: sshd prepends "%h/" (backward compatibility). */
        for (const char *s = pattern; *s; s++) {
                const char *add = one;
                if (*s != '%')
                        one[0] = *s;
                else if (s[1] == '%')
                        one[0] = *++s;
                else if (s[1] == 'h')
                        add = home, s++;
                else if (s[1] == 'u')
                        add = user, s++;
                else if (s[1] == 'U')
                        add = uidstr, s++;
                else
                        return -EINVAL;
                if ((r = append(buf, &len, add)) < 0)
                        return r;
        }
        char *p = NULL;
        if (buf[0] == '/')
                p = strdup(buf);
        else if (strlen(home) + 1 + len >= PATH_MAX)
                return -ENAMETOOLONG;
        else if (asprintf(&p, "%s/%s", home, buf) < 0)
                p = NULL;
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int authorized_keys_paths(const char *value, const char *user, const char *home, uid_t uid, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        _cleanup_(freep) char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (strcasecmp(w, "none") == 0)
                        continue;
                _cleanup_(freep) char *p = NULL;
                int r = authorized_keys_path(w, user, home, uid, &p);
                if (r < 0)
                        return r;
                if (strv_push(&l, p) < 0)
                        return -ENOMEM;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}
