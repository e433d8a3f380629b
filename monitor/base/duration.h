/* Durations of the config: "250ms", "10s", "5m", "1h", "1d", combined like "1m30s". Strict. */
#pragma once

#include "macro.h"

/* Returns 0 and the value, or -EINVAL for anything else (empty, no unit, unknown unit, overflow,
 * negative, spaces inside). A bare "0" is accepted as zero. Units: us, ms, s, m (or min), h, d. */
int parse_duration(const char *s, usec_t *ret);
/* Formats like "1m30s", "250ms", "0"; returns buf. */
char *format_duration(char *buf, size_t size, usec_t d);
