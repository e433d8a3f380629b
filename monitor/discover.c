/* Discovery over D-Bus: which tunnel units exist and what systemd says about them.
 * One ListUnitsByPatterns, then one GetAll per unit that needs it (Service; Unit instead when it is not
 * loaded); every call bounded by the timeout. Blocking (check, status) or on the loop (the daemon). */
#include <systemd/sd-bus.h>

#include "discover.h"
#include "discover_properties.h"
#include "base/bus_names.h"
#include "base/log.h"

void unit_info_done(unit_info *u) {
        if (!u)
                return;
        free(u->name);
        free(u->object_path);
        free(u->load_state);
        free(u->load_error);
        free(u->sub_state);
        free(u->result);
        free(u->user);
        free(u->restart);
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

/* Which GetAll a listed unit needs: Service when loaded (MainPID, ExecStart, ...); only Unit when it
 * failed to load (LoadError: ListUnits gave the states, so skipping Unit otherwise halves the calls). */
static const char *details_interface(const unit_info *u) {
        if (!streq_ptr(u->load_state, "loaded"))
                return SYSTEMD_UNIT_INTERFACE;
        return endswith_str(u->name, ".service") ? SYSTEMD_SERVICE_INTERFACE : NULL;
}

static int get_all(sd_bus *bus, unit_info *u, const char *interface) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, SYSTEMD_BUS_NAME, u->object_path, DBUS_PROPERTIES_INTERFACE, "GetAll",
                               &error, &reply, "s", interface);
        if (r < 0)
                return log_warning_errno(r, "Failed to get properties of %s: %s", u->name,
                                         error.message ?: strerror(-r));
        r = unit_info_read_properties(reply, u);
        if (r < 0)
                return log_warning_errno(r, "Failed to parse properties of %s: %m", u->name);
        return 0;
}

void unit_info_keep_details(unit_info *u, unit_info *old) {
        u->main_pid = old->main_pid;
        u->n_restarts = old->n_restarts;
        u->started_at = old->started_at;
        u->result = TAKE_PTR(old->result);
        u->user = TAKE_PTR(old->user);
        u->restart = TAKE_PTR(old->restart);
        u->exec_path = TAKE_PTR(old->exec_path);
        u->exec_argv = TAKE_PTR(old->exec_argv);
        u->environment = TAKE_PTR(old->environment);
        u->environment_files = TAKE_PTR(old->environment_files);
        u->load_error = TAKE_PTR(old->load_error);
        u->details_skipped = false;
}

static int list_request(sd_bus *bus, char *const *patterns, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH, SYSTEMD_MANAGER_INTERFACE,
                                               "ListUnitsByPatterns");
        if (r < 0)
                return log_error_errno(r, "Failed to create D-Bus message: %m");
        r = sd_bus_message_append_strv(m, NULL); /* every state */
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) patterns);
        if (r < 0)
                return log_error_errno(r, "Failed to append D-Bus arguments: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

/* The listing; each unit marked details_skipped when want_details declines it. */
static int read_list(sd_bus_message *reply, discover_want_details_t want_details, void *userdata,
                     unit_info **ret, size_t *ret_n) {
        unit_info *units = NULL;
        size_t n = 0;
        int r;

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
                if (free_and_strdup(&u->name, name) < 0 || free_and_strdup(&u->object_path, path) < 0 ||
                    free_and_strdup(&u->load_state, load) < 0 || free_and_strdup(&u->sub_state, sub) < 0) {
                        r = log_oom();
                        goto fail;
                }
        }
        for (size_t i = 0; i < n; i++) {
                unit_info *u = &units[i];
                /* Just enabled, start job queued: starting, not "stopped by an administrator". */
                if (u->start_pending && u->active_state == UNIT_INACTIVE)
                        u->active_state = UNIT_ACTIVATING;
                if (want_details && !want_details(u, userdata))
                        u->details_skipped = true;
        }
        *ret = units;
        *ret_n = n;
        return 0;

parse_fail:
        log_error_errno(r, "Failed to parse ListUnitsByPatterns reply: %m");
fail:
        unit_info_free_array(units, n);
        return r;
}

/* After the properties: a queued start job still reads as activating (GetAll may say inactive). */
static void finish_unit(unit_info *u) {
        if (u->start_pending && u->active_state == UNIT_INACTIVE)
                u->active_state = UNIT_ACTIVATING;
}

int discover_units(sd_bus *bus, char *const *patterns, usec_t timeout, discover_want_details_t want_details,
                   void *userdata, unit_info **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        unit_info *units = NULL;
        size_t n = 0;
        int r;

        (void) sd_bus_set_method_call_timeout(bus, timeout);
        r = list_request(bus, patterns, &m);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, timeout, &error, &reply);
        if (r < 0)
                return log_error_errno(r, "Failed to list units over D-Bus: %s", error.message ?: strerror(-r));
        r = read_list(reply, want_details, userdata, &units, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                unit_info *u = &units[i];
                const char *interface = details_interface(u);
                if (!u->details_skipped && interface &&
                    get_all(bus, u, interface) == -ENOMEM) {
                        unit_info_free_array(units, n);
                        return log_oom();
                }
                finish_unit(u); /* a failed GetAll is logged; the unit keeps what ListUnits said */
        }
        *ret = units;
        return (int) n;
}

