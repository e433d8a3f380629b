#!/usr/bin/env bash
# `check` and `status` under a real systemd with two real tunnels (issue 2): healthy, a stopped ssh,
# a unit systemd gave up on, a prohibited probe, bad configuration, no system bus.
. "$(dirname "$0")/lib.sh"
t_lab_up

nrestarts() { lab_unit_nrestarts "$1"; }
mainpid() { lab_unit_mainpid "$1"; }

# --- both healthy: exit 0, nothing restarted
a0=$(mainpid $UA) b0=$(mainpid $UB) nb0=$(nrestarts $UB)
t_monitor check
t_eq "healthy: check exits 0" "$RC" 0
BA=127.0.0.1:$(lab_bastion_port bastion-a.test) BB=127.0.0.1:$(lab_bastion_port bastion-b.test)
t_match "healthy: a up (mux)" "$OUT" "$UA +$BA +localhost:$PA +up +mux"
t_match "healthy: b up (mux)" "$OUT" "$UB +$BB +localhost:$PB +up +mux"
t_eq "healthy: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "healthy: b not restarted" "$(mainpid $UB)" "$b0"

t_monitor status --monitor.probe=ssh
t_eq "status, ssh probe: exit 0" "$RC" 0
t_match "status, ssh probe: a up" "$OUT" "$UA +$BA +localhost:$PA +up +ssh"
t_match "status, ssh probe: b up" "$OUT" "$UB +$BB +localhost:$PB +up +ssh"

# tcp: the monitor on the bastion itself (here the bastion's loopback is the container's)
t_monitor status --monitor.probe=tcp
t_eq "status, tcp probe: exit 0" "$RC" 0
t_match "status, tcp probe: a up" "$OUT" "$UA +$BA +localhost:$PA +up +tcp"

t_monitor status --json
t_eq "status --json: exit 0" "$RC" 0
t_eq "status --json: two tunnels" "$(jq -r '.tunnels | length' <<<"$OUT" 2>/dev/null)" 2
t_eq "status --json: states" "$(jq -r '[.tunnels[].state] | join(",")' <<<"$OUT" 2>/dev/null)" "up,up"
t_eq "status --json: forward" "$(jq -r ".tunnels[] | select(.name==\"$UA\") | .forward" <<<"$OUT" 2>/dev/null)" "localhost:$PA"

# --- the host's sshd at its MaxStartups turns the probe away ("Exceeded MaxStartups"): those bytes
# crossed the whole tunnel, so it is up; restarting it would not help anyone.
lab_target_stop || t_fail "target stop"
lab_target_start -o MaxStartups=1 || t_die "target sshd with MaxStartups=1"
exec {hold}<>"/dev/tcp/127.0.0.1/$LAB_TPORT" || t_die "hold a startup slot" # unauthenticated: its one slot
head -c 4 <&$hold >/dev/null
throttled0=$(grep -c "past MaxStartups" "$LAB/target/sshd.log")
a0=$(mainpid $UA) b0=$(mainpid $UB)
RTUN_MONITOR_LOG_LEVEL=debug t_monitor check
t_eq "host sshd busy: check exits 0" "$RC" 0
t_match "host sshd busy: a up, said why" "$OUT" "$UA: up, probe ok .*Exceeded MaxStartups.*the path works"
t_nomatch "host sshd busy: nothing restarted (log)" "$OUT" "restarted"
t_eq "host sshd busy: a not restarted" "$(mainpid $UA)" "$a0"
t_eq "host sshd busy: b not restarted" "$(mainpid $UB)" "$b0"
RTUN_MONITOR_LOG_LEVEL=debug t_monitor status --monitor.probe=ssh
t_eq "host sshd busy, ssh probe: exit 0" "$RC" 0
t_match "host sshd busy, ssh probe: b up, said why" "$OUT" "$UB: up, probe ok .*Exceeded MaxStartups"
t_expect "host sshd busy: the target really turned the probes away" \
        test "$(grep -c "past MaxStartups" "$LAB/target/sshd.log")" -ge $((throttled0 + 3))
