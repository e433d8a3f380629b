/* `sshd -T`: sshd's own word on its effective settings, as `ssh -G` is on the host side. Run once per
 * look (a command, or the daemon's start and a change of the sshd_config), never per probe. */
#pragma once

#include "sshd_settings.h"

#define SSHD_BINARY "/usr/sbin/sshd"
#define SSHD_RUN_TIMEOUT (10 * USEC_PER_SEC)

/* `sshd -T -f config [-C spec]` (spec as "user=NAME,host=localhost,addr=127.0.0.1": Match blocks apply as
 * for that login), parsed. -ETIMEDOUT, -EBADMSG (sshd refused the file: err holds its first line of
 * complaint), -ENOENT (no sshd), or the parser's errors; err says what in words. */
int sshd_run(const char *binary, const char *config, const char *spec, sshd_settings *ret, char *err,
             size_t errlen);
