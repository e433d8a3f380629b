/* One line per tunnel: unit, bastion, forward, state, probe kind, duration, reason, restarts. */
#include <jansson.h>

#include "status_print.h"

static const char *state_of(const tunnel *t) {
        return tunnel_state_to_string(tunnel_shown_state(t));
}

static const char *reason_of(const tunnel *t) {
        if (t->would_restart)
                return "would restart (dry run)";
        if (t->probed && tunnel_resolving(t))
                return "resolving: ssh -G for the unit's new process";
        return t->last_verdict.state == TUNNEL_UP ? "" : t->reason_text;
}

/* Restarts rtun-monitor made within heal.window (persisted across `check` runs). */
static unsigned restarts_of(const tunnel *t) {
        return t->health.n_restarts;
}

static const char *forward_target(const forward_watch *w) {
        return w->fwd && w->fwd->target ? w->fwd->target : "";
}

static const char *forward_reason(const forward_watch *w) {
        return w->health.state == FORWARD_UP ? "" : w->reason;
}

static json_t *forwards_json(const tunnel *t) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < t->n_forwards; i++) {
                const forward_watch *w = &t->forwards[i];
                json_array_append_new(
                        list, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:f, s:s}", "forward", w->label, "direction",
                                        forward_direction_to_string(w->direction), "target", forward_target(w),
                                        "primary", w->primary, "state", forward_state_to_string(w->health.state),
                                        "probe", probe_kind_to_string(w->last.kind), "duration_seconds",
                                        (double) w->last.duration / USEC_PER_SEC, "reason", forward_reason(w)));
        }
        return list;
}

static void print_json(const monitor *m, FILE *f) {
        json_t *list = json_array();
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                json_array_append_new(
                        list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:I, s:o}", "name", t->name, "bastion",
                                        t->resolved ? t->ssh.bastion : "", "forward", t->forward_label, "state",
                                        state_of(t), "probe", probe_kind_to_string(t->last_probe.kind),
                                        "duration_seconds", (double) t->last_probe.duration / USEC_PER_SEC,
                                        "reason", reason_of(t), "restarts", (json_int_t) restarts_of(t),
                                        "forwards", forwards_json(t)));
        }
        json_t *root = json_pack("{s:o}", "tunnels", list);
        json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', f);
        json_decref(root);
}

/* The table's text columns, control characters escaped: a unit or host name with a newline (from D-Bus,
 * ssh_config or the state file) must not forge a row. */
typedef struct row {
        char *name, *bastion, *forward, *reason;
} row;

static void rows_free(row *rows, size_t n) {
        for (size_t i = 0; rows && i < n; i++) {
                free(rows[i].name);
                free(rows[i].bastion);
                free(rows[i].forward);
                free(rows[i].reason);
        }
        free(rows);
}

/* Under its tunnel, one line per forward (a unit with only its own -R has nothing to add). */
static void print_forwards(const tunnel *t, FILE *f) {
        if (t->n_forwards < 2)
                return;
        for (size_t i = 0; i < t->n_forwards; i++) {
                const forward_watch *w = &t->forwards[i];
                _cleanup_(freep) char *label = escape_control(w->label), *target = escape_control(forward_target(w)),
                                      *reason = escape_control(forward_reason(w));
                if (!label || !target || !reason)
                        return;
                fprintf(f, "  %c %-7s  %s -> %s  %s  %s  %.3fs  %s\n", w->primary ? '*' : '-',
                        forward_direction_to_string(w->direction), label,
                        *target ? target : w->direction == FORWARD_DYNAMIC ? "SOCKS" : "?",
                        forward_state_to_string(w->health.state), probe_kind_to_string(w->last.kind),
                        (double) w->last.duration / USEC_PER_SEC, reason);
        }
}

void status_print(const monitor *m, bool json, FILE *f) {
        if (json) {
                print_json(m, f); /* jansson escapes control characters as \uXXXX */
                return;
        }
        row *rows = calloc(m->n_tunnels + 1, sizeof *rows);
        int wn = 4, wb = 7, wf = 7;
        for (size_t i = 0; rows && i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                row *r = &rows[i];
                r->name = escape_control(t->name);
                r->bastion = escape_control(t->resolved ? t->ssh.bastion : "-");
                r->forward = escape_control(*t->forward_label ? t->forward_label : "-");
                r->reason = escape_control(reason_of(t));
                if (!r->name || !r->bastion || !r->forward || !r->reason) {
                        rows_free(rows, m->n_tunnels);
                        rows = NULL;
                        break;
                }
                wn = MAX(wn, (int) strlen(r->name));
                wb = MAX(wb, (int) strlen(r->bastion));
                wf = MAX(wf, (int) strlen(r->forward));
        }
        if (!rows) {
                fprintf(stderr, "Out of memory.\n");
                return;
        }
        fprintf(f, "%-*s  %-*s  %-*s  %-8s  %-5s  %8s  %8s  %s\n", wn, "UNIT", wb, "BASTION", wf, "FORWARD", "STATE",
                "PROBE", "DURATION", "RESTARTS", "REASON");
        for (size_t i = 0; i < m->n_tunnels; i++) {
                const tunnel *t = m->tunnels[i];
                fprintf(f, "%-*s  %-*s  %-*s  %-8s  %-5s  %7.3fs  %8u  %s\n", wn, rows[i].name, wb, rows[i].bastion,
                        wf, rows[i].forward, state_of(t), probe_kind_to_string(t->last_probe.kind),
                        (double) t->last_probe.duration / USEC_PER_SEC, restarts_of(t), rows[i].reason);
                print_forwards(t, f);
        }
        fprintf(f, "%zu tunnels, %zu not up\n", m->n_tunnels, monitor_count_down(m));
        rows_free(rows, m->n_tunnels);
}
