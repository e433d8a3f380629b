/* The output of `status` and `check`: a table for people, --json for scripts (contract.md). */
#pragma once

#include <stdio.h>

#include "monitor.h"

void status_print(const monitor *m, bool json, FILE *f);
