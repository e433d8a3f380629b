/* `ssh -G` output <-> ssh_resolved: what OpenSSH resolved, parsed strictly; and written back in the same
 * form, so a resolution can be kept in the state file and read by the same parser. Pure, unit-tested. */
#include <stddef.h>
#include <strings.h>

#include "base/hostport.h"
#include "base/log.h"
#include "resolve.h"

static bool strcaseeq(const char *a, const char *b) {
        return strcasecmp(a, b) == 0;
}

static void forwards_free(ssh_forward *f, size_t n);

void ssh_resolved_done(ssh_resolved *r) {
        if (!r)
                return;
        free(r->hostname);
        free(r->user);
        strv_free(r->identity_files);
        free(r->control_path);
        free(r->control_master);
        free(r->proxy_jump);
        free(r->proxy_command);
        free(r->host_key_alias);
        free(r->user_known_hosts_file);
        free(r->global_known_hosts_file);
        free(r->strict_host_key_checking);
        forwards_free(r->forwards, r->n_forwards);
        forwards_free(r->local_forwards, r->n_local_forwards);
        forwards_free(r->dynamic_forwards, r->n_dynamic_forwards);
        free(r->bastion);
        strv_free(r->identity_warnings);
        *r = (ssh_resolved) {};
}

/* The plain string keywords of ssh -G that we keep; "none" means unset for some. */
static const struct {
        const char *keyword;
        size_t offset;
        bool none_is_null;
} string_keywords[] = {
        { "hostname", offsetof(ssh_resolved, hostname), false },
        { "user", offsetof(ssh_resolved, user), false },
        { "controlpath", offsetof(ssh_resolved, control_path), true },
        { "controlmaster", offsetof(ssh_resolved, control_master), false },
        { "proxyjump", offsetof(ssh_resolved, proxy_jump), true },
        { "proxycommand", offsetof(ssh_resolved, proxy_command), true },
        { "hostkeyalias", offsetof(ssh_resolved, host_key_alias), false },
        { "userknownhostsfile", offsetof(ssh_resolved, user_known_hosts_file), false },
        { "globalknownhostsfile", offsetof(ssh_resolved, global_known_hosts_file), false },
        { "stricthostkeychecking", offsetof(ssh_resolved, strict_host_key_checking), false },
};

typedef enum forward_kind { KIND_REMOTE, KIND_LOCAL, KIND_DYNAMIC } forward_kind;

static const char *const forward_keyword[] = {
        [KIND_REMOTE] = "remoteforward",
        [KIND_LOCAL] = "localforward",
        [KIND_DYNAMIC] = "dynamicforward",
};

static void forward_done(ssh_forward *f) {
        free(f->listen_host);
        free(f->target);
        free(f->target_host);
}

static void forwards_free(ssh_forward *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                forward_done(&f[i]);
        free(f);
}

/* The target "[host]:port" (or "host:port"); a unix socket path leaves host NULL and port 0. */
static int parse_target(const char *t, ssh_forward *f) {
        hostport h;
        if (t[0] != '[' && strchr(t, '/'))
                return 0;
        if (hostport_parse(t, HOSTPORT_ANY_HOST | HOSTPORT_PORT_ZERO, &h, NULL) < 0)
                return 0; /* kept for display; nothing to connect to */
        f->target_port = h.port;
        f->target_host = strdup(h.host);
        return f->target_host ? 0 : -ENOMEM;
}

/* "remoteforward LISTEN TARGET", "localforward LISTEN TARGET", "dynamicforward LISTEN"; LISTEN one of
 * "[host]:port", "port", "/unix/path". */
