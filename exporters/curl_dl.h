/* libcurl, loaded with dlopen() when the first alert receiver is set up, like systemd loads its optional
 * libraries: a monitor without [alert] sections never maps libcurl and its TLS stack (~3 MiB of RSS). */
#pragma once

#define CURL_DISABLE_TYPECHECK 1 /* its macros would hide the redirections below */
#include <curl/curl.h>

/* 0 once loaded; -EOPNOTSUPP (logged) when libcurl.so.4 or a symbol is missing. */
int curl_dl_open(void);

#define CURL_DL_SYMBOLS(X) \
        X(curl_easy_cleanup) X(curl_easy_getinfo) X(curl_easy_header) X(curl_easy_init) X(curl_easy_setopt) \
        X(curl_easy_strerror) X(curl_getdate) X(curl_global_cleanup) X(curl_global_init) \
        X(curl_multi_add_handle) X(curl_multi_assign) X(curl_multi_cleanup) X(curl_multi_info_read) \
        X(curl_multi_init) X(curl_multi_remove_handle) X(curl_multi_setopt) X(curl_multi_socket_action) \
        X(curl_slist_append) X(curl_slist_free_all)

#define CURL_DL_DECLARE(name) extern __typeof__(name) *sym_##name;
CURL_DL_SYMBOLS(CURL_DL_DECLARE)
#undef CURL_DL_DECLARE

#ifndef CURL_DL_NO_REDIRECT
/* curl.h wraps these three in same-named macros (argument checking): replace them. */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_multi_setopt
#define curl_easy_cleanup sym_curl_easy_cleanup
#define curl_easy_getinfo sym_curl_easy_getinfo
#define curl_easy_header sym_curl_easy_header
#define curl_easy_init sym_curl_easy_init
#define curl_easy_setopt sym_curl_easy_setopt
#define curl_easy_strerror sym_curl_easy_strerror
#define curl_getdate sym_curl_getdate
#define curl_global_cleanup sym_curl_global_cleanup
#define curl_global_init sym_curl_global_init
#define curl_multi_add_handle sym_curl_multi_add_handle
#define curl_multi_assign sym_curl_multi_assign
#define curl_multi_cleanup sym_curl_multi_cleanup
#define curl_multi_info_read sym_curl_multi_info_read
#define curl_multi_init sym_curl_multi_init
#define curl_multi_remove_handle sym_curl_multi_remove_handle
#define curl_multi_setopt sym_curl_multi_setopt
#define curl_multi_socket_action sym_curl_multi_socket_action
#define curl_slist_append sym_curl_slist_append
#define curl_slist_free_all sym_curl_slist_free_all
#endif
