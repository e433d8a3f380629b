/* What daemon.c (the loop, probes, state) and daemon_bus.c (systemd over the bus: connection,
 * signals, discovery) share. Internal to the daemon. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "../exporters/http_server.h"
#include "monitor.h"

#define BUS_RETRY_MIN (1 * USEC_PER_SEC)
#define BUS_RETRY_MAX (30 * USEC_PER_SEC)
#define REFRESH_DEBOUNCE (200 * USEC_PER_MSEC)
/* sd-event's default accuracy (250 ms) would stretch a 1 s interval by a quarter. */
#define TIMER_ACCURACY (1 * USEC_PER_MSEC)

typedef struct daemon_ctx {
        monitor *m;
        const config *cfg;
        sd_event_source *round_timer;
        sd_event_source *refresh_soon;
        sd_event_source *bus_teardown; /* a lost bus is closed from a defer, never inside its own callback */
        sd_event_source *bus_retry;
        usec_t bus_retry_delay;
        sd_bus_slot *unit_signals[5];
        unsigned rounds;
        unsigned refreshes;            /* started by start_refresh(), numbered from 1 */
        usec_t refresh_started;
        bool refresh_again;            /* asked for while one was in flight */
        bool refresh_again_full;
        http_server *http;
        bool sweeping;                 /* a guard sweep runs: heal when its probes are all back */
        size_t last_down;
        size_t last_n;
        bool last_bus;
        bool status_sent;
} daemon_ctx;

/* daemon.c */
void notify_status(daemon_ctx *d);
void schedule_probe(daemon_ctx *d, tunnel *t, usec_t delay);
void schedule_new(daemon_ctx *d);
void write_textfile(daemon_ctx *d);

/* daemon_bus.c */
int bus_connect(daemon_ctx *d);
void bus_lost(daemon_ctx *d);
/* Discovery on the loop (one at a time; one asked for meanwhile runs right after); false when it
 * cannot run now (no bus). */
bool start_refresh(daemon_ctx *d, bool full);
