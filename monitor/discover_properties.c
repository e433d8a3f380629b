/* Which unit properties discovery keeps and how each is read: one map, as systemd's bus_map_properties. */
#include <stddef.h>

#include "discover_properties.h"

/* Reads the value (inside its variant, of the map's signature) into field. */
typedef int (*property_reader)(sd_bus_message *m, const char *signature, void *field);

typedef struct unit_property {
        const char *name;
        const char *signature;
        property_reader read;
        size_t offset; /* of field in unit_info */
} unit_property;

/* Fixed-size basic types (u, t) straight into the field; MainPID's u into a pid_t, same size. */
static int read_basic(sd_bus_message *m, const char *signature, void *field) {
        return sd_bus_message_read_basic(m, signature[0], field);
}

static int read_string(sd_bus_message *m, const char *signature, void *field) {
        const char *s;
        int r = sd_bus_message_read_basic(m, 's', &s);
        return r < 0 ? r : free_and_strdup(field, s);
}

/* User= unset reads as "": NULL, which means root (systemd's default). */
static int read_string_or_null(sd_bus_message *m, const char *signature, void *field) {
        const char *s;
        int r = sd_bus_message_read_basic(m, 's', &s);
        return r < 0 ? r : free_and_strdup(field, isempty_str(s) ? NULL : s);
}

static int read_active_state(sd_bus_message *m, const char *signature, void *field) {
        const char *s;
        int r = sd_bus_message_read_basic(m, 's', &s);
        if (r < 0)
                return r;
        *(unit_active_state *) field = unit_active_state_from_string(s);
        return 0;
}

/* LoadError (ss): the message, or the error name when there is no message; nothing when the name is empty. */
static int read_load_error(sd_bus_message *m, const char *signature, void *field) {
        const char *ename, *emsg;
        int r = sd_bus_message_read(m, "(ss)", &ename, &emsg);
        if (r < 0 || isempty_str(ename))
                return r;
        return free_and_strdup(field, isempty_str(emsg) ? ename : emsg);
}

static int read_strv(sd_bus_message *m, const char *signature, void *field) {
        char ***l = field;
        strv_free(*l);
        *l = NULL;
        return sd_bus_message_read_strv(m, l);
}

/* EnvironmentFile= as a(sb): path, graceful; kept as written in the unit ("-PATH": may be missing). */
static int read_environment_files(sd_bus_message *m, const char *signature, void *field) {
        char ***l = field;
        const char *path;
        int graceful;
        int r = sd_bus_message_enter_container(m, 'a', "(sb)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sb)", &path, &graceful)) > 0) {
                _cleanup_(freep) char *p = NULL;
                if (asprintf(&p, "%s%s", graceful ? "-" : "", path) < 0) {
                        p = NULL; /* undefined after a failure */
                        return -ENOMEM;
                }
                if (strv_push(l, p) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* ExecStart is a(sasbttttuii): path, argv, ignore-failure, timestamps, pid, code, status. The first entry
 * is the command; a tunnel unit has exactly one. field: the unit_info (path and argv both). */
static int read_exec_start(sd_bus_message *m, const char *signature, void *field) {
        unit_info *u = field;
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
                        r = free_and_strdup(&u->exec_path, path);
                        if (r < 0)
                                return r;
                        u->exec_argv = TAKE_PTR(argv);
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static const unit_property unit_properties[] = {
        { "LoadState", "s", read_string, offsetof(unit_info, load_state) },
        { "ActiveState", "s", read_active_state, offsetof(unit_info, active_state) },
        { "SubState", "s", read_string, offsetof(unit_info, sub_state) },
        { "Result", "s", read_string, offsetof(unit_info, result) },
        { "User", "s", read_string_or_null, offsetof(unit_info, user) },
        { "Restart", "s", read_string_or_null, offsetof(unit_info, restart) },
        { "LoadError", "(ss)", read_load_error, offsetof(unit_info, load_error) },
        { "MainPID", "u", read_basic, offsetof(unit_info, main_pid) },
        { "NRestarts", "u", read_basic, offsetof(unit_info, n_restarts) },
        { "ExecMainStartTimestamp", "t", read_basic, offsetof(unit_info, started_at) },
        { "Environment", "as", read_strv, offsetof(unit_info, environment) },
        { "EnvironmentFiles", "a(sb)", read_environment_files, offsetof(unit_info, environment_files) },
        { "ExecStart", "a(sasbttttuii)", read_exec_start, 0 },
};

static int read_property(sd_bus_message *m, const char *name, unit_info *u) {
        for (size_t i = 0; i < ELEMENTSOF(unit_properties); i++) {
                const unit_property *p = &unit_properties[i];
                if (!streq(p->name, name))
                        continue;
                int r = sd_bus_message_enter_container(m, 'v', p->signature);
                if (r < 0)
                        return r;
                r = p->read(m, p->signature, (uint8_t *) u + p->offset);
                if (r < 0)
                        return r;
                return sd_bus_message_exit_container(m);
        }
        return sd_bus_message_skip(m, "v");
}

int unit_info_read_properties(sd_bus_message *reply, unit_info *u) {
        int r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = read_property(reply, name, u);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        return r;
}
