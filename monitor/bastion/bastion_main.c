/* The bastion role's one-shot commands: a look at the fleet, printed. */
#include <jansson.h>
#include <time.h>

#include "../base/log.h"
#include "../config.h"
#include "../oneshot.h"
#include "audit.h"
#include "bastion_main.h"
#include "bastion_round.h"
#include "bastion_status.h"
#include "ssh_config_blocks.h"

static const char *const bastion_reap_table[_BASTION_REAP_MAX] = {
        [BASTION_REAP_NO] = "no",
        [BASTION_REAP_YES] = "yes",
        [BASTION_REAP_DRY_RUN] = "dry-run",
};
DEFINE_STRING_TABLE_LOOKUP(bastion_reap, bastion_reap);

/* Every key line sshd would refuse, and every source we could not read, on stderr. Returns whether any
 * source was unreadable (exit 2: the fleet seen is not the whole fleet). */
bool bastion_report_sources(const fleet *f) {
        for (size_t i = 0; i < f->keys.n_problems; i++) {
                _cleanup_(freep) char *s = authkey_problem_format(&f->keys.problems[i]);
                fprintf(stderr, "%s\n", s ?: "(out of memory)");
        }
        if (f->keys.n_problems_dropped)
                fprintf(stderr, "rtun-monitor: %zu more key line problems not shown\n", f->keys.n_problems_dropped);
        for (size_t i = 0; i < f->n_errors; i++)
                fprintf(stderr, "rtun-monitor: %s\n", f->errors[i]);
        return f->n_errors > 0;
}

fleet_sources bastion_sources(const config *c) {
        return (fleet_sources) {
                .users = c->bastion.users,
                .files = c->bastion.authorized_keys,
                .sshd_config = c->bastion.sshd_config,
        };
}

bastion_round_params bastion_params(const config *c) {
        return (bastion_round_params) {
                .timeout = c->monitor.timeout,
                .failures = c->monitor.failures,
                .expect = c->monitor.expect,
        };
}

typedef struct look {
        sd_event *event;
        bastion_round *round;
        unsigned rounds;
        unsigned max_rounds;
        sd_event_source *again;
} look;

static int on_again(sd_event_source *s, uint64_t usec, void *userdata);

/* A port that did not answer is looked at again, up to monitor.failures rounds about a second apart, as
 * `status` does on a host: one run, one verdict per port. */
static void on_round(bastion_round *r, void *userdata) {
        look *k = userdata;
        size_t n;
        const bastion_port *p = bastion_round_ports(r, &n);
        bool again = false;
        for (size_t i = 0; i < n; i++)
                if (p[i].view.listener && p[i].health.state != PORT_UP)
                        again = true;
        if (!again || ++k->rounds >= k->max_rounds ||
            sd_event_add_time_relative(k->event, &k->again, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_again, k) < 0)
                sd_event_exit(k->event, 0);
}

static int on_again(sd_event_source *s, uint64_t usec, void *userdata) {
        look *k = userdata;
        k->again = sd_event_source_disable_unref(k->again);
        if (bastion_round_start(k->round, NULL, on_round, k) < 0)
                sd_event_exit(k->event, 0);
        return 0;
}

static int status(const config *c, const fleet *f, bool json, bool sources_bad) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        look k = { .max_rounds = MAX(c->monitor.failures, 1u) };
        bastion_round_params params = bastion_params(c);
        int r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m"), RTUN_EXIT_FAILURE;
        k.event = e;
        r = bastion_round_new(e, f, &params, &k.round);
        if (r >= 0)
                r = bastion_round_start(k.round, NULL, on_round, &k);
        if (r >= 0)
                r = sd_event_loop(e);
        if (r < 0) {
                log_error_errno(r, "The look at the ports failed: %m");
                k.round = bastion_round_free(k.round);
                return RTUN_EXIT_FAILURE;
        }
        size_t n;
        const bastion_port *p = bastion_round_ports(k.round, &n);
        bool all_up = true;
        for (size_t i = 0; i < n; i++)
                all_up = all_up && p[i].health.state == PORT_UP;
        if (json) {
                json_auto_t *j = bastion_status_json(p, n);
                if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                        r = -ENOMEM;
                fputc('\n', stdout);
        } else
                bastion_status_print(p, n, stdout);
        k.again = sd_event_source_disable_unref(k.again);
        bastion_round_free(k.round);
        if (r < 0)
                return log_oom(), RTUN_EXIT_FAILURE;
        return sources_bad ? RTUN_EXIT_USAGE : all_up ? RTUN_EXIT_OK : RTUN_EXIT_UNHEALTHY;
}

static usec_t realtime_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int bastion_audit(const config *c, const fleet *f, audit_findings *out) {
        int r = audit_key_lines(&f->keys, &c->bastion.settings, realtime_now(), out);
        if (r >= 0 && f->have_sshd)
                r = audit_sshd(&f->sshd, &f->keys, c->bastion.sshd_config, out);
        if (r >= 0)
                audit_findings_sort(out);
        return r;
}

static int audit(const config *c, const fleet *f, bool json, bool sources_bad) {
        _cleanup_(audit_findings_done) audit_findings a = {};
        if (bastion_audit(c, f, &a) < 0)
                return log_oom(), RTUN_EXIT_FAILURE;
        if (json) {
                json_auto_t *j = audit_findings_to_json(&a);
                if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                        return log_oom(), RTUN_EXIT_FAILURE;
                fputc('\n', stdout);
        } else {
                for (size_t i = 0; i < a.n; i++) {
                        _cleanup_(freep) char *s = audit_finding_format(&a.items[i]);
                        printf("%s\n", s ?: "(out of memory)");
                }
                printf("%zu finding%s, %zu key line%s, %zu port%s\n", a.n, a.n == 1 ? "" : "s", f->keys.n_lines,
                       f->keys.n_lines == 1 ? "" : "s", f->ports.n, f->ports.n == 1 ? "" : "s");
        }
        return sources_bad ? RTUN_EXIT_USAGE : audit_findings_fail(&a) ? RTUN_EXIT_UNHEALTHY : RTUN_EXIT_OK;
}

static int ssh_config(const fleet *f, bool sources_bad) {
        char name[256] = "";
        _cleanup_(freep) char *text = NULL;
        /* The name operators reach this bastion by: its own host name, as ssh would print it. */
        if (gethostname(name, sizeof name - 1) < 0 || !*name)
                snprintf(name, sizeof name, "bastion");
        int r = ssh_config_blocks(&f->ports, name, &text);
        if (r < 0)
                return log_error_errno(r, "Cannot write the ssh_config blocks (bastion name \"%s\"): %m", name),
                        RTUN_EXIT_FAILURE;
        fputs(text, stdout);
        return sources_bad ? RTUN_EXIT_USAGE : RTUN_EXIT_OK;
}

int bastion_command(const config *c, const char *sub, bool json, bool dry_run) {
        if (streq(sub, "daemon"))
                return bastion_daemon_run(c, dry_run);

        _cleanup_(fleet_done) fleet f = {};
        fleet_sources src = bastion_sources(c);
        if (fleet_load(&src, &c->bastion.settings, &f) < 0)
                return log_oom(), RTUN_EXIT_FAILURE;
        bool bad = bastion_report_sources(&f);
        if (streq(sub, "status"))
                return status(c, &f, json, bad);
        if (streq(sub, "audit"))
                return audit(c, &f, json, bad);
        return ssh_config(&f, bad);
}
