/* rtun-monitor: command line (contract.md) and dispatch to check, status or daemon. */
#include <getopt.h>

#include "config.h"
#include "daemon.h"
#include "base/log.h"
#include "oneshot.h"

static void help(void) {
        printf("rtun-monitor " VERSION ": health monitor and self-healing watchdog for reverse SSH tunnels\n\n"
               "Usage:\n"
               "  rtun-monitor check   [--config FILE] [--json] [--dry-run]  one round: probe, heal, alert; exit\n"
               "  rtun-monitor daemon  [--config FILE] [--dry-run]           probe loop, /metrics, alerts, healing\n"
               "  rtun-monitor status  [--config FILE] [--json]              probe once and print; never heals\n"
               "  rtun-monitor --help | --version\n\n"
               "Every configuration key can be given as --section.key=value, e.g. --monitor.interval=1s.\n"
               "Exit codes of check and status: 0 all tunnels up, 1 some tunnel unhealthy, 2 bad usage or\n"
               "configuration, 3 systemd not reachable over D-Bus.\n"
               "Configuration: " CONFIG_DEFAULT_PATH " (see rtun-monitor.conf(5)).\n");
}

int main(int argc, char **argv) {
        _cleanup_(strv_freep) char **overrides = NULL;
        const char *config_path = NULL, *verb = NULL;
        bool json = false, dry_run = false;
        config cfg = {};
        int r;

        log_open();
        const char *lvl = getenv("RTUN_MONITOR_LOG_LEVEL");
        if (lvl && streq(lvl, "debug"))
                log_set_max_level(LOG_DEBUG);

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--help") || streq(a, "-h")) {
                        help();
                        return RTUN_EXIT_OK;
                } else if (streq(a, "--version")) {
                        printf("rtun-monitor " VERSION "\n");
                        return RTUN_EXIT_OK;
                } else if (streq(a, "--json"))
                        json = true;
                else if (streq(a, "--dry-run"))
                        dry_run = true;
                else if (streq(a, "--config") || strncmp(a, "--config=", 9) == 0) {
                        if (a[8] == '=')
                                config_path = a + 9;
                        else if (i + 1 < argc)
                                config_path = argv[++i];
                        else {
                                fprintf(stderr, "rtun-monitor: --config needs a file name\n");
                                return RTUN_EXIT_USAGE;
                        }
                } else if (strncmp(a, "--", 2) == 0 && strchr(a, '.') && strchr(a, '=')) {
                        if (strv_push(&overrides, a + 2) < 0)
                                return log_oom(), RTUN_EXIT_FAILURE;
                } else if (a[0] != '-' && !verb)
                        verb = a;
                else {
                        fprintf(stderr, "rtun-monitor: unknown argument \"%s\" (see --help)\n", a);
                        return RTUN_EXIT_USAGE;
                }
        }
        if (!verb) {
                fprintf(stderr, "rtun-monitor: missing command: check, daemon or status (see --help)\n");
                return RTUN_EXIT_USAGE;
        }
        if (!streq(verb, "check") && !streq(verb, "daemon") && !streq(verb, "status")) {
                fprintf(stderr, "rtun-monitor: unknown command \"%s\" (see --help)\n", verb);
                return RTUN_EXIT_USAGE;
        }
        if (json && streq(verb, "daemon")) {
                fprintf(stderr, "rtun-monitor: --json is for check and status\n");
                return RTUN_EXIT_USAGE;
        }
        if (dry_run && streq(verb, "status")) {
                fprintf(stderr, "rtun-monitor: status never heals; --dry-run is for check and daemon\n");
                return RTUN_EXIT_USAGE;
        }

        r = config_load(&cfg, config_path, overrides);
        if (r == -ENOMEM)
                return log_oom(), RTUN_EXIT_FAILURE;
        if (r < 0)
                return RTUN_EXIT_USAGE; /* config_load printed FILE:LINE: ... */

        /* Healing restarts units over D-Bus and probes as the units' users: without root it would fail per
         * tunnel, late and noisily. Say it once, now. */
        if (!streq(verb, "status") && cfg.heal.enabled && !dry_run && geteuid() != 0) {
                fprintf(stderr, "rtun-monitor: %s restarts tunnel units and probes as their users: run it as root "
                        "(or with --dry-run, or heal.enabled=no, to look only)\n", verb);
                config_done(&cfg);
                return RTUN_EXIT_USAGE;
        }

        if (streq(verb, "daemon"))
                r = daemon_run(&cfg, dry_run);
        else
                r = oneshot_run(&cfg, streq(verb, "check"), dry_run, json);
        config_done(&cfg);
        return r;
}
