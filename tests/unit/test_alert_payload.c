/* Alert payloads: exact JSON of contract.md for a fixed event, Slack escaping, JSON escaping, colors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../exporters/alert.h"

#define TS_2026 (1795464062ULL * USEC_PER_SEC) /* 2026-11-23T20:01:02Z */

static alert_event fixed_event(tunnel_event e) {
        return (alert_event) {
                .event = e,
                .name = (char *) "reverse-ssh@b1.service",
                .bastion = (char *) "b1.example.net",
                .forward = (char *) "localhost:21022",
                .reason = (char *) "timeout",
                .host = (char *) "h1",
                .restarts = 2,
                .timestamp = TS_2026 + 999999, /* sub-second part is cut, not rounded */
                .id = 42,
        };
}

static void test_webhook_exact(void **state) {
        alert_event ev = fixed_event(EVENT_DOWN);
        _cleanup_(freep) char *j = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &j), 0);
        assert_string_equal(j,
                "{\"version\":\"1\",\"event\":\"down\",\"status\":\"firing\",\"host\":\"h1\","
                "\"name\":\"reverse-ssh@b1.service\",\"bastion\":\"b1.example.net\","
                "\"forward\":\"localhost:21022\",\"reason\":\"timeout\",\"restarts\":2,"
                "\"timestamp\":\"2026-11-23T20:01:02Z\"}");
}

/* A forward other than the tunnel's own: its label in "forward", firing then resolved. */
static void test_forward_events(void **state) {
        alert_event ev = fixed_event(EVENT_FORWARD_DOWN);
        ev.forward = (char *) "localhost:21080";
        ev.reason = (char *) "bad_response: closed without answer";
        _cleanup_(freep) char *j = NULL, *k = NULL, *s = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &j), 0);
        assert_non_null(strstr(j, "\"event\":\"forward_down\",\"status\":\"firing\""));
        assert_non_null(strstr(j, "\"forward\":\"localhost:21080\""));
        ev.event = EVENT_FORWARD_UP;
        assert_int_equal(alert_payload_webhook(&ev, &k), 0);
        assert_non_null(strstr(k, "\"event\":\"forward_up\",\"status\":\"resolved\""));
        assert_int_equal(alert_payload_slack(&ev, &s), 0);
        assert_non_null(strstr(s, "Forward back up: reverse-ssh@b1.service"));
        assert_non_null(strstr(s, "#2eb886"));
}

static void test_slack_exact(void **state) {
        alert_event ev = fixed_event(EVENT_DOWN);
        _cleanup_(freep) char *j = NULL;
        assert_int_equal(alert_payload_slack(&ev, &j), 0);
        assert_string_equal(j,
                "{\"text\":\"Tunnel down: reverse-ssh@b1.service on h1 (timeout)\","
                "\"attachments\":[{\"color\":\"#d50200\",\"blocks\":[{\"type\":\"section\","
                "\"text\":{\"type\":\"mrkdwn\",\"text\":\"*Tunnel down: reverse-ssh@b1.service on h1*, 2 restarts\"},"
                "\"fields\":["
                "{\"type\":\"mrkdwn\",\"text\":\"*Unit*\\nreverse-ssh@b1.service\"},"
                "{\"type\":\"mrkdwn\",\"text\":\"*Bastion*\\nb1.example.net\"},"
                "{\"type\":\"mrkdwn\",\"text\":\"*Forward*\\nlocalhost:21022\"},"
                "{\"type\":\"mrkdwn\",\"text\":\"*Reason*\\ntimeout\"},"
                "{\"type\":\"mrkdwn\",\"text\":\"*Host*\\nh1\"},"
                "{\"type\":\"mrkdwn\",\"text\":\"*Time*\\n2026-11-23T20:01:02Z\"}]}]}]}");
}

/* Every event: webhook status and Slack color. */
static void test_event_table(void **state) {
        static const struct {
                tunnel_event e;
                const char *name, *status, *color;
        } t[] = {
                { EVENT_DOWN, "down", "firing", "#d50200" },
                { EVENT_RECOVERED, "recovered", "resolved", "#2eb886" },
                { EVENT_RESTARTED, "restarted", "firing", "#daa038" },
                { EVENT_GAVE_UP, "gave_up", "firing", "#d50200" },
                { EVENT_NETWORK_DOWN, "network_down", "firing", "#d50200" },
                { EVENT_NETWORK_UP, "network_up", "resolved", "#2eb886" },
        };
        for (unsigned i = 0; i < ELEMENTSOF(t); i++) {
                alert_event ev = fixed_event(t[i].e);
                _cleanup_(freep) char *w = NULL, *s = NULL;
                assert_int_equal(alert_payload(ALERT_WEBHOOK, &ev, &w), 0);
                assert_int_equal(alert_payload(ALERT_SLACK, &ev, &s), 0);

                json_auto_t *jw = json_loads(w, 0, NULL), *js = json_loads(s, 0, NULL);
                assert_non_null(jw);
                assert_non_null(js);
                assert_string_equal(json_string_value(json_object_get(jw, "event")), t[i].name);
                assert_string_equal(json_string_value(json_object_get(jw, "status")), t[i].status);
                json_t *att = json_array_get(json_object_get(js, "attachments"), 0);
                assert_string_equal(json_string_value(json_object_get(att, "color")), t[i].color);
                json_t *fields = json_object_get(json_array_get(json_object_get(att, "blocks"), 0), "fields");
                assert_int_equal(json_array_size(fields), 6);
        }
}