# The same answer where monitor.expect wants something else than an sshd is a bad response.
t_monitor status --monitor.expect='^HTTP/1'
t_eq "host sshd busy, expect HTTP: exit 1" "$RC" 1
t_match "host sshd busy, expect HTTP: bad_response with the answer" "$OUT" "$UA .* down .*bad_response: bad answer: \"Exceeded MaxStartups"
exec {hold}>&-
lab_target_stop || t_fail "target stop"
lab_target_start || t_die "target sshd"

# --- a stopped ssh (dead but running): exactly that unit is restarted, the forward answers again
lab_fault_stop $UA || t_fail "fault stop"
t_eq "stopped: systemd still says active" "$(lab_unit_state $UA)" active
lab_banner "$PA" 2 >/dev/null
t_eq "stopped: bastion port gives no banner" "$?" 2
start=$(date +%s.%N)
t_monitor check
t_eq "stopped: check exits 0 after healing" "$RC" 0
t_match "stopped: restart logged" "$OUT" "$UA: restarted \(stopped\)"
t_match "stopped: reason process_stopped" "$OUT" "process_stopped"
t_nomatch "stopped: b not restarted (log)" "$OUT" "$UB: restarted"
t_expect "stopped: a has a new MainPID" test "$(mainpid $UA)" != "$a0"
t_eq "stopped: b MainPID unchanged" "$(mainpid $UB)" "$b0"
t_eq "stopped: b NRestarts unchanged" "$(nrestarts $UB)" "$nb0"
t_match "stopped: bastion port answers with an SSH banner again" "$(lab_wait_banner "$PA" 15)" "^SSH-"
echo "check with healing took $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"

# --- the same, dry run: decided and reported, nothing restarted
a1=$(mainpid $UA)
lab_fault_stop $UA || t_fail "fault stop (dry run)"
# (a fresh state directory: the restart above left a backoff in the default one)
T_STATE_DIR=/lab/state-dry t_monitor check --dry-run --metrics.textfile=/lab/dry.prom
t_eq "dry run: exit 1 (still unhealthy)" "$RC" 1
t_match "dry run: would restart" "$OUT" "would restart"
t_eq "dry run: a not restarted" "$(mainpid $UA)" "$a1"
t_expect "dry run: state written to \$STATE_DIRECTORY" test -s "$LAB/state-dry/state"
t_match "dry run: textfile says would restart" "$(cat "$LAB/dry.prom")" "rtun_would_restart\{name=\"$UA\"\} 1"
t_match "dry run: textfile has the tunnel down" "$(cat "$LAB/dry.prom")" "rtun_tunnel_up\{name=\"$UA\",[^}]*\} 0"
lab_fault_cont $UA

# --- a unit systemd gave up on (start limit hit) is reset and started
lab_unit_fail_hard $UB || t_fail "fail hard"
t_eq "failed: unit is failed" "$(lab_unit_state $UB)" failed
t_monitor check
t_eq "failed: check exits 0" "$RC" 0
t_match "failed: restart logged" "$OUT" "$UB: restarted \(failed\)"
t_eq "failed: unit active again" "$(lab_unit_state $UB)" active
t_match "failed: bastion port b answers again" "$(lab_wait_banner "$PB" 15)" "^SSH-"

