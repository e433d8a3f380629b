# shellcheck shell=bash
# Assertions for the lab tests: every check prints PASS/FAIL with what it saw; totals go to $T_RESULTS.
T_PASS=0
T_FAIL=0
T_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$T_SRC/tests/lab/lab.sh"

t_pass() { T_PASS=$((T_PASS + 1)); echo "PASS: $*"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*"; }
# t_expect NAME CMD...: passes when CMD succeeds.
t_expect() {
        local name=$1
        shift
        if "$@"; then t_pass "$name"; else t_fail "$name"; fi
}
# t_eq NAME GOT WANT
t_eq() {
        if [[ $2 == "$3" ]]; then t_pass "$1"; else t_fail "$1 (got '$2', want '$3')"; fi
}
# t_match NAME TEXT REGEX
t_match() {
        if [[ $2 =~ $3 ]]; then t_pass "$1"; else t_fail "$1 ('$3' not in: ${2:0:600})"; fi
}
t_nomatch() {
        if [[ $2 =~ $3 ]]; then t_fail "$1 ('$3' found in: ${2:0:600})"; else t_pass "$1"; fi
}
# A lab that cannot start is a failure, never a skip.
t_die() {
        t_fail "$*"
        t_summary
        exit 1
}
t_summary() {
        echo "$T_PASS passed, $T_FAIL failed"
        [[ -n ${T_RESULTS:-} ]] && echo "$T_PASS $T_FAIL" >>"$T_RESULTS"
        return 0
}
# Time: now, seconds since a time, a <= b for decimals.
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="${2:-$(now)}" 'BEGIN { printf "%.2f", e - s }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# t_until TIMEOUT 'CODE': evaluates CODE every 0.1 s until it succeeds; WAITED = seconds it took.
t_until() {
        local timeout=$1 code=$2 s
        s=$(now)
        while :; do
                if eval "$code"; then WAITED=$(since "$s"); return 0; fi
                le "$(since "$s")" "$timeout" || break
                sleep 0.1
        done
        WAITED=$(since "$s")
        return 1
}
# t_daemon_install 'ARGS' ['SERVICE LINES']: the shipped rtun-monitord.service in the container, run as
# `/lab/rtun-monitor daemon ARGS` with WatchdogSec=3s (unless the extra [Service] lines set another).
t_daemon_install() {
        lab_put /etc/systemd/system/rtun-monitord.service <"$T_SRC/systemd/rtun-monitord.service" &&
                printf '[Service]\nExecStart=\nExecStart=/lab/rtun-monitor daemon %s\nWatchdogSec=3s\n%s' "$1" "${2:-}" |
                lab_put /etc/systemd/system/rtun-monitord.service.d/50-lab.conf && lab_exec systemctl daemon-reload
}

# The standard lab: target sshd, bastions a and b, container, one tunnel per bastion, the monitor in /lab.
t_lab_up() {
        lab_init || t_die "lab_init"
        lab_target_start || t_die "target sshd"
        lab_bastion_start bastion-a.test || t_die "bastion a"
        lab_bastion_start bastion-b.test || t_die "bastion b"
        lab_container_start || t_die "container"
        PA=$(lab_port_alloc) && PB=$(lab_port_alloc) || t_die "ports"
        lab_tunnel_add bastion-a.test "$PA" || t_die "tunnel a"
        lab_tunnel_add bastion-b.test "$PB" || t_die "tunnel b"
        UA=reverse-ssh@bastion-a.test.service
        UB=reverse-ssh@bastion-b.test.service
        cp "${RTUN_BIN:-$T_SRC/build/rtun-monitor}" "$LAB/rtun-monitor" || t_die "copy monitor"
        export PA PB UA UB
}
# t_monitor ARGS...: runs the monitor inside the container; output in $OUT, exit code in $RC.
t_monitor() {
        OUT=$(lab_exec env RTUN_MONITOR_LOG_LEVEL="${RTUN_MONITOR_LOG_LEVEL:-info}" STATE_DIRECTORY=${T_STATE_DIR:-/lab/state} \
                /lab/rtun-monitor "$@" 2>&1)
        RC=$?
        echo "---- rtun-monitor $* (exit $RC)"
        echo "$OUT" | sed 's/^/    /'
}
