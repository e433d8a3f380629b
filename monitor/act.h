/* Acting on units over D-Bus: restart a dead tunnel and follow its job to completion (JobRemoved). */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "decide.h"

typedef struct act_tracker act_tracker;

/* result: 0 when the job finished "done", else negative errno; job_result is systemd's word
 * ("done", "failed", "timeout", "canceled", ...) or NULL when the call itself failed. */
typedef void (*act_done_t)(const char *unit, int result, const char *job_result, void *userdata);

/* Installs the JobRemoved match on bus. */
int act_tracker_new(sd_bus *bus, sd_event *e, act_tracker **ret);
act_tracker *act_tracker_free(act_tracker *t);

/* HEAL_RESTART: RestartUnit(unit, "replace"); HEAL_RESET_AND_START: ResetFailedUnit + StartUnit.
 * Asynchronous; done is called exactly once, on the loop, within timeout. */
int act_start(act_tracker *t, const char *unit, heal_action action, usec_t timeout, act_done_t done,
              void *userdata);
