#!/usr/bin/env bash
# rtun-monitor runs as root; a tunnel unit's User= and an operator without root do not (issue 9: defects 1
# and 9). Nothing from a user's ssh configuration runs as root; a ControlPath that is not the unit user's
# master is never spoken to; our own lack of permission is `unknown` with the fix, never `down`.
. "$(dirname "$0")/lib.sh"
t_lab_up

U=rtunlab-user
HU=/home/$U
PU=$(lab_port_alloc) || t_die "port u"
UU=reverse-ssh@user-alias.test.service
BP=$(lab_bastion_port bastion-a.test)
lab_bastion_authorize bastion-a.test "$PU" || t_die "authorize u"
lab_exec useradd -U -m -d $HU -s /bin/sh $U || t_die "useradd $U"
lab_exec useradd -U -m -s /bin/sh rtunlab-op || t_die "useradd rtunlab-op"
UID_U=$(lab_exec id -u $U) UID_OP=$(lab_exec id -u rtunlab-op)
lab_exec install -d -m 0700 -o $U -g $U $HU/.ssh &&
        lab_exec install -m 0600 -o $U -g $U /lab/keys/client $HU/.ssh/id_ed25519 || t_die "user key"
# What every ProxyCommand run leaves behind: its uid and the command line of the ssh that ran it.
install -d -m 0777 "$LAB/priv" && : >"$LAB/priv/proxy.log" && chmod 0666 "$LAB/priv/proxy.log" || t_die "proxy log"

# The user's ~/.ssh/config: a ProxyCommand (bash's /dev/tcp, no helper needed) and its own ControlMaster.
user_config() { # CONTROLPATH CONTROLMASTER
        printf 'Host user-alias.test\n    HostName 127.0.0.1\n    Port %s\n' "$BP"
        printf '    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n'
        printf '    ControlPath %s\n    ControlMaster %s\n' "$1" "$2"
        # shellcheck disable=SC2016
        printf '    ProxyCommand /bin/bash -c '\''echo "$(id -u) $(tr "\\0" " " </proc/$PPID/cmdline)" >>/lab/priv/proxy.log; exec 3<>/dev/tcp/%%h/%%p; cat <&3 & exec cat >&3'\''\n'
}
user_config /run/reverse-ssh/user-alias.test/ctl yes | lab_put $HU/.ssh/config 0600 &&
        lab_exec chown $U: $HU/.ssh/config || t_die "user ssh config"
printf 'REMOTE_PORT=%s\nLOCAL_PORT=%s\nSSH_USER=reverse-ssh\nKEY=%s/.ssh/id_ed25519\n' "$PU" "$LAB_TPORT" "$HU" |
        lab_put /etc/reverse-ssh/user-alias.test.env || t_die "env u"
# The classic unit's command line (no ControlPath of its own): the user's ssh_config decides it.
printf '%s\n' '[Service]' "User=$U" 'ExecStart=' \
        'ExecStart=/usr/bin/ssh -N -T -o ExitOnForwardFailure=yes -o LogLevel=INFO -i ${KEY} -R localhost:${REMOTE_PORT}:localhost:${LOCAL_PORT} ${SSH_USER}@%i' |
        lab_put /etc/systemd/system/$UU.d/50-user.conf || t_die "drop-in u"
lab_exec systemctl daemon-reload
lab_exec systemctl start $UU
t_match "setup: the User= tunnel forwards (through its ProxyCommand)" "$(lab_wait_banner "$PU" 20)" "^SSH-"
t_match "setup: its ProxyCommand ran as $U" "$(head -n 1 "$LAB/priv/proxy.log")" "^$UID_U .*-N"
t_expect "setup: its master's socket is $U's" lab_exec test -O /run/reverse-ssh/user-alias.test/ctl -o \
        "$(lab_exec stat -c %u /run/reverse-ssh/user-alias.test/ctl)" = "$UID_U"

# --- defect 1: the ssh probe runs the user's ProxyCommand as the user, never as root
: >"$LAB/priv/proxy.log"
t_monitor status --monitor.probe=ssh --monitor.units=$UU
t_eq "ssh probe as User=: exit 0" "$RC" 0
t_match "ssh probe as User=: up through the user's ProxyCommand" "$OUT" "$UU .* +up +ssh"
probe_lines=$(grep -- ' -W ' "$LAB/priv/proxy.log")
t_match "ssh probe as User=: the probe's ssh ran the ProxyCommand" "$probe_lines" "-W localhost:$PU"
t_eq "ssh probe as User=: never as root" "$(grep -c '^0 ' <<<"$probe_lines")" 0
t_eq "ssh probe as User=: every probe ProxyCommand ran as $U" "$(cut -d' ' -f1 <<<"$probe_lines" | sort -u)" "$UID_U"

# --- the mux probe talks to the user's own master (socket and listener are the user's)
t_monitor status --monitor.units=$UU
t_eq "mux as User=: exit 0" "$RC" 0
t_match "mux as User=: up through the user's ControlMaster" "$OUT" "$UU .* +up +mux"

