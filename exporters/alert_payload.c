/* The two alert payloads of contract.md, built with jansson only: Slack incoming-webhook and plain webhook. */
#include <jansson.h>
#include <time.h>

#include "../monitor/base/json_text.h"
#include "alert.h"

typedef struct event_style {
        const char *title;  /* Slack section heading */
        const char *color;  /* Slack attachment bar */
        bool resolved;      /* webhook "status" */
} event_style;

/* Indexed by the event's bit number (tunnel.h). */
static const event_style event_styles[] = {
        { "Tunnel down",                       "#d50200", false }, /* down */
        { "Tunnel recovered",                  "#2eb886", true  }, /* recovered */
        { "Tunnel restarted",                  "#daa038", false }, /* restarted */
        { "Gave up restarting tunnel",         "#d50200", false }, /* gave_up */
        { "Network down",                      "#d50200", false }, /* network_down */
        { "Network up",                        "#2eb886", true  }, /* network_up */
        { "Host gone",                         "#d50200", false }, /* host_down (bastion) */
        { "Host back",                         "#2eb886", true  }, /* host_up (bastion) */
        { "Stale session ended",               "#daa038", false }, /* reaped (bastion) */
        { "Key expiring",                      "#daa038", false }, /* key_expiring (bastion) */
        { "Forward down",                      "#d50200", false }, /* forward_down */
        { "Forward back up",                   "#2eb886", true  }, /* forward_up */
};

static const event_style *style_of(tunnel_event e) {
        for (unsigned i = 0; i < ELEMENTSOF(event_styles); i++)
                if ((unsigned) e == (1u << i))
                        return &event_styles[i];
        return NULL;
}

int alert_event_copy(alert_event *dst, const alert_event *src) {
        alert_event c = *src;
        c.name = c.bastion = c.forward = c.reason = c.host = NULL;
        const struct { char **to; const char *from; } f[] = {
                { &c.name, src->name }, { &c.bastion, src->bastion }, { &c.forward, src->forward },
                { &c.reason, src->reason }, { &c.host, src->host },
        };
        for (unsigned i = 0; i < ELEMENTSOF(f); i++)
                if (f[i].from && !(*f[i].to = strdup(f[i].from))) {
                        alert_event_done(&c);
                        return -ENOMEM;
                }
        *dst = c;
        return 0;
}

void alert_event_done(alert_event *ev) {
        if (!ev)
                return;
        free(ev->name);
        free(ev->bastion);
        free(ev->forward);
        free(ev->reason);
        free(ev->host);
        ev->name = ev->bastion = ev->forward = ev->reason = ev->host = NULL;
}

