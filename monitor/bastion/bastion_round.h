/* One round of the bastion role: look at the listeners of every allocated port, probe each one that has
 * a listener (TCP connect, and monitor.expect for ssh ports), decide each port's state. The sources (the
 * fleet) come from the caller; the round hands back verdicts and events and never acts. */
#pragma once

#include <systemd/sd-event.h>

#include "../../probes/probe.h"
#include "bastion_port.h"
#include "fleet.h"

typedef struct bastion_round_params {
        usec_t timeout;        /* monitor.timeout: each probe's deadline */
        unsigned failures;     /* monitor.failures: rounds without an answer before stale and host_down */
        const char *expect;    /* monitor.expect for ssh ports ("" or NULL: an accepted connection is enough) */
} bastion_round_params;

typedef struct bastion_round bastion_round;
/* After a round: each port with events (PORT_EVENT_*; only ssh ports raise them), then done. */
typedef void (*bastion_port_events_t)(const bastion_port *p, unsigned events, void *userdata);
typedef void (*bastion_round_done_t)(bastion_round *r, void *userdata);

/* The ports of f's table, all unknown. f must outlive the round (or be replaced with bastion_round_reload). */
int bastion_round_new(sd_event *e, const fleet *f, const bastion_round_params *params, bastion_round **ret);
bastion_round *bastion_round_free(bastion_round *r);
/* A new fleet (the key lines changed): ports that stay (same host, fingerprint and port) keep their health. */
int bastion_round_reload(bastion_round *r, const fleet *f);
/* Starts a round; -EBUSY while one runs. done (and events) are called from the loop, never from here. */
int bastion_round_start(bastion_round *r, bastion_port_events_t events, bastion_round_done_t done, void *userdata);
bool bastion_round_running(const bastion_round *r);
const bastion_port *bastion_round_ports(const bastion_round *r, size_t *n);
/* The same, to record what was done to them (the reaper's counts and budget). */
bastion_port *bastion_round_ports_mut(bastion_round *r, size_t *n);
usec_t bastion_round_duration(const bastion_round *r);
