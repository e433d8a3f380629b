#include "reap_rule.h"

bool reap_evidence(port_state state, const tcp_view *v, char *why, size_t size) {
        if (size > 0)
                why[0] = 0;
        if (state != PORT_STALE || !v || !v->valid)
                return false;
        bool silent = v->unacked > 0 && v->last_ack_age_seconds >= REAP_ACK_SILENCE_SECONDS;
        /* The kernel backs off only while it waits for an ACK that does not come (it resets on the next ACK):
         * seen here with packets_out already 0 after the timeouts, so it stands on its own. */
        bool backoff = v->backoff >= REAP_BACKOFF_MIN;
        if (!silent && !backoff)
                return false;
        snprintf(why, size, "no ACK from the host for %.0f s, %u segment%s unacked, retransmission backoff %u",
                 v->last_ack_age_seconds, v->unacked, v->unacked == 1 ? "" : "s", v->backoff);
        return true;
}

port_state reap_state(port_state state, bool listener, bool probe_ok, usec_t claimed_at, usec_t now) {
        bool claimed = claimed_at != 0 && claimed_at <= now && now - claimed_at <= REAP_CLAIM_WINDOW;
        return claimed && listener && !probe_ok ? PORT_STALE : state;
}

bool reap_budget_allows(const reap_budget *b, usec_t now) {
        for (size_t i = 0; i < REAP_BUDGET; i++)
                if (b->at[i] == 0 || b->at[i] + REAP_WINDOW <= now)
                        return true;
        return false;
}

void reap_budget_spend(reap_budget *b, usec_t now) {
        size_t oldest = 0;
        for (size_t i = 1; i < REAP_BUDGET; i++)
                if (b->at[i] < b->at[oldest])
                        oldest = i;
        b->at[oldest] = now;
}
