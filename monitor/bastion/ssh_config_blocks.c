/* The ssh-config output. */
#include <stdio.h>

#include "ssh_config_blocks.h"

static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

char *ssh_config_host_name(const char *comment) {
        char *s = strdup(comment);
        if (!s)
                return NULL;
        /* A leading '-' would read as an option on some command lines, a leading '.' as a hidden name. */
        for (char *c = s; *c; c++)
                if (!name_char(*c) || (c == s && (*c == '-' || *c == '.')))
                        *c = '_';
        return s;
}

static bool bastion_valid(const char *b) {
        if (isempty_str(b))
                return false;
        for (const char *c = b; *c; c++)
                if (!name_char(*c) && !strchr("@:,[]", *c))
                        return false;
        return true;
}

typedef struct host_block {
        char *name;
        const port_entry *entry; /* the first ssh port of the first line with this name */
} host_block;

static int block_compare(const void *a, const void *b) {
        const host_block *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        c = strcmp(x->entry->key->file, y->entry->key->file);
        if (c)
                return c;
        if (x->entry->key->line != y->entry->key->line)
                return x->entry->key->line < y->entry->key->line ? -1 : 1;
        return x->entry->port - y->entry->port;
}

static void blocks_free(host_block *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(b[i].name);
        free(b);
}

static int write_block(FILE *f, const host_block *b, size_t n_same, const char *bastion) {
        const authkey_line *k = b[0].entry->key;
        _cleanup_(freep) char *comment = escape_control(k->comment), *file = escape_control(k->file);
        if (!comment || !file)
                return -ENOMEM;
        if (!streq(b[0].name, k->comment))
                fprintf(f, "# key comment \"%s\" (%s:%u), written as %s\n", comment, file, k->line, b[0].name);
        for (size_t i = 1; i < n_same; i++) {
                if (b[i].entry->port == b[0].entry->port)
                        continue;
                const authkey_line *o = b[i].entry->key;
                _cleanup_(freep) char *other = escape_control(o->file), *other_comment = escape_control(o->comment);
                if (!other || !other_comment)
                        return -ENOMEM;
                fprintf(f, "# also ssh port %d (%s:%u, key comment \"%s\"): not used here\n", b[i].entry->port, other,
                        o->line, other_comment);
        }
        fprintf(f, "Host %s\n    HostName localhost\n    Port %d\n    ProxyJump %s\n\n", b[0].name, b[0].entry->port,
                bastion);
        return 0;
}

int ssh_config_blocks(const port_table *ports, const char *bastion, char **ret) {
        if (!bastion_valid(bastion))
                return -EINVAL;
        host_block *b = calloc(MAX(ports->n, 1u), sizeof(host_block));
        size_t n = 0;
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < ports->n; i++) {
                const port_entry *e = &ports->entries[i];
                if (e->kind != PORT_KIND_SSH || !e->key->comment)
                        continue;
                if (!(b[n].name = ssh_config_host_name(e->key->comment))) {
                        blocks_free(b, n);
                        return -ENOMEM;
                }
                b[n++].entry = e;
        }
        qsort(b, n, sizeof(host_block), block_compare);

        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (!f) {
                blocks_free(b, n);
                return -ENOMEM;
        }
        int r = 0;
        for (size_t i = 0, j; i < n && r >= 0; i = j) {
                for (j = i + 1; j < n && streq(b[j].name, b[i].name); j++)
                        ;
                r = write_block(f, &b[i], j - i, bastion);
        }
        blocks_free(b, n);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(text);
                return r;
        }
        *ret = text;
        return 0;
}