# --- the same under the shipped, hardened rtun-monitord.service (issue 13): no CAP_DAC_OVERRIDE, so the
# user's 0600 socket is opened with the user's fsuid. (This tunnel's TCP connection is its ProxyCommand's,
# not ssh's: there is no TCP view of it to check here.)
MP=$(lab_port_alloc) || t_die "metrics port"
t_daemon_install "--monitor.units=$UU --monitor.probe=mux --monitor.interval=1s --monitor.timeout=3s --metrics.listen=127.0.0.1:$MP" ||
        t_die "install rtun-monitord.service"
lab_on_cleanup "lab_exec systemctl stop rtun-monitord.service"
lab_exec systemctl start rtun-monitord.service || t_fail "hardened daemon: start"
metric() { curl -s --max-time 3 "http://127.0.0.1:$MP/metrics" | awk -v p="$1{name=\"$UU\"" 'index($0, p) == 1 { print $NF; exit }'; }
t_until 30 'test "$(metric rtun_tunnel_up)" = 1'
t_eq "hardened daemon: the User= tunnel is up through its ControlMaster (--monitor.probe=mux)" "$(metric rtun_tunnel_up)" 1
t_nomatch "hardened daemon: no permission error in its journal" \
        "$(lab_exec journalctl --no-pager -o cat -u rtun-monitord.service)" "ermission denied|not permitted|no permission"
lab_exec systemctl stop rtun-monitord.service

# --- a ControlPath pointed at root's master (another tunnel's): never spoken to, unknown, never restarted
user_config "$(lab_unit_ctlpath bastion-a.test)" no | lab_put $HU/.ssh/config 0600 && lab_exec chown $U: $HU/.ssh/config ||
        t_fail "user ssh config (root's ControlPath)"
lab_exec systemctl restart $UU
t_match "foreign ControlPath: the tunnel still forwards" "$(lab_wait_banner "$PU" 20)" "^SSH-"
m0=$(lab_unit_mainpid $UU)
t_monitor check --monitor.units=$UU --monitor.failures=1
t_match "foreign ControlPath: unknown" "$OUT" "$UU .* +unknown +mux"
t_match "foreign ControlPath: the reason names the owner" "$OUT" "belongs to uid 0, not to the unit's user $U"
t_nomatch "foreign ControlPath: no restart" "$OUT" "restarted|restart:"
t_eq "foreign ControlPath: the unit kept its process" "$(lab_unit_mainpid $UU)" "$m0"
lab_exec systemctl stop $UU
lab_exec rm -f /etc/systemd/system/$UU.d/50-user.conf
lab_exec systemctl daemon-reload

# --- defect 9: an operator without root. Our own lack of permission is unknown, with the fix; never down.
as_op() {
        OUT=$(lab_exec setpriv --reuid="$UID_OP" --regid="$UID_OP" --init-groups env HOME=/ STATE_DIRECTORY=/tmp/op-state \
                /lab/rtun-monitor "$@" 2>&1)
        RC=$?
        echo "---- (as rtunlab-op) rtun-monitor $* (exit $RC)"
        echo "$OUT" | sed 's/^/    /'
}
a0=$(lab_unit_mainpid bastion-a.test) na0=$(lab_unit_nrestarts bastion-a.test)
as_op status --monitor.units=$UA
t_match "non-root status (mux): unknown, not down" "$OUT" "$UA .* +unknown +mux"
t_match "non-root status (mux): the fix in the reason" "$OUT" "run as root: no permission to use the ControlPath socket"
t_nomatch "non-root status (mux): never down" "$OUT" " down "
as_op status --monitor.units=$UA --monitor.probe=ssh
t_match "non-root status (ssh): unknown" "$OUT" "$UA .* +unknown +ssh"
t_match "non-root status (ssh): the fix in the reason" "$OUT" "run as root: the ssh probe runs as the unit's user root"
as_op check --dry-run --monitor.units=$UA --monitor.failures=1
t_nomatch "non-root check --dry-run: no would-restart" "$OUT" "would restart"
t_match "non-root check --dry-run: unknown" "$OUT" "$UA .* +unknown"
as_op check --monitor.units=$UA
t_eq "non-root check: exit 2" "$RC" 2
t_match "non-root check: says why, once" "$OUT" "^rtun-monitor: check restarts tunnel units and probes as their users: run it as root"
t_eq "non-root check: one line" "$(wc -l <<<"$OUT")" 1
t_eq "non-root: a never restarted" "$(lab_unit_mainpid bastion-a.test) $(lab_unit_nrestarts bastion-a.test)" "$a0 $na0"

# --- the same tunnel as root: up (the negative control of the checks above)
t_monitor status --monitor.units=$UA
t_match "root status: up" "$OUT" "$UA .* +up +mux"

t_summary
