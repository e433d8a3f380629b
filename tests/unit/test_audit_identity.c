/* The audit's look at identity files a resolution names: as the unit's user, never with root's reach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sys/stat.h>

#include "../../monitor/host_audit.h"
#include "test_files.h"

/* A key in a 0700 directory of root's: root sees its mode; nobody, who named it in its ssh_config, must
 * learn nothing of it (before, the audit stat()ed it as root and reported "mode 0644" for nobody's unit). */
static void test_identity_seen_as_the_user(void **state) {
        run_identity nobody, root;

        if (geteuid() != 0)
                fail_msg("needs root (a file-system identity switch)");
        assert_int_equal(run_identity_for_user("nobody", &nobody), 0);
        assert_int_equal(run_identity_for_user("root", &root), 0);
        assert_int_equal(chmod(test_dir, 0700), 0);
        const char *key = test_write("id_root", "k", 1);
        assert_int_equal(chmod(key, 0644), 0);

        assert_int_equal(host_audit_identity_mode(NULL, key), S_IFREG | 0644);
        assert_int_equal(host_audit_identity_mode(&root, key), S_IFREG | 0644);
        mode_t m = host_audit_identity_mode(&nobody, key);
        if (m != (mode_t) -1)
                fail_msg("as nobody: mode %04o of a file in root's 0700 directory", (unsigned) (m & 07777));
        /* The same file where nobody can reach it: seen, and the switch was undone (root sees the first). */
        assert_int_equal(chmod(test_dir, 0711), 0);
        assert_int_equal(host_audit_identity_mode(&nobody, key), S_IFREG | 0644);
        assert_int_equal(chmod(test_dir, 0700), 0);
        assert_int_equal(host_audit_identity_mode(NULL, key), S_IFREG | 0644);
        /* ssh's %-tokens are not expanded here: not looked at. */
        assert_int_equal(host_audit_identity_mode(NULL, "%d/.ssh/id"), (mode_t) -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identity_seen_as_the_user),
        };
        return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
