/* The state file of `check`: JSON so an operator can read it, written with write+fsync+rename. */
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "../exporters/alert.h"
#include "base/log.h"
#include "resolve.h"
#include "state_file.h"

#define STATE_VERSION 1

char *state_file_path(void) {
        const char *dir = getenv("STATE_DIRECTORY");
        char *path;
        if (isempty_str(dir))
                dir = "/var/lib/rtun-monitor";
        /* StateDirectory= may list several, colon-separated: the first is ours. */
        int n = (int) MIN(strcspn(dir, ":"), 4096);
        return asprintf(&path, "%.*s/state", n, dir) < 0 ? NULL : path;
}

/* The directory may not exist outside systemd's StateDirectory=. */
static void make_parent_directory(const char *path) {
        _cleanup_(freep) char *dir = strdup(path);
        if (dir && strrchr(dir, '/')) {
                *strrchr(dir, '/') = 0;
                if (*dir)
                        (void) mkdir(dir, 0700);
        }
}

/* Who holds the lock, as its holder wrote it ("PID check"): numbers and known words only are shown. */
static void lock_holder(int fd, char *buf, size_t size) {
        char text[64], word[16];
        int pid;
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        text[MAX(n, 0)] = 0;
        if (sscanf(text, "%d %15[a-z]", &pid, word) == 2 && pid > 0 && (streq(word, "check") || streq(word, "daemon")))
                snprintf(buf, size, "rtun-monitor %s (PID %d)", word, pid);
        else
                snprintf(buf, size, "another rtun-monitor");
}

int state_lock(const char *state_path, const char *holder, usec_t wait) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -1;
        char who[64];
        struct stat st;

        if (asprintf(&path, "%s.lock", state_path) < 0)
                return log_oom();
        make_parent_directory(state_path);
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0)
                return log_warning_errno(errno, "Failed to open %s, going on without the lock: %m", path);
        if (fstat(fd, &st) < 0)
                return log_warning_errno(errno, "Failed to stat %s, going on without the lock: %m", path);
        if (!S_ISREG(st.st_mode))
                return log_warning_errno(EBADFD, "%s is not a regular file, going on without the lock.", path);

        usec_t deadline = now_usec(CLOCK_MONOTONIC) + wait;
        for (bool told = false;; told = true) {
                if (flock(fd, LOCK_EX | LOCK_NB) >= 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return log_warning_errno(errno, "Failed to lock %s, going on without the lock: %m", path);
                lock_holder(fd, who, sizeof who);
                /* A daemon holds it for as long as it runs: waiting would not help. */
                if (strstr(who, " daemon "))
                        return log_error_errno(EBUSY, "%s holds %s: not running %s beside it.", who, path, holder);
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return log_error_errno(EBUSY, "%s still holds %s after %llus: not running %s beside it.", who,
                                               path, (unsigned long long) (wait / USEC_PER_SEC), holder);
                if (!told)
                        log_notice("Waiting for %s to finish with %s...", who, path);
                (void) usleep(50 * USEC_PER_MSEC);
        }

        char text[64];
        int n = snprintf(text, sizeof text, "%d %s\n", (int) getpid(), holder);
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t) n, 0) != n)
                log_debug_errno(errno, "Failed to note the holder in %s, ignoring: %m", path);
        return TAKE_FD(fd);
}

json_t *health_to_json(const tunnel_health *h) {
        json_t *restarts = json_array();
        if (!restarts)
                return NULL;
        for (unsigned i = 0; i < h->n_restarts && i < RESTART_HISTORY_MAX; i++)
                json_array_append_new(restarts, json_integer((json_int_t) h->restarts[i]));
        return json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:b, s:b, s:b}",
                         "state", tunnel_state_to_string(h->state),
                         "consecutive_failures", (json_int_t) h->consecutive_failures,
                         "last_failure", probe_status_to_string(h->last_failure),
                         "last_success", (json_int_t) h->last_success,
                         "failing_since", (json_int_t) h->failing_since,
                         "starved_since", (json_int_t) h->starved_since,
                         "restarts", restarts,
                         "backoff", (json_int_t) h->backoff,
                         "next_restart_at", (json_int_t) h->next_restart_at,
                         "announced_down", h->announced_down,
                         "gave_up", h->gave_up,
                         "down_silenced", h->down_silenced);
}

