/* Alerts (contract.md "Alerts"): Slack and webhook payloads, and a sender that delivers them from the
 * event loop with libcurl multi, one ordered queue per receiver, retrying with backoff. */
#pragma once

#include <systemd/sd-event.h>

#include "../monitor/config.h"
#include "../monitor/base/log.h"
#include "../monitor/monitor.h"

/* One alert. Strings may be NULL (network_* events have no unit): payloads show "" (webhook) or
 * "n/a" (Slack). */
typedef struct alert_event {
        tunnel_event event;    /* exactly one bit */
        char *name;            /* unit */
        char *bastion;
        char *forward;
        char *reason;
        char *host;            /* NULL: the sender fills in gethostname() at enqueue time */
        unsigned restarts;
        usec_t timestamp;      /* CLOCK_REALTIME; 0: the sender fills in "now" at enqueue time */
        uint64_t id;           /* the caller's, e.g. for dedup in the state file; never sent */
} alert_event;

/* The alert for one event leaving the round: strings borrowed from m, ev and its tunnel. */
void alert_event_from_monitor(const monitor *m, const monitor_event *ev, alert_event *ret);
/* Deep copy / release of the strings (alert_event_done accepts a zeroed struct). */
int alert_event_copy(alert_event *dst, const alert_event *src);
void alert_event_done(alert_event *ev);

/* Payload builders: compact JSON in a malloc'd string. -EINVAL for an event that is not one known bit. */
int alert_payload_slack(const alert_event *ev, char **ret_json);
int alert_payload_webhook(const alert_event *ev, char **ret_json);
int alert_payload(alert_type type, const alert_event *ev, char **ret_json);
/* "2026-11-23T20:01:02Z" (RFC 3339, UTC, whole seconds). */
int alert_format_timestamp(usec_t realtime, char buf[static 32]);

/* Retry schedule, pure: delay before retry number `attempt` (1 = after the first failure) is
 * 1 s, 2 s, 4 s, ... with +-20% jitter taken from `random`, never above 5 min. attempt 0: 0. */
usec_t alert_retry_delay(unsigned attempt, uint64_t random);
/* Wait asked by a 429's Retry-After value (delta-seconds or HTTP-date, relative to now_realtime);
 * NULL or unparsable: 30 s; capped at 1 h; never below 1 s. */
usec_t alert_retry_after(const char *value, usec_t now_realtime);

#define ALERT_QUEUE_MAX 1024U
#define ALERT_GIVE_UP_USEC (3600 * USEC_PER_SEC)

/* What one receiver's sender has done, owned and written by the sender alone; the reports (metrics)
 * read it. */
#define ALERT_EVENT_KINDS 12
typedef struct alert_counters {
        const char *receiver;                 /* the receiver's name (its config's, borrowed) */
        uint64_t delivered[ALERT_EVENT_KINDS]; /* by event bit index (tunnel.h): down ... key_expiring, forward_*;
                                               * network_down, network_up */
        uint64_t failures;                    /* given up after retrying, or dropped from a full queue */
} alert_counters;

/* One sender per receiver. Keeps a pointer to rc: it must outlive the sender. */
typedef struct alert_sender alert_sender;

int alert_sender_new(sd_event *e, const alert_receiver_config *rc, alert_sender **ret);
alert_sender *alert_sender_free(alert_sender *s);
static inline void alert_sender_freep(alert_sender **s) {
        alert_sender_free(*s);
}

/* Copies ev if rc->events wants it (returns 1), else ignores it (returns 0). Never blocks: the request
 * goes out from the loop. A full queue drops its oldest waiting event, logged and counted as a failure. */
int alert_sender_enqueue(alert_sender *s, const alert_event *ev);
/* The sender's counters, valid as long as the sender. */
const alert_counters *alert_sender_counters(const alert_sender *s);
/* The receiver's name (rc->name). */
const char *alert_sender_receiver(const alert_sender *s);
/* Re-queues an event persisted by an earlier run (check mode), keeping its retry history. first_try is
 * CLOCK_REALTIME; the 1 h give-up is counted from it. Not filtered, due at once. */
int alert_sender_restore(alert_sender *s, const alert_event *ev, unsigned attempts, usec_t first_try);

/* Events not yet delivered or given up, the one in flight included. */
size_t alert_sender_pending(alert_sender *s);
/* In queue order, the in-flight one included; a negative return from cb stops and is returned. */
int alert_sender_foreach_pending(alert_sender *s,
                                 int (*cb)(const alert_event *ev, unsigned attempts, usec_t first_try, void *userdata),
                                 void *userdata);
/* Drops every pending event (the one in flight too) without counting them as failures: check mode
 * calls it once they are safely in the state file, for the next run to send. */
void alert_sender_discard(alert_sender *s);
/* True when no request is in flight and nothing is due now (queue empty, or the head waits to retry). */
bool alert_sender_idle(alert_sender *s);
/* CLOCK_MONOTONIC time of the next attempt; USEC_INFINITY when the queue is empty or a request is in
 * flight. Check mode drains with: run the loop while !(idle && (pending == 0 || next_due > deadline))
 * and now < deadline; then persist what foreach_pending reports. */
usec_t alert_sender_next_due(alert_sender *s);
