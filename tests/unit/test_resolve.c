/* Tests of resolve_parse.c and resolve.c: the ssh -G parser on OpenSSH 9.2's exact output, and ssh -G run for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>
#include <dirent.h>

#include "../../monitor/monitor.h"
#include "../../monitor/resolve.h"

/* The seed unit's argv, as `ssh -G` (OpenSSH 9.2) prints it, trimmed of the long algorithm lists. */
static const char seed_output[] =
        "host bastion.example.com\n"
        "user reverse-ssh\n"
        "hostname bastion.example.com\n"
        "port 22\n"
        "controlmaster auto\n"
        "clearallforwardings no\n"
        "exitonforwardfailure yes\n"
        "stricthostkeychecking ask\n"
        "forwardx11timeout 1200\n"
        "controlpath /run/reverse-ssh/x/ctl\n"
        "hostkeyalgorithms ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,rsa-sha2-512\n"
        "remoteforward [localhost]:21022 [localhost]:22\n"
        "identityfile /etc/ssh/ssh_host_ed25519_key\n"
        "globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2\n"
        "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n"
        "forwardagent no\n"
        "controlpersist no\n";

static char *const seed_argv[] = {
        (char *) "/usr/bin/ssh", (char *) "-N", (char *) "-T", (char *) "-o", (char *) "ServerAliveInterval=60",
        (char *) "-o", (char *) "ExitOnForwardFailure=yes", (char *) "-o", (char *) "ControlMaster=auto",
        (char *) "-o", (char *) "ControlPath=/run/reverse-ssh/x/ctl", (char *) "-i",
        (char *) "/etc/ssh/ssh_host_ed25519_key", (char *) "-R", (char *) "localhost:21022:localhost:22",
        (char *) "reverse-ssh@bastion.example.com", NULL,
};

static void assert_seed(const ssh_resolved *r) {
        assert_string_equal(r->hostname, "bastion.example.com");
        assert_int_equal(r->port, 22);
        assert_string_equal(r->user, "reverse-ssh");
        assert_string_equal(r->bastion, "bastion.example.com");
        assert_non_null(r->identity_files);
        assert_string_equal(r->identity_files[0], "/etc/ssh/ssh_host_ed25519_key");
        assert_null(r->identity_files[1]);
        assert_string_equal(r->control_path, "/run/reverse-ssh/x/ctl");
        assert_string_equal(r->control_master, "auto");
        assert_null(r->proxy_jump);
        assert_null(r->proxy_command);
        assert_null(r->host_key_alias);
        assert_string_equal(r->strict_host_key_checking, "ask");
        assert_string_equal(r->user_known_hosts_file, "/root/.ssh/known_hosts /root/.ssh/known_hosts2");
        assert_string_equal(r->global_known_hosts_file, "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2");
        assert_int_equal(r->n_forwards, 1);
        assert_string_equal(r->forwards[0].listen_host, "localhost");
        assert_int_equal(r->forwards[0].listen_port, 21022);
        assert_string_equal(r->forwards[0].target, "[localhost]:22");
}

static void test_parse_seed(void **state) {
        ssh_resolved r = {};
        char err[256] = "";
        assert_int_equal(ssh_resolved_parse(seed_output, &r, err, sizeof(err)), 0);
        assert_seed(&r);
        ssh_resolved_done(&r);
        assert_null(r.hostname);
        assert_int_equal(r.n_forwards, 0);
}

/* One remoteforward line each: what is kept (host, port, target), or skipped (host NULL). */
static const struct {
        const char *line;
        const char *host;
        uint16_t port;
        const char *target;
} forward_cases[] = {
        { "remoteforward [localhost]:21022 [localhost]:22", "localhost", 21022, "[localhost]:22" },
        { "remoteforward 21080 [localhost]:80", "localhost", 21080, "[localhost]:80" },
        { "remoteforward [::1]:2323 [::1]:23", "::1", 2323, "[::1]:23" },
        { "remoteforward [127.0.0.1]:5000 /run/sock", "127.0.0.1", 5000, "/run/sock" },
        { "remoteforward [*]:21023 [localhost]:22", "localhost", 21023, "[localhost]:22" },
        { "remoteforward []:21024 [localhost]:22", "localhost", 21024, "[localhost]:22" },
        { "remoteforward [0.0.0.0]:6000 [localhost]:22", "0.0.0.0", 6000, "[localhost]:22" },
        { "remoteforward 8080 [socks]:0", "localhost", 8080, "[socks]:0" },
        { "remoteforward 65535 [localhost]:22", "localhost", 65535, "[localhost]:22" },
        { "remoteforward /path/sock [localhost]:22", NULL, 0, NULL },
        { "remoteforward 0 [localhost]:22", NULL, 0, NULL },
        { "remoteforward [localhost]:0 [localhost]:22", NULL, 0, NULL },
        { "localforward 3000 [localhost]:22", NULL, 0, NULL },
        { "dynamicforward 1080", NULL, 0, NULL },
};