static int parse_forward(const char *value, forward_kind kind, ssh_resolved *r, char *err, size_t errlen) {
        const char *kw = forward_keyword[kind];
        size_t llen = strcspn(value, " \t");
        const char *target = value + llen;
        target += strspn(target, " \t");
        if (llen == 0 || (kind != KIND_DYNAMIC && !*target))
                return set_err(err, errlen, -EINVAL, "Malformed %s line: \"%s\"", kw, value);

        _cleanup_(freep) char *listen = strndup(value, llen);
        if (!listen)
                return -ENOMEM;
        if (listen[0] != '[' && strchr(listen, '/')) {
                log_debug("Skipping %s from unix socket %s: not probeable.", kw, listen);
                return 0;
        }
        hostport h;
        int k = hostport_parse(listen, HOSTPORT_ANY_HOST | HOSTPORT_BARE_PORT | HOSTPORT_PORT_ZERO, &h, NULL);
        if (k == -ERANGE)
                return set_err(err, errlen, -EINVAL, "Bad port in %s listen address \"%s\"", kw, listen);
        if (k < 0)
                return set_err(err, errlen, -EINVAL, "Malformed %s listen address \"%s\"", kw, listen);
        if (h.port == 0) {
                /* Dynamic allocation: the port is picked at run time, we cannot know which one to probe. */
                log_debug("Skipping %s %s with a dynamically allocated port.", kw, listen);
                return 0;
        }

        /* Omitted, empty or "*" bind address: the listener is on loopback at least. */
        _cleanup_(forward_done) ssh_forward f = {
                .listen_host = strdup(isempty_str(h.host) || streq(h.host, "*") ? "localhost" : h.host),
                .listen_port = h.port,
        };
        if (!f.listen_host)
                return -ENOMEM;
        if (kind != KIND_DYNAMIC) {
                if (!(f.target = strdup(target)))
                        return -ENOMEM;
                size_t tl = strlen(f.target);
                while (tl > 0 && (f.target[tl - 1] == ' ' || f.target[tl - 1] == '\t'))
                        f.target[--tl] = 0;
                if (parse_target(f.target, &f) < 0)
                        return -ENOMEM;
        }

        ssh_forward **list = kind == KIND_REMOTE ? &r->forwards : kind == KIND_LOCAL ? &r->local_forwards
                                                                                     : &r->dynamic_forwards;
        size_t *n = kind == KIND_REMOTE ? &r->n_forwards : kind == KIND_LOCAL ? &r->n_local_forwards
                                                                             : &r->n_dynamic_forwards;
        if (*n >= SSH_FORWARDS_MAX)
                return set_err(err, errlen, -EINVAL, "More than %d %s lines", SSH_FORWARDS_MAX, kw);
        ssh_forward *m = realloc(*list, (*n + 1) * sizeof(ssh_forward));
        if (!m)
                return -ENOMEM;
        *list = m;
        m[(*n)++] = f;
        f = (ssh_forward) {};
        return 0;
}

static int parse_line(char *line, ssh_resolved *r, bool *seen_port, char *err, size_t errlen) {
        size_t len = strlen(line);
        while (len > 0 && strchr(" \t\r", line[len - 1]))
                line[--len] = 0;
        line += strspn(line, " \t");
        if (!*line)
                return 0;

        char *value = line + strcspn(line, " \t");
        if (*value) {
                *value++ = 0;
                value += strspn(value, " \t");
        }
        const char *keyword = line;
        if (!*value)
                return 0; /* ssh -G never prints a keyword without a value; nothing to keep */

        if (strcaseeq(keyword, "port")) {
                if (parse_port(value, /* allow_zero= */ false, &r->port) < 0)
                        return set_err(err, errlen, -EINVAL, "Bad port \"%s\" in ssh -G output", value);
                *seen_port = true;
                return 0;
        }
        if (strcaseeq(keyword, "identityfile"))
                return strv_push(&r->identity_files, value);
        if (strcaseeq(keyword, "remoteforward"))
                return parse_forward(value, KIND_REMOTE, r, err, errlen);
        if (strcaseeq(keyword, "localforward"))
                return parse_forward(value, KIND_LOCAL, r, err, errlen);
        if (strcaseeq(keyword, "dynamicforward"))
                return parse_forward(value, KIND_DYNAMIC, r, err, errlen);
        if (strcaseeq(keyword, "exitonforwardfailure")) {
                r->exit_on_forward_failure = strcaseeq(value, "yes");
                r->seen_forward_options = true;
                return 0;
        }
        if (strcaseeq(keyword, "serveraliveinterval")) {
                unsigned long n = strtoul(value, NULL, 10);
                r->server_alive_interval = n > 1000000 ? 1000000 : (unsigned) n;
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(string_keywords); i++) {
                if (!strcaseeq(keyword, string_keywords[i].keyword))
                        continue;
                char **field = (char **) ((uint8_t *) r + string_keywords[i].offset);
                bool none = string_keywords[i].none_is_null && strcaseeq(value, "none");
                return free_and_strdup(field, none ? NULL : value);
        }
        return 0; /* everything else is not ours */
}

static int make_bastion(ssh_resolved *r) {
        int n;
        if (r->port == 22)
                n = asprintf(&r->bastion, "%s", r->hostname);
        else if (strchr(r->hostname, ':'))
                n = asprintf(&r->bastion, "[%s]:%u", r->hostname, (unsigned) r->port);
        else
                n = asprintf(&r->bastion, "%s:%u", r->hostname, (unsigned) r->port);
        if (n < 0) {
                r->bastion = NULL;
                return -ENOMEM;
        }
        return 0;
}

