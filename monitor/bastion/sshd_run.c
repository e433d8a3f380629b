#include <sys/wait.h>

#include "../base/capture.h"
#include "sshd_run.h"

int sshd_run(const char *binary, const char *config, const char *spec, sshd_settings *ret, char *err,
             size_t errlen) {
        char *argv[] = { (char *) binary, (char *) "-T", (char *) "-f", (char *) config, spec ? (char *) "-C" : NULL,
                         (char *) spec, NULL };
        _cleanup_(capture_done) capture c = {};

        int r = capture_run(argv, NULL, SSHD_SETTINGS_MAX, SSHD_RUN_TIMEOUT, &c);
        if (r == -ETIMEDOUT)
                return set_err(err, errlen, r, "%s -T -f %s: no answer within %llu s", binary, config,
                               (unsigned long long) (SSHD_RUN_TIMEOUT / USEC_PER_SEC));
        if (r == -EFBIG)
                return set_err(err, errlen, r, "%s -T -f %s: more than %d bytes of output", binary, config,
                               SSHD_SETTINGS_MAX);
        if (r < 0)
                return set_err(err, errlen, r, "%s -T -f %s: %s", binary, config, strerror(-r));
        if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
                c.err[strcspn(c.err, "\r\n")] = 0;
                _cleanup_(freep) char *why = escape_control(c.err);
                if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127)
                        return set_err(err, errlen, -ENOENT, "%s: cannot run it (%s)", binary, strna(why));
                return set_err(err, errlen, -EBADMSG, "%s -T -f %s failed: %s", binary, config,
                               isempty_str(why) ? "no reason given" : why);
        }
        return sshd_settings_parse(c.out, c.out_len, ret, err, errlen);
}
