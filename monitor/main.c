/* rtun-monitor: command line (contract.md) and dispatch to check, status or daemon. */
#include <getopt.h>

#include "bastion/bastion_main.h"
#include "config.h"
#include "daemon.h"
#include "host_audit.h"
#include "base/log.h"
#include "oneshot.h"

static void help(void) {
        printf("rtun-monitor " VERSION ": health monitor and self-healing watchdog for reverse SSH tunnels\n\n"
               "Usage:\n"
               "  rtun-monitor check   [--config FILE] [--json] [--dry-run]  one round: probe, heal, alert; exit\n"
               "  rtun-monitor daemon  [--config FILE] [--dry-run]           probe loop, /metrics, alerts, healing\n"
               "  rtun-monitor status  [--config FILE] [--json]              probe once and print; never heals\n"
               "  rtun-monitor audit   [--config FILE] [--json]              the tunnel units' pitfalls; exit 0/1/2\n"
               "  rtun-monitor bastion status|audit|ssh-config [--config FILE] [--json]   the fleet from the bastion\n"
               "  rtun-monitor bastion daemon [--config FILE] [--dry-run]   probes, /metrics, /sd, alerts\n"
               "  rtun-monitor --help | --version\n\n"
               "Every configuration key can be given as --section.key=value, e.g. --monitor.interval=1s.\n"
               "Exit codes of check and status: 0 all tunnels up, 1 some tunnel unhealthy, 2 bad usage or\n"
               "configuration, 3 systemd not reachable over D-Bus.\n"
               "Configuration: " CONFIG_DEFAULT_PATH " (see rtun-monitor.conf(5)).\n");
}

typedef struct cmdline {
        const char *verb;          /* check, daemon, status, bastion */
        const char *sub;           /* bastion's: status, audit, ssh-config, daemon */
        const char *config_path;   /* NULL: the default */
        char **overrides;          /* "section.key=value" */
        bool json;
        bool dry_run;
} cmdline;

static void cmdline_done(cmdline *c) {
        strv_free(c->overrides);
}

/* The command line of contract.md. Returns -1 to go on, or the exit code (--help, --version, bad usage). */
static int parse_args(int argc, char **argv, cmdline *c) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--help") || streq(a, "-h")) {
                        help();
                        return RTUN_EXIT_OK;
                } else if (streq(a, "--version")) {
                        printf("rtun-monitor " VERSION "\n");
                        return RTUN_EXIT_OK;
                } else if (streq(a, "--json"))
                        c->json = true;
                else if (streq(a, "--dry-run"))
                        c->dry_run = true;
                else if (streq(a, "--config") || strncmp(a, "--config=", 9) == 0) {
                        if (a[8] == '=')
                                c->config_path = a + 9;
                        else if (i + 1 < argc)
                                c->config_path = argv[++i];
                        else {
                                fprintf(stderr, "rtun-monitor: --config needs a file name\n");
                                return RTUN_EXIT_USAGE;
                        }
                } else if (strncmp(a, "--", 2) == 0 && strchr(a, '.') && strchr(a, '=')) {
                        if (strv_push(&c->overrides, a + 2) < 0)
                                return log_oom(), RTUN_EXIT_FAILURE;
                } else if (a[0] != '-' && !c->verb)
                        c->verb = a;
                else if (a[0] != '-' && streq(c->verb, "bastion") && !c->sub)
                        c->sub = a;
                else {
                        fprintf(stderr, "rtun-monitor: unknown argument \"%s\" (see --help)\n", a);
                        return RTUN_EXIT_USAGE;
                }
        }
        return -1;
}

/* Which options go with which command. Returns -1 when they fit, else the exit code. */
static int check_args(const cmdline *c) {
        if (!c->verb) {
                fprintf(stderr, "rtun-monitor: missing command: check, daemon or status (see --help)\n");
                return RTUN_EXIT_USAGE;
        }
        if (streq(c->verb, "bastion")) {
                static const char *const subs[] = { "status", "audit", "ssh-config", "daemon" };
                bool known = false;
                for (size_t i = 0; c->sub && i < ELEMENTSOF(subs); i++)
                        known = known || streq(c->sub, subs[i]);
                if (!known) {
                        fprintf(stderr, "rtun-monitor: bastion: %s \"%s\": status, audit, ssh-config or daemon\n",
                                c->sub ? "unknown command" : "missing command", strempty(c->sub));
                        return RTUN_EXIT_USAGE;
                }
                if (c->json && !streq(c->sub, "status") && !streq(c->sub, "audit")) {
                        fprintf(stderr, "rtun-monitor: bastion: --json is for status and audit\n");
                        return RTUN_EXIT_USAGE;
                }
                if (c->dry_run && !streq(c->sub, "daemon")) {
                        fprintf(stderr, "rtun-monitor: bastion: --dry-run is for daemon\n");
                        return RTUN_EXIT_USAGE;
                }
                return -1;
        }
        if (!streq(c->verb, "check") && !streq(c->verb, "daemon") && !streq(c->verb, "status") &&
            !streq(c->verb, "audit")) {
                fprintf(stderr, "rtun-monitor: unknown command \"%s\" (see --help)\n", c->verb);
                return RTUN_EXIT_USAGE;
        }
        if (c->json && streq(c->verb, "daemon")) {
                fprintf(stderr, "rtun-monitor: --json is for check, status and audit\n");
                return RTUN_EXIT_USAGE;
        }
        if (c->dry_run && streq(c->verb, "audit")) {
                fprintf(stderr, "rtun-monitor: audit only looks; --dry-run is for check and daemon\n");
                return RTUN_EXIT_USAGE;
        }
        if (c->dry_run && streq(c->verb, "status")) {
                fprintf(stderr, "rtun-monitor: status never heals; --dry-run is for check and daemon\n");
                return RTUN_EXIT_USAGE;
        }
        return -1;
}

int main(int argc, char **argv) {
        _cleanup_(cmdline_done) cmdline c = {};
        config cfg = {};
        int r;

        log_open();
        const char *lvl = getenv("RTUN_MONITOR_LOG_LEVEL");
        if (lvl && streq(lvl, "debug"))
                log_set_max_level(LOG_DEBUG);

        r = parse_args(argc, argv, &c);
        if (r < 0)
                r = check_args(&c);
        if (r >= 0)
                return r;

        r = config_load(&cfg, c.config_path, c.overrides);
        if (r == -ENOMEM)
                return log_oom(), RTUN_EXIT_FAILURE;
        if (r < 0)
                return RTUN_EXIT_USAGE; /* config_load printed FILE:LINE: ... */

        /* Healing restarts units over D-Bus and probes as the units' users: without root it would fail per
         * tunnel, late and noisily. Say it once, now. */
        if (streq(c.verb, "bastion")) {
                r = bastion_command(&cfg, c.sub, c.json, c.dry_run);
                config_done(&cfg);
                return r;
        }
        if (streq(c.verb, "audit")) {
                r = host_audit_command(&cfg, c.json);
                config_done(&cfg);
                return r;
        }
        if (!streq(c.verb, "status") && cfg.heal.enabled && !c.dry_run && geteuid() != 0) {
                fprintf(stderr, "rtun-monitor: %s restarts tunnel units and probes as their users: run it as root "
                        "(or with --dry-run, or heal.enabled=no, to look only)\n", c.verb);
                config_done(&cfg);
                return RTUN_EXIT_USAGE;
        }

        if (streq(c.verb, "daemon"))
                r = daemon_run(&cfg, c.dry_run);
        else
                r = oneshot_run(&cfg, streq(c.verb, "check"), c.dry_run, c.json);
        config_done(&cfg);
        return r;
}
