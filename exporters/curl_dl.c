/* dlopen() of libcurl; see curl_dl.h. */
#include <dlfcn.h>

#define CURL_DL_NO_REDIRECT 1
#include "../monitor/base/log.h"
#include "curl_dl.h"

#define CURL_DL_DEFINE(name) __typeof__(name) *sym_##name;
CURL_DL_SYMBOLS(CURL_DL_DEFINE)
#undef CURL_DL_DEFINE

int curl_dl_open(void) {
        static void *handle;
        static int cached;

        if (handle || cached < 0)
                return cached;
        void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NODELETE);
        if (!h) {
                log_error("Alerts need libcurl (Debian package libcurl4): %s", dlerror());
                return (cached = -EOPNOTSUPP);
        }
#define CURL_DL_LOAD(name)                                                                  \
        if (!(sym_##name = (__typeof__(name) *) dlsym(h, #name))) {                         \
                log_error("libcurl.so.4 lacks %s (libcurl 7.83 or newer needed)", #name);  \
                dlclose(h);                                                                 \
                return (cached = -EOPNOTSUPP);                                              \
        }
        CURL_DL_SYMBOLS(CURL_DL_LOAD)
#undef CURL_DL_LOAD
        handle = h;
        return 0;
}
