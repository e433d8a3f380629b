/* libFuzzer target for the bastion's inputs that other admins write: the authorized_keys parser
 * (authkeys_parse, what authkeys_read runs on the file's bytes), then everything built from its result (the
 * port table, the audit, its JSON and text, the ssh-config blocks); the same bytes as `sshd -T` output
 * with the sshd checks, and their first line as an AuthorizedKeysFile value.
 * Build and run: make fuzz-build; bash tests/fuzz/run.sh build/fuzz/fuzz_authkeys 60 */
#include <stddef.h>
#include <stdint.h>

#include "../../monitor/bastion/audit.h"
#include "../../monitor/bastion/keys_file.h"
#include "../../monitor/bastion/ports.h"
#include "../../monitor/bastion/ssh_config_blocks.h"

static void check_keys(const authkeys *k) {
        if (k->n_problems > AUTHKEYS_PROBLEMS_MAX || k->n_lines > AUTHKEYS_LINES_MAX)
                abort();
        for (size_t i = 0; i < k->n_problems; i++) {
                char *s = authkey_problem_format(&k->problems[i]);
                if (!s || !k->problems[i].message[0])
                        abort();
                free(s);
        }
        for (size_t i = 0; i < k->n_lines; i++) {
                const authkey_line *l = &k->lines[i];
                /* "SHA256:" and 43 characters of unpadded base64. */
                if (!l->file || !l->key_type || !authkey_type_known(l->key_type, strlen(l->key_type)) || !l->fingerprint ||
                    strncmp(l->fingerprint, "SHA256:", 7) != 0 || strlen(l->fingerprint) != 50 ||
                    (l->comment && !l->comment[0]) || l->n_permitlisten > AUTHKEYS_PERMIT_MAX + 1 ||
                    l->n_permitopen > AUTHKEYS_PERMIT_MAX + 1)
                        abort();
                for (size_t j = 0; j < l->n_permitlisten; j++)
                        if (l->permitlisten[j].port < PERMIT_PORT_NAMED || l->permitlisten[j].port > 65535 ||
                            !l->permitlisten[j].host || !l->permitlisten[j].text)
                                abort();
        }
}

static void check_ports_and_config(const authkeys *k, const bastion_settings *s) {
        port_table t = {};
        if (port_table_build(k, s, &t) < 0)
                abort();
        for (size_t i = 0; i < t.n; i++)
                if (t.entries[i].port < 1 || t.entries[i].port > 65535 || (i > 0 && t.entries[i - 1].port > t.entries[i].port) ||
                    t.entries[i].kind < _PORT_KIND_INVALID || t.entries[i].kind >= _PORT_KIND_MAX)
                        abort();
        char *text = NULL;
        if (ssh_config_blocks(&t, "bastion.example.com", &text) < 0)
                abort();
        /* Every line is a comment, a Host line with one safe name, an indented directive, or blank. */
        for (char *line = text, *nl; line && *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                        abort();
                *nl = 0;
                if (line[0] == '#' || line[0] == 0 || strncmp(line, "    ", 4) == 0)
                        continue;
                if (strncmp(line, "Host ", 5) != 0 || !line[5] ||
                    strspn(line + 5, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(line + 5) ||
                    line[5] == '-' || line[5] == '.')
                        abort();
        }
        free(text);
        port_table_done(&t);
}

static void check_audit(const audit_findings *f) {
        for (size_t i = 0; i < f->n; i++) {
                if (!audit_check_to_string(f->items[i].check) || !audit_severity_to_string(f->items[i].severity))
                        abort();
                char *s = audit_finding_format(&f->items[i]);
                if (!s)
                        abort();
                free(s);
        }
        json_t *j = audit_findings_to_json(f);
        if (!j)
                abort();
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s)
                abort();
        free(s);
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        authkeys k = {};
        bastion_settings s;
        bastion_settings_init(&s);
        if (authkeys_parse(&k, "fuzz", (const char *) data, size) < 0)
                abort(); /* only out of memory may fail */
        check_keys(&k);
        check_ports_and_config(&k, &s);

        audit_findings f = {};
        if (audit_key_lines(&k, &s, 1767225600ULL * USEC_PER_SEC, &f) < 0)
                abort();
        sshd_settings sshd = {};
        if (sshd_settings_parse((const char *) data, size, &sshd, NULL, 0) == 0 &&
            audit_sshd(&sshd, &k, "fuzz_sshd_config", &f) < 0)
                abort();
        audit_findings_sort(&f);
        check_audit(&f);

        /* The first line as AuthorizedKeysFile. */
        const char *nl = memchr(data, '\n', size);
        char *value = strndup((const char *) data, nl ? (size_t) (nl - (const char *) data) : size);
        char **paths = NULL;
        if (value && authorized_keys_paths(value, "reverse-ssh", "/home/reverse-ssh", 1001, &paths) == 0)
                for (char **p = paths; *p; p++)
                        if ((*p)[0] != '/')
                                abort();
        strv_free(paths);
        free(value);

        audit_findings_done(&f);
        sshd_settings_done(&sshd);
        authkeys_done(&k);
        return 0;
}