# --- a bastion that refuses the probe's channel: prohibited, never restarted
lab_bastion_start bastion-c.test || t_die "bastion c"
PC=$(lab_port_alloc) || t_die "port c"
lab_bastion_authorize bastion-c.test "$PC" noopen || t_die "authorize c"
lab_tunnel_add bastion-c.test "$PC" || t_die "tunnel c"
UC=reverse-ssh@bastion-c.test.service
c0=$(mainpid $UC)
t_monitor check
t_eq "prohibited: check exits 1" "$RC" 1
t_match "prohibited: reason" "$OUT" "$UC .* down .*prohibited"
t_nomatch "prohibited: not restarted" "$OUT" "$UC: restarted"
t_eq "prohibited: MainPID unchanged" "$(mainpid $UC)" "$c0"
t_monitor check
t_eq "prohibited: second run still exits 1" "$RC" 1
t_eq "prohibited: still not restarted" "$(mainpid $UC)" "$c0"
lab_exec systemctl disable --now --quiet $UC

# --- bastion gone: systemd keeps restarting the unit; after the grace the tunnel is down (exit 1)
lab_bastion_stop bastion-a.test || t_fail "bastion a stop"
t_monitor check --monitor.grace=3s
t_eq "bastion gone: check exits 1" "$RC" 1
t_match "bastion gone: a down" "$OUT" "$UA .* (down|failed) "
t_match "bastion gone: b still up" "$OUT" "$UB .* up "
lab_bastion_start bastion-a.test || t_fail "bastion a start"
t_match "bastion back: systemd's own restart reconnects" "$(lab_wait_banner "$PA" 20)" "^SSH-"
t_monitor check --monitor.grace=3s
t_eq "bastion back: check exits 0" "$RC" 0

# --- a resolution describes the running ssh, which read ssh_config when it started: kept in the state
# file while the process is the same, taken again when the unit restarts.
t_monitor check
t_eq "resolution: check exits 0" "$RC" 0
t_eq "resolution: kept in the state file" \
        "$(jq -r ".tunnels[\"$UA\"].resolution.argv[0]" "$LAB/state/state" 2>/dev/null)" /usr/bin/ssh
lab_exec sed -i '/^Host bastion-a.test$/,/^Host /s/HostName 127.0.0.1/HostName localhost/' /etc/ssh/ssh_config
t_monitor status
t_match "resolution: ssh_config changed, same process: what it connected with" "$OUT" "$UA +$BA +localhost:$PA +up"
lab_exec systemctl restart $UA
t_match "resolution: restarted with the new ssh_config" "$(lab_wait_banner "$PA" 15)" "^SSH-"
t_monitor status
t_match "resolution: new process: resolved again" "$OUT" "$UA +localhost:$(lab_bastion_port bastion-a.test) +localhost:$PA +up"
lab_exec sed -i '/^Host bastion-a.test$/,/^Host /s/HostName localhost/HostName 127.0.0.1/' /etc/ssh/ssh_config
lab_exec systemctl restart $UA
t_match "resolution: back to 127.0.0.1" "$(lab_wait_banner "$PA" 15)" "^SSH-"
t_monitor check
t_match "resolution: check after the restart" "$OUT" "$UA +$BA +localhost:$PA +up"

# --- a run over fewer units keeps the others' state (restart history, budgets, resolution) as it was
jq -S ".tunnels[\"$UB\"]" "$LAB/state/state" >"$LAB/b-before.json"
t_monitor check --monitor.units=$UA
t_eq "narrower run: exits 0" "$RC" 0
t_nomatch "narrower run: b not looked at" "$OUT" "$UB"
t_eq "narrower run: b's state entry kept as it was" "$(jq -S ".tunnels[\"$UB\"]" "$LAB/state/state")" "$(cat "$LAB/b-before.json")"
t_match "narrower run: and it still has its resolution" "$(jq -r ".tunnels[\"$UB\"].resolution.argv[0]" "$LAB/state/state")" "^/usr/bin/ssh$"

# --- a stopped unit's resolution serves until it starts (F12): its last one (or one made while it did not
# run, started_at 0) is kept in the state file, so a later run spends no `ssh -G` on it (here one that would
# take 3 s; the code before resolved every stopped unit at every run); started again, it is resolved anew.
lab_exec systemctl stop $UB
t_monitor check --heal.enabled=no
t_eq "stopped unit: its resolution kept in the state file" \
        "$(jq -r ".tunnels[\"$UB\"].resolution.argv[0]" "$LAB/state/state" 2>/dev/null)" "/usr/bin/ssh"
