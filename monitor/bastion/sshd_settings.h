/* sshd's effective settings as `sshd -T` prints them ("key value" per line): what the
 * audit checks and where AuthorizedKeysFile is found. No sshd_config parser of our own. */
#pragma once

#include "../base/macro.h"

/* sshd -T prints about 5 KiB; the caps keep the wrong program's output from filling the monitor. */
#define SSHD_SETTINGS_MAX (1024 * 1024)
#define SSHD_SETTINGS_LINE_MAX (64 * 1024)
#define SSHD_SETTINGS_ENTRIES_MAX 4096

typedef struct sshd_setting {
        char *key;   /* [a-z0-9]+: lowercased ("PermitListen" as newer sshd prints it is "permitlisten") */
        char *value; /* the rest of the line, trailing blanks gone; may be "" */
} sshd_setting;

typedef struct sshd_settings {
        sshd_setting *entries; /* in output order; a key may repeat (hostkey, subsystem, ...) */
        size_t n;
} sshd_settings;

/* Parses the output. -EFBIG over SSHD_SETTINGS_MAX, -E2BIG over SSHD_SETTINGS_ENTRIES_MAX lines,
 * -EBADMSG for a NUL byte, a line over SSHD_SETTINGS_LINE_MAX or a key that is not [A-Za-z0-9]+ (err says
 * which line; may be NULL), -ENOMEM. Blank lines are skipped. Pure. */
int sshd_settings_parse(const char *data, size_t size, sshd_settings *ret, char *err, size_t errlen);
void sshd_settings_done(sshd_settings *s);
/* The first value of key, or NULL. */
const char *sshd_settings_get(const sshd_settings *s, const char *key);
