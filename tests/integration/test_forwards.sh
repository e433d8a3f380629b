#!/usr/bin/env bash
# Every forward of a tunnel watched (issue 14): one unit with -R to the host's sshd (its own forward), -R to
# an HTTP server, -L to a service on the bastion's side and -D, under the daemon with a webhook receiver.
# The HTTP server stopped: that forward down and alerted, the tunnel up, no restart; back: forward_up. The
# bastion-side service stopped: the -L forward down. The -D answers through SOCKS (socks_probe). Then
# `rtun-monitor audit`: clean on the shipped unit (exit 0), a seeded duplicate -L port and a unit without
# ExitOnForwardFailure found (exit 1); check logs the audit's errors once, not at every run. The ssh stopped:
# every forward down with it, one restart. The bastion's host key changed under the pinned tunnel:
# host_key_changed, no restart (not even of a failed unit), and the fix it names works.
. "$(dirname "$0")/lib.sh"

lab_init || t_die "lab_init"
lab_target_start || t_die "target sshd"
lab_bastion_start bastion-a.test || t_die "bastion a"
lab_container_start || t_die "container"
cp "${RTUN_BIN:-$T_SRC/build/rtun-monitor}" "$LAB/rtun-monitor" || t_die "copy monitor"
PA=$(lab_port_alloc) && PH=$(lab_port_alloc) && HPORT=$(lab_port_alloc) && SPORT=$(lab_port_alloc) &&
        LPORT=$(lab_port_alloc) && DPORT=$(lab_port_alloc) && MPORT=$(lab_port_alloc) && RPORT=$(lab_port_alloc) ||
        t_die "ports"
U=reverse-ssh@fw.test.service

# ---- the services: an HTTP server the -R forwards to, one on the bastion's side the -L reaches (both on the
# shared loopback); started and stopped by pid.
http_start() { # NAME PORT
        python3 -m http.server --bind 127.0.0.1 "$2" --directory "$LAB" >"$LAB/http-$1.log" 2>&1 &
        echo $! >"$LAB/http-$1.pid"
        lab_on_cleanup "http_stop $1"
        t_until 20 "lab_banner $2 1 >/dev/null 2>&1; [[ \$? == 2 || \$? == 0 ]]" || true
        t_until 20 "(exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null"
}
http_stop() {
        local f=$LAB/http-$1.pid pid
        [[ -f $f ]] || return 0
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -f "$f"
}
http_start rtarget "$HPORT" || t_die "precondition: HTTP server for the -R forward"
http_start bservice "$SPORT" || t_die "precondition: HTTP service on the bastion's side"

# The key may listen on PA and PH and open PA, PH (the probes of the -R forwards), SPORT (the -L) and the
# target sshd (the SOCKS CONNECT of socks_probe).
for p in "$PH" "$SPORT" "$LAB_TPORT"; do lab_bastion_authorize bastion-a.test "$p" || t_die "authorize $p"; done
lab_bastion_alias fw.test bastion-a.test "RemoteForward localhost:$PH localhost:$HPORT" \
        "LocalForward localhost:$LPORT localhost:$SPORT" "DynamicForward localhost:$DPORT" || t_die "alias fw.test"
lab_tunnel_add fw.test "$PA" || t_die "tunnel fw.test"

# ---- receiver
python3 "$T_SRC/tests/integration/receiver.py" --port "$RPORT" --log "$LAB/recv.log" >"$LAB/recv.out" 2>&1 &
echo $! >"$LAB/recv.pid"
lab_on_cleanup 'kill $(cat "$LAB/recv.pid") 2>/dev/null'
t_until 30 "grep -q '^PORT' '$LAB/recv.out'" || t_die "receiver did not start: $(cat "$LAB/recv.out")"
got() { jq -r '.body | fromjson | "\(.event) \(.forward)"' "$LAB/recv.log" 2>/dev/null; }

