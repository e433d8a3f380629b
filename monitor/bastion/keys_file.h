/* Where sshd looks for a user's authorized_keys: AuthorizedKeysFile (as `sshd -T` prints it) with its
 * tokens expanded the way sshd does (auth.c expand_authorized_keys, misc.c percent_expand). Pure. */
#pragma once

#include "../base/macro.h"

/* One pattern: %% a '%', %h home, %u user name, %U numeric uid; any other %x, or a '%' at the end, is
 * -EINVAL (sshd exits on those). A result that is not absolute is taken relative to home, as sshd does.
 * -ENAMETOOLONG at PATH_MAX or more. */
int authorized_keys_path(const char *pattern, const char *user, const char *home, uid_t uid, char **ret);
/* The whole value: blank-separated patterns, each expanded; "none" (any case) gives an empty list. */
int authorized_keys_paths(const char *value, const char *user, const char *home, uid_t uid, char ***ret);
