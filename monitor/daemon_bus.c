/* The daemon and systemd: the bus connection (lost, torn down outside its own callbacks, reconnected
 * with backoff), systemd's signals about units, and discovery on the loop. */
#include <time.h>

#include "base/bus_names.h"
#include "base/log.h"
#include "daemon_bus.h"

#define BUS_RETRY_MIN (1 * USEC_PER_SEC)
#define BUS_RETRY_MAX (30 * USEC_PER_SEC)
#define REFRESH_DEBOUNCE (200 * USEC_PER_MSEC)
#define TIMER_ACCURACY (1 * USEC_PER_MSEC)

static int on_bus_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void bus_changed(daemon_bus *b) {
        if (b->hooks.bus_changed)
                b->hooks.bus_changed(b->hooks.userdata);
}

/* Backoff: 1 s, doubling up to 30 s, so a bus that stays away costs nothing and a restart spree none. */
static void bus_retry_later(daemon_bus *b) {
        b->retry_delay = b->retry_delay ? MIN(b->retry_delay * 2, BUS_RETRY_MAX) : BUS_RETRY_MIN;
        if (sd_event_add_time_relative(b->m->event, &b->retry, CLOCK_MONOTONIC, b->retry_delay,
                                       TIMER_ACCURACY, on_bus_retry, b) < 0)
                log_error("Failed to schedule a reconnection to the system bus.");
}

static void bus_teardown(daemon_bus *b) {
        for (size_t i = 0; i < ELEMENTSOF(b->unit_signals); i++)
                b->unit_signals[i] = sd_bus_slot_unref(b->unit_signals[i]);
        monitor_disconnect_bus(b->m);
        /* Jobs in flight are lost with the connection; decide() asks again if still needed. */
        for (size_t i = 0; i < b->m->n_tunnels; i++)
                b->m->tunnels[i]->healing = false;
        b->m->heals_running = 0;
}

/* Probing goes on without the bus; only discovery and healing wait for it. */
static void bus_lost(daemon_bus *b) {
        if (b->retry)
                return;
        log_warning("Lost the system bus; probing goes on, healing waits. Reconnecting.");
        bus_teardown(b);
        bus_retry_later(b);
        bus_changed(b);
}

static int on_bus_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_bus *b = userdata;
        b->retry = sd_event_source_disable_unref(b->retry);
        if (daemon_bus_connect(b) < 0 && !b->retry) {
                bus_teardown(b); /* a half-made connection (e.g. systemd not on the new bus yet) */
                bus_retry_later(b);
                log_info("Next attempt to reach systemd over the system bus in %.0fs.",
                         (double) b->retry_delay / USEC_PER_SEC);
        }
        return 0;
}

static int on_bus_teardown(sd_event_source *s, void *userdata) {
        daemon_bus *b = userdata;
        b->teardown = sd_event_source_disable_unref(b->teardown);
        bus_lost(b);
        return 0;
}

/* From inside a bus callback: mark it down now, close it once the callback has returned. */
static void bus_lost_soon(daemon_bus *b) {
        b->m->dbus_up = false;
        if (!b->teardown && !b->retry &&
            sd_event_add_defer(b->m->event, &b->teardown, on_bus_teardown, b) < 0)
                log_error("Failed to schedule the bus teardown.");
        bus_changed(b);
}

/* Blocking, for (re)connecting: READY=1 and the first probes wait for the first discovery. */
static int refresh_sync(daemon_bus *b, bool full) {
        if (!b->m->bus || b->retry || b->teardown)
                return -ENOTCONN;
        int r = monitor_refresh(b->m, full);
        if (r < 0) {
                /* A slow systemd (daemon-reload) fails a call but keeps the connection: retry next round. */
                if (!sd_bus_is_open(b->m->bus))
                        bus_lost(b);
                bus_changed(b);
                return r;
        }
        if (b->hooks.connected)
                b->hooks.connected(b->hooks.userdata);
        return 0;
}

static void on_refreshed(monitor *m, int r, void *userdata) {
        daemon_bus *b = userdata;

        /* Called from a bus callback: a closed bus is torn down from a defer, not here. */
        if (r < 0 && !sd_bus_is_open(m->bus))
                bus_lost_soon(b);
        if (b->hooks.refreshed)
                b->hooks.refreshed(r, b->refreshes, now_usec(CLOCK_MONOTONIC) - b->refresh_started, b->hooks.userdata);
        if (b->refresh_again && r >= 0) {
                bool full = b->refresh_again_full;
                b->refresh_again = b->refresh_again_full = false;
                (void) daemon_bus_refresh(b, full);
        }
}