static void test_parse_forward_table(void **state) {
        for (size_t i = 0; i < sizeof(forward_cases) / sizeof(forward_cases[0]); i++) {
                char text[512], err[256] = "";
                ssh_resolved r = {};
                snprintf(text, sizeof(text), "hostname b\nport 22\n%s\n", forward_cases[i].line);
                print_message("case: %s\n", forward_cases[i].line);
                assert_int_equal(ssh_resolved_parse(text, &r, err, sizeof(err)), 0);
                if (!forward_cases[i].host) {
                        assert_int_equal(r.n_forwards, 0);
                        assert_null(ssh_resolved_find_forward(&r, NULL));
                } else {
                        assert_int_equal(r.n_forwards, 1);
                        assert_string_equal(r.forwards[0].listen_host, forward_cases[i].host);
                        assert_int_equal(r.forwards[0].listen_port, forward_cases[i].port);
                        assert_string_equal(r.forwards[0].target, forward_cases[i].target);
                }
                ssh_resolved_done(&r);
        }
}

static void test_parse_many_forwards(void **state) {
        static const char text[] =
                "host h\nuser root\nhostname h\nport 22\ncontrolmaster false\n"
                "dynamicforward 1080\n"
                "localforward 3000 [localhost]:22\n"
                "remoteforward 21022 [localhost]:22\n"
                "remoteforward [*]:21023 [localhost]:22\n"
                "remoteforward 0 [localhost]:22\n"
                "remoteforward /path/sock [localhost]:22\n"
                "remoteforward [::1]:2323 [::1]:23\n"
                "remoteforward [127.0.0.1]:5000 /run/sock\n"
                "localforward [127.0.0.1]:4000 [localhost]:22\n";
        ssh_resolved r = {};
        char err[256] = "", buf[64];
        assert_int_equal(ssh_resolved_parse(text, &r, err, sizeof(err)), 0);
        assert_int_equal(r.n_forwards, 4);
        assert_string_equal(ssh_forward_format(&r.forwards[0], buf, sizeof(buf)), "localhost:21022");
        assert_string_equal(ssh_forward_format(&r.forwards[1], buf, sizeof(buf)), "localhost:21023");
        assert_string_equal(ssh_forward_format(&r.forwards[2], buf, sizeof(buf)), "[::1]:2323");
        assert_string_equal(ssh_forward_format(&r.forwards[3], buf, sizeof(buf)), "127.0.0.1:5000");
        assert_null(r.control_path); /* ssh -G omits controlpath when it is none */
        assert_null(r.identity_files);
        ssh_resolved_done(&r);
}

static void test_parse_ipv6_and_port(void **state) {
        static const char text[] =
                "host ::1\nuser root\nhostname ::1\nport 2222\nhostkeyalias foo\n"
                "controlpath /root/root@::1\nproxyjump jump@j:23\n"
                "identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ecdsa\nidentityfile ~/.ssh/id_ed25519\n";
        ssh_resolved r = {};
        assert_int_equal(ssh_resolved_parse(text, &r, NULL, 0), 0);
        assert_string_equal(r.bastion, "[::1]:2222");
        assert_int_equal(r.port, 2222);
        assert_string_equal(r.host_key_alias, "foo");
        assert_string_equal(r.proxy_jump, "jump@j:23");
        assert_int_equal(strv_length(r.identity_files), 3);
        assert_string_equal(r.identity_files[2], "~/.ssh/id_ed25519");
        ssh_resolved_done(&r);

        assert_int_equal(ssh_resolved_parse("hostname b.example\nport 2200\n", &r, NULL, 0), 0);
        assert_string_equal(r.bastion, "b.example:2200");
        ssh_resolved_done(&r);
        assert_int_equal(ssh_resolved_parse("hostname ::1\nport 22\n", &r, NULL, 0), 0);
        assert_string_equal(r.bastion, "::1");
        ssh_resolved_done(&r);
}

