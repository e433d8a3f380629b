/* Healing units over D-Bus: restart a dead tunnel and follow its job to completion (JobRemoved). */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "decide.h"

typedef struct heal_tracker heal_tracker;

/* result: 0 when the job finished "done", else negative errno; job_result is systemd's word
 * ("done", "failed", "timeout", "canceled", ...) or NULL when the call itself failed. */
typedef void (*heal_done_t)(const char *unit, int result, const char *job_result, void *userdata);

/* Installs the JobRemoved match on bus. */
int heal_tracker_new(sd_bus *bus, sd_event *e, heal_tracker **ret);
heal_tracker *heal_tracker_free(heal_tracker *t);

/* HEAL_RESTART: RestartUnit(unit, "replace"); HEAL_RESET_AND_START: ResetFailedUnit + StartUnit.
 * Asynchronous; done is called exactly once, on the loop, within timeout. */
int heal_start(heal_tracker *t, const char *unit, heal_action action, usec_t timeout, heal_done_t done,
              void *userdata);