/* Discovery on the loop: nothing else waits while systemd answers. One at a time; one asked for
 * meanwhile runs right after. false when it cannot run now (no bus). */
bool daemon_bus_refresh(daemon_bus *b, bool full) {
        if (!b->m->bus || b->retry || b->teardown)
                return false;
        if (monitor_refreshing(b->m)) {
                b->refresh_again = true;
                b->refresh_again_full |= full;
                return true;
        }
        b->refresh_started = now_usec(CLOCK_MONOTONIC);
        b->refreshes++;
        int r = monitor_refresh_async(b->m, full, on_refreshed, b);
        if (r < 0) {
                b->m->dbus_up = false;
                if (!sd_bus_is_open(b->m->bus))
                        bus_lost(b);
                bus_changed(b);
                return false;
        }
        return true;
}

static int on_refresh_soon(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_bus *b = userdata;
        b->refresh_soon = sd_event_source_disable_unref(b->refresh_soon);
        (void) daemon_bus_refresh(b, true);
        return 0;
}

static int on_units_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        daemon_bus *b = userdata;
        if (!b->refresh_soon)
                (void) sd_event_add_time_relative(b->m->event, &b->refresh_soon, CLOCK_MONOTONIC, REFRESH_DEBOUNCE,
                                                  TIMER_ACCURACY, on_refresh_soon, b);
        return 0;
}

/* Only a string compare per signal: systemd sends these for every unit of the host. */
static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        daemon_bus *b = userdata;
        const char *path = sd_bus_message_get_path(msg);
        for (size_t i = 0; path && i < b->m->n_tunnels; i++)
                if (streq_ptr(b->m->tunnels[i]->unit.object_path, path))
                        b->m->tunnels[i]->dirty = true;
        return 0;
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        bus_lost_soon(userdata);
        return 0;
}

int daemon_bus_connect(daemon_bus *b) {
        int r = monitor_connect_bus(b->m);
        if (r < 0)
                return r;
        sd_bus *bus = b->m->bus;
        static const char *const changes[] = { "UnitNew", "UnitRemoved", "Reloading" };
        /* Units appearing, vanishing, daemon-reload: re-discover soon instead of waiting for the round. */
        for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
                r = sd_bus_match_signal_async(bus, &b->unit_signals[i], SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                              SYSTEMD_MANAGER_INTERFACE, changes[i], on_units_changed, NULL, b);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch systemd's %s signal: %m", changes[i]);
        }
        r = sd_bus_match_signal_async(bus, &b->unit_signals[4], SYSTEMD_BUS_NAME, NULL,
                                      DBUS_PROPERTIES_INTERFACE, "PropertiesChanged", on_properties_changed,
                                      NULL, b);
        if (r < 0)
                return log_error_errno(r, "Failed to watch unit property changes: %m");
        r = sd_bus_match_signal_async(bus, &b->unit_signals[3], "org.freedesktop.DBus.Local",
                                      "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local", "Disconnected",
                                      on_disconnected, NULL, b);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for bus disconnection: %m");
        r = refresh_sync(b, true);
        if (r < 0)
                return r;
        if (b->retry_delay)
                log_notice("Reconnected to the system bus.");
        b->retry_delay = 0;
        return 0;
}

bool daemon_bus_round(daemon_bus *b, bool full) {
        if (b->m->bus && !sd_bus_is_open(b->m->bus) && !b->teardown) {
                bus_lost(b);
                return false;
        }
        return daemon_bus_refresh(b, full);
}

void daemon_bus_init(daemon_bus *b, monitor *m, const daemon_bus_hooks *hooks) {
        *b = (daemon_bus) { .m = m, .hooks = *hooks };
}

void daemon_bus_done(daemon_bus *b) {
        for (size_t i = 0; i < ELEMENTSOF(b->unit_signals); i++)
                b->unit_signals[i] = sd_bus_slot_unref(b->unit_signals[i]);
        b->refresh_soon = sd_event_source_disable_unref(b->refresh_soon);
        b->teardown = sd_event_source_disable_unref(b->teardown);
        b->retry = sd_event_source_disable_unref(b->retry);
}
