/* libFuzzer target for the web config parser (exporters/web_config.c): YAML from a root-owned file, but the
 * file decides who may scrape and libyaml's whole grammar is behind it. Input: the file's bytes. Checks
 * that an accepted file holds its invariants and that its priority string always builds. Build and run:
 * make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_web_config 60 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../exporters/web_config.h"
#include "../../monitor/base/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        web_config c;
        char err[512];
        if (size > WEB_CONFIG_FILE_MAX)
                return 0;
        int r = web_config_parse("/etc/rtun-monitor/web.yml", (const char *) data, size, &c, err, sizeof err);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                /* Every refusal names the file and a line. */
                if (strncmp(err, "/etc/rtun-monitor/web.yml:", 26) != 0)
                        abort();
                return 0;
        }
        if (c.tls && (!c.cert_file || !c.key_file || c.cert_file[0] != '/' || c.key_file[0] != '/'))
                abort();
        if (c.min_version > c.max_version || (int) c.client_auth < 0 || c.client_auth >= _WEB_CLIENT_AUTH_MAX)
                abort();
        for (size_t i = 0; i < c.n_users; i++)
                if (!c.users[i].name || strchr(c.users[i].name, ':') || c.users[i].cost < 4 ||
                    c.users[i].cost > WEB_BCRYPT_COST_MAX)
                        abort();
        for (size_t i = 0; i < c.n_headers; i++)
                for (const char *p = c.headers[i].value; *p; p++)
                        if ((unsigned char) *p < 0x20 && *p != '\t')
                                abort();
        char prio[512];
        if (web_config_priorities(&c, prio, sizeof prio) < 0)
                abort();
        web_config_done(&c);
        return 0;
}
