/* The fleet as the bastion knows it: sshd's effective settings, every key line of the tunnel users (one
 * per host) and the port table built from them. Loaded in one step from the sources the config names;
 * what could not be read is listed (exit 2 material) while everything else is still loaded. */
#pragma once

#include "authkeys.h"
#include "ports.h"
#include "settings.h"
#include "sshd_settings.h"

typedef struct fleet_sources {
        char **users;            /* bastion.users: their AuthorizedKeysFile, as sshd -T says for their login */
        char **files;            /* bastion.authorized_keys: these files instead (users then unused) */
        const char *sshd_config; /* bastion.sshd_config */
        const char *sshd_binary; /* NULL: SSHD_BINARY */
} fleet_sources;

typedef struct fleet {
        sshd_settings sshd;      /* global settings (no Match applied), for the audit */
        bool have_sshd;
        authkeys keys;
        port_table ports;
        char **errors;           /* "what: why", control characters escaped: a user, file or sshd we could not read */
        size_t n_errors;
        char **files;            /* the key files read (or tried), for the daemon's watch */
        size_t n_files;
} fleet;

/* -ENOMEM only; every other failure is in ret->errors. */
int fleet_load(const fleet_sources *src, const bastion_settings *s, fleet *ret);
void fleet_done(fleet *f);
