#include <limits.h>

#include "port_state.h"

static const char *const port_state_table[_PORT_STATE_MAX] = {
        [PORT_UP] = "up",
        [PORT_STALE] = "stale",
        [PORT_ABSENT] = "absent",
        [PORT_UNKNOWN] = "unknown",
};
DEFINE_STRING_TABLE_LOOKUP(port_state, port_state);

unsigned port_decide(port_health *h, const port_observation *o, unsigned failures) {
        unsigned events = 0;

        if (!o->looked) {
                h->state = PORT_UNKNOWN; /* no news either way: the counts stand */
                return 0;
        }
        if (o->listener && o->probe_ok) {
                h->state = PORT_UP;
                h->failures = 0;
                h->ever_up = true;
                if (h->announced_down) {
                        h->announced_down = false;
                        events |= PORT_EVENT_HOST_UP;
                }
                return events;
        }

        if (h->failures < UINT_MAX)
                h->failures++;
        if (!o->listener)
                h->state = PORT_ABSENT;
        else if (h->failures >= MAX(failures, 1u) || h->state != PORT_UP)
                h->state = PORT_STALE; /* a listener that never answered is stale from the start */
        if (h->ever_up && !h->announced_down && h->failures >= MAX(failures, 1u)) {
                h->announced_down = true;
                events |= PORT_EVENT_HOST_DOWN;
        }
        return events;
}