cat >"$LAB/fw.conf" <<CONF
[monitor]
interval = 1s
timeout = 3s
failures = 2
grace = 5s
[metrics]
listen = 127.0.0.1:$MPORT
[alert hook]
type = webhook
url = http://127.0.0.1:$RPORT/hook
events = down recovered restarted forward_down forward_up
[tunnel "$U"]
forward_send = localhost:$PH GET / HTTP/1.0\r\n\r\n
forward_expect = localhost:$PH ^HTTP/1\.[01] 200
forward_send = localhost:$LPORT GET / HTTP/1.0\r\n\r\n
forward_expect = localhost:$LPORT ^HTTP/
socks_probe = localhost:$LAB_TPORT
forward_expect = localhost:$DPORT ^SSH-
CONF

# ---- 1. status: every forward up, the -D through SOCKS to the target sshd.
t_monitor status --config /lab/fw.conf --json
t_eq "status: exit 0 with every forward up" "$RC" 0
fw_state() { jq -r --arg u "$U" --arg d "$1" --arg f "$2" \
        '.tunnels[] | select(.name == $u) | .forwards[] | select(.direction == $d and .forward == $f) | .state' <<<"$OUT"; }
t_eq "status: -R ssh (the tunnel's own) up" "$(fw_state remote "localhost:$PA")" up
t_eq "status: -R http up (answered ^HTTP/1.x 200)" "$(fw_state remote "localhost:$PH")" up
t_eq "status: -L up (destination from the bastion's side, listener here)" "$(fw_state local "localhost:$LPORT")" up
t_eq "status: -D up (SOCKS CONNECT to the target's sshd)" "$(fw_state dynamic "localhost:$DPORT")" up
t_eq "status: 4 forwards listed" "$(jq --arg u "$U" '[.tunnels[] | select(.name == $u) | .forwards[]] | length' <<<"$OUT")" 4
t_monitor status --config /lab/fw.conf
t_match "status text: forwards under their tunnel" "$OUT" "- dynamic +localhost:$DPORT -> SOCKS +up"

