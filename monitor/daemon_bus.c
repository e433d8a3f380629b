/* The daemon and systemd: the bus connection (lost, torn down outside its own callbacks, reconnected
 * with backoff), systemd's signals about units, and discovery on the loop. */
#include "daemon_internal.h"
#include "base/log.h"

static int on_bus_retry(sd_event_source *s, uint64_t usec, void *userdata);

/* Backoff: 1 s, doubling up to 30 s, so a bus that stays away costs nothing and a restart spree none. */
static void bus_retry_later(daemon_ctx *d) {
        d->bus_retry_delay = d->bus_retry_delay ? MIN(d->bus_retry_delay * 2, BUS_RETRY_MAX) : BUS_RETRY_MIN;
        if (sd_event_add_time_relative(d->m->event, &d->bus_retry, CLOCK_MONOTONIC, d->bus_retry_delay,
                                       TIMER_ACCURACY, on_bus_retry, d) < 0)
                log_error("Failed to schedule a reconnection to the system bus.");
}

static void bus_teardown(daemon_ctx *d) {
        for (size_t i = 0; i < ELEMENTSOF(d->unit_signals); i++)
                d->unit_signals[i] = sd_bus_slot_unref(d->unit_signals[i]);
        monitor_disconnect_bus(d->m);
        /* Jobs in flight are lost with the connection; decide() asks again if still needed. */
        for (size_t i = 0; i < d->m->n_tunnels; i++)
                d->m->tunnels[i]->healing = false;
        d->m->heals_running = 0;
}

/* Probing goes on without the bus; only discovery and healing wait for it. */
void bus_lost(daemon_ctx *d) {
        if (d->bus_retry)
                return;
        log_warning("Lost the system bus; probing goes on, healing waits. Reconnecting.");
        bus_teardown(d);
        bus_retry_later(d);
        notify_status(d);
}

static int on_bus_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_ctx *d = userdata;
        d->bus_retry = sd_event_source_disable_unref(d->bus_retry);
        if (bus_connect(d) < 0 && !d->bus_retry) {
                bus_teardown(d); /* a half-made connection (e.g. systemd not on the new bus yet) */
                bus_retry_later(d);
                log_info("Next attempt to reach systemd over the system bus in %.0fs.",
                         (double) d->bus_retry_delay / USEC_PER_SEC);
        }
        return 0;
}

static int on_bus_teardown(sd_event_source *s, void *userdata) {
        daemon_ctx *d = userdata;
        d->bus_teardown = sd_event_source_disable_unref(d->bus_teardown);
        bus_lost(d);
        return 0;
}

/* From inside a bus callback: mark it down now, close it once the callback has returned. */
static void bus_lost_soon(daemon_ctx *d) {
        d->m->dbus_up = false;
        if (!d->bus_teardown && !d->bus_retry &&
            sd_event_add_defer(d->m->event, &d->bus_teardown, on_bus_teardown, d) < 0)
                log_error("Failed to schedule the bus teardown.");
        notify_status(d);
}

/* Blocking, for (re)connecting: READY=1 and the first probes wait for the first discovery. */
static int refresh_sync(daemon_ctx *d, bool full) {
        if (!d->m->bus || d->bus_retry || d->bus_teardown)
                return -ENOTCONN;
        int r = monitor_refresh(d->m, full);
        if (r < 0) {
                /* A slow systemd (daemon-reload) fails a call but keeps the connection: retry next round. */
                if (!sd_bus_is_open(d->m->bus))
                        bus_lost(d);
                notify_status(d);
                return r;
        }
        schedule_new(d);
        notify_status(d);
        return 0;
}