lab_exec cp /etc/ssh/ssh_config /etc/ssh/ssh_config.f12
{ printf 'Match host bastion-b.test exec "sleep 3"\n    ServerAliveCountMax 3\n'; lab_exec cat /etc/ssh/ssh_config.f12; } |
        lab_put /etc/ssh/ssh_config || t_die "slow ssh_config"
s=$(now)
t_monitor status
F12S=$(since "$s")
t_match "stopped unit: still listed with its bastion" "$OUT" "$UB +$BB +localhost:$PB +down"
t_expect "stopped unit: no ssh -G for it (status in $F12S s; its ssh -G would sleep 3 s)" le "$F12S" 2.5
lab_exec mv -f /etc/ssh/ssh_config.f12 /etc/ssh/ssh_config
lab_exec systemctl start $UB
t_match "stopped unit started again" "$(lab_wait_banner "$PB" 20)" "^SSH-"
t_monitor check
t_match "started: resolved for its new process" \
        "$(jq -r ".tunnels[\"$UB\"].resolution.started_at" "$LAB/state/state" 2>/dev/null)" "^[1-9][0-9]*$"

# --- a unit with User=: `ssh -G` runs as that user, so the bastion alias that only that user's
# ~/.ssh/config knows resolves as it does for the tunnel's own ssh (the ssh probe then needs it).
PU=$(lab_port_alloc) || t_die "port u"
lab_bastion_authorize bastion-a.test "$PU" || t_die "authorize u"
UU=reverse-ssh@user-alias.test.service
HU=/home/rtunlab-user
lab_exec useradd -U -m -d $HU -s /bin/sh rtunlab-user || t_die "useradd in the container"
lab_exec install -d -m 0700 -o rtunlab-user -g rtunlab-user $HU/.ssh &&
        lab_exec install -m 0600 -o rtunlab-user -g rtunlab-user /lab/keys/client $HU/.ssh/id_ed25519 || t_die "user key"
printf 'Host user-alias.test\n    HostName 127.0.0.1\n    Port %s\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n' \
        "$(lab_bastion_port bastion-a.test)" | lab_put $HU/.ssh/config 0600 && lab_exec chown rtunlab-user: $HU/.ssh/config ||
        t_die "user ssh config"
t_nomatch "User=: the alias is unknown to root's ssh_config" "$(lab_exec ssh -G user-alias.test | grep '^port ')" "port $(lab_bastion_port bastion-a.test)"
printf 'REMOTE_PORT=%s\nLOCAL_PORT=%s\nSSH_USER=reverse-ssh\nKEY=%s/.ssh/id_ed25519\n' "$PU" "$LAB_TPORT" "$HU" |
        lab_put /etc/reverse-ssh/user-alias.test.env || t_die "env u"
printf '[Service]\nUser=rtunlab-user\n' | lab_put /etc/systemd/system/$UU.d/50-user.conf || t_die "drop-in u"
lab_exec systemctl daemon-reload
lab_exec systemctl start $UU
t_match "User=: the tunnel runs as rtunlab-user and forwards" "$(lab_wait_banner "$PU" 20)" "^SSH-"
T_STATE_DIR=/lab/state-user t_monitor status --monitor.probe=ssh --monitor.units=$UU
t_eq "User=: status (ssh probe) exits 0" "$RC" 0
t_match "User=: resolved with that user's ~/.ssh/config" "$OUT" \
        "$UU +127.0.0.1:$(lab_bastion_port bastion-a.test) +localhost:$PU +up +ssh"
# (the User= unit stays up for the shipped service below, which resolves it under its hardening)

