#!/usr/bin/env bash
# The Debian package (issue 15): `make deb`'s .deb installed with dpkg into the lab's container (a real
# systemd, never the host), its timer enabled and running `check`, which heals a stopped tunnel; the
# daemons installed but not enabled; the tunnels left alone; then `dpkg --purge` leaves nothing behind.
# The container's /usr is the host's, read-only: the test mounts an overlay on it inside the container
# (upper layer in the container's own tmpfs) and gives it a copy of the host's dpkg database, so dpkg
# runs there as on a real host while the host's /usr and package database stay as they are (checked).
. "$(dirname "$0")/lib.sh"
T_START=$(now)

VERSION=$(cat "$T_SRC/VERSION")
ARCH=$(dpkg --print-architecture)
DEB=$T_SRC/build/deb/rtun-monitor_${VERSION}_${ARCH}.deb
UPPER=/run/rtundeb-usr # in the container: /usr's overlay upper and work dirs (its tmpfs)

# --- 0. the package: built by `make deb` (nothing to do when it is up to date), lintian clean
s=$(now)
mkdir -p "$T_SRC/build"
if ! make -C "$T_SRC" --no-print-directory deb >"$T_SRC/build/test_deb-make.log" 2>&1; then
        tail -n 30 "$T_SRC/build/test_deb-make.log"
        t_die "make deb failed (log: build/test_deb-make.log)"
