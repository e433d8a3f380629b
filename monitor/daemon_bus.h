/* The daemon and systemd over the bus: the connection (lost, torn down outside its own callbacks,
 * reconnected with backoff), systemd's signals about units, and discovery on the loop. It tells the daemon
 * what happened through the hooks it is handed; it never reaches into the daemon. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "monitor.h"

typedef struct daemon_bus_hooks {
        /* The bus is up and a first discovery made m->tunnels what systemd has: new tunnels want timers. */
        void (*connected)(void *userdata);
        /* A discovery on the loop ended: r < 0 failed (tunnels as they were). number: which
         * daemon_bus_refresh() started it (numbered from 1); duration: how long it took. */
        void (*refreshed)(int r, unsigned number, usec_t duration, void *userdata);
        /* The bus went away or a discovery failed: STATUS= should say so. */
        void (*bus_changed)(void *userdata);
        void *userdata;
} daemon_bus_hooks;

typedef struct daemon_bus {
        monitor *m;
        daemon_bus_hooks hooks;
        sd_event_source *refresh_soon;
        sd_event_source *teardown;     /* a lost bus is closed from a defer, never inside its own callback */
        sd_event_source *retry;
        usec_t retry_delay;
        sd_bus_slot *unit_signals[5];
        unsigned refreshes;            /* started by daemon_bus_refresh(), numbered from 1 */
        usec_t refresh_started;
        bool refresh_again;            /* asked for while one was in flight */
        bool refresh_again_full;
} daemon_bus;

void daemon_bus_init(daemon_bus *b, monitor *m, const daemon_bus_hooks *hooks);
void daemon_bus_done(daemon_bus *b);
/* Connects, watches systemd's signals and runs a first discovery, blocking: READY=1 and the first probes
 * wait for it. < 0: not reachable (logged). */
int daemon_bus_connect(daemon_bus *b);
/* Discovery on the loop (one at a time; one asked for meanwhile runs right after); false when it cannot
 * run now (no bus). */
bool daemon_bus_refresh(daemon_bus *b, bool full);
/* The periodic round's discovery: a bus that closed without a word is noticed (and reconnected) here;
 * false when no discovery started. */
bool daemon_bus_round(daemon_bus *b, bool full);
