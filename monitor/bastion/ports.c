/* Port kinds and the port table. */
#include "ports.h"

static const char *const port_kind_table[_PORT_KIND_MAX] = {
        [PORT_KIND_SSH] = "ssh",
        [PORT_KIND_SERVICE] = "service",
        [PORT_KIND_METRICS] = "metrics",
};

DEFINE_STRING_TABLE_LOOKUP(port_kind, port_kind);

/* Which ports a line permits: a bitmap, so a line of 4,000 permitlisten stays linear. */
typedef struct port_set {
        uint8_t bits[65536 / 8];
} port_set;

static bool port_set_has(const port_set *p, int port) {
        return port > 0 && port < 65536 && (p->bits[port / 8] & (1u << (port % 8)));
}

static void port_set_of_line(port_set *p, const authkey_line *k, bool on) {
        for (size_t i = 0; i < k->n_permitlisten; i++) {
                int port = k->permitlisten[i].port;
                if (port <= 0)
                        continue;
                if (on)
                        p->bits[port / 8] |= (uint8_t) (1u << (port % 8));
                else
                        p->bits[port / 8] &= (uint8_t) ~(1u << (port % 8));
        }
}

/* The ssh port whose metrics forward port would be, or 0. */
static int metrics_base(int port, const bastion_settings *s) {
        long ssh_port = (long) port - (long) s->metrics_port_offset;
        return s->metrics_port_offset > 0 && ssh_port > 0 && port_in_range(&s->ssh_ports, (int) ssh_port) ? (int) ssh_port : 0;
}

static port_kind kind_of(int port, bool base_permitted, const bastion_settings *s) {
        if (base_permitted)
                return PORT_KIND_METRICS;
        if (port_in_range(&s->ssh_ports, port))
                return PORT_KIND_SSH;
        if (port_in_range(&s->service_ports, port))
                return PORT_KIND_SERVICE;
        return _PORT_KIND_INVALID;
}

port_kind port_kind_of(const authkey_line *k, int port, const bastion_settings *s) {
        int base = metrics_base(port, s);
        bool permitted = false;
        for (size_t i = 0; base && i < k->n_permitlisten && !permitted; i++)
                permitted = k->permitlisten[i].port == base;
        return kind_of(port, permitted, s);
}

static int entry_compare(const void *a, const void *b) {
        const port_entry *x = a, *y = b;
        if (x->port != y->port)
                return x->port < y->port ? -1 : 1;
        int c = strcmp(x->key->file, y->key->file);
        if (c)
                return c;
        return x->key->line < y->key->line ? -1 : x->key->line > y->key->line;
}

int port_table_build(const authkeys *keys, const bastion_settings *s, port_table *ret) {
        size_t n = 0;
        for (size_t i = 0; i < keys->n_lines; i++)
                n += keys->lines[i].n_permitlisten;
        _cleanup_(freep) port_entry *e = calloc(MAX(n, 1u), sizeof(port_entry));
        if (!e)
                return -ENOMEM;
        /* 16 KiB on the stack: this runs once a round, and an allocation would cost more than the zeroing. */
        port_set set[2] = {}, *permitted = &set[0], *listed = &set[1];
        n = 0;
        for (size_t i = 0; i < keys->n_lines; i++) {
                const authkey_line *k = &keys->lines[i];
                if (k->cert_authority)
                        continue;
                port_set_of_line(permitted, k, true);
                for (size_t j = 0; j < k->n_permitlisten; j++) {
                        int port = k->permitlisten[j].port;
                        if (port <= 0 || port_set_has(listed, port))
                                continue;
                        listed->bits[port / 8] |= (uint8_t) (1u << (port % 8));
                        e[n++] = (port_entry) { .key = k, .port = port, .kind = kind_of(port, port_set_has(permitted, metrics_base(port, s)), s),
                                                .listen_host = k->permitlisten[j].host };
                }
                /* Cleared by the same walk: a fresh 8 KiB per line would cost more than the line. */
                port_set_of_line(permitted, k, false);
                port_set_of_line(listed, k, false);
        }
        qsort(e, n, sizeof(port_entry), entry_compare);
        *ret = (port_table) { .entries = TAKE_PTR(e), .n = n };
        return 0;
}

void port_table_done(port_table *t) {
        free(t->entries);
        *t = (port_table) {};
}