fi
echo "make deb: $(since "$s") s ($(tail -n 1 "$T_SRC/build/test_deb-make.log"))"
t_expect "make deb: $DEB exists" test -f "$DEB"
t_eq "make deb: lintian reports no error" "$(grep -c '^E:' "$T_SRC/build/deb/lintian.txt")" 0
# What the package holds, from the archive itself.
CONTENTS=$(dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in /usr/bin/rtun-monitor /lib/systemd/system/rtun-monitor.service /lib/systemd/system/rtun-monitor.timer \
        /lib/systemd/system/rtun-monitord.service /lib/systemd/system/rtun-bastion.service \
        /lib/systemd/system/reverse-ssh@.service /usr/share/man/man1/rtun-monitor.1.gz \
        /usr/share/man/man5/rtun-monitor.conf.5.gz /etc/rtun-monitor/rtun-monitor.conf \
        /usr/share/doc/rtun-monitor/alerting-rules.yml /usr/share/doc/rtun-monitor/grafana-dashboard.json \
        /usr/share/doc/rtun-monitor/operations.md.gz /usr/share/doc/rtun-monitor/copyright; do
        t_expect "package holds $f" grep -qxF "$f" <<<"$CONTENTS"
done
t_eq "package: the conffile" "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles)" /etc/rtun-monitor/rtun-monitor.conf
t_eq "package: libcurl recommended (dlopen'ed for alerts only)" "$(dpkg-deb -f "$DEB" Recommends)" "libcurl4 (>= 7.83.0)"
t_nomatch "package: Depends names no libcurl" "$(dpkg-deb -f "$DEB" Depends)" 'libcurl'
t_match "package: Depends from shlibs (libsystemd0, libmicrohttpd12)" "$(dpkg-deb -f "$DEB" Depends)" \
        'libsystemd0.*libmicrohttpd12|libmicrohttpd12.*libsystemd0'

# The host must not have the package: else nothing below could tell the container's copy from it.
host_clean() {
        ! dpkg-query -W -f='${Status}' rtun-monitor 2>/dev/null | grep -q ' installed' &&
                [[ ! -e /usr/bin/rtun-monitor && ! -e /lib/systemd/system/rtun-monitor.timer && ! -e /var/lib/dpkg/info/rtun-monitor.list ]]
}
host_clean || t_die "precondition: rtun-monitor is installed on the host itself (dpkg --purge it, or run this elsewhere)"
host_policy=$(ls -l /usr/sbin/policy-rc.d 2>/dev/null)

# --- 1. the lab: two tunnels, as an admin has them before installing the package
lab_init || t_die "lab_init"
lab_target_start || t_die "target sshd"
lab_bastion_start bastion-a.test || t_die "bastion a"
lab_bastion_start bastion-b.test || t_die "bastion b"
# The lab's preset disables every unit (no host package's service may start in the container); for
# this package's units, Debian's default policy (enable) applies, as on a fresh host: the daemons stay
# disabled only because the package says so (dh_installsystemd --no-enable).
mkdir -p "$LAB/run/preset" && echo 'enable rtun-*' >"$LAB/run/preset/00-rtundeb.preset" || t_die "preset"
lab_container_start || t_die "container"
PA=$(lab_port_alloc) && PB=$(lab_port_alloc) || t_die "ports"
lab_tunnel_add bastion-a.test "$PA" || t_die "tunnel a"
lab_tunnel_add bastion-b.test "$PB" || t_die "tunnel b"
UA=reverse-ssh@bastion-a.test.service UB=reverse-ssh@bastion-b.test.service

# A writable /usr inside the container only, and the host's package database (a copy in the
# container's /var tmpfs). Its statoverrides name groups of packages whose /etc the container lacks.
lab_exec mkdir -p $UPPER/upper $UPPER/work &&
        lab_exec mount -t overlay overlay -o lowerdir=/usr,upperdir=$UPPER/upper,workdir=$UPPER/work /usr ||
        t_die "precondition: overlay on the container's /usr"
ROOT=/proc/$(lab_pid1)/root
cp -a /var/lib/dpkg "$ROOT/var/lib/" && : >"$ROOT/var/lib/dpkg/statoverride" || t_die "precondition: dpkg database copy"
# This machine's /usr/sbin/policy-rc.d (a container image's) forbids starting services; a real host has none.
lab_exec rm -f /usr/sbin/policy-rc.d || t_die "precondition: policy-rc.d"
lab_exec touch /usr/.rtundeb-probe && [[ ! -e /usr/.rtundeb-probe ]] ||
        t_die "precondition: a file written to the container's /usr reached the host's"
lab_exec rm -f /usr/.rtundeb-probe

# Every file and directory the container has outside what dpkg, logs and caches keep, and what its /usr
# overlay added: before install and after purge they must be the same. /var/lib/systemd/timers is
# systemd's (made at the first Persistent= timer; a real host has it for apt-daily.timer): the stamp of
# this package's timer in it is checked.
snapshot() {
        lab_exec sh -c "find /etc /var -xdev -print; find $UPPER/upper ! -type d -print" 2>/dev/null |
                grep -vE '^/var/(lib/dpkg|log|cache|tmp)(/|$)|^/var/lib/systemd/(random-seed|catalog|timesync)|^/var/lib/systemd/timers$' |
                sort
}
snapshot >"$LAB/snap-before" || t_die "snapshot"
a0=$(lab_unit_mainpid $UA) b0=$(lab_unit_mainpid $UB) na0=$(lab_unit_nrestarts $UA) nb0=$(lab_unit_nrestarts $UB)

# --- 2. dpkg -i in the container
cp "$DEB" "$LAB/" || t_die "copy the .deb"
s=$(now)
OUT=$(lab_exec dpkg -i "/lab/$(basename "$DEB")" 2>&1)
RC=$?
echo "$OUT" | sed 's/^/    /'
t_eq "dpkg -i: exit 0" "$RC" 0
echo "dpkg -i took $(since "$s") s"
t_eq "dpkg -i: installed" "$(lab_exec dpkg-query -W -f='${Status} ${Version}' rtun-monitor)" "install ok installed $VERSION"
t_eq "installed: /usr/bin/rtun-monitor --version" "$(lab_exec /usr/bin/rtun-monitor --version)" "rtun-monitor $VERSION"
t_eq "installed: the config is a conffile" "$(lab_exec dpkg-query -W -f='${Conffiles}' rtun-monitor | awk 'NF { print $1 }')" \
        /etc/rtun-monitor/rtun-monitor.conf
t_expect "installed: man rtun-monitor(1) and rtun-monitor.conf(5)" \
        lab_exec test -f /usr/share/man/man1/rtun-monitor.1.gz -a -f /usr/share/man/man5/rtun-monitor.conf.5.gz
t_eq "installed: the timer is enabled" "$(lab_exec systemctl is-enabled rtun-monitor.timer)" enabled
t_eq "installed: the timer is active" "$(lab_exec systemctl is-active rtun-monitor.timer)" active
t_eq "installed: the shipped timer runs every minute" \
        "$(lab_exec systemctl show -p TimersCalendar --value rtun-monitor.timer | sed -n 's/.*OnCalendar=\([^;]*[^ ;]\) *;.*/\1/p')" \
        "*-*-* *:*:00"
t_eq "installed: rtun-monitor.service runs /usr/bin/rtun-monitor check" \
        "$(lab_exec systemctl show -p ExecStart --value rtun-monitor.service | grep -o 'argv\[\]=[^;]*' | sed 's/ *$//')" \
        "argv[]=/usr/bin/rtun-monitor check"
for u in rtun-monitord.service rtun-bastion.service; do
        t_eq "installed: $u is not enabled" "$(lab_exec systemctl is-enabled $u)" disabled
        t_eq "installed: $u is not started" "$(lab_exec systemctl is-active $u)" inactive
        t_eq "installed: $u's ExecStart is /usr/bin/rtun-monitor" \
                "$(lab_exec systemctl show -p ExecStart --value $u | grep -o 'path=[^ ;]*')" "path=/usr/bin/rtun-monitor"
done
# The admin's own template in /etc wins over the package's; the running tunnels are never touched.
t_eq "installed: the template is shipped" "$(lab_exec dpkg -S /lib/systemd/system/reverse-ssh@.service 2>/dev/null | cut -d: -f1)" rtun-monitor
t_eq "installed: tunnel a untouched (MainPID, NRestarts)" "$(lab_unit_mainpid $UA) $(lab_unit_nrestarts $UA)" "$a0 $na0"
t_eq "installed: tunnel b untouched (MainPID, NRestarts)" "$(lab_unit_mainpid $UB) $(lab_unit_nrestarts $UB)" "$b0 $nb0"
# The host: no package, no binary, no unit, its policy-rc.d still there.
t_expect "host untouched: no rtun-monitor package, binary or unit on the host" host_clean
t_eq "host untouched: its /usr/sbin/policy-rc.d is still there" "$(ls -l /usr/sbin/policy-rc.d 2>/dev/null)" "$host_policy"

# --- 3. the timer runs check: every 10 s here (a drop-in, as an admin would write one) instead of every minute
printf '[Timer]\nOnCalendar=\nOnCalendar=*:*:0/10\nAccuracySec=1s\n' | lab_put /etc/systemd/system/rtun-monitor.timer.d/50-lab.conf &&
        lab_exec systemctl daemon-reload && lab_exec systemctl restart rtun-monitor.timer || t_die "timer drop-in"
svc() { lab_exec systemctl show -p "$1" --value rtun-monitor.service; }
# run_done PREV: a run of rtun-monitor.service ended after the one that ended at PREV (monotonic usec).
run_done() { local e; e=$(svc ExecMainExitTimestampMonotonic); [[ $e != 0 && $e != "$1" && $(svc ActiveState) != activating ]]; }
# The install may have run it already (the timer's first elapse): wait for a run after the drop-in's.
t_until 60 'test "$(svc ActiveState)" != activating' || t_fail "timer: a run from before the drop-in never ended"
prev=$(svc ExecMainExitTimestampMonotonic)
if t_until 60 'run_done "$prev"'; then t_pass "timer: rtun-monitor.service ran ($WAITED s)"; else t_fail "timer: rtun-monitor.service never ran"; fi
t_eq "timer: the first run exited 0 (both tunnels up)" "$(svc ExecMainStatus)/$(svc Result)" 0/success
t_match "timer: the run's journal says both up" "$(lab_journal rtun-monitor.service)" "2 tunnels, 0 not up"
t_expect "timer: it was the timer that started it" test "$(lab_exec systemctl show -p LastTriggerUSecMonotonic --value rtun-monitor.timer)" != 0
t_expect "timer: the state file is written in StateDirectory=" lab_exec test -s /var/lib/rtun-monitor/state
e1=$(svc ExecMainExitTimestampMonotonic)

# --- 4. a stopped tunnel: the next timer run heals it
lab_fault_stop $UA || t_fail "fault stop"
s=$(now)
if t_until 90 'run_done $e1 && [[ $(lab_unit_mainpid $UA) != "$a0" ]]'; then
        t_pass "heal: a timer's run restarted the stopped tunnel ($WAITED s)"
else
        t_fail "heal: no timer's run restarted the stopped tunnel within $WAITED s"
fi
t_until 30 'run_done $e1'
t_eq "heal: that run exited 0 (healed)" "$(svc ExecMainStatus)/$(svc Result)" 0/success
t_match "heal: its journal says restarted (stopped)" "$(lab_journal rtun-monitor.service)" "$UA: restarted \(stopped\)"
t_eq "heal: tunnel b untouched" "$(lab_unit_mainpid $UB) $(lab_unit_nrestarts $UB)" "$b0 $nb0"
t_match "heal: the forward answers through the bastion again" "$(lab_wait_banner "$PA" 20)" "^SSH-"
echo "stopped tunnel healed by the timer's check $(since "$s") s after the fault"

# --- 5. dpkg --purge leaves nothing
FILES=$(lab_exec dpkg-query -L rtun-monitor)
lab_exec rm -rf /etc/systemd/system/rtun-monitor.timer.d # the test's drop-in (an admin's file: dpkg leaves those)
t_expect "before purge: the timer's Persistent= stamp exists" lab_exec test -e /var/lib/systemd/timers/stamp-rtun-monitor.timer
s=$(now)
OUT=$(lab_exec dpkg --purge rtun-monitor 2>&1)
RC=$?
echo "$OUT" | sed 's/^/    /'
t_eq "purge: exit 0" "$RC" 0
echo "dpkg --purge took $(since "$s") s"
t_eq "purge: no trace in dpkg" "$(lab_exec dpkg-query -W -f='${Status}' rtun-monitor 2>/dev/null)" ""
t_eq "purge: the timer is gone" "$(lab_exec systemctl is-active rtun-monitor.timer)" inactive
t_expect "purge: the state directory /var/lib/rtun-monitor is gone" lab_exec test ! -e /var/lib/rtun-monitor
t_expect "purge: the timer's stamp is gone" lab_exec test ! -e /var/lib/systemd/timers/stamp-rtun-monitor.timer
t_expect "purge: /etc/rtun-monitor is gone" lab_exec test ! -e /etc/rtun-monitor
t_eq "purge: no enablement symlink left" "$(lab_exec find /etc/systemd/system -name 'rtun-*')" ""
# Directories shared with other packages (/usr/bin, /lib -> usr/lib, ...) stay; the package's own go.
# shellcheck disable=SC2016 # expanded in the container's shell
left=$(lab_exec sh -c 'while read -r f; do
        [ -z "$f" ] || [ "$f" = /. ] && continue
        [ -d "$f" ] && [ "${f##*/}" != rtun-monitor ] && continue
        if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi
done' <<<"$FILES")
t_eq "purge: none of the package's $(wc -l <<<"$FILES") paths is left" "$left" ""
snapshot >"$LAB/snap-after"
t_eq "purge: /etc, /var and /usr as before the install (diff of file lists)" \
        "$(diff "$LAB/snap-before" "$LAB/snap-after" | grep '^[<>]')" ""
t_expect "purge: host still untouched" host_clean
t_eq "purge: tunnels still running (b untouched)" "$(lab_unit_state $UA) $(lab_unit_state $UB) $(lab_unit_mainpid $UB)" "active active $b0"

echo "test_deb: $(since "$T_START") s in all"
t_summary
((T_FAIL == 0))