static int get_u64(json_t *o, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EINVAL;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

int health_from_json(json_t *o, tunnel_health *ret) {
        tunnel_health h;
        uint64_t cf, ls, bo, nra;
        json_t *restarts, *v;

        if (!json_is_object(o))
                return -EINVAL;
        tunnel_health_init(&h);
        if (get_u64(o, "consecutive_failures", &cf) < 0 || get_u64(o, "last_success", &ls) < 0 ||
            get_u64(o, "backoff", &bo) < 0 || get_u64(o, "next_restart_at", &nra) < 0 || cf > 1000000)
                return -EINVAL;
        h.consecutive_failures = (unsigned) cf;
        h.last_success = ls;
        h.backoff = bo;
        h.next_restart_at = nra;
        uint64_t fs = 0;
        if (json_object_get(o, "failing_since") && get_u64(o, "failing_since", &fs) < 0)
                return -EINVAL;
        h.failing_since = fs;
        uint64_t ss = 0;
        if (json_object_get(o, "starved_since") && get_u64(o, "starved_since", &ss) < 0)
                return -EINVAL;
        h.starved_since = ss;
        h.state = tunnel_state_from_string(json_string_value(json_object_get(o, "state")));
        h.last_failure = probe_status_from_string(json_string_value(json_object_get(o, "last_failure")));
        if (h.state < 0 || h.last_failure < 0)
                return -EINVAL;
        v = json_object_get(o, "announced_down");
        if (!json_is_boolean(v))
                return -EINVAL;
        h.announced_down = json_is_true(v);
        v = json_object_get(o, "gave_up");
        if (!json_is_boolean(v))
                return -EINVAL;
        h.gave_up = json_is_true(v);
        v = json_object_get(o, "down_silenced");
        if (v && !json_is_boolean(v))
                return -EINVAL;
        h.down_silenced = json_is_true(v);
        restarts = json_object_get(o, "restarts");
        if (!json_is_array(restarts) || json_array_size(restarts) > RESTART_HISTORY_MAX)
                return -EINVAL;
        size_t i;
        json_array_foreach(restarts, i, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                        return -EINVAL;
                h.restarts[i] = (usec_t) json_integer_value(v);
        }
        h.n_restarts = (unsigned) json_array_size(restarts);
        *ret = h;
        return 0;
}

json_t *resolution_to_json(const tunnel *t) {
        _cleanup_(freep) char *text = NULL;

        /* Kept also when made while no process ran (started_at 0): it serves until the unit starts (F12). */
        if (!t->resolved || !t->resolved_for_argv || ssh_resolved_format(&t->ssh, &text) < 0)
                return NULL;
        json_t *argv = json_array();
        for (char **a = t->resolved_for_argv; argv && *a; a++)
                if (json_array_append_new(argv, json_string(*a)) < 0) {
                        json_decref(argv);
                        return NULL;
                }
        return json_pack("{s:o, s:I, s:s}", "argv", argv, "started_at", (json_int_t) t->resolved_for_start, "ssh", text);
}

void resolve_seed_done(resolve_seed *s) {
        if (!s)
                return;
        free(s->name);
        strv_free(s->argv);
        free(s->ssh_g);
        *s = (resolve_seed) {};
}

int resolution_from_json(json_t *o, const char *name, resolve_seed *ret) {
        _cleanup_(resolve_seed_done) resolve_seed s = {};
        json_t *argv = json_object_get(o, "argv"), *v;
        const char *text = json_string_value(json_object_get(o, "ssh"));
        size_t i;

        if (!json_is_object(o) || !json_is_array(argv) || json_array_size(argv) == 0 || !text ||
            get_u64(o, "started_at", &s.started_at) < 0)
                return -EINVAL;
        json_array_foreach(argv, i, v) {
                if (!json_is_string(v))
                        return -EINVAL;
                if (strv_push(&s.argv, json_string_value(v)) < 0)
                        return -ENOMEM;
        }
        s.name = strdup(name);
        s.ssh_g = strdup(text);
        if (!s.name || !s.ssh_g)
                return -ENOMEM;
        *ret = s;
        s = (resolve_seed) {};
        return 0;
}

json_t *state_entries_outside(json_t *tunnels, char *const *patterns) {
        json_t *out = NULL, *v;
        const char *name;

        json_object_foreach(tunnels, name, v) {
                bool inside = false;
                for (char *const *p = patterns; p && *p && !inside; p++)
                        inside = fnmatch(*p, name, FNM_NOESCAPE) == 0; /* as ListUnitsByPatterns matches */
                if (inside)
                        continue;
                if (!out && !(out = json_object()))
                        return NULL;
                json_object_set(out, name, v);
        }
        return out;
}

void saved_state_done(saved_state *s) {
        if (!s)
                return;
        json_decref(s->tunnels_json);
        strv_free(s->audit_logged);
        for (size_t i = 0; i < s->n_seeds; i++)
                resolve_seed_done(&s->seeds[i]);
        free(s->seeds);
        for (size_t i = 0; i < s->n_tunnels; i++)
                free(s->tunnels[i].name);
        free(s->tunnels);
        json_decref(s->alerts);
        *s = (saved_state) {};
}

static int saved_tunnel_cmp(const void *a, const void *b) {
        return strcmp(((const saved_tunnel *) a)->name, ((const saved_tunnel *) b)->name);
}

/* Sorted by parse(): thousands of tunnels look themselves up in n log n, not n². */
const tunnel_health *saved_state_find(const saved_state *s, const char *name) {
        saved_tunnel key = { .name = (char *) name };
        const saved_tunnel *t = s->n_tunnels > 0 ? bsearch(&key, s->tunnels, s->n_tunnels, sizeof key, saved_tunnel_cmp)
                                                 : NULL;
        return t ? &t->health : NULL;
}

static int parse(json_t *root, saved_state *s) {
        json_t *v = json_object_get(root, "version");
        if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION)
                return -EINVAL;
        json_t *tunnels = json_object_get(root, "tunnels");
        if (!json_is_object(tunnels))
                return -EINVAL;
        s->tunnels_json = json_incref(tunnels);
        s->tunnels = calloc(json_object_size(tunnels) + 1, sizeof(saved_tunnel));
        s->seeds = calloc(json_object_size(tunnels) + 1, sizeof(resolve_seed));
        if (!s->tunnels || !s->seeds)
                return -ENOMEM;
        const char *name;
        json_object_foreach(tunnels, name, v) {
                saved_tunnel *t = &s->tunnels[s->n_tunnels];
                if (health_from_json(v, &t->health) < 0)
                        return -EINVAL;
                if (!(t->name = strdup(name)))
                        return -ENOMEM;
                s->n_tunnels++;
                /* A resolution that does not read back is not used: `ssh -G` runs instead. */
                json_t *res = json_object_get(v, "resolution");
                if (res) {
                        int k = resolution_from_json(res, name, &s->seeds[s->n_seeds]);
                        if (k == -ENOMEM)
                                return k;
                        if (k >= 0)
                                s->n_seeds++;
                }
        }
        if (s->n_tunnels > 1)
                qsort(s->tunnels, s->n_tunnels, sizeof *s->tunnels, saved_tunnel_cmp);
        v = json_object_get(root, "network_down");
        if (v && !json_is_boolean(v))
                return -EINVAL;
        s->guard.network_down = json_is_true(v);
        v = json_object_get(root, "audit_logged");
        if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e)
                        if (json_is_string(e) && i < 4096 && strv_push(&s->audit_logged, json_string_value(e)) < 0)
                                return -ENOMEM;
        }
        v = json_object_get(root, "alerts");
        if (v) {
                if (!json_is_array(v))
                        return -EINVAL;
                s->alerts = json_incref(v);
        }
        return 0;
}