# --- the shipped timer and oneshot service, as systemd runs them (hardening, StateDirectory=)
for u in rtun-monitor.service rtun-monitor.timer; do
        sed 's|/usr/local/bin/rtun-monitor|/lab/rtun-monitor|' "$T_SRC/systemd/$u" | lab_put /etc/systemd/system/$u
done
lab_exec systemctl daemon-reload
lab_exec systemctl enable --now --quiet rtun-monitor.timer
t_match "timer: scheduled" "$(lab_exec systemctl list-timers --all --no-pager rtun-monitor.timer)" "rtun-monitor.timer +rtun-monitor.service"
lab_fault_stop $UA || t_fail "fault stop (service)"
a2=$(mainpid $UA)
lab_exec systemctl start rtun-monitor.service
t_eq "service: oneshot run succeeded (healed)" "$(lab_exec systemctl show -p Result --value rtun-monitor.service)" success
t_expect "service: a restarted by the service" test "$(mainpid $UA)" != "$a2"
t_match "service: journal has the restart" "$(lab_exec journalctl --no-pager -o cat -u rtun-monitor.service)" "$UA: restarted \(stopped\)"
t_expect "service: state in /var/lib/rtun-monitor" lab_exec test -s /var/lib/rtun-monitor/state
t_eq "service: state is valid JSON" "$(lab_exec cat /var/lib/rtun-monitor/state | jq -r .version)" 1
t_match "service: the User= unit resolved as its user under the service's hardening" \
        "$(lab_exec cat /var/lib/rtun-monitor/state | jq -r ".tunnels[\"$UU\"].resolution.ssh")" \
        "port $(lab_bastion_port bastion-a.test)"
lab_exec systemctl disable --now --quiet rtun-monitor.timer
lab_exec systemctl stop $UU
lab_exec rm -f /etc/systemd/system/$UU.d/50-user.conf /etc/reverse-ssh/user-alias.test.env
lab_exec systemctl daemon-reload

# --- a corrupt state file is reported once and replaced
echo '{"version":1, "tunnels": {"x": ' | lab_put /lab/state-corrupt/state
T_STATE_DIR=/lab/state-corrupt t_monitor check
t_eq "corrupt state: check still exits 0" "$RC" 0
t_match "corrupt state: reported" "$OUT" "corrupt state file"
t_eq "corrupt state: replaced with valid JSON" "$(jq -r '.tunnels | length' "$LAB/state-corrupt/state" 2>/dev/null)" 2

# --- a matching unit that is not an ssh tunnel: unknown, reason error, never restarted
d0=$(mainpid dbus.service)
t_monitor check --monitor.units=dbus.service
t_eq "not ssh: check exits 1" "$RC" 1
t_match "not ssh: unknown with the reason" "$OUT" "dbus.service .* unknown .*error: ExecStart is not an ssh command"
t_eq "not ssh: dbus not restarted" "$(mainpid dbus.service)" "$d0"

# --- bad configuration: exit 2 with FILE:LINE
printf '[monitor]\ninterval = 10s\ntimeout = 5x\n' >"$LAB/bad.conf"
t_monitor check --config /lab/bad.conf
t_eq "bad config: exit 2" "$RC" 2
t_match "bad config: FILE:LINE" "$OUT" "/lab/bad.conf:3: .*5x"
t_monitor status --config /lab/missing.conf
t_eq "missing --config file: exit 2" "$RC" 2
t_monitor check --monitor.failures=zero
t_eq "bad override: exit 2" "$RC" 2
t_monitor frobnicate
t_eq "bad usage: exit 2" "$RC" 2

# --- no system bus: exit 3
OUT=$(lab_exec env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/nonexistent-bus /lab/rtun-monitor check 2>&1)
RC=$?
t_eq "no system bus: exit 3" "$RC" 3
t_match "no system bus: says so" "$OUT" "system bus"

t_summary
((T_FAIL == 0))
