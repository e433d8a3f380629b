/* The node_exporter textfile collector's file, replaced atomically. */
#pragma once

#include <stddef.h>

/* Writes data to PATH.tmp.XXXXXX in the same directory (mode 0644), fsyncs it, renames it over path
 * and fsyncs the directory: readers see the old or the new file, never a partial one.
 * Logs failures; returns 0 or a negative errno. */
int textfile_write(const char *path, const char *data, size_t len);
