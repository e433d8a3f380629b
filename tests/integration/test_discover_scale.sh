#!/usr/bin/env bash
# The daemon discovers more tunnel units than the system bus lets one connection wait for at once
# (dbus' max_replies_per_connection: 128 on Debian's system bus; 48 here, so that a systemd that answers
# fast cannot hide a burst): 200 units, every one with its properties, none refused with "maximum number of
# pending replies". Units are stand-ins (sleep), not tunnels: what is under test is discovery over the real
# bus of a real systemd, not probing.
. "$(dirname "$0")/lib.sh"
lab_init || t_die "lab_init"
lab_container_start || t_die "container"
cp "${RTUN_BIN:-$T_SRC/build/rtun-monitor}" "$LAB/rtun-monitor" || t_die "copy monitor"
N=${SCALE_UNITS:-200}
REPLIES=48
D=rtun-monitord.service
MP=$(lab_port_alloc) || t_die "metrics port"
URL=http://127.0.0.1:$MP
metrics() { curl -s --max-time 5 "$URL/metrics"; }

# Instance unit files of their own (they take precedence over any template), all started in one job batch.
lab_exec bash -c 'for i in $(seq -w 1 '"$N"'); do
        printf "[Service]\nExecStart=/bin/sleep infinity\n" >/run/systemd/system/reverse-ssh@fake$i.test.service
done; systemctl daemon-reload && systemctl start $(seq -f "reverse-ssh@fake%03g.test.service" 1 '"$N"')' ||
        t_die "start $N stand-in units"
t_eq "precondition: $N units active" "$(lab_exec systemctl list-units --no-legend --state=active 'reverse-ssh@fake*' | wc -l)" "$N"

# dbus-daemon reads system-local.conf at reload; the limit holds for connections made after (the daemon's).
printf '<busconfig>\n  <limit name="max_replies_per_connection">%s</limit>\n</busconfig>\n' $REPLIES |
        lab_put /etc/dbus-1/system-local.conf && lab_exec systemctl reload dbus.service || t_die "bus limit"
t_daemon_install "--monitor.interval=2s --monitor.timeout=5s --heal.enabled=no --metrics.listen=127.0.0.1:$MP" ||
        t_die "install $D"
lab_exec systemctl start $D || t_die "start $D"
t_until 60 'test "$(metrics | awk '"'"'$1 == "rtun_tunnels" { print $2 }'"'"')" = "'"$N"'"'
t_eq "discovery: rtun_tunnels = $N (${WAITED}s)" "$(metrics | awk '$1 == "rtun_tunnels" { print $2 }')" "$N"
# Two more rounds, so every GetAll of at least one full round is in.
sleep 5
m=$(metrics)
# The unit's active state comes from the listing; NRestarts only from the per-unit GetAll(Service).
t_eq "properties: every unit has its NRestarts series" \
        "$(grep -c '^rtun_unit_restarts_total{name="reverse-ssh@fake' <<<"$m")" "$N"
t_eq "properties: every unit active" \
        "$(grep -c '^rtun_unit_state{name="reverse-ssh@fake[0-9]*.test.service",state="active"} 1' <<<"$m")" "$N"
# Every unit moves at once (a bastion's fleet reconnecting): the next round reads all of them again.
lab_exec systemctl restart "reverse-ssh@fake*" || t_fail "restart the $N units"
sleep 6
t_eq "after all moved: rtun_tunnels = $N" "$(metrics | awk '$1 == "rtun_tunnels" { print $2 }')" "$N"
t_eq "after all moved: every unit active" \
        "$(metrics | grep -c '^rtun_unit_state{name="reverse-ssh@fake[0-9]*.test.service",state="active"} 1')" "$N"
log=$(lab_journal $D)
t_nomatch "properties: no GetAll refused or failed" "$log" "Failed to get properties|pending replies"
t_eq "the daemon still runs" "$(lab_exec systemctl is-active $D)" active
echo "---- daemon log (first 15 lines)"
head -n 15 <<<"$log" | sed 's/^/    /'
# The sleeps stopped before the container is: its shutdown then takes a second, not a timeout.
lab_exec systemctl stop "reverse-ssh@fake*" $D || true
t_summary