/* The same on the loop: the listing, then the GetAlls, at most DISCOVER_IN_FLIGHT at a time (the system
 * bus refuses a connection's 129th pending call, dbus' max_replies_per_connection); done() when the last
 * reply is in. */
#define DISCOVER_IN_FLIGHT 32
typedef struct detail_call {
        discover_job *job;
        size_t index;
        sd_bus_slot *slot;
} detail_call;

struct discover_job {
        sd_bus_slot *list_slot;
        discover_want_details_t want_details;
        void *want_userdata;
        discover_done_t done;
        void *userdata;
        unit_info *units;
        size_t n;
        detail_call *calls;
        size_t next;        /* the first unit whose GetAll is not sent yet */
        size_t outstanding; /* calls sent, reply not in */
};

discover_job *discover_job_free(discover_job *j) {
        if (!j)
                return NULL;
        sd_bus_slot_unref(j->list_slot);
        for (size_t i = 0; j->calls && i < j->n; i++)
                sd_bus_slot_unref(j->calls[i].slot);
        free(j->calls);
        unit_info_free_array(j->units, j->n);
        free(j);
        return NULL;
}

static void job_complete(discover_job *j, int r) {
        unit_info *units = r < 0 ? NULL : TAKE_PTR(j->units);
        size_t n = j->n;
        discover_done_t done = j->done;
        void *userdata = j->userdata;

        if (r >= 0)
                for (size_t i = 0; i < n; i++)
                        finish_unit(&units[i]);
        else /* no reply may come back into a job that has reported */
                for (size_t i = 0; j->calls && i < j->n; i++)
                        j->calls[i].slot = sd_bus_slot_unref(j->calls[i].slot);
        /* The owner frees the job in done (or later); it must not be touched after this. */
        done(j, r, units, r < 0 ? 0 : n, userdata);
}

static int on_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

/* Sends GetAlls until DISCOVER_IN_FLIGHT are pending; completes the job when none is left to send or wait for. */
static void send_details(discover_job *j, sd_bus *bus) {
        while (j->next < j->n && j->outstanding < DISCOVER_IN_FLIGHT) {
                size_t i = j->next++;
                unit_info *u = &j->units[i];
                const char *interface = details_interface(u);
                if (u->details_skipped || !interface)
                        continue;
                j->calls[i] = (detail_call) { .job = j, .index = i };
                int r = sd_bus_call_method_async(bus, &j->calls[i].slot, SYSTEMD_BUS_NAME, u->object_path,
                                                 DBUS_PROPERTIES_INTERFACE, "GetAll", on_get_all, &j->calls[i],
                                                 "s", interface);
                if (r < 0) {
                        job_complete(j, log_error_errno(r, "Failed to ask for the properties of %s: %m", u->name));
                        return;
                }
                j->outstanding++;
        }
        if (j->next == j->n && j->outstanding == 0)
                job_complete(j, 0);
}

static int on_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        detail_call *c = userdata;
        discover_job *j = c->job;
        unit_info *u = &j->units[c->index];
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        c->slot = sd_bus_slot_unref(c->slot);
        if (e)
                log_warning("Failed to get properties of %s: %s", u->name, e->message ?: e->name);
        else {
                int r = unit_info_read_properties(reply, u);
                if (r == -ENOMEM) {
                        job_complete(j, log_oom());
                        return 0;
                }
                if (r < 0)
                        log_warning_errno(r, "Failed to parse properties of %s: %m", u->name);
        }
        j->outstanding--;
        send_details(j, sd_bus_message_get_bus(reply));
        return 0;
}

static int on_list(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        discover_job *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        sd_bus *bus = sd_bus_message_get_bus(reply);
        int r;

        j->list_slot = sd_bus_slot_unref(j->list_slot);
        if (e) {
                r = -sd_bus_error_get_errno(e) ?: -EIO;
                log_error("Failed to list units over D-Bus: %s", e->message ?: e->name);
                job_complete(j, r);
                return 0;
        }
        r = read_list(reply, j->want_details, j->want_userdata, &j->units, &j->n);
        if (r >= 0 && !(j->calls = calloc(j->n + 1, sizeof *j->calls)))
                r = log_oom();
        if (r < 0) {
                job_complete(j, r);
                return 0;
        }
        send_details(j, bus);
        return 0;
}

int discover_units_async(sd_bus *bus, char *const *patterns, usec_t timeout, discover_want_details_t want_details,
                         void *want_userdata, discover_done_t done, void *userdata, discover_job **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        discover_job *j = calloc(1, sizeof *j);
        if (!j)
                return log_oom();
        *j = (discover_job) { .want_details = want_details, .want_userdata = want_userdata, .done = done,
                              .userdata = userdata };
        (void) sd_bus_set_method_call_timeout(bus, timeout);
        r = list_request(bus, patterns, &m);
        if (r >= 0) {
                r = sd_bus_call_async(bus, &j->list_slot, m, on_list, j, timeout);
                if (r < 0)
                        log_error_errno(r, "Failed to list units over D-Bus: %m");
        }
        if (r < 0) {
                discover_job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}