static void test_parse_case_and_none(void **state) {
        static const char text[] =
                "HostName Bastion.Example.COM\r\n"
                "PORT 2022\r\n"
                "ControlPath NONE\r\n"
                "proxyjump none\n"
                "ProxyCommand None\n"
                "IdentityFile /k\n"
                "REMOTEFORWARD [LocalHost]:21022 [localhost]:22  \n"
                "  \n\n";
        ssh_resolved r = {};
        char buf[64];
        assert_int_equal(ssh_resolved_parse(text, &r, NULL, 0), 0);
        assert_string_equal(r.hostname, "Bastion.Example.COM");
        assert_int_equal(r.port, 2022);
        assert_null(r.control_path);
        assert_null(r.proxy_jump);
        assert_null(r.proxy_command);
        assert_string_equal(r.identity_files[0], "/k");
        assert_int_equal(r.n_forwards, 1);
        assert_string_equal(r.forwards[0].target, "[localhost]:22");
        assert_non_null(ssh_resolved_find_forward(&r, "localhost:21022"));
        assert_string_equal(ssh_forward_format(&r.forwards[0], buf, sizeof(buf)), "LocalHost:21022");
        ssh_resolved_done(&r);

        assert_int_equal(ssh_resolved_parse("hostname h\nproxycommand nc %h %p\n", &r, NULL, 0), 0);
        assert_string_equal(r.proxy_command, "nc %h %p");
        assert_int_equal(r.port, 22); /* absent port: ssh's default */
        ssh_resolved_done(&r);
}

/* Malformed inputs: every one must be -EINVAL with a message, and leave ret untouched. */
static const struct {
        const char *text;
        const char *err_contains;
} bad_cases[] = {
        { "", "no hostname" },
        { "user root\nport 22\n", "no hostname" },
        { "hostname\nport 22\n", "no hostname" },
        { "hostname h\nport 0\n", "Bad port" },
        { "hostname h\nport 65536\n", "Bad port" },
        { "hostname h\nport 22x\n", "Bad port" },
        { "hostname h\nport -22\n", "Bad port" },
        { "hostname h\nport +22\n", "Bad port" },
        { "hostname h\nport 99999999999999999999999\n", "Bad port" },
        { "hostname h\nremoteforward [localhost]:70000 [localhost]:22\n", "Bad port" },
        { "hostname h\nremoteforward 21x [localhost]:22\n", "Malformed" },
        { "hostname h\nremoteforward [localhost:21022 [localhost]:22\n", "Malformed" },
        { "hostname h\nremoteforward [localhost]:-1 [localhost]:22\n", "Bad port" },
        { "hostname h\nremoteforward 21022\n", "Malformed" },
        { "hostname h\nremoteforward {::1]:2323 [::1]:23\n", "Malformed" },
        { "hostname h\nremoteforward [[::1]:2323 [::1]:23\n", "Malformed" },
};

static void test_parse_bad(void **state) {
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                ssh_resolved r = { .port = 4242 };
                char err[256] = "";
                print_message("bad case %zu\n", i);
                assert_int_equal(ssh_resolved_parse(bad_cases[i].text, &r, err, sizeof(err)), -EINVAL);
                assert_non_null(strstr(err, bad_cases[i].err_contains));
                assert_int_equal(r.port, 4242);
                assert_null(r.hostname);
        }
        assert_int_equal(ssh_resolved_parse(NULL, &(ssh_resolved) {}, NULL, 0), -EINVAL);
}