# ---- 2. the daemon
t_daemon_install "--config /lab/fw.conf" || t_die "daemon install"
lab_exec systemctl start rtun-monitord.service || t_die "daemon start"
metric() { curl -s -m 3 "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | awk '{ print $2 }' | head -1; }
fwup() { metric "rtun_forward_up{name=\"$U\",bastion=\"127.0.0.1:$(lab_bastion_port bastion-a.test)\",forward=\"$1\",direction=\"$2\"}"; }
t_until 30 '[[ $(fwup localhost:$PH remote) == 1 && $(fwup localhost:$LPORT local) == 1 && $(fwup localhost:$DPORT dynamic) == 1 ]]' ||
        t_die "precondition: the daemon sees every forward up ($(curl -s -m 3 http://127.0.0.1:$MPORT/metrics | grep rtun_forward_up))"
t_pass "daemon: every forward up in ${WAITED}s"
curl -s -m 3 "http://127.0.0.1:$MPORT/metrics" >"$LAB/metrics.txt"
PROM=$(promtool check metrics <"$LAB/metrics.txt" 2>&1)
t_eq "promtool check metrics: clean" "$PROM" ""
NR0=$(lab_unit_nrestarts fw.test)
PID0=$(lab_unit_mainpid fw.test)

# ---- 3. the -R HTTP target stopped: that forward down and alerted; the tunnel up; no restart.
http_stop rtarget
t_until 30 '[[ $(fwup localhost:$PH remote) == 0 ]]' && t_pass "HTTP target stopped: its forward down in ${WAITED}s" ||
        t_fail "HTTP target stopped: forward still up"
t_until 15 'got | grep -qx "forward_down localhost:$PH"' && t_pass "forward_down alerted for localhost:$PH" ||
        t_fail "no forward_down alert (got: $(got | tr '\n' ';'))"
sleep 3
t_eq "tunnel still up" "$(metric "rtun_tunnel_up{name=\"$U\"")" 1
t_eq "no restart by rtun-monitor" "$(metric "rtun_restarts_total{name=\"$U\",reason=\"probe\"}")" 0
t_eq "same ssh process" "$(lab_unit_mainpid fw.test)" "$PID0"
t_eq "systemd did not restart it either" "$(lab_unit_nrestarts fw.test)" "$NR0"
t_nomatch "no tunnel down alert" "$(got)" "^down "
FAILS=$(metric "rtun_forward_probe_failures_total{name=\"$U\",bastion=\"127.0.0.1:$(lab_bastion_port bastion-a.test)\",forward=\"localhost:$PH\",direction=\"remote\",reason=\"bad_response\"}")
t_expect "failures counted by reason (bad_response: $FAILS)" test "${FAILS:-0}" -ge 2
lab_exec /lab/rtun-monitor status --config /lab/fw.conf >"$LAB/status.txt" 2>&1
t_match "status names the forward's reason" "$(cat "$LAB/status.txt")" "localhost:$PH -> .* down .*bad_response"

# ---- 4. back: forward_up
http_start rtarget "$HPORT" || t_fail "HTTP target restart"
t_until 30 '[[ $(fwup localhost:$PH remote) == 1 ]]' && t_pass "HTTP target back: forward up in ${WAITED}s" ||
        t_fail "forward not up again"
t_until 15 'got | grep -qx "forward_up localhost:$PH"' && t_pass "forward_up alerted" || t_fail "no forward_up alert"

# ---- 5. the bastion-side service of the -L stopped: the local forward down; -D still up.
http_stop bservice
t_until 30 '[[ $(fwup localhost:$LPORT local) == 0 ]]' && t_pass "-L destination stopped: local forward down in ${WAITED}s" ||
        t_fail "-L forward still up"
t_until 15 'got | grep -qx "forward_down localhost:$LPORT"' && t_pass "forward_down alerted for the -L" || t_fail "no -L forward_down"
t_eq "-D still up" "$(fwup localhost:$DPORT dynamic)" 1
t_eq "tunnel still up after the -L went" "$(metric "rtun_tunnel_up{name=\"$U\"")" 1
t_eq "still the same ssh process" "$(lab_unit_mainpid fw.test)" "$PID0"

# ---- 5b. the tunnel's ssh stopped (SIGSTOP: systemd still says running): every forward down with it, one
# restart (reason stopped), every forward up again. The counters say it whatever the scrape timing.
http_start bservice "$SPORT" || t_fail "bastion-side service restart"
t_until 30 '[[ $(fwup localhost:$PA remote) == 1 && $(fwup localhost:$PH remote) == 1 && $(fwup localhost:$LPORT local) == 1 && $(fwup localhost:$DPORT dynamic) == 1 ]]' ||
        t_die "precondition: every forward up before the stop"
# A forward's failed probes, every reason (the probe in flight as ssh stopped times out, the next is process_stopped).
ffail() { curl -s -m 3 "http://127.0.0.1:$MPORT/metrics" | grep -F "rtun_forward_probe_failures_total{name=\"$U\",bastion=\"127.0.0.1:$(lab_bastion_port bastion-a.test)\",forward=\"$1\",direction=\"$2\"," | awk '{ n += $2 } END { print n + 0 }'; }
rst() { metric "rtun_restarts_total{name=\"$U\",reason=\"$1\"}"; }
S0=$(rst stopped) P0=$(rst probe) F0=$(rst failed) DOWN0=$(got | grep -c '^down ')
FD0=$(got | grep -cE "^forward_down localhost:($PA|$PH|$DPORT)$")
SF0=() && for f in "localhost:$PA remote" "localhost:$PH remote" "localhost:$LPORT local" "localhost:$DPORT dynamic"; do
        SF0+=("$(ffail $f)")
done
lab_fault_stop fw.test || t_die "SIGSTOP the tunnel's ssh"
t_until 60 '[[ $(rst stopped) == $((S0 + 1)) ]]' && t_pass "ssh stopped: restarted (reason stopped) in ${WAITED}s" ||
        t_fail "ssh stopped: no restart (stopped $(rst stopped), was $S0)"
i=0
for f in "localhost:$PA remote" "localhost:$PH remote" "localhost:$LPORT local" "localhost:$DPORT dynamic"; do
        n=$(ffail $f)
        t_expect "ssh stopped: forward ${f% *} ${f#* } judged down with it (failures ${SF0[i]} -> $n, monitor.failures 2)" \
                test "${n:-0}" -ge $((${SF0[i]:-0} + 2))
        i=$((i + 1))
done
t_until 60 '[[ $(fwup localhost:$PA remote) == 1 && $(fwup localhost:$PH remote) == 1 && $(fwup localhost:$LPORT local) == 1 && $(fwup localhost:$DPORT dynamic) == 1 ]]' &&
        t_pass "after the restart every forward up again in ${WAITED}s" || t_fail "forwards not all up after the restart"
sleep 3
t_eq "one restart only (stopped)" "$(rst stopped)" $((S0 + 1))
t_eq "no probe restart on top" "$(rst probe)" "$P0"
t_eq "no reset-and-start" "$(rst failed)" "$F0"
t_eq "one down alert for the tunnel" "$(got | grep -c '^down ')" $((DOWN0 + 1))
t_eq "no forward_down alert while the tunnel itself was down" "$(got | grep -cE "^forward_down localhost:($PA|$PH|$DPORT)$")" "$FD0"
lab_fault_cont fw.test
PID0=$(lab_unit_mainpid fw.test)
http_stop bservice
t_until 30 '[[ $(fwup localhost:$LPORT local) == 0 ]]' || t_fail "precondition for 6: the -L down again"
lab_exec systemctl stop rtun-monitord.service

# ---- 6. check (its own state file): a forward down is announced once across runs, forward_up when back.
http_stop rtarget
cnt() { got | grep -cx "$1"; }
D0=$(cnt "forward_down localhost:$PH") L0=$(cnt "forward_down localhost:$LPORT") U0=$(cnt "forward_up localhost:$PH")
t_monitor check --config /lab/fw.conf
t_eq "check: exit 0 (the tunnel is up: a forward down is not the tunnel down)" "$RC" 0
t_eq "check: forward_down for the -R http" "$(cnt "forward_down localhost:$PH")" $((D0 + 1))
t_eq "check: forward_down for the -L" "$(cnt "forward_down localhost:$LPORT")" $((L0 + 1))
t_monitor check --config /lab/fw.conf
t_eq "check again: not announced again" "$(cnt "forward_down localhost:$PH")" $((D0 + 1))
http_start rtarget "$HPORT" || t_fail "HTTP target restart"
t_monitor check --config /lab/fw.conf
t_eq "check: forward_up once it answers" "$(cnt "forward_up localhost:$PH")" $((U0 + 1))
t_eq "check: the -L still down, not announced again" "$(cnt "forward_down localhost:$LPORT")" $((L0 + 1))
t_eq "check: no tunnel restarted" "$(lab_unit_mainpid fw.test)" "$PID0"

# ---- 7. audit: the shipped unit is clean.
t_monitor audit --config /lab/fw.conf
t_eq "audit: shipped unit clean, exit 0" "$RC" 0
t_match "audit: says so" "$OUT" "No findings"

# A second unit, a hand-written ExecStart binding the same -L port and asking for the same remote port, without
# ExitOnForwardFailure: started, it runs on without either forward ("Address already in use", "remote port
# forwarding failed"), as the article warns. (audit looks at the units systemd has loaded.)
printf '[Unit]\nDescription=seeded pitfalls\n[Service]\nExecStart=/usr/bin/ssh -N -o ServerAliveInterval=30 -o ControlMaster=yes -o ControlPath=/run/bad.ctl -i /lab/keys/client -L %s:localhost:22 -R localhost:%s:localhost:22 reverse-ssh@bastion-a.test\nRestart=always\n' \
        "$LPORT" "$PA" | lab_put /etc/systemd/system/reverse-ssh@bad.test.service && lab_exec systemctl daemon-reload &&
        lab_exec systemctl start reverse-ssh@bad.test.service || t_die "seeded unit"
t_until 20 '[[ $(lab_unit_state reverse-ssh@bad.test.service) == active ]]' || t_die "precondition: seeded unit runs"
t_monitor audit --config /lab/fw.conf
t_eq "audit: findings, exit 1" "$RC" 1
t_match "audit: duplicate local port found" "$OUT" "reverse-ssh@bad.test.service: error: local_port_shared: -L localhost:$LPORT binds local port $LPORT"
t_match "audit: ... and named on the other unit too" "$OUT" "reverse-ssh@fw.test.service: error: local_port_shared: -L localhost:$LPORT binds local port $LPORT, as -L of reverse-ssh@bad.test.service"
t_match "audit: same remote port on the same bastion" "$OUT" "reverse-ssh@bad.test.service: error: remote_port_shared: asks bastion 127.0.0.1:[0-9]+ for remote port $PA, as reverse-ssh@fw.test.service does"
t_match "audit: an unpinned host key found" "$OUT" "reverse-ssh@bad.test.service: error: host_key_unpinned: StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null"
t_match "audit: missing ExitOnForwardFailure found" "$OUT" "reverse-ssh@bad.test.service: warning: no_exit_on_forward_failure"
t_nomatch "audit: the shipped unit has no finding of its own" "$OUT" "fw.test.service: (error|warning): no_"
t_monitor audit --config /lab/fw.conf --json
t_eq "audit --json: exit 1" "$RC" 1
t_eq "audit --json: checks of the seeded unit" \
        "$(jq -r '[.findings[] | select(.unit == "reverse-ssh@bad.test.service") | .check] | sort | join(",")' <<<"$OUT" 2>&1)" \
        "host_key_unpinned,local_port_shared,no_exit_on_forward_failure,remote_port_shared"
# The other pitfalls, each unit with its own (started: audit reads the units systemd has loaded). pit2: the
# identity file missing, no ServerAliveInterval, no ControlPath, Restart=on-failure; pit3: a key others may read.
P2=$(lab_port_alloc) && P3=$(lab_port_alloc) || t_die "ports (pitfalls)"
cp "$LAB/keys/client" "$LAB/keys/client-open" && chmod 0644 "$LAB/keys/client-open" || t_die "an exposed key"
printf '[Service]\nExecStart=/usr/bin/ssh -N -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/run/pit2.kh -o ExitOnForwardFailure=yes -i /lab/keys/nonexistent -R localhost:%s:localhost:22 reverse-ssh@bastion-a.test\nRestart=on-failure\n' \
        "$P2" | lab_put /etc/systemd/system/reverse-ssh@pit2.test.service &&
        printf '[Service]\nExecStart=/usr/bin/ssh -N -o ServerAliveInterval=30 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/run/pit3.kh -o ExitOnForwardFailure=yes -o ControlMaster=yes -o ControlPath=/run/pit3.ctl -i /lab/keys/client-open -R localhost:%s:localhost:22 reverse-ssh@bastion-a.test\nRestart=always\n' \
        "$P3" | lab_put /etc/systemd/system/reverse-ssh@pit3.test.service && lab_exec systemctl daemon-reload &&
        lab_exec systemctl start reverse-ssh@pit2.test.service reverse-ssh@pit3.test.service || t_die "pitfall units"
t_monitor audit --config /lab/fw.conf
t_eq "audit (pitfalls): exit 1" "$RC" 1
t_match "audit: a missing identity file" "$OUT" "reverse-ssh@pit2.test.service: error: identity_inaccessible: identity file /lab/keys/nonexistent"
t_match "audit: no ServerAliveInterval" "$OUT" "reverse-ssh@pit2.test.service: warning: no_server_alive"
t_match "audit: no ControlPath" "$OUT" "reverse-ssh@pit2.test.service: warning: no_control_path"
t_match "audit: Restart= not always" "$OUT" "reverse-ssh@pit2.test.service: warning: restart_not_always"
t_match "audit: a key others may read" "$OUT" "reverse-ssh@pit3.test.service: error: identity_exposed: identity file /lab/keys/client-open has mode 0644"
t_monitor audit --config /lab/fw.conf --json
t_eq "audit --json (pitfalls): each unit's checks" \
        "$(jq -r '[.findings[] | select(.unit | test("pit")) | "\(.unit | sub("reverse-ssh@"; "") | sub(".service"; "")):\(.check)"] | sort | join(",")' <<<"$OUT" 2>&1)" \
        "pit2.test:identity_inaccessible,pit2.test:no_control_path,pit2.test:no_server_alive,pit2.test:restart_not_always,pit3.test:identity_exposed"
t_eq "audit --json: still no no_* finding of the shipped unit" \
        "$(jq '[.findings[] | select(.unit == "reverse-ssh@fw.test.service" and (.check | startswith("no_")))] | length' <<<"$OUT")" 0
# check logs the audit's errors, each once per change (its state file), not every run.
t_monitor check --config /lab/fw.conf
t_match "check: logs the audit's errors" "$OUT" "audit: reverse-ssh@bad.test.service: error: local_port_shared"
t_nomatch "check: not its warnings" "$OUT" "audit: .*no_exit_on_forward_failure"
t_monitor check --config /lab/fw.conf
t_nomatch "check again: not logged again" "$OUT" "audit: reverse-ssh@bad.test.service: error: local_port_shared"
t_monitor audit --config /lab/fw.conf --dry-run
t_eq "audit --dry-run: usage, exit 2" "$RC" 2

# ---- 8. the bastion's host key changes under the running tunnel. The shipped unit pins it (accept-new, a
# known_hosts per instance): ssh refuses the new key at every start. rtun-monitor says host_key_changed with
# ssh's own fix, restarts nothing, and does not reset the unit once systemd gives up on it (start limit);
# the fix it names, then a restart, brings the tunnel back on the new key.
# Unpinned, bad.test would take the port meanwhile; the pitfall units would add their own alerts.
lab_exec systemctl stop reverse-ssh@bad.test.service reverse-ssh@pit2.test.service reverse-ssh@pit3.test.service
KH=/var/lib/reverse-ssh/fw.test/known_hosts
t_eq "precondition: the unit pinned the bastion's key" "$(lab_exec ssh-keygen -lf "$KH" 2>/dev/null | awk '{ print $2 }')" \
        "$(ssh-keygen -lf "$LAB/bastions/bastion-a.test/hostkey.pub" | awk '{ print $2 }')"
lab_exec systemctl start rtun-monitord.service || t_die "daemon start (8)"
t_until 30 '[[ $(metric "rtun_tunnel_up{name=\"$U\"") == 1 ]]' || t_die "precondition: tunnel up under the daemon (8)"
gotu() { jq -r --arg u "$U" '.body | fromjson | select(.name == $u) | .event' "$LAB/recv.log" 2>/dev/null; }
S0=$(rst stopped) P0=$(rst probe) F0=$(rst failed) DOWN0=$(gotu | grep -c '^down$')
hk() { metric "rtun_probe_failures_total{name=\"$U\",bastion=\"127.0.0.1:$(lab_bastion_port bastion-a.test)\",forward=\"localhost:$PA\",reason=\"host_key_changed\"}"; }
REC0=$(gotu | grep -c '^recovered$')
BD=$LAB/bastions/bastion-a.test
ssh-keygen -q -t ed25519 -N '' -C rtunlab-newkey -f "$BD/newkey" || t_die "new host key"
# The new key in place at once: the bastion is away for as short a time as it can be.
lab_bastion_stop bastion-a.test || t_die "bastion stop"
mv -f "$BD/newkey" "$BD/hostkey" && mv -f "$BD/newkey.pub" "$BD/hostkey.pub" || t_die "swap host key"
lab_bastion_start bastion-a.test || t_die "bastion start with a new key"
t_until 90 '[[ $(hk) -ge 1 ]]' && t_pass "new bastion key: reason host_key_changed in ${WAITED}s" ||
        t_fail "no host_key_changed (failures: $(curl -s -m 3 http://127.0.0.1:$MPORT/metrics | grep "failures_total{name=\"$U\"" | grep -v ' 0$'))"
