/* The configuration loader's messages: "FILE:LINE: what" or "--section.key: what" on stderr. */
#pragma once

#include "config_loader.h"

/* Print "FILE:LINE: what" (or "--section.key: what") and mark the load failed; return -EINVAL. */
_printf_(3, 4) int config_fail_at(loader *l, origin o, const char *fmt, ...);
/* The same for the value being applied, naming its key: "invalid duration "x" for monitor.timeout". */
_printf_(3, 4) int config_fail_value(loader *l, const char *why, const char *fmt, ...);
