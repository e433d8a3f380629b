/* What a probe reports: which kind ran and how it ended. The probes' own vocabulary, one table each
 * (probe_result.c); the monitor's tunnel states and events build on it (monitor/tunnel.h). */
#pragma once

#include "../monitor/base/macro.h"
#include "tcpinfo.h"

typedef enum probe_kind {
        PROBE_KIND_AUTO, /* mux when the ControlPath socket exists, else ssh */
        PROBE_KIND_MUX,
        PROBE_KIND_SSH,
        PROBE_KIND_TCP,
        PROBE_KIND_NONE,
        PROBE_KIND_SOCKS, /* a -D forward's local SOCKS port (never configured for a tunnel) */
        _PROBE_KIND_MAX,
        _PROBE_KIND_INVALID = -1,
} probe_kind;

/* Outcome of one probe; the names are the "reason" label of rtun_probe_failures_total. */
typedef enum probe_status {
        PROBE_OK,
        PROBE_TIMEOUT,
        PROBE_REFUSED,         /* the bastion holds no listener for the forward: the tunnel is dead */
        PROBE_BAD_RESPONSE,    /* something answered, but not monitor.expect */
        PROBE_PROHIBITED,      /* the bastion refuses the probe's channel: configuration, never healed */
        PROBE_NO_MASTER,       /* no ControlMaster socket to talk to */
        PROBE_PROCESS_STOPPED, /* MainPID stopped (T) or a zombie (Z) */
        PROBE_UNIT_DOWN,       /* the unit is not active */
        PROBE_ERROR,           /* the probe itself could not run (not ssh, no forward, spawn failed, ...) */
        PROBE_LISTEN_BUSY,     /* the unit's ssh logged "remote port forwarding failed" since its start: the
                                * bastion still holds the forward's port from a dead session */
        PROBE_HOST_KEY_CHANGED, /* the unit's ssh logged "Host key verification failed" since its start: the
                                 * bastion's key is not the pinned one; a restart cannot help, an operator can */
        _PROBE_STATUS_MAX,
        _PROBE_STATUS_INVALID = -1,
} probe_status;

typedef struct probe_result {
        probe_status status;
        probe_kind kind;   /* which probe ran (never AUTO) */
        usec_t duration;   /* wall time of the probe */
        double cpu_stall;  /* share (0..1) of that time some task of the host waited for a CPU (PSI); < 0 unknown */
        char detail[256];  /* human text, e.g. "channel open refused: administratively prohibited" */
        bool ours;         /* the probe could not look (our own lack of permission): says nothing of the tunnel */
        tcp_view tcp;      /* the tunnel's ssh connection to its bastion as the probe ended (valid: found) */
} probe_result;

/* A timeout on a starved host whose tunnel connection had every byte acknowledged and nothing waiting to be sent
 * (unacked 0 and queued 0): the path answered at TCP level
 * and the answer waited for a CPU (some task waited for one at least PROBE_STARVED_SHARE of the probe's time). */
#define PROBE_STARVED_SHARE 0.5
bool probe_result_starved(const probe_result *r);

const char *probe_kind_to_string(probe_kind k);
probe_kind probe_kind_from_string(const char *s);
const char *probe_status_to_string(probe_status s);
probe_status probe_status_from_string(const char *s);