static void test_find_and_format(void **state) {
        static const char text[] =
                "hostname h\n"
                "remoteforward [localhost]:21022 [localhost]:22\n"
                "remoteforward 21080 [localhost]:80\n"
                "remoteforward [::1]:2323 [::1]:23\n"
                "remoteforward [127.0.0.1]:21080 [localhost]:81\n";
        ssh_resolved r = {};
        char buf[64];
        assert_int_equal(ssh_resolved_parse(text, &r, NULL, 0), 0);
        assert_ptr_equal(ssh_resolved_find_forward(&r, NULL), &r.forwards[0]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "localhost:21022"), &r.forwards[0]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "21022"), &r.forwards[0]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "[localhost]:21022"), &r.forwards[0]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "[::1]:2323"), &r.forwards[2]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "2323"), &r.forwards[2]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "21080"), &r.forwards[1]);
        assert_ptr_equal(ssh_resolved_find_forward(&r, "127.0.0.1:21080"), &r.forwards[3]);
        assert_null(ssh_resolved_find_forward(&r, "127.0.0.1:21022"));
        assert_null(ssh_resolved_find_forward(&r, "9999"));
        assert_null(ssh_resolved_find_forward(&r, "localhost:"));
        assert_null(ssh_resolved_find_forward(&r, "[::1:2323"));
        assert_null(ssh_resolved_find_forward(&r, "abc"));
        assert_null(ssh_resolved_find_forward(&r, ""));

        assert_string_equal(ssh_forward_format(&r.forwards[0], buf, sizeof(buf)), "localhost:21022");
        assert_string_equal(ssh_forward_format(&r.forwards[2], buf, sizeof(buf)), "[::1]:2323");
        assert_string_equal(ssh_forward_format(&r.forwards[0], buf, 6), "local"); /* truncated, terminated */
        assert_string_equal(ssh_forward_format(NULL, buf, sizeof(buf)), "");
        ssh_resolved_done(&r);

        ssh_resolved empty = {};
        assert_null(ssh_resolved_find_forward(&empty, NULL));
        assert_null(ssh_resolved_find_forward(NULL, "21022"));
        ssh_resolved_done(&empty);
        ssh_resolved_done(&empty);
        ssh_resolved_done(NULL);
}