lab_journal fw.test | grep -q "REMOTE HOST IDENTIFICATION HAS CHANGED" && t_pass "the unit's ssh refused the key (journal)" ||
        t_fail "the unit's journal has no refused key"
t_until 30 '[[ $(gotu | grep -c "^down$") -gt $DOWN0 ]]' && t_pass "down alerted" || t_fail "no down alert"
DREASON=$(jq -r --arg u "$U" '.body | fromjson | select(.event == "down" and .name == $u) | .reason' "$LAB/recv.log" | tail -n 1)
t_match "the down alert names host_key_changed" "$DREASON" "host_key_changed"
t_match "... and ssh's own fix for it" "$DREASON" "ssh-keygen -f \"$KH\" -R "
# systemd retries every RestartSec; rtun-monitor adds nothing on top.
sleep 8
t_eq "while systemd retries: no restart by rtun-monitor (probe)" "$(rst probe)" "$P0"
t_eq "... (stopped)" "$(rst stopped)" "$S0"
# systemd gives up on it (a start limit): the unit is failed, and still nothing of ours happens.
printf '[Unit]\nStartLimitIntervalSec=1h\nStartLimitBurst=1\n' | lab_put /etc/systemd/system/reverse-ssh@fw.test.service.d/60-limit.conf &&
        lab_exec systemctl daemon-reload || t_die "start limit drop-in"