int ssh_resolved_parse(const char *text, ssh_resolved *ret, char *err, size_t errlen) {
        _cleanup_(ssh_resolved_done) ssh_resolved r = {};
        bool seen_port = false;
        int k;

        if (!text || !ret)
                return set_err(err, errlen, -EINVAL, "No ssh -G output");

        _cleanup_(freep) char *copy = strdup(text);
        if (!copy)
                return -ENOMEM;

        for (char *line = copy, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                k = parse_line(line, &r, &seen_port, err, errlen);
                if (k < 0)
                        return k;
        }

        if (!r.hostname)
                return set_err(err, errlen, -EINVAL, "ssh -G output has no hostname");
        if (!seen_port)
                r.port = 22;
        k = make_bastion(&r);
        if (k < 0)
                return k;

        *ret = r;
        r = (ssh_resolved) {};
        return 0;
}

/* One "keyword value" line per field set, the way `ssh -G` prints them (fields at "none" left out). */
int ssh_resolved_format(const ssh_resolved *r, char **ret) {
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(string_keywords); i++) {
                char *const *field = (char *const *) ((const uint8_t *) r + string_keywords[i].offset);
                if (*field)
                        fprintf(f, "%s %s\n", string_keywords[i].keyword, *field);
        }
        fprintf(f, "port %u\n", (unsigned) r->port);
        for (char **i = r->identity_files; i && *i; i++)
                fprintf(f, "identityfile %s\n", *i);
        for (size_t i = 0; i < r->n_forwards; i++)
                fprintf(f, "remoteforward [%s]:%u %s\n", r->forwards[i].listen_host,
                        (unsigned) r->forwards[i].listen_port, r->forwards[i].target);
        for (size_t i = 0; i < r->n_local_forwards; i++)
                fprintf(f, "localforward [%s]:%u %s\n", r->local_forwards[i].listen_host,
                        (unsigned) r->local_forwards[i].listen_port, r->local_forwards[i].target);
        for (size_t i = 0; i < r->n_dynamic_forwards; i++)
                fprintf(f, "dynamicforward [%s]:%u\n", r->dynamic_forwards[i].listen_host,
                        (unsigned) r->dynamic_forwards[i].listen_port);
        fprintf(f, "exitonforwardfailure %s\n", r->exit_on_forward_failure ? "yes" : "no");
        fprintf(f, "serveraliveinterval %u\n", r->server_alive_interval);
        if (fclose(f) != 0 || !text)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

/* spec as tunnel.forward says it: "PORT" matches any listen host. */
static bool forward_matches(const ssh_forward *f, const char *spec) {
        hostport h;
        if (hostport_parse(spec, HOSTPORT_ANY_HOST | HOSTPORT_BARE_PORT, &h, NULL) < 0 || h.port != f->listen_port)
                return false;
        return isempty_str(h.host) || strcaseeq(f->listen_host, h.host);
}

const ssh_forward *ssh_resolved_find_forward(const ssh_resolved *r, const char *spec) {
        if (!r || r->n_forwards == 0)
                return NULL;
        if (!spec)
                return &r->forwards[0];
        for (size_t i = 0; i < r->n_forwards; i++)
                if (forward_matches(&r->forwards[i], spec))
                        return &r->forwards[i];
        return NULL;
}

char *ssh_forward_format(const ssh_forward *f, char *buf, size_t size) {
        if (!buf || size == 0)
                return buf;
        if (!f) {
                buf[0] = 0;
                return buf;
        }
        return hostport_format(f->listen_host, f->listen_port, buf, size);
}

int ssh_resolved_identity_warnings(const char *text, char ***list) {
        static const char prefix[] = "Warning: Identity file ", middle[] = " not accessible: ";
        for (const char *line = text; line && *line;) {
                const char *end = line + strcspn(line, "\n");
                const char *mid = NULL;
                if (strncmp(line, prefix, sizeof prefix - 1) == 0)
                        mid = memmem(line, (size_t) (end - line), middle, sizeof middle - 1);
                if (mid) {
                        const char *path = line + sizeof prefix - 1, *why = mid + sizeof middle - 1;
                        size_t wl = (size_t) (end - why);
                        while (wl > 0 && strchr(".\r ", why[wl - 1]))
                                wl--;
                        _cleanup_(freep) char *w = NULL;
                        if (asprintf(&w, "%.*s: %.*s", (int) MIN((size_t) (mid - path), (size_t) 1024), path,
                                     (int) MIN(wl, (size_t) 256), why) < 0)
                                return -ENOMEM;
                        if (strv_length(*list) < SSH_FORWARDS_MAX && strv_push(list, w) < 0)
                                return -ENOMEM;
                }
                line = *end ? end + 1 : end;
        }
        return 0;
}
