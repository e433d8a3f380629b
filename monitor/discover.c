/* Discovery over D-Bus: which tunnel units exist and what systemd says about them.
 * One ListUnitsByPatterns, then one GetAll per unit (Service; Unit too when not loaded); every call
 * bounded by the bus's method call timeout (set by the caller with sd_bus_set_method_call_timeout). */
#include <systemd/sd-bus.h>

#include "discover.h"
#include "log.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"

void unit_info_done(unit_info *u) {
        if (!u)
                return;
        free(u->name);
        free(u->object_path);
        free(u->load_state);
        free(u->load_error);
        free(u->sub_state);
        free(u->result);
        free(u->exec_path);
        strv_free(u->exec_argv);
        strv_free(u->environment);
        strv_free(u->environment_files);
        *u = (unit_info) { .active_state = _UNIT_ACTIVE_STATE_INVALID };
}

void unit_info_free_array(unit_info *u, size_t n) {
        if (!u)
                return;
        for (size_t i = 0; i < n; i++)
                unit_info_done(&u[i]);
        free(u);
}

static int set_str(char **dst, const char *s) {
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

/* ExecStart is a(sasbttttuii): path, argv, ignore-failure, timestamps, pid, code, status. The first entry
 * is the command; a tunnel unit has exactly one. */
static int read_exec_start(sd_bus_message *m, unit_info *u) {
        int r = sd_bus_message_enter_container(m, 'a', "(sasbttttuii)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'r', "sasbttttuii")) > 0) {
                const char *path;
                _cleanup_(strv_freep) char **argv = NULL;

                r = sd_bus_message_read(m, "s", &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_strv(m, &argv);
                if (r < 0)
                        return r;
                r = sd_bus_message_skip(m, "bttttuii");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                if (!u->exec_path) {
                        r = set_str(&u->exec_path, path);
                        if (r < 0)
                                return r;
                        u->exec_argv = TAKE_PTR(argv);
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_property(sd_bus_message *m, const char *name, unit_info *u) {
        const char *s;
        int r;

#define PEEK(sig) sd_bus_message_enter_container(m, 'v', sig)
        if (streq(name, "LoadState") || streq(name, "ActiveState") || streq(name, "SubState") ||
            streq(name, "Result")) {
                r = PEEK("s");
                if (r < 0)
                        return r;
                r = sd_bus_message_read(m, "s", &s);
                if (r < 0)
                        return r;
                if (streq(name, "LoadState"))
                        r = set_str(&u->load_state, s);
                else if (streq(name, "SubState"))
                        r = set_str(&u->sub_state, s);
                else if (streq(name, "Result"))
                        r = set_str(&u->result, s);
                else
                        u->active_state = unit_active_state_from_string(s);
                if (r < 0)
                        return r;
        } else if (streq(name, "LoadError")) {
                const char *ename, *emsg;
                r = PEEK("(ss)");
                if (r < 0)
                        return r;
                r = sd_bus_message_read(m, "(ss)", &ename, &emsg);
                if (r < 0)
                        return r;
                if (!isempty_str(ename)) {
                        r = set_str(&u->load_error, isempty_str(emsg) ? ename : emsg);
                        if (r < 0)
                                return r;
                }
        } else if (streq(name, "MainPID") || streq(name, "NRestarts")) {
                uint32_t v;
                r = PEEK("u");
                if (r < 0)
                        return r;
                r = sd_bus_message_read(m, "u", &v);
                if (r < 0)
                        return r;
                if (streq(name, "MainPID"))
                        u->main_pid = (pid_t) v;
                else
                        u->n_restarts = v;
        } else if (streq(name, "ExecMainStartTimestamp")) {
                uint64_t v;
                r = PEEK("t");
                if (r < 0)
                        return r;
                r = sd_bus_message_read(m, "t", &v);
                if (r < 0)
                        return r;
                u->started_at = v;
        } else if (streq(name, "Environment")) {
                r = PEEK("as");
                if (r < 0)
                        return r;
                strv_free(u->environment);
                u->environment = NULL;
                r = sd_bus_message_read_strv(m, &u->environment);
                if (r < 0)
                        return r;
        } else if (streq(name, "EnvironmentFiles")) {
                const char *path;
                int graceful;
                r = PEEK("a(sb)");
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(m, 'a', "(sb)");
                if (r < 0)
                        return r;
                while ((r = sd_bus_message_read(m, "(sb)", &path, &graceful)) > 0) {
                        _cleanup_(freep) char *p = NULL;
                        if (asprintf(&p, "%s%s", graceful ? "-" : "", path) < 0 ||
                            strv_push(&u->environment_files, p) < 0)
                                return -ENOMEM;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        } else if (streq(name, "ExecStart")) {
                r = PEEK("a(sasbttttuii)");
                if (r < 0)
                        return r;
                r = read_exec_start(m, u);
                if (r < 0)
                        return r;
        } else
                return sd_bus_message_skip(m, "v");
#undef PEEK
        return sd_bus_message_exit_container(m);
}

static int get_all(sd_bus *bus, unit_info *u, const char *interface) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, u->object_path, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", interface);
        if (r < 0)
                return log_warning_errno(r, "Failed to get properties of %s: %s", u->name,
                                         error.message ?: strerror(-r));

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        goto fail;
                r = read_property(reply, name, u);
                if (r < 0)
                        goto fail;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;
        return 0;
fail:
        return log_warning_errno(r, "Failed to parse properties of %s: %m", u->name);
}

void unit_info_keep_details(unit_info *u, unit_info *old) {
        u->main_pid = old->main_pid;
        u->n_restarts = old->n_restarts;
        u->started_at = old->started_at;
        u->result = TAKE_PTR(old->result);
        u->exec_path = TAKE_PTR(old->exec_path);
        u->exec_argv = TAKE_PTR(old->exec_argv);
        u->environment = TAKE_PTR(old->environment);
        u->environment_files = TAKE_PTR(old->environment_files);
        u->load_error = TAKE_PTR(old->load_error);
        u->details_skipped = false;
}

int discover_units(sd_bus *bus, char *const *patterns, usec_t timeout, discover_want_details_t want_details,
                   void *userdata, unit_info **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        unit_info *units = NULL;
        size_t n = 0;
        int r;

        (void) sd_bus_set_method_call_timeout(bus, timeout);

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "ListUnitsByPatterns");
        if (r < 0)
                return log_error_errno(r, "Failed to create D-Bus message: %m");
        r = sd_bus_message_append_strv(m, NULL); /* every state */
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) patterns);
        if (r < 0)
                return log_error_errno(r, "Failed to append D-Bus arguments: %m");

        r = sd_bus_call(bus, m, timeout, &error, &reply);
        if (r < 0)
                return log_error_errno(r, "Failed to list units over D-Bus: %s", error.message ?: strerror(-r));

        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        if (r < 0)
                goto parse_fail;
        for (;;) {
                const char *name, *desc, *load, *active, *sub, *following, *path, *jtype, *jpath;
                uint32_t jid;

                r = sd_bus_message_read(reply, "(ssssssouso)", &name, &desc, &load, &active, &sub, &following,
                                        &path, &jid, &jtype, &jpath);
                if (r < 0)
                        goto parse_fail;
                if (r == 0)
                        break;

                unit_info *nu = realloc(units, (n + 1) * sizeof(unit_info));
                if (!nu) {
                        r = log_oom();
                        goto fail;
                }
                units = nu;
                unit_info *u = &units[n++];
                *u = (unit_info) { .active_state = unit_active_state_from_string(active) };
                u->start_pending = jid != 0 && (streq(jtype, "start") || streq(jtype, "restart"));
                if (set_str(&u->name, name) < 0 || set_str(&u->object_path, path) < 0 ||
                    set_str(&u->load_state, load) < 0 || set_str(&u->sub_state, sub) < 0) {
                        r = log_oom();
                        goto fail;
                }
        }

        for (size_t i = 0; i < n; i++) {
                unit_info *u = &units[i];
                /* Just enabled, start job queued: starting, not "stopped by an administrator". */
                if (u->start_pending && u->active_state == UNIT_INACTIVE)
                        u->active_state = UNIT_ACTIVATING;
                if (want_details && !want_details(u, userdata)) {
                        u->details_skipped = true;
                        continue;
                }
                /* ListUnits gave the states; the Unit interface adds only LoadError, set when not loaded.
                 * Skipping it halves the calls (and systemd's work) of every round. */
                if (!streq_ptr(u->load_state, "loaded")) {
                        r = get_all(bus, u, "org.freedesktop.systemd1.Unit");
                        if (r == -ENOMEM)
                                goto fail;
                        if (r < 0)
                                continue; /* logged; the unit keeps what ListUnits said */
                }
                if (streq_ptr(u->load_state, "loaded") && endswith_str(u->name, ".service"))
                        (void) get_all(bus, u, "org.freedesktop.systemd1.Service");
                /* Just enabled, start job queued: starting, not "stopped by an administrator". */
                if (u->start_pending && u->active_state == UNIT_INACTIVE)
                        u->active_state = UNIT_ACTIVATING;
        }

        *ret = units;
        return (int) n;

parse_fail:
        log_error_errno(r, "Failed to parse ListUnitsByPatterns reply: %m");
fail:
        unit_info_free_array(units, n);
        return r;
}
