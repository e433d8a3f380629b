/* Restarting units: one asynchronous D-Bus call, then JobRemoved tells how the job ended, like systemd's
 * bus-wait-for-jobs.c but on the event loop instead of blocking. */
#include <systemd/sd-bus.h>

#include "heal.h"
#include "base/bus_names.h"
#include "base/log.h"

typedef struct heal_job {
        heal_tracker *tracker;
        struct heal_job *next;
        char *unit;
        heal_action action;
        bool resetting;          /* ResetFailedUnit sent, StartUnit next */
        char *job_path;          /* known once the call returned */
        sd_bus_slot *call;
        sd_event_source *timer;  /* whole-operation deadline */
        heal_done_t done;
        void *userdata;
} heal_job;

struct heal_tracker {
        sd_bus *bus;
        sd_event *event;
        sd_bus_slot *match;
        heal_job *jobs;
};

static void job_free(heal_job *j) {
        if (!j)
                return;
        heal_job **p = &j->tracker->jobs;
        while (*p && *p != j)
                p = &(*p)->next;
        if (*p)
                *p = j->next;
        sd_bus_slot_unref(j->call);
        sd_event_source_disable_unref(j->timer);
        free(j->unit);
        free(j->job_path);
        free(j);
}

static void job_complete(heal_job *j, int result, const char *job_result) {
        heal_done_t done = j->done;
        void *ud = j->userdata;
        _cleanup_(freep) char *unit = strdup(j->unit);
        job_free(j);
        if (done)
                done(unit ?: "?", result, job_result, ud);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        heal_tracker *t = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        for (heal_job *j = t->jobs; j; j = j->next)
                if (j->job_path && streq(j->job_path, path)) {
                        job_complete(j, streq(result, "done") ? 0 : -EIO, result);
                        break;
                }
        return 0;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static int call_next(heal_job *j, const char *method) {
        if (streq(method, "ResetFailedUnit"))
                return sd_bus_call_method_async(j->tracker->bus, &j->call, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                                SYSTEMD_MANAGER_INTERFACE, method, on_reply, j, "s", j->unit);
        return sd_bus_call_method_async(j->tracker->bus, &j->call, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                        SYSTEMD_MANAGER_INTERFACE, method, on_reply, j, "ss", j->unit, "replace");
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        heal_job *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        j->call = sd_bus_slot_unref(j->call);
        if (j->resetting) {
                /* ResetFailedUnit has no job. Its failure is not fatal: StartUnit says what matters. */
                j->resetting = false;
                if (e)
                        log_warning("Failed to reset %s: %s", j->unit, e->message ?: e->name);
                r = call_next(j, "StartUnit");
                if (r < 0)
                        job_complete(j, r, NULL);
                return 0;
        }
        if (e) {
                log_error("Failed to %s %s: %s", j->action == HEAL_RESTART ? "restart" : "start", j->unit,
                          e->message ?: e->name);
                r = sd_bus_error_get_errno(e);
                job_complete(j, r > 0 ? -r : -EIO, NULL);
                return 0;
        }

        const char *path;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0 || !(j->job_path = strdup(path)))
                job_complete(j, r < 0 ? r : -ENOMEM, NULL);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        heal_job *j = userdata;
        log_error("Restart job of %s did not finish in time.", j->unit);
        job_complete(j, -ETIMEDOUT, "timeout");
        return 0;
}

int heal_tracker_new(sd_bus *bus, sd_event *e, heal_tracker **ret) {
        heal_tracker *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->bus = sd_bus_ref(bus);
        t->event = sd_event_ref(e);
        int r = sd_bus_match_signal_async(bus, &t->match, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                          SYSTEMD_MANAGER_INTERFACE, "JobRemoved", on_job_removed, NULL, t);
        if (r < 0) {
                heal_tracker_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

heal_tracker *heal_tracker_free(heal_tracker *t) {
        if (!t)
                return NULL;
        while (t->jobs)
                job_free(t->jobs);
        sd_bus_slot_unref(t->match);
        sd_bus_unref(t->bus);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

int heal_start(heal_tracker *t, const char *unit, heal_action action, usec_t timeout, heal_done_t done,
              void *userdata) {
        if (action != HEAL_RESTART && action != HEAL_RESET_AND_START)
                return -EINVAL;
        heal_job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->tracker = t;
        j->action = action;
        j->done = done;
        j->userdata = userdata;
        j->unit = strdup(unit);
        j->next = t->jobs;
        t->jobs = j;
        if (!j->unit) {
                job_free(j);
                return -ENOMEM;
        }
        int r = sd_event_add_time_relative(t->event, &j->timer, CLOCK_MONOTONIC, timeout, 0, on_timeout, j);
        j->resetting = action == HEAL_RESET_AND_START;
        if (r >= 0)
                r = call_next(j, j->resetting ? "ResetFailedUnit" : "RestartUnit");
        if (r < 0) {
                job_free(j);
                return r;
        }
        return 0;
}
