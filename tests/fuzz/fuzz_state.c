/* libFuzzer target for the state file loader (saved_state_parse: what saved_state_load runs on the bytes
 * it read), and what `check` and the daemon then do with a loaded state: look tunnels up, keep the entries
 * of other units, write it back as JSON.
 * Build and run: make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_state 60 */
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/base/log.h"
#include "../../monitor/state_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        saved_state s;
        /* A corrupt state is one warning per input: not worth the fuzzer's time to print. */
        log_set_max_level(LOG_CRIT);
        if (saved_state_parse("fuzz.state", (const char *) data, size, &s) < 0)
                abort(); /* only out of memory may fail */
        for (size_t i = 0; i < s.n_tunnels; i++)
                if (saved_state_find(&s, s.tunnels[i].name) != &s.tunnels[i].health ||
                    s.tunnels[i].health.n_restarts > RESTART_HISTORY_MAX)
                        abort();
        for (size_t i = 0; i < s.n_seeds; i++)
                if (!s.seeds[i].name || !s.seeds[i].argv || !s.seeds[i].argv[0] || !s.seeds[i].ssh_g)
                        abort();
        /* Health entries read back the same as they are written. */
        for (size_t i = 0; i < s.n_tunnels; i++) {
                tunnel_health back;
                json_t *o = health_to_json(&s.tunnels[i].health);
                if (!o || health_from_json(o, &back) < 0 || back.consecutive_failures != s.tunnels[i].health.consecutive_failures ||
                    back.n_restarts != s.tunnels[i].health.n_restarts)
                        abort();
                json_decref(o);
        }
        char *patterns[] = { (char *) "reverse-ssh@*.service", NULL };
        json_decref(state_entries_outside(s.tunnels_json, patterns));
        saved_state_done(&s);
        return 0;
}
