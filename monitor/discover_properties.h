/* The properties discovery reads from a GetAll reply, as a {name, signature, reader, offset} map. */
#pragma once

#include <systemd/sd-bus.h>

#include "discover.h"

/* The a{sv} of a GetAll reply into u: the properties of the map, others skipped. A property of another
 * type than the map says is an error (-ENXIO, from sd-bus). Does not log. */
int unit_info_read_properties(sd_bus_message *reply, unit_info *u);
