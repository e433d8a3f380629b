/* The host's CPU pressure (PSI, /proc/pressure/cpu): how long some runnable task waited for a CPU. A probe
 * that timed out while the host was starved says little about the tunnel: decide() weighs it so. */
#pragma once

#include "../monitor/base/macro.h"

/* "some avg10=... avg60=... avg300=... total=N" -> N (microseconds, cumulative). Pure. -EINVAL if absent. */
int psi_parse_some_total(const char *text, uint64_t *ret);
/* The running total now; -errno when the kernel has no PSI (CONFIG_PSI off, psi=0, no /proc/pressure). */
int psi_cpu_some_total(uint64_t *ret);
/* The share (0..1) of the wall time between two looks that some task waited for a CPU; -1 when unknown. */
double psi_share(uint64_t total_a, uint64_t total_b, usec_t wall);