int saved_state_load(const char *path, saved_state *ret) {
        _cleanup_(freep) char *data = NULL;
        size_t size;

        *ret = (saved_state) {};
        /* Not through a symlink: whatever it points to (a root-only file) must not be read, let alone quoted. */
        int r = read_file_bounded(path, STATE_FILE_MAX, READ_FILE_NOFOLLOW, &data, &size);
        if (r == -ENOENT)
                return 0;
        if (r == -ENOMEM)
                return log_oom();
        if (r == -EFBIG) {
                log_warning("%s: state file larger than %d MiB, starting afresh.", path, STATE_FILE_MAX >> 20);
                return 0;
        }
        if (r < 0) {
                log_warning("%s: cannot read state file (%s), starting afresh.", path, read_file_strerror(r));
                return 0;
        }
        return saved_state_parse(path, data, size, ret);
}

int saved_state_parse(const char *path, const char *data, size_t size, saved_state *ret) {
        json_error_t err;
        saved_state s = {};

        *ret = (saved_state) {};
        json_t *root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &err);
        if (!root) {
                /* Where, not what: jansson's text quotes the offending token. */
                log_warning("%s:%d:%d: corrupt state file (not valid JSON), starting afresh.", path, err.line,
                            err.column);
                return 0;
        }
        int r = parse(root, &s);
        json_decref(root);
        if (r == -ENOMEM) {
                saved_state_done(&s);
                return log_oom();
        }
        if (r < 0) {
                log_warning("%s: state file has unexpected content, starting afresh.", path);
                saved_state_done(&s);
                return 0;
        }
        *ret = s;
        return 0;
}

