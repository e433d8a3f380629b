/* The [bastion] section of contract.md. */
#pragma once

#include "settings.h"

typedef enum bastion_reap {
        BASTION_REAP_NO,
        BASTION_REAP_YES,
        BASTION_REAP_DRY_RUN,
        _BASTION_REAP_MAX,
        _BASTION_REAP_INVALID = -1,
} bastion_reap;

const char *bastion_reap_to_string(bastion_reap r);
bastion_reap bastion_reap_from_string(const char *s);

typedef struct bastion_config {
        char **users;            /* "reverse-ssh" */
        char **authorized_keys;  /* explicit files instead; NULL or empty: from the users */
        bastion_settings settings;
        bastion_reap reap;       /* no */
        char *sshd_config;       /* "/etc/ssh/sshd_config" */
        char *sshd_log;          /* "journal": where sshd's refused binds are read (a path, or "none") */
        char *listen;            /* "127.0.0.1:10123" */
        char *web_config;        /* exporter-toolkit web config file for listen; NULL: none */
} bastion_config;

#define BASTION_USERS_DEFAULT "reverse-ssh"
#define BASTION_SSHD_CONFIG_DEFAULT "/etc/ssh/sshd_config"
#define BASTION_SSHD_LOG_DEFAULT "journal"
#define BASTION_LISTEN_DEFAULT "127.0.0.1:10123"