static void test_invalid_event(void **state) {
        static const tunnel_event bad[] = { 0, EVENT_DOWN | EVENT_RECOVERED, 1 << 12 };
        for (unsigned i = 0; i < ELEMENTSOF(bad); i++) {
                alert_event ev = fixed_event(bad[i]);
                char *j = NULL;
                assert_int_equal(alert_payload_webhook(&ev, &j), -EINVAL);
                assert_int_equal(alert_payload_slack(&ev, &j), -EINVAL);
                assert_null(j);
        }
        alert_event ev = fixed_event(EVENT_DOWN);
        char *j = NULL;
        assert_int_equal(alert_payload(_ALERT_TYPE_MAX, &ev, &j), -EINVAL);
}

static void test_slack_escaping(void **state) {
        alert_event ev = fixed_event(EVENT_RESTARTED);
        ev.name = (char *) "a&b<c>d";
        ev.reason = (char *) "<!channel> & co";
        _cleanup_(freep) char *j = NULL;
        assert_int_equal(alert_payload_slack(&ev, &j), 0);
        json_auto_t *root = json_loads(j, 0, NULL);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(root, "text")),
                            "Tunnel restarted: a&amp;b&lt;c&gt;d on h1 (&lt;!channel&gt; &amp; co)");
        json_t *sec = json_array_get(json_object_get(json_array_get(json_object_get(root, "attachments"), 0), "blocks"), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(sec, "text"), "text")),
                            "*Tunnel restarted: a&amp;b&lt;c&gt;d on h1*, 2 restarts");
        json_t *fields = json_object_get(sec, "fields");
        assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "text")),
                            "*Unit*\na&amp;b&lt;c&gt;d");
        assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 3), "text")),
                            "*Reason*\n&lt;!channel&gt; &amp; co");
        /* No raw '<' survives anywhere in the Slack payload. */
        assert_null(strchr(j, '<'));

        /* The webhook is not Slack: values go through untouched. */
        _cleanup_(freep) char *w = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &w), 0);
        json_auto_t *jw = json_loads(w, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(jw, "name")), "a&b<c>d");
}

static void test_json_escaping(void **state) {
        alert_event ev = fixed_event(EVENT_DOWN);
        ev.name = (char *) "q\"uote\\back\nline-\xc3\xa9t\xc3\xa9-\xe2\x9c\x93";
        _cleanup_(freep) char *j = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &j), 0);
        assert_non_null(strstr(j, "\"name\":\"q\\\"uote\\\\back\\nline-\xc3\xa9t\xc3\xa9-\xe2\x9c\x93\""));
        json_auto_t *root = json_loads(j, 0, NULL);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(root, "name")), ev.name);

        _cleanup_(freep) char *s = NULL;
        assert_int_equal(alert_payload_slack(&ev, &s), 0);
        json_auto_t *rs = json_loads(s, 0, NULL);
        assert_non_null(rs);
        assert_non_null(strstr(json_string_value(json_object_get(rs, "text")), ev.name));
}

/* jansson refuses invalid UTF-8: the payload still goes out, with the bad bytes replaced. */
static void test_invalid_utf8(void **state) {
        alert_event ev = fixed_event(EVENT_DOWN);
        ev.reason = (char *) "bad \xff\xfe byte";
        _cleanup_(freep) char *j = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &j), 0);
        json_auto_t *root = json_loads(j, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(root, "reason")), "bad ?? byte");
}

/* Network events have no unit: empty strings in the webhook, "n/a" in Slack, no unit in the text. */
static void test_missing_fields(void **state) {
        alert_event ev = { .event = EVENT_NETWORK_DOWN, .host = (char *) "h1", .timestamp = TS_2026 };
        _cleanup_(freep) char *w = NULL, *s = NULL;
        assert_int_equal(alert_payload_webhook(&ev, &w), 0);
        assert_string_equal(w,
                "{\"version\":\"1\",\"event\":\"network_down\",\"status\":\"firing\",\"host\":\"h1\","
                "\"name\":\"\",\"bastion\":\"\",\"forward\":\"\",\"reason\":\"\",\"restarts\":0,"
                "\"timestamp\":\"2026-11-23T20:01:02Z\"}");
        assert_int_equal(alert_payload_slack(&ev, &s), 0);
        json_auto_t *rs = json_loads(s, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(rs, "text")), "Network down on h1");
        assert_non_null(strstr(s, "\"*Unit*\\nn/a\""));
}

static void test_timestamp(void **state) {
        static const struct { usec_t t; const char *s; } t[] = {
                { 0, "1970-01-01T00:00:00Z" },
                { TS_2026, "2026-11-23T20:01:02Z" },
                { 951782400ULL * USEC_PER_SEC + 1, "2000-02-29T00:00:00Z" },
        };
        for (unsigned i = 0; i < ELEMENTSOF(t); i++) {
                char buf[32];
                assert_int_equal(alert_format_timestamp(t[i].t, buf), 0);
                assert_string_equal(buf, t[i].s);
        }
}

static void test_event_copy(void **state) {
        alert_event src = fixed_event(EVENT_GAVE_UP), dst;
        src.bastion = NULL;
        assert_int_equal(alert_event_copy(&dst, &src), 0);
        assert_ptr_not_equal(dst.name, src.name);
        assert_string_equal(dst.name, src.name);
        assert_null(dst.bastion);
        assert_int_equal(dst.restarts, 2);
        assert_int_equal(dst.id, 42);
        alert_event_done(&dst);
        assert_null(dst.name);
        alert_event_done(&dst); /* twice is fine */
        alert_event_done(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_webhook_exact),
                cmocka_unit_test(test_slack_exact),
                cmocka_unit_test(test_event_table),
                cmocka_unit_test(test_invalid_event),
                cmocka_unit_test(test_forward_events),
                cmocka_unit_test(test_slack_escaping),
                cmocka_unit_test(test_json_escaping),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_missing_fields),
                cmocka_unit_test(test_timestamp),
                cmocka_unit_test(test_event_copy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
