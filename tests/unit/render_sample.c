/* Prints metrics_render() of a fake monitor with 3 tunnels, for `promtool check metrics` (tests/lint.sh). */
#include "../../exporters/http_refusals.h"
#include "../../exporters/metrics.h"
#include "fake_monitor.h"

int main(void) {
        monitor m = { .dbus_up = true, .round_duration = 2345678 };
        tunnel *up = fake_monitor_add(&m, &(fake_tunnel) {
                .name = "reverse-ssh@bastion-eu.example.com.service", .bastion = "bastion-eu.example.com",
                .forward = "localhost:21022", .active = UNIT_ACTIVE, .state = TUNNEL_UP, .probed = true });
        up->probes_total = 120;
        /* Its forwards, as issue 14 watches them: its own -R, an HTTP -R that is down, a -L, a -D. */
        up->forwards = calloc(4, sizeof(forward_watch));
        up->n_forwards = 4;
        up->forwards[0] = (forward_watch) { .direction = FORWARD_REMOTE, .primary = true, .label = "localhost:21022",
                                            .health = { .state = FORWARD_UP }, .probed = true, .probes_total = 120 };
        up->forwards[1] = (forward_watch) { .direction = FORWARD_REMOTE, .label = "localhost:21080",
                                            .health = { .state = FORWARD_DOWN }, .probed = true, .probes_total = 120 };
        up->forwards[1].probe_failures[PROBE_BAD_RESPONSE] = 4;
        up->forwards[2] = (forward_watch) { .direction = FORWARD_LOCAL, .label = "localhost:4505",
                                            .health = { .state = FORWARD_UP }, .probed = true, .probes_total = 120 };
        up->forwards[3] = (forward_watch) { .direction = FORWARD_DYNAMIC, .label = "localhost:1080",
                                            .health = { .state = FORWARD_UP }, .probed = true, .probes_total = 120 };
        up->probe_failures[PROBE_TIMEOUT] = 3;
        up->last_success_realtime = 1700000000123456ULL;
        up->last_probe.duration = 41000;
        up->restarts_total[RESTART_REASON_PROBE] = 1;
        up->unit.n_restarts = 2;
        up->tcp = (tcp_view) { .valid = true, .rtt_seconds = 0.0231, .unacked = 0, .retransmits_total = 4,
                               .last_ack_age_seconds = 0.8 };
        tunnel *down = fake_monitor_add(&m, &(fake_tunnel) {
                .name = "reverse-ssh@bastion-us:2222.service", .bastion = "bastion-us.example.com:2222",
                .forward = "[::1]:21080", .active = UNIT_FAILED, .state = TUNNEL_FAILED, .probed = true });
        down->probes_total = 40;
        down->probe_failures[PROBE_REFUSED] = 12;
        down->restarts_total[RESTART_REASON_FAILED] = 5;
        fake_monitor_add(&m, &(fake_tunnel) {
                .name = "weird\\unit\"name\n\xff caf\xc3\xa9.service", .active = UNIT_ACTIVATING, .state = TUNNEL_UNKNOWN });
        fake_monitor_add_receiver(&m, "slack")->delivered[0] = 2;
        fake_monitor_add_receiver(&m, "webhook")->failures = 1;

        char *text = NULL;
        size_t len = 0;
        int r = metrics_render(&m, &text, &len);
        if (r < 0) {
                fprintf(stderr, "metrics_render: %s\n", strerror(-r));
                return 1;
        }
        fwrite(text, 1, len, stdout);
        free(text);
        /* What the HTTP server appends to /metrics with a web config (exporters/http_refusals.c). */
        http_refusals refusals = { .count = { [HTTP_REFUSED_NO_AUTH] = 3, [HTTP_REFUSED_TLS_HANDSHAKE] = 1 } };
        if (http_refusals_render(&refusals, &text, &len) < 0)
                return 1;
        fwrite(text, 1, len, stdout);
        free(text);
        fake_monitor_done(&m);
        return fflush(stdout) == 0 ? 0 : 1;
}
