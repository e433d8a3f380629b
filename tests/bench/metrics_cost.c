/* /metrics cost (benchmarks.md, issue 3), on a hand-built monitor (tests/unit/fake_monitor.h):
 *   metrics_cost render N_TUNNELS RUNS   one line per metrics_render(): "WALL_US CPU_US BYTES"
 *   metrics_cost serve N_TUNNELS [WEB_CONFIG]  metrics_serve() on 127.0.0.1:0 (prints the port), until SIGTERM;
 *                                        with WEB_CONFIG, through that exporter-toolkit web config (TLS, auth) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../exporters/http_server.h"
#include "../../exporters/metrics.h"
#include "../unit/fake_monitor.h"

static uint64_t clock_us(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* N tunnels that look like a real fleet: most up, some down or failed, counters and tcp info set. */
static void fill(monitor *m, int n) {
        static const tunnel_state states[] = { TUNNEL_UP, TUNNEL_UP, TUNNEL_UP, TUNNEL_UP, TUNNEL_UP,
                                               TUNNEL_UP, TUNNEL_UP, TUNNEL_DOWN, TUNNEL_STARTING, TUNNEL_FAILED };
        for (int i = 0; i < n; i++) {
                char name[128], bastion[64], fwd[64];
                snprintf(name, sizeof name, "reverse-ssh@bastion-%04d.fleet.example.com.service", i);
                snprintf(bastion, sizeof bastion, "bastion-%04d.fleet.example.com", i);
                snprintf(fwd, sizeof fwd, "localhost:%d", 21022 + i);
                tunnel_state st = states[i % ELEMENTSOF(states)];
                tunnel *t = fake_monitor_add(m, &(fake_tunnel) {
                        .name = name, .bastion = bastion, .forward = fwd,
                        .active = st == TUNNEL_FAILED ? UNIT_FAILED : UNIT_ACTIVE, .state = st, .probed = true });
                t->probes_total = 1000 + (uint64_t) i;
                t->probe_failures[PROBE_TIMEOUT] = (uint64_t) i % 7;
                t->probe_failures[PROBE_REFUSED] = (uint64_t) i % 3;
                t->last_success_realtime = 1700000000000000ULL + (uint64_t) i * 1000;
                t->last_probe.duration = 7000 + (usec_t) i;
                t->restarts_total[RESTART_REASON_PROBE] = (uint64_t) i % 4;
                t->unit.n_restarts = (unsigned) i % 5;
                t->tcp = (tcp_view) { .valid = true, .rtt_seconds = 0.02, .retransmits_total = (uint64_t) i,
                                      .last_ack_age_seconds = 0.5 };
        }
        fake_monitor_add_receiver(m, "slack");
        fake_monitor_add_receiver(m, "webhook");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(int argc, char **argv) {
        if (argc < 3 || (strcmp(argv[1], "render") == 0 && argc != 4)) {
                fprintf(stderr, "usage: %s render N_TUNNELS RUNS | serve N_TUNNELS [WEB_CONFIG]\n", argv[0]);
                return 2;
        }
        monitor m = { .dbus_up = true, .round_duration = 120000 };
        fill(&m, atoi(argv[2]));

        if (strcmp(argv[1], "render") == 0) {
                int runs = atoi(argv[3]);
                for (int i = 0; i < runs; i++) {
                        char *text = NULL;
                        size_t len = 0;
                        uint64_t w0 = clock_us(CLOCK_MONOTONIC), c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
                        int r = metrics_render(&m, &text, &len);
                        uint64_t w1 = clock_us(CLOCK_MONOTONIC), c1 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
                        if (r < 0) {
                                fprintf(stderr, "metrics_render: %s\n", strerror(-r));
                                return 1;
                        }
                        printf("%llu %llu %zu\n", (unsigned long long) (w1 - w0), (unsigned long long) (c1 - c0), len);
                        free(text);
                }
                fake_monitor_done(&m);
                return 0;
        }

        sd_event *e = NULL;
        http_server *h = NULL;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL) < 0)
                return 1;
        web_config_loaded *web = NULL;
        char err[1024];
        if (argc > 3 && web_config_load(argv[3], &web, err, sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                return 2;
        }
        int r = metrics_serve(e, "127.0.0.1:0", web, &m, &h);
        if (r < 0) {
                fprintf(stderr, "http_server_start: %s\n", strerror(-r));
                return 1;
        }
        printf("%d\n", http_server_port(h));
        fflush(stdout);
        r = sd_event_loop(e);
        http_server_free(h);
        sd_event_unref(e);
        fake_monitor_done(&m);
        return r < 0 ? 1 : 0;
}
