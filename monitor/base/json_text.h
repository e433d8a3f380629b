/* Text from files and peers into JSON: jansson refuses invalid UTF-8, and a host name or a reason is
 * whatever bytes someone wrote. */
#pragma once

#include <jansson.h>

/* A JSON string of s with each byte of invalid UTF-8 as '?'; NULL s is JSON null. NULL on out of memory. */
json_t *json_string_lossy(const char *s);