static void assert_str_or_null_equal(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_resolved_equal(const ssh_resolved *a, const ssh_resolved *b) {
        assert_str_or_null_equal(a->hostname, b->hostname);
        assert_int_equal(a->port, b->port);
        assert_str_or_null_equal(a->user, b->user);
        assert_int_equal(strv_length(a->identity_files), strv_length(b->identity_files));
        for (size_t i = 0; i < strv_length(a->identity_files); i++)
                assert_string_equal(a->identity_files[i], b->identity_files[i]);
        assert_str_or_null_equal(a->control_path, b->control_path);
        assert_str_or_null_equal(a->control_master, b->control_master);
        assert_str_or_null_equal(a->proxy_jump, b->proxy_jump);
        assert_str_or_null_equal(a->proxy_command, b->proxy_command);
        assert_str_or_null_equal(a->host_key_alias, b->host_key_alias);
        assert_str_or_null_equal(a->user_known_hosts_file, b->user_known_hosts_file);
        assert_str_or_null_equal(a->global_known_hosts_file, b->global_known_hosts_file);
        assert_str_or_null_equal(a->strict_host_key_checking, b->strict_host_key_checking);
        assert_string_equal(a->bastion, b->bastion);
        assert_int_equal(a->n_forwards, b->n_forwards);
        for (size_t i = 0; i < a->n_forwards; i++) {
                assert_string_equal(a->forwards[i].listen_host, b->forwards[i].listen_host);
                assert_int_equal(a->forwards[i].listen_port, b->forwards[i].listen_port);
                assert_string_equal(a->forwards[i].target, b->forwards[i].target);
        }
}

/* What the state file keeps: format() then parse() gives the same resolution back. */
static void round_trip(const char *text) {
        ssh_resolved a = {}, b = {};
        char *formatted = NULL;

        assert_int_equal(ssh_resolved_parse(text, &a, NULL, 0), 0);
        assert_int_equal(ssh_resolved_format(&a, &formatted), 0);
        if (ssh_resolved_parse(formatted, &b, NULL, 0) != 0)
                fail_msg("formatted text does not parse:\n%s", formatted);
        assert_resolved_equal(&a, &b);
        free(formatted);
        ssh_resolved_done(&a);
        ssh_resolved_done(&b);
}

static void test_format_round_trip(void **state) {
        char *formatted = NULL;
        ssh_resolved r = {};

        round_trip(seed_output);
        round_trip("host ::1\nuser root\nhostname ::1\nport 2222\nhostkeyalias foo\ncontrolpath none\n"
                   "proxyjump jump@j:23\nproxycommand ssh -W %h:%p j\nidentityfile ~/.ssh/id_rsa\n"
                   "identityfile ~/.ssh/id_ed25519\nuserknownhostsfile none\n");
        for (size_t i = 0; i < sizeof(forward_cases) / sizeof(forward_cases[0]); i++) {
                char text[512];
                snprintf(text, sizeof(text), "hostname b\nport 22\n%s\nremoteforward 9 [x]:1\n", forward_cases[i].line);
                round_trip(text);
        }
        /* The seed, formatted: only the fields kept, the forward with its listen host. */
        assert_int_equal(ssh_resolved_parse(seed_output, &r, NULL, 0), 0);
        assert_int_equal(ssh_resolved_format(&r, &formatted), 0);
        assert_non_null(strstr(formatted, "hostname bastion.example.com\n"));
        assert_non_null(strstr(formatted, "remoteforward [localhost]:21022 [localhost]:22\n"));
        assert_null(strstr(formatted, "hostkeyalgorithms"));
        free(formatted);
        ssh_resolved_done(&r);
}

/* ssh -G as the unit's User=: ssh's default login name is then that user's (root runs the tests). */
static void test_exec_as_user(void **state) {
        static char *const argv[] = { (char *) "ssh", (char *) "-N", (char *) "-R", (char *) "21022:localhost:22",
                                      (char *) "bastion.example.com", NULL };
        static const struct {
                const char *user; /* unit's User= */
                const char *expect; /* ssh -G's "user" */
                int r;
        } t[] = {
                { NULL, "root", 0 }, { "", "root", 0 }, { "root", "root", 0 }, { "nobody", "nobody", 0 },
                { "no-such-user-rtun", NULL, -ESRCH },
        };

        if (geteuid() != 0)
                fail_msg("needs root (User= is only honoured when running as root)");
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                ssh_resolve_job *j = NULL;
                ssh_resolved r = {};
                run_identity as;
                char err[256] = "";
                int k = run_identity_for_user(t[i].user, &as);
                if (k == 0)
                        k = ssh_resolve_start_as("/usr/bin/ssh", argv, &as, &j, err, sizeof err);
                if (k != t[i].r)
                        fail_msg("User=%s: %d (%s), want %d", strna(t[i].user), k, err, t[i].r);
                if (k < 0)
                        continue;
                assert_int_equal(ssh_resolve_finish(j, now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC, &r, err, sizeof err), 0);
                assert_string_equal(r.user, t[i].expect);
                ssh_resolved_done(&r);
        }
}

/* `ssh -G` runs as the unit's user (its Match exec and ~/.ssh/config are that user's) and holds fds 0-2 only,
 * even when we hold fds without close-on-exec (libcurl's sockets). A stand-in ssh records both, then runs
 * the real one; `sh -c` keeps no script fd open, so its /proc/$$/fd is what it inherited. */
