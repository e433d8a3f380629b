/* libFuzzer target for the configuration loader: the INI text (config_load_data, what config_load runs on
 * the file it read) plus --section.key=value overrides taken from the input's last lines.
 * Input: byte 0 % 4 = number of overrides; the last that many lines are the overrides (without "--"), the
 * rest is the file. Build and run: make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_config 60 */
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        unsigned n_overrides = data[0] % 4;
        const char *text = (const char *) data + 1;
        size_t len = size - 1;
        char *overrides[4] = {};

        /* Peel the overrides off the end, one line each (NUL-terminated copies: they are argv strings). */
        unsigned k = 0;
        for (; k < n_overrides && len > 0; k++) {
                const char *nl = memrchr(text, '\n', len);
                size_t start = nl ? (size_t) (nl - text) + 1 : 0;
                overrides[n_overrides - 1 - k] = strndup(text + start, len - start);
                if (!overrides[n_overrides - 1 - k])
                        goto out;
                len = nl ? (size_t) (nl - text) : 0;
        }
        /* Compact: overrides[] holds the k peeled ones, NULL-terminated. */
        char *ov[5] = {};
        for (unsigned i = 0, j = 0; i < n_overrides; i++)
                if (overrides[i])
                        ov[j++] = overrides[i];

        config c;
        if (config_load_data(&c, "fuzz.conf", text, len, ov) == 0) {
                /* Every section is found by its own name, and the defaults hold their invariants. */
                for (size_t i = 0; i < c.n_tunnels; i++)
                        if (config_tunnel_for_unit(&c, c.tunnels[i].unit) != &c.tunnels[i] ||
                            c.tunnels[i].settings.failures < 1 || !c.tunnels[i].settings.expect)
                                abort();
                for (size_t i = 0; i < c.n_alerts; i++)
                        if (!c.alerts[i].url || c.alerts[i].type < 0)
                                abort();
                if (!c.units || !c.units[0] || c.monitor.failures < 1 || c.heal.backoff > c.heal.backoff_max)
                        abort();
                config_done(&c);
        }
out:
        for (unsigned i = 0; i < 4; i++)
                free(overrides[i]);
        return 0;
}
