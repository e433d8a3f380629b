/* libFuzzer target for the HTTP request path: the input is what a client sends, handed to the real server
 * (http_server.c on libmicrohttpd: MHD's request parser, then our access handler, routing, Accept-Encoding
 * and gzip, connection tracking) through a socketpair, the sd-event loop run until the server has answered
 * and closed the connection. Each input must leave no connection (fd) behind.
 * Build and run: make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_http 60 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../exporters/http_server.h"
#include "../../exporters/metrics.h"
#include "../../monitor/base/log.h"
#include "../unit/fake_monitor.h"

#define MAX_ITERATIONS 2000 /* loop turns per input: far more than an answer takes */

static sd_event *event;
static http_server *server;
static monitor mon;
static int first_fd = -1; /* fds are allocated lowest first: a leak shows as this number growing */

static void setup(void) {
        log_set_max_level(LOG_CRIT);
        mon = (monitor) { .dbus_up = true };
        fake_monitor_add(&mon, &(fake_tunnel) { .name = "reverse-ssh@b1.service", .bastion = "b1.example.com",
                                                .forward = "localhost:21022", .active = UNIT_ACTIVE,
                                                .state = TUNNEL_UP, .probed = true });
        if (sd_event_new(&event) < 0 || metrics_serve(event, "127.0.0.1:0", NULL, &mon, &server) < 0)
                abort();
}

/* Runs the loop until the server holds no connection; reads (and drops) what it sends meanwhile. */
static bool drain(int fd) {
        char buf[65536];
        for (int i = 0; i < MAX_ITERATIONS; i++) {
                if (sd_event_run(event, 0) < 0)
                        abort();
                while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
                        ;
                http_server_stats st;
                http_server_get_stats(server, &st);
                if (st.connections == 0)
                        return true;
        }
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!server)
                setup();

        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        if (first_fd < 0)
                first_fd = sv[0];
        if (sv[0] > first_fd + 4)
                abort(); /* an fd from an earlier input is still open */
        struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (http_server_add_connection(server, sv[0], (struct sockaddr *) &peer, sizeof(peer)) < 0)
                abort();

        /* The request, then end of input: the server answers what it got and closes. */
        size_t off = 0;
        for (int i = 0; off < size && i < MAX_ITERATIONS; i++) {
                ssize_t k = write(sv[1], data + off, size - off);
                if (k > 0)
                        off += (size_t) k;
                else if (k < 0 && errno != EAGAIN)
                        break; /* the server closed early (e.g. a malformed request line) */
                if (sd_event_run(event, 0) < 0)
                        abort();
        }
        (void) shutdown(sv[1], SHUT_WR);
        bool closed = drain(sv[1]);
        close(sv[1]);
        /* A connection still open after its client went away would leak its fd: that is a finding. */
        if (!closed && !drain(-1))
                abort();
        return 0;
}