int alert_format_timestamp(usec_t realtime, char buf[static 32]) {
        time_t t = (time_t) (realtime / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        return 0;
}

/* A JSON string for any C string ("" for NULL), invalid UTF-8 as '?'. */
static json_t *string_new(const char *s) {
        return json_string_lossy(strempty(s));
}

static int set_string(json_t *o, const char *key, const char *value) {
        json_t *v = string_new(value);
        if (!v || json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static int dump(json_t *root, char **ret_json) {
        char *s = json_dumps(root, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

/* What every payload starts from: the event's style and its time, as RFC 3339 UTC. */
static int payload_begin(const alert_event *ev, const event_style **ret_style, char ts[static 32]) {
        *ret_style = style_of(ev->event);
        if (!*ret_style)
                return -EINVAL;
        return alert_format_timestamp(ev->timestamp, ts);
}

int alert_payload_webhook(const alert_event *ev, char **ret_json) {
        const event_style *st;
        char ts[32];
        int r = payload_begin(ev, &st, ts);
        if (r < 0)
                return r;

        _cleanup_(json_decrefp) json_t *root = json_object();
        if (!root)
                return -ENOMEM;
        const struct { const char *key, *value; } fields[] = {
                { "version", "1" },
                { "event", tunnel_event_to_string(ev->event) },
                { "status", st->resolved ? "resolved" : "firing" },
                { "host", ev->host },
                { "name", ev->name },
                { "bastion", ev->bastion },
                { "forward", ev->forward },
                { "reason", ev->reason },
        };
        for (unsigned i = 0; i < ELEMENTSOF(fields); i++)
                if ((r = set_string(root, fields[i].key, fields[i].value)) < 0)
                        return r;
        if (json_object_set_new(root, "restarts", json_integer(ev->restarts)) < 0)
                return -ENOMEM;
        if ((r = set_string(root, "timestamp", ts)) < 0)
                return r;
        return dump(root, ret_json);
}

/* Slack's own rule for text: only &, < and > are control characters. */
static char *slack_escape(const char *s) {
        s = s && *s ? s : "n/a";
        size_t n = 0;
        for (const char *p = s; *p; p++)
                n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return NULL;
        for (const char *p = s; *p; p++) {
                const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
                if (rep)
                        o = stpcpy(o, rep);
                else
                        *o++ = *p;
        }
        *o = 0;
        return out;
}

/* One mrkdwn text object: {"type":"mrkdwn","text":"*Label*\nescaped value"}. */
static json_t *field_new(const char *label, const char *value) {
        _cleanup_(freep) char *esc = slack_escape(value), *text = NULL;
        if (!esc || asprintf(&text, "*%s*\n%s", label, esc) < 0)
                return NULL;
        json_t *t = string_new(text);
        return t ? json_pack("{s:s,s:o}", "type", "mrkdwn", "text", t) : NULL;
}

/* The message's two lines of text, escaped: the notification's fallback ("Tunnel down: reverse-ssh@b1.service
 * on h1 (reason)") and the bold heading with the restart count. Host-wide events name no unit. */
static int slack_texts(const alert_event *ev, const event_style *st, char **ret_fallback, char **ret_heading) {
        bool network = ev->event & (EVENT_NETWORK_DOWN | EVENT_NETWORK_UP);
        _cleanup_(freep) char *name = slack_escape(ev->name), *host = slack_escape(ev->host),
                              *reason = slack_escape(ev->reason), *subject = NULL;
        int r;

        if (!name || !host || !reason)
                return -ENOMEM;
        if (network)
                r = asprintf(&subject, "%s on %s", st->title, host);
        else
                r = asprintf(&subject, "%s: %s on %s", st->title, name, host);
        if (r < 0)
                return -ENOMEM;
        if (ev->reason && *ev->reason)
                r = asprintf(ret_fallback, "%s (%s)", subject, reason);
        else
                r = asprintf(ret_fallback, "%s", subject);
        if (r < 0) {
                *ret_fallback = NULL; /* asprintf leaves it undefined */
                return -ENOMEM;
        }
        if (ev->restarts > 0)
                r = asprintf(ret_heading, "*%s*, %u restart%s", subject, ev->restarts, ev->restarts == 1 ? "" : "s");
        else
                r = asprintf(ret_heading, "*%s*", subject);
        if (r < 0) {
                *ret_fallback = mfree(*ret_fallback);
                *ret_heading = NULL;
                return -ENOMEM;
        }
        return 0;
}

int alert_payload_slack(const alert_event *ev, char **ret_json) {
        const event_style *st;
        char ts[32];
        int r = payload_begin(ev, &st, ts);
        if (r < 0)
                return r;

        _cleanup_(freep) char *fallback = NULL, *heading = NULL;
        r = slack_texts(ev, st, &fallback, &heading);
        if (r < 0)
                return r;

        _cleanup_(json_decrefp) json_t *fields = json_array();
        if (!fields)
                return -ENOMEM;
        const struct { const char *label, *value; } rows[] = {
                { "Unit", ev->name }, { "Bastion", ev->bastion }, { "Forward", ev->forward },
                { "Reason", ev->reason }, { "Host", ev->host }, { "Time", ts },
        };
        for (unsigned i = 0; i < ELEMENTSOF(rows); i++)
                if (json_array_append_new(fields, field_new(rows[i].label, rows[i].value)) < 0)
                        return -ENOMEM;

        json_t *t_fallback = string_new(fallback), *t_heading = string_new(heading);
        if (!t_fallback || !t_heading) {
                json_decref(t_fallback);
                json_decref(t_heading);
                return -ENOMEM;
        }
        /* "o" steals every reference, also on failure (jansson >= 2.11). */
        _cleanup_(json_decrefp) json_t *root = json_pack(
                "{s:o,s:[{s:s,s:[{s:s,s:{s:s,s:o},s:O}]}]}",
                "text", t_fallback,
                "attachments",
                        "color", st->color,
                        "blocks",
                                "type", "section",
                                "text", "type", "mrkdwn", "text", t_heading,
                                "fields", fields);
        if (!root)
                return -ENOMEM;
        return dump(root, ret_json);
}

int alert_payload(alert_type type, const alert_event *ev, char **ret_json) {
        switch (type) {
        case ALERT_SLACK:
                return alert_payload_slack(ev, ret_json);
        case ALERT_WEBHOOK:
                return alert_payload_webhook(ev, ret_json);
        default:
                return -EINVAL;
        }
}
