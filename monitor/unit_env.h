/* A unit's ExecStart as systemd runs it: Environment= and EnvironmentFile= variables substituted, since
 * D-Bus reports the command line with "${VAR}" still in it. */
#pragma once

#include "base/macro.h"

/* Bigger EnvironmentFiles are refused: such a file is not a unit's settings. */
#define UNIT_ENV_FILE_MAX (1024 * 1024)

/* Reads an EnvironmentFile (KEY=VALUE lines, '#'/';' comments, optional quotes) and appends to *env
 * (later assignments win when looked up). -errno when unreadable; -EBADFD when not a regular file, -EFBIG
 * when larger than UNIT_ENV_FILE_MAX (read_file_strerror() names them). */
int unit_env_read_file(const char *path, char ***env);
/* Parses one file's text; pure. */
int unit_env_parse(const char *text, char ***env);
/* systemd's rules: "${VAR}" is replaced inside a word; "$VAR" as a whole word is split on whitespace
 * into several arguments; "$$" is a literal "$". Unknown variables expand to nothing. */
int unit_argv_expand(char *const *argv, char *const *env, char ***ret);