t_until 60 '[[ $(lab_unit_state fw.test) == failed ]]' && t_pass "systemd gave up on the unit in ${WAITED}s" ||
        t_fail "unit not failed ($(lab_unit_state fw.test))"
sleep 10
t_eq "unit failed: not reset and started by rtun-monitor" "$(rst failed)" "$F0"
t_eq "unit failed: still failed (nobody restarted it)" "$(lab_unit_state fw.test)" failed
t_eq "no restart at all (probe)" "$(rst probe)" "$P0"
t_monitor status --config /lab/fw.conf --json
REASON=$(jq -r --arg u "$U" '.tunnels[] | select(.name == $u) | .reason' <<<"$OUT")
t_eq "status: state failed" "$(jq -r --arg u "$U" '.tunnels[] | select(.name == $u) | .state' <<<"$OUT")" failed
t_match "status: reason host_key_changed, with how to accept the key" "$REASON" "^host_key_changed: .*if the new key is legitimate: ssh-keygen -f \"$KH\" -R \"[^\"]*\", then systemctl restart $U"
# The operator checks the new key, then runs the reason's fix.
FIX=$(grep -o 'ssh-keygen -f "[^"]*" -R "[^"]*"' <<<"$REASON" | head -1)
lab_exec sh -c "$FIX" >/dev/null 2>&1 && t_pass "the reason's fix runs: $FIX" || t_fail "the fix failed: $FIX"
lab_exec rm -f /etc/systemd/system/reverse-ssh@fw.test.service.d/60-limit.conf
lab_exec systemctl daemon-reload
lab_exec systemctl reset-failed "$U"
lab_exec systemctl restart "$U" || t_fail "operator's restart"
t_until 60 '[[ $(metric "rtun_tunnel_up{name=\"$U\"") == 1 ]]' && t_pass "key accepted: tunnel up in ${WAITED}s" ||
        t_fail "tunnel not up after the fix"
t_until 15 '[[ $(gotu | grep -c "^recovered$") -gt $REC0 ]]' && t_pass "recovered alerted" || t_fail "no recovered alert"
t_eq "the new key pinned" "$(lab_exec ssh-keygen -lf "$KH" 2>/dev/null | awk '{ print $2 }')" \
        "$(ssh-keygen -lf "$LAB/bastions/bastion-a.test/hostkey.pub" | awk '{ print $2 }')"
t_eq "through it all, no restart by rtun-monitor" "$(rst probe)/$(rst stopped)/$(rst failed)" "$P0/$S0/$F0"
lab_exec systemctl stop rtun-monitord.service

t_summary
((T_FAIL == 0))