int saved_state_write(const char *path, const monitor *m, json_t *alerts) {
        json_t *tunnels = json_object();
        json_t *root = json_pack("{s:i, s:o, s:b}", "version", STATE_VERSION, "tunnels", tunnels,
                                 "network_down", m->guard.network_down);
        if (!root)
                return log_oom();
        for (size_t i = 0; i < m->n_tunnels; i++) {
                json_t *h = health_to_json(&m->tunnels[i]->health);
                json_t *res = h ? resolution_to_json(m->tunnels[i]) : NULL;
                if (res && json_object_set_new(h, "resolution", res) < 0) {
                        json_decref(h);
                        h = NULL;
                }
                json_t *fd = h ? tunnel_forwards_down_to_json(m->tunnels[i]) : NULL;
                if (fd && json_object_set_new(h, "forwards_down", fd) < 0) {
                        json_decref(h);
                        h = NULL;
                }
                if (!h || json_object_set_new(tunnels, m->tunnels[i]->name, h) < 0) {
                        json_decref(root);
                        return log_oom();
                }
        }
        const char *name;
        json_t *v;
        json_object_foreach(m->other_units_state, name, v)
                if (!json_object_get(tunnels, name))
                        json_object_set(tunnels, name, v);
        if (alerts && json_array_size(alerts) > 0)
                json_object_set(root, "alerts", alerts);
        if (m->audit_logged) {
                json_t *l = json_array();
                for (char **e = m->audit_logged; l && *e; e++)
                        json_array_append_new(l, json_string(*e));
                if (l)
                        json_object_set_new(root, "audit_logged", l);
        }

        _cleanup_(freep) char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(root);
        if (!text)
                return log_oom();
        size_t len = strlen(text);
        /* What the loader would refuse is not written: the last good state stays. */
        if (len > STATE_FILE_MAX)
                return log_error_errno(EFBIG, "State for %s would be larger than %d MiB, not written.", path,
                                       STATE_FILE_MAX >> 20);

        make_parent_directory(path);
        /* 0600: it holds command lines and resolutions, for root's eyes only. */
        int r = write_file_atomic(path, text, len, 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

typedef struct collect_ctx {
        json_t *arr;
        const char *receiver;
} collect_ctx;

static int collect_one(const alert_event *ev, unsigned attempts, usec_t first_try, void *userdata) {
        collect_ctx *c = userdata;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "receiver", c->receiver,
                              "event", tunnel_event_to_string(ev->event), "name", strempty(ev->name), "bastion",
                              strempty(ev->bastion), "forward", strempty(ev->forward), "reason",
                              strempty(ev->reason), "host", strempty(ev->host), "restarts",
                              (json_int_t) ev->restarts, "timestamp", (json_int_t) ev->timestamp, "attempts",
                              (json_int_t) attempts, "first_try", (json_int_t) first_try);
        if (!o || json_array_append_new(c->arr, o) < 0)
                return -ENOMEM;
        return 0;
}

int saved_alerts_collect(alert_sender *const *senders, size_t n_senders, json_t *arr) {
        for (size_t i = 0; i < n_senders; i++) {
                collect_ctx c = { arr, alert_sender_receiver(senders[i]) };
                int r = alert_sender_foreach_pending(senders[i], collect_one, &c);
                if (r < 0)
                        return log_oom();
        }
        return 0;
}

void saved_alerts_restore(alert_sender *const *senders, size_t n_senders, json_t *arr) {
        size_t idx;
        json_t *o;

        json_array_foreach(arr, idx, o) {
                const char *receiver = json_string_value(json_object_get(o, "receiver"));
                tunnel_event ev = tunnel_event_from_string(json_string_value(json_object_get(o, "event")));
                uint64_t restarts, ts, attempts, first_try;
                if (!receiver || !ev || get_u64(o, "restarts", &restarts) < 0 || get_u64(o, "timestamp", &ts) < 0 ||
                    get_u64(o, "attempts", &attempts) < 0 || get_u64(o, "first_try", &first_try) < 0) {
                        log_warning("Skipping a malformed saved alert.");
                        continue;
                }
                alert_event e = {
                        .event = ev,
                        .name = (char *) json_string_value(json_object_get(o, "name")),
                        .bastion = (char *) json_string_value(json_object_get(o, "bastion")),
                        .forward = (char *) json_string_value(json_object_get(o, "forward")),
                        .reason = (char *) json_string_value(json_object_get(o, "reason")),
                        .host = (char *) json_string_value(json_object_get(o, "host")),
                        .restarts = (unsigned) restarts,
                        .timestamp = ts,
                };
                bool found = false;
                for (size_t i = 0; i < n_senders; i++)
                        if (streq(alert_sender_receiver(senders[i]), receiver)) {
                                (void) alert_sender_restore(senders[i], &e, (unsigned) attempts, first_try);
                                found = true;
                        }
                if (!found)
                        log_warning("Dropping a saved %s alert for receiver %s, which is no longer configured.",
                                    tunnel_event_to_string(ev), receiver);
        }
}