static void test_exec_child_identity_and_fds(void **state) {
        static char *const argv[] = { (char *) "ssh", (char *) "-N", (char *) "-R", (char *) "21022:localhost:22",
                                      (char *) "bastion.example.com", NULL };
        char dir[] = "/tmp/test-resolve-XXXXXX", bin[64], path[96], text[128];
        run_identity nobody;

        if (geteuid() != 0)
                fail_msg("needs root (a switch to the unit's user is only possible as root)");
        assert_int_equal(run_identity_for_user("nobody", &nobody), 0);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(chmod(dir, 0777), 0);
        (void) snprintf(bin, sizeof bin, "%s/ssh", dir);
        FILE *f = fopen(bin, "we");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\nexec /bin/sh -c 'ls /proc/$$/fd | sort -n > \"$0.fds\" 2>&1; "
                   "id -u > \"$0.uid\"; exec /usr/bin/ssh \"$@\"' \"${0%%/*}/self\" \"$@\"\n");
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(bin, 0755), 0);

        int leaky_sock = socket(AF_INET, SOCK_STREAM, 0), leaky_file = open("/dev/null", O_RDONLY);
        assert_true(leaky_sock >= 0 && leaky_file >= 0);

        const run_identity *as[] = { NULL, &nobody };
        for (size_t i = 0; i < ELEMENTSOF(as); i++) {
                ssh_resolve_job *j = NULL;
                ssh_resolved r = {};
                char err[256] = "";

                assert_int_equal(ssh_resolve_start_as(bin, argv, as[i], &j, err, sizeof err), 0);
                if (ssh_resolve_finish(j, now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC, &r, err, sizeof err) < 0)
                        fail_msg("as %s: %s", as[i] ? as[i]->name : "root", err);
                assert_string_equal(r.user, as[i] ? "nobody" : "root");
                ssh_resolved_done(&r);

                (void) snprintf(path, sizeof path, "%s/self.fds", dir);
                f = fopen(path, "re");
                assert_non_null(f);
                size_t n = fread(text, 1, sizeof text - 1, f);
                text[n] = 0;
                fclose(f);
                assert_string_equal(text, "0\n1\n2\n");
                (void) snprintf(path, sizeof path, "%s/self.uid", dir);
                f = fopen(path, "re");
                assert_non_null(f);
                unsigned uid = ~0U;
                assert_int_equal(fscanf(f, "%u", &uid), 1);
                fclose(f);
                assert_int_equal(uid, as[i] ? nobody.uid : 0);
                /* Root's files would stop nobody from writing its own. */
                for (size_t k = 0; k < 2; k++) {
                        (void) snprintf(path, sizeof path, "%s/self.%s", dir, k ? "uid" : "fds");
                        assert_int_equal(unlink(path), 0);
                }
        }
        close(leaky_sock);
        close(leaky_file);
        assert_int_equal(unlink(bin), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* The cache rule: a resolution stands while the unit runs the same command line in the same process. */
static void test_resolution_current(void **state) {
        char *a[] = { (char *) "/usr/bin/ssh", (char *) "-N", (char *) "b.example", NULL };
        char *same[] = { (char *) "/usr/bin/ssh", (char *) "-N", (char *) "b.example", NULL };
        char *other[] = { (char *) "/usr/bin/ssh", (char *) "-N", (char *) "c.example", NULL };
        char *longer[] = { (char *) "/usr/bin/ssh", (char *) "-N", (char *) "b.example", (char *) "x", NULL };

        assert_true(resolution_current(a, 100, same, 42, 100));    /* same argv, same process */
        assert_false(resolution_current(a, 100, same, 43, 200));   /* restarted: a new process reads ssh_config */
        assert_true(resolution_current(a, 100, same, 0, 0));       /* not running: kept until it starts */
        assert_true(resolution_current(a, 100, same, -1, 300));
        assert_false(resolution_current(a, 100, other, 42, 100));  /* ExecStart changed */
        assert_false(resolution_current(a, 100, longer, 42, 100));
        assert_false(resolution_current(NULL, 100, same, 42, 100)); /* never resolved */
        assert_false(resolution_current(a, 100, NULL, 42, 100));
}

static void test_exec_is_ssh(void **state) {
        char *const ssh_argv[] = { (char *) "ssh", NULL };
        char *const other_argv[] = { (char *) "/usr/bin/autossh", NULL };
        assert_true(exec_is_ssh("/usr/bin/ssh", ssh_argv));
        assert_true(exec_is_ssh("/usr/bin/ssh", other_argv));
        assert_true(exec_is_ssh("/opt/openssh/bin/ssh", NULL));
        assert_true(exec_is_ssh(NULL, (char *const[]) { (char *) "/usr/bin/ssh", NULL }));
        assert_false(exec_is_ssh("/usr/bin/autossh", ssh_argv));
        assert_false(exec_is_ssh("/usr/bin/sshd", ssh_argv));
        assert_false(exec_is_ssh("/usr/bin/ssh/", ssh_argv));
        assert_false(exec_is_ssh("/bin/sh", ssh_argv));
        assert_false(exec_is_ssh(NULL, NULL));
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void test_exec_seed(void **state) {
        int fds = count_fds();
        ssh_resolved r = {};
        char err[256] = "";
        int k = ssh_resolve_exec("/usr/bin/ssh", seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err));
        assert_int_equal(k, 0);
        /* Same fields as the captured output, except userknownhostsfile, which depends on $HOME. */
        assert_string_equal(r.hostname, "bastion.example.com");
        assert_string_equal(r.user, "reverse-ssh");
        assert_string_equal(r.bastion, "bastion.example.com");
        assert_string_equal(r.control_path, "/run/reverse-ssh/x/ctl");
        assert_string_equal(r.control_master, "auto");
        assert_string_equal(r.identity_files[0], "/etc/ssh/ssh_host_ed25519_key");
        assert_int_equal(r.n_forwards, 1);
        assert_string_equal(r.forwards[0].listen_host, "localhost");
        assert_int_equal(r.forwards[0].listen_port, 21022);
        ssh_resolved_done(&r);
        assert_int_equal(count_fds(), fds); /* no pipe end left behind */
}

static void test_exec_wildcards(void **state) {
        char *const argv[] = {
                (char *) "ssh", (char *) "-p", (char *) "2222", (char *) "-R", (char *) "*:21023:localhost:22",
                (char *) "-R", (char *) ":21024:localhost:22", (char *) "-R", (char *) "0:localhost:22",
                (char *) "-L", (char *) "3000:localhost:22", (char *) "-D", (char *) "1080",
                (char *) "-oControlPath=none", (char *) "b.example", (char *) "-R", (char *) "[::1]:2323:[::1]:23",
                NULL,
        };
        ssh_resolved r = {};
        char err[256] = "", buf[64];
        assert_int_equal(ssh_resolve_exec("/usr/bin/ssh", argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), 0);
        assert_string_equal(r.bastion, "b.example:2222");
        assert_null(r.control_path);
        assert_int_equal(r.n_forwards, 3);
        assert_string_equal(ssh_forward_format(&r.forwards[0], buf, sizeof(buf)), "localhost:21023");
        assert_string_equal(ssh_forward_format(&r.forwards[1], buf, sizeof(buf)), "localhost:21024");
        assert_string_equal(ssh_forward_format(&r.forwards[2], buf, sizeof(buf)), "[::1]:2323");
        ssh_resolved_done(&r);
}

static void test_exec_rejects(void **state) {
        ssh_resolved r = {};
        char err[256] = "";

        assert_int_equal(ssh_resolve_exec("/bin/echo", seed_argv, USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "Not an ssh command"));

        char *const bad_opt[] = { (char *) "ssh", (char *) "-o", (char *) "Bogus=1", (char *) "h", NULL };
        assert_int_equal(ssh_resolve_exec("/usr/bin/ssh", bad_opt, 5 * USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "Bad configuration option: bogus"));
        assert_null(strchr(err, '\n'));

        static char *const control[][6] = {
                { (char *) "ssh", (char *) "-O", (char *) "check", (char *) "h", NULL },
                { (char *) "ssh", (char *) "h", (char *) "-O", (char *) "exit", NULL },
                { (char *) "ssh", (char *) "-NTOcheck", (char *) "h", NULL },
                { (char *) "ssh", (char *) "-W", (char *) "localhost:22", (char *) "h", NULL },
                { (char *) "ssh", (char *) "--", (char *) "h", (char *) "-Wx:1", NULL },
        };
        for (size_t i = 0; i < sizeof(control) / sizeof(control[0]); i++) {
                assert_int_equal(ssh_resolve_exec("/usr/bin/ssh", control[i], 5 * USEC_PER_SEC, &r, err, sizeof(err)),
                                 -EINVAL);
                assert_non_null(strstr(err, "is not a tunnel"));
        }

        /* -O or -W as an option's argument, or inside the remote command, are not ours to refuse. */
        char *const not_control[] = {
                (char *) "ssh", (char *) "-oProxyCommand=nc -O %h", (char *) "-b", (char *) "-W", (char *) "-N",
                (char *) "h", (char *) "cmd", (char *) "-O", (char *) "x", NULL,
        };
        assert_int_equal(ssh_resolve_exec("/usr/bin/ssh", not_control, 5 * USEC_PER_SEC, &r, err, sizeof(err)), 0);
        assert_string_equal(r.proxy_command, "nc -O %h");
        ssh_resolved_done(&r);

        assert_int_equal(ssh_resolve_exec("/nonexistent/ssh", seed_argv, USEC_PER_SEC, &r, err, sizeof(err)), -ENOENT);
        assert_int_equal(ssh_resolve_exec("ssh", seed_argv, USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_null(r.hostname);
}

static char tmpdir[] = "/tmp/test-resolve-XXXXXX";

static int setup_tmpdir(void **state) {
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void write_script(const char *path, const char *body) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\n%s\n", body);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, 0755), 0);
}

static void test_exec_timeout_kills(void **state) {
        char dir[256], path[300], pidfile[300], body[400];
        snprintf(dir, sizeof(dir), "%s/hang", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/ssh", dir);
        snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
        snprintf(body, sizeof(body), "echo $$ > '%s'\nexec sleep 60", pidfile);
        write_script(path, body);

        int fds = count_fds();
        ssh_resolved r = {};
        char err[256] = "";
        usec_t start = now_usec(CLOCK_MONOTONIC);
        int k = ssh_resolve_exec(path, seed_argv, 300 * USEC_PER_MSEC, &r, err, sizeof(err));
        usec_t took = now_usec(CLOCK_MONOTONIC) - start;
        assert_int_equal(k, -ETIMEDOUT);
        assert_non_null(strstr(err, "did not finish in time"));
        assert_true(took >= 300 * USEC_PER_MSEC);
        assert_true(took < 3 * USEC_PER_SEC);

        FILE *f = fopen(pidfile, "re");
        assert_non_null(f);
        int pid = 0;
        assert_int_equal(fscanf(f, "%d", &pid), 1);
        fclose(f);
        assert_true(pid > 1);
        /* Killed and reaped: the pid no longer exists (not even as a zombie). */
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
        assert_int_equal(count_fds(), fds);
}

static void test_exec_fake_failure(void **state) {
        char dir[256], path[300];
        snprintf(dir, sizeof(dir), "%s/fail", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/ssh", dir);
        write_script(path, "echo 'first problem' >&2\necho 'second' >&2\necho 'hostname x'\nexit 255");

        ssh_resolved r = {};
        char err[256] = "";
        assert_int_equal(ssh_resolve_exec(path, seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "first problem");

        /* Exit 0 with garbage: the parser's verdict. And the arguments arrive as "-G ARGS...". */
        write_script(path, "[ \"$1\" = -G ] && [ \"$2\" = -N ] || exit 3\necho \"port $#\"\n");
        assert_int_equal(ssh_resolve_exec(path, seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "ssh -G output has no hostname");

        write_script(path, "printf 'hostname h\\nport %s\\n' $#\n");
        assert_int_equal(ssh_resolve_exec(path, seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), 0);
        assert_int_equal(r.port, 16); /* -G plus the 15 arguments after argv[0] */
        ssh_resolved_done(&r);

        write_script(path, "exit 7");
        assert_int_equal(ssh_resolve_exec(path, seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "-G failed with status 7"));

        write_script(path, "kill -9 $$");
        assert_int_equal(ssh_resolve_exec(path, seed_argv, 5 * USEC_PER_SEC, &r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "killed by signal 9"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_seed),
                cmocka_unit_test(test_parse_forward_table),
                cmocka_unit_test(test_parse_many_forwards),
                cmocka_unit_test(test_parse_ipv6_and_port),
                cmocka_unit_test(test_parse_case_and_none),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_find_and_format),
                cmocka_unit_test(test_format_round_trip),
                cmocka_unit_test(test_exec_as_user),
                cmocka_unit_test(test_exec_child_identity_and_fds),
                cmocka_unit_test(test_resolution_current),
                cmocka_unit_test(test_exec_is_ssh),
                cmocka_unit_test(test_exec_seed),
                cmocka_unit_test(test_exec_wildcards),
                cmocka_unit_test(test_exec_rejects),
                cmocka_unit_test(test_exec_timeout_kills),
                cmocka_unit_test(test_exec_fake_failure),
        };
        return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
