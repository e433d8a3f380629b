#include <stdarg.h>

#include <sys/wait.h>

#include "../base/capture.h"
#include "../base/log.h"
#include "../base/spawn.h"
#include "fleet.h"
#include "keys_file.h"
#include "sshd_run.h"

static int push(char ***list, size_t *n, char *s) {
        if (!s)
                return -ENOMEM;
        char **l = realloc(*list, (*n + 2) * sizeof(char *));
        if (!l) {
                free(s);
                return -ENOMEM;
        }
        l[(*n)++] = s;
        l[*n] = NULL;
        *list = l;
        return 0;
}

_printf_(2, 3) static int fleet_error(fleet *f, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        char *e = escape_control(s);
        free(s);
        return push(&f->errors, &f->n_errors, e);
}

#define CAT_BINARY "/bin/cat"
#define USER_FILE_TIMEOUT (5 * USEC_PER_SEC)

/* The user's own file, opened as that user (sshd does the same, temporarily_use_uid): a key file that is a
 * symlink to /etc/shadow gets the user's "Permission denied", not root's view of it. A FIFO or an endless
 * file costs the timeout or the cap, then the child is killed. */
static int read_as(const run_identity *id, const char *path, authkeys *keys, char *err, size_t errlen) {
        char *argv[] = { (char *) CAT_BINARY, (char *) "--", (char *) path, NULL };
        _cleanup_(capture_done) capture c = {};
        int r = capture_run(argv, id, AUTHKEYS_FILE_MAX, USER_FILE_TIMEOUT, &c);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                return set_err(err, errlen, r, "file too large");
        if (r == -ETIMEDOUT)
                return set_err(err, errlen, r, "not read within %llu s (not a regular file?)",
                               (unsigned long long) (USER_FILE_TIMEOUT / USEC_PER_SEC));
        if (r < 0)
                return set_err(err, errlen, r, "%s", strerror(-r));
        if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
                c.err[strcspn(c.err, "\r\n")] = 0;
                if (strstr(c.err, "No such file or directory"))
                        return -ENOENT;
                /* cat's own words, as the user: "Permission denied", "Is a directory" */
                const char *why = strrchr(c.err, ':');
                _cleanup_(freep) char *e = escape_control(why ? why + 2 : c.err);
                return set_err(err, errlen, -EACCES, "%s (read as %s)", isempty_str(e) ? "cannot read" : e, id->name);
        }
        return authkeys_parse(keys, path, c.out, c.out_len);
}

/* A file sshd may read for a user: missing is fine (sshd skips it), anything else that stops us is not. */
static int read_keys(fleet *f, const char *path, const run_identity *as) {
        char err[256] = "";
        int r = push(&f->files, &f->n_files, strdup(path));
        if (r < 0)
                return r;
        if (as && run_identity_differs(as))
                r = read_as(as, path, &f->keys, err, sizeof err);
        else {
                r = authkeys_read(&f->keys, path);
                if (r < 0 && r != -ENOMEM)
                        snprintf(err, sizeof err, "%s", read_file_strerror(r));
        }
        if (r == -ENOMEM)
                return r;
        if (r == -ENOENT && as)
                return 0;
        if (r < 0)
                return fleet_error(f, "%s: %s", path, *err ? err : strerror(-r));
        return 0;
}

static int load_user(fleet *f, const fleet_sources *src, const char *user) {
        run_identity id;
        char err[512] = "";
        int r = run_identity_for_user(user, &id);
        if (r == -ESRCH)
                return fleet_error(f, "bastion.users: no user \"%s\" on this machine", user);
        if (r < 0)
                return fleet_error(f, "bastion.users: %s: %s", user, strerror(-r));

        /* The login as sshd sees it, so a Match User block that moves AuthorizedKeysFile counts. */
        _cleanup_(freep) char *spec = NULL;
        if (asprintf(&spec, "user=%s,host=localhost,addr=127.0.0.1", user) < 0)
                return -ENOMEM;
        sshd_settings s = {};
        r = sshd_run(src->sshd_binary ?: SSHD_BINARY, src->sshd_config, spec, &s, err, sizeof err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fleet_error(f, "%s", err);
        const char *value = sshd_settings_get(&s, "authorizedkeysfile");
        char **paths = NULL;
        r = authorized_keys_paths(value ?: ".ssh/authorized_keys", user, id.home, id.uid, &paths);
        sshd_settings_done(&s);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fleet_error(f, "%s: AuthorizedKeysFile \"%s\" for %s: %s", src->sshd_config, strna(value),
                                   user, strerror(-r));
        size_t before = f->keys.n_lines;
        for (size_t i = 0; paths[i] && r >= 0; i++)
                r = read_keys(f, paths[i], &id);
        for (size_t i = 0; paths[i]; i++)
                free(paths[i]);
        free(paths);
        if (r >= 0 && f->keys.n_lines == before)
                log_warning("bastion.users: %s has no key lines in its AuthorizedKeysFile (%s)", user, strna(value));
        return r;
}

int fleet_load(const fleet_sources *src, const bastion_settings *s, fleet *ret) {
        char err[512] = "";
        int r;

        *ret = (fleet) {};
        r = sshd_run(src->sshd_binary ?: SSHD_BINARY, src->sshd_config, NULL, &ret->sshd, err, sizeof err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                r = fleet_error(ret, "%s", err);
        else
                ret->have_sshd = true;

        if (src->files && src->files[0])
                for (size_t i = 0; src->files[i] && r >= 0; i++)
                        r = read_keys(ret, src->files[i], NULL);
        else
                for (size_t i = 0; src->users && src->users[i] && r >= 0; i++)
                        r = load_user(ret, src, src->users[i]);
        if (r >= 0)
                r = port_table_build(&ret->keys, s, &ret->ports);
        return r < 0 ? r : 0;
}

void fleet_done(fleet *f) {
        sshd_settings_done(&f->sshd);
        port_table_done(&f->ports);
        authkeys_done(&f->keys);
        for (size_t i = 0; i < f->n_errors; i++)
                free(f->errors[i]);
        free(f->errors);
        for (size_t i = 0; i < f->n_files; i++)
                free(f->files[i]);
        free(f->files);
        *f = (fleet) {};
}
