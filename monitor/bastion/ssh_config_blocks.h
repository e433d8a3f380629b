/* `bastion ssh-config`: the operator's ~/.ssh/config blocks, one per host with an ssh port, so nobody
 * types ports. Pure. */
#pragma once

#include "ports.h"

/* "Host NAME / HostName localhost / Port N / ProxyJump BASTION" per host, sorted by NAME. A name is the
 * key's comment when it is made of [A-Za-z0-9._-] and does not start with '-' or '.'; any other byte
 * (space, '*', '?', '!', '#', '"', '%', ',', control characters, UTF-8) becomes '_', so a comment can
 * never add a pattern, a second name or a directive to the Host line, and the block then says in a
 * comment line (control characters escaped) which key comment it came from. Two lines with the same name
 * give one block (the first by file and line; the others' ports noted in its comment). Lines without a
 * comment or without an ssh port are left out. bastion is the ProxyJump value ([user@]host[:port][,...]);
 * -EINVAL when it is empty or holds anything else than [A-Za-z0-9._@:,[]-]. -ENOMEM. */
int ssh_config_blocks(const port_table *ports, const char *bastion, char **ret);
/* The Host name a key comment gets (see above); NULL on out of memory. */
char *ssh_config_host_name(const char *comment);
