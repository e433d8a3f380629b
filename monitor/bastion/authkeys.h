/* The tunnel user's authorized_keys, read the way sshd reads it (openssh-portable auth2-pubkeyfile.c
 * auth_check_authkey_line, auth-options.c sshauthopt_parse, sshkey.c sshkey_read): one key line per host,
 * its comment the host's name, its permitlisten ports the host's forwards. A line sshd would refuse is a
 * problem "FILE:LINE: what is wrong"; the rest of the file is still read. Pure: no I/O but authkeys_read. */
#pragma once

#include "../base/macro.h"

/* sshd.8 documents 8 KiB per line; sshd itself reads any length (getline). 8x that leaves room for
 * certificates and long permitopen lists; a longer line is a problem, not read. */
#define AUTHKEYS_LINE_MAX (64 * 1024)
/* 10,000 hosts with RSA-4096 keys and options are about 10 MiB. */
#define AUTHKEYS_FILE_MAX (32 * 1024 * 1024)
/* Bounds memory for a file of short garbage lines; beyond, one problem says how many were dropped. */
#define AUTHKEYS_PROBLEMS_MAX 1000
#define AUTHKEYS_LINES_MAX 100000
/* sshd's own caps (auth-options.h SSH_AUTHOPT_PERMIT_MAX, SSH_AUTHOPT_ENV_MAX). */
#define AUTHKEYS_PERMIT_MAX 4096
#define AUTHKEYS_ENV_MAX 1024

/* Port of a permitlisten/permitopen entry: 1..65535, or one of these. */
enum {
        PERMIT_PORT_ANY = 0,   /* "*" */
        PERMIT_PORT_NAMED = -1 /* a service name ("ssh"): sshd looks it up in /etc/services; we do not */
};

typedef struct authkey_permit {
        char *host; /* as sshd splits it: "localhost", "*", "[::1]"; a bare permitlisten port gets "*" */
        int port;   /* 1..65535, PERMIT_PORT_ANY or PERMIT_PORT_NAMED */
        char *text; /* the value as written, dequoted */
} authkey_permit;

typedef struct authkey_line {
        char *file;
        unsigned line;
        char *key_type;    /* the line's type word: "ssh-ed25519" */
        char *fingerprint; /* "SHA256:..." as ssh-keygen -lf prints it */
        char *comment;     /* the host's name; NULL when the line has none */

        /* Options, as sshauthopt_parse leaves them. */
        bool restricted;   /* "restrict" */
        bool port_forwarding, agent_forwarding, x11_forwarding, pty, user_rc; /* effective */
        bool cert_authority;
        bool no_touch_required, verify_required;
        char *command;     /* command="..." or NULL */
        char *from;        /* from="..." or NULL */
        char *principals;  /* principals="..." or NULL */
        char **environment;/* "NAME=value", first of a name wins */
        int tunnel;        /* tunnel="N" (or SSH_TUNID_ANY as 0x7fffffff), -1 none */
        bool has_expiry;
        uint64_t expiry;   /* earliest expiry-time, Unix seconds as sshd computes it */
        authkey_permit *permitlisten;
        size_t n_permitlisten;
        authkey_permit *permitopen;
        size_t n_permitopen;

        bool nul_byte;     /* the line held a NUL byte: sshd (C strings) reads it only up to there */
} authkey_line;

typedef struct authkey_problem {
        char *file;
        unsigned line;     /* 0: about the whole file */
        char *message;     /* what is wrong, control characters escaped */
} authkey_problem;

typedef struct authkeys {
        authkey_line *lines;
        size_t n_lines;
        authkey_problem *problems;
        size_t n_problems;
        size_t n_problems_dropped; /* beyond AUTHKEYS_PROBLEMS_MAX */
        size_t n_lines_dropped;    /* beyond AUTHKEYS_LINES_MAX */
        size_t lines_allocated, problems_allocated;
} authkeys;

/* Parses one file's bytes (may hold NUL bytes, need not end in a newline) and appends its key lines and
 * problems to *keys (zero-initialise it first; several files may be appended). Only -ENOMEM fails. */
int authkeys_parse(authkeys *keys, const char *file, const char *data, size_t size);
/* Reads path (a regular file, at most AUTHKEYS_FILE_MAX: read_file_bounded's errors) and parses it. Does
 * not log. */
int authkeys_read(authkeys *keys, const char *path);
void authkeys_done(authkeys *keys);

/* "FILE:LINE: message" ("FILE: message" for line 0); NULL on out of memory. */
char *authkey_problem_format(const authkey_problem *p);

/* The options part of a line (what comes before the key type), into the option fields of *line (which
 * must be zeroed first). 0, or -EINVAL with *why set to sshd's words; -ENOMEM. Pure. */
int authkey_options_parse(const char *opts, authkey_line *line, const char **why, const char **where);
/* expiry-time values as misc.c parse_absolute_time: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, local time
 * (the TZ of this process, as sshd's) unless followed by Z or UTC. -EINVAL otherwise. */
int authkey_parse_time(const char *s, uint64_t *ret);
/* A from= pattern list as addrmatch.c addr_match_list checks it: an empty entry, or an address whose mask
 * is too long or leaves host bits set, makes sshd refuse every login with the key. 0, or -EINVAL with
 * *bad the offending entry (a pointer into a copy the caller frees with free(*bad)). */
int authkey_from_check(const char *list, char **bad);

/* Checks a key as sshkey_read does (type word known, blob is base64, its type and curve match the word,
 * its fields parse, nothing trails) and computes the fingerprint ssh-keygen prints. 0 and *fingerprint
 * (malloc'ed), -EINVAL with *why, -ENOMEM. */
int authkey_blob_check(const char *type, const char *b64, char **fingerprint, const char **why);
/* True when word is a key type name sshd knows (case-sensitive, as sshkey_read). */
bool authkey_type_known(const char *word, size_t len);

void authkey_line_done(authkey_line *line);