static void on_refreshed(monitor *m, int r, void *userdata) {
        daemon_ctx *d = userdata;
        unsigned done = d->refreshes;

        /* Called from a bus callback: a closed bus is torn down from a defer, not here. */
        if (r < 0 && !sd_bus_is_open(m->bus))
                bus_lost_soon(d);
        if (r >= 0)
                schedule_new(d);
        for (size_t i = 0; i < m->n_tunnels; i++) {
                tunnel *t = m->tunnels[i];
                if (t->probe_after_refresh && (t->probe_after_refresh <= done || r < 0)) {
                        t->probe_after_refresh = 0;
                        schedule_probe(d, t, MIN(t->settings->interval, 1 * USEC_PER_SEC));
                }
        }
        m->round_duration = now_usec(CLOCK_MONOTONIC) - d->refresh_started;
        m->last_round_end = now_usec(CLOCK_REALTIME);
        write_textfile(d);
        notify_status(d);
        if (d->refresh_again && r >= 0) {
                bool full = d->refresh_again_full;
                d->refresh_again = d->refresh_again_full = false;
                (void) start_refresh(d, full);
        }
}

/* Discovery on the loop: nothing else waits while systemd answers. One at a time; one asked for
 * meanwhile runs right after. false when it cannot run now (no bus). */
bool start_refresh(daemon_ctx *d, bool full) {
        if (!d->m->bus || d->bus_retry || d->bus_teardown)
                return false;
        if (monitor_refreshing(d->m)) {
                d->refresh_again = true;
                d->refresh_again_full |= full;
                return true;
        }
        d->refresh_started = now_usec(CLOCK_MONOTONIC);
        d->refreshes++;
        int r = monitor_refresh_async(d->m, full, on_refreshed, d);
        if (r < 0) {
                d->m->dbus_up = false;
                if (!sd_bus_is_open(d->m->bus))
                        bus_lost(d);
                notify_status(d);
                return false;
        }
        return true;
}

static int on_refresh_soon(sd_event_source *s, uint64_t usec, void *userdata) {
        daemon_ctx *d = userdata;
        d->refresh_soon = sd_event_source_disable_unref(d->refresh_soon);
        (void) start_refresh(d, true);
        return 0;
}

static int on_units_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        daemon_ctx *d = userdata;
        if (!d->refresh_soon)
                (void) sd_event_add_time_relative(d->m->event, &d->refresh_soon, CLOCK_MONOTONIC, REFRESH_DEBOUNCE,
                                                  TIMER_ACCURACY, on_refresh_soon, d);
        return 0;
}

/* Only a string compare per signal: systemd sends these for every unit of the host. */
static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        daemon_ctx *d = userdata;
        const char *path = sd_bus_message_get_path(msg);
        for (size_t i = 0; path && i < d->m->n_tunnels; i++)
                if (streq_ptr(d->m->tunnels[i]->unit.object_path, path))
                        d->m->tunnels[i]->dirty = true;
        return 0;
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        bus_lost_soon(userdata);
        return 0;
}

int bus_connect(daemon_ctx *d) {
        int r = monitor_connect_bus(d->m);
        if (r < 0)
                return r;
        sd_bus *bus = d->m->bus;
        static const char *const changes[] = { "UnitNew", "UnitRemoved", "Reloading" };
        /* Units appearing, vanishing, daemon-reload: re-discover soon instead of waiting for the round. */
        for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
                r = sd_bus_match_signal_async(bus, &d->unit_signals[i], "org.freedesktop.systemd1",
                                              "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                              changes[i], on_units_changed, NULL, d);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch systemd's %s signal: %m", changes[i]);
        }
        r = sd_bus_match_signal_async(bus, &d->unit_signals[4], "org.freedesktop.systemd1", NULL,
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged", on_properties_changed,
                                      NULL, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch unit property changes: %m");
        r = sd_bus_match_signal_async(bus, &d->unit_signals[3], "org.freedesktop.DBus.Local",
                                      "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local", "Disconnected",
                                      on_disconnected, NULL, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for bus disconnection: %m");
        r = refresh_sync(d, true);
        if (r < 0)
                return r;
        if (d->bus_retry_delay)
                log_notice("Reconnected to the system bus.");
        d->bus_retry_delay = 0;
        return 0;
}
