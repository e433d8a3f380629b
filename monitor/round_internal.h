/* What round.c (setup, reports) and round_sweep.c (probing, the guard, healing) share. */
#pragma once

#include "round.h"

/* Connects the monitor's probe, restart and resolution callbacks to the driver (round_sweep.c). */
void round_listen(round *r);
