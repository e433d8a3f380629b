/* systemd's D-Bus names, said once: discover, heal and the daemon's subscriptions all talk to the same manager. */
#pragma once

#define SYSTEMD_BUS_NAME "org.freedesktop.systemd1"
#define SYSTEMD_BUS_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER_INTERFACE "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_INTERFACE "org.freedesktop.systemd1.Unit"
#define SYSTEMD_SERVICE_INTERFACE "org.freedesktop.systemd1.Service"
#define DBUS_PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
