/* libcurl's multi interface driven by an sd-event loop: each socket curl watches is an io source, its
 * timer a time source (the shape of systemd's src/import/curl-util.c). libcurl must be loaded
 * (curl_dl_open()) and initialised first. */
#pragma once

#include <systemd/sd-event.h>

#include "curl_dl.h"

typedef struct curl_event curl_event;

/* Called after curl did work on a socket or timeout: the owner reads curl_multi_info_read() then. */
typedef void (*curl_event_progress_t)(void *userdata);

/* name: for log lines ("Alert receiver NAME: ..."). -ENOMEM, -EIO (curl refused an option). */
int curl_event_new(sd_event *e, const char *name, curl_event_progress_t progress, void *userdata,
                   curl_event **ret);
CURLM *curl_event_multi(curl_event *c);
/* Cleans the multi handle up (easy handles must be removed first), then its event sources. */
curl_event *curl_event_free(curl_event *c);
