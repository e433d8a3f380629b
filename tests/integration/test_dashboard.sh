#!/usr/bin/env bash
# docs/grafana-dashboard.json and docs/alerting-rules.yml against lab data (issue 15): rtun-monitord under
# systemd with a webhook receiver, a real Prometheus scraping it every second and evaluating the shipped
# rules, a stopped tunnel healed; then every panel's query, as Grafana would send it with the instance
# variable set to this host, answers without error and with data, and every rule evaluates with health ok.
. "$(dirname "$0")/lib.sh"
. "$T_SRC/tests/lab/prometheus.sh"
T_START=$(now)
t_lab_up

D=rtun-monitord.service
MP=$(lab_port_alloc) && RP=$(lab_port_alloc) || t_die "ports"
INSTANCE=127.0.0.1:$MP

# A webhook receiver on the host's loopback (tests/integration/receiver.py), so alert counters have data.
python3 "$T_SRC/tests/integration/receiver.py" --port "$RP" --log "$LAB/recv.log" >"$LAB/recv.out" 2>&1 &
echo $! >"$LAB/recv.pid"
lab_on_cleanup 'kill "$(cat "$LAB/recv.pid")" 2>/dev/null'
t_until 60 'grep -q "^PORT" "$LAB/recv.out"' || t_die "receiver did not start: $(cat "$LAB/recv.out")"
printf '[alert hook]\ntype = webhook\nurl = http://127.0.0.1:%s/hook\nevents = down recovered restarted\n' "$RP" >"$LAB/dash.conf"

OPTS="--config /lab/dash.conf --monitor.interval=1s --monitor.failures=2 --monitor.timeout=2s --heal.backoff=1s"
OPTS+=" --metrics.listen=$INSTANCE"
t_daemon_install "$OPTS" || t_die "install $D"
lab_exec systemctl start $D || t_die "start $D"
LAB_PROM_RULES=$T_SRC/docs/alerting-rules.yml lab_prom_start "$INSTANCE" 1s || t_die "prometheus"

# Healthy for a few scrapes (the counters' zeros are stored), then a stopped tunnel the daemon heals.
lab_prom_wait "count(rtun_tunnel_up{instance=\"$INSTANCE\"} == 1) == 2" 60 >/dev/null ||
        t_die "precondition: Prometheus never saw both tunnels up"
sleep 3
a0=$(lab_unit_mainpid $UA)
lab_fault_stop $UA || t_fail "fault stop"
t_until 60 '[[ $(lab_unit_mainpid $UA) != "$a0" ]]' || t_fail "precondition: the daemon did not restart the stopped tunnel"
lab_prom_wait "sum(rtun_alerts_total{instance=\"$INSTANCE\",event=\"recovered\"}) >= 1" 60 >/dev/null ||
        t_fail "precondition: Prometheus never saw the recovered alert delivered"
lab_prom_wait "rtun_tunnel_up{instance=\"$INSTANCE\",name=\"$UA\"} == 1" 60 >/dev/null ||
        t_fail "precondition: Prometheus never saw tunnel a up again"
sleep 3 # a few more samples after the recovery

# Grafana's template variable: label_values(rtun_build_info, instance) must offer this host.
vars=$(curl -sf --max-time 5 -G --data-urlencode 'match[]=rtun_build_info' "$LAB_PROM_URL/api/v1/label/instance/values")
offers_instance() { jq -r '.data[]?' <<<"$vars" 2>/dev/null | grep -qxF "$INSTANCE"; }
t_expect "dashboard: variable instance (label_values(rtun_build_info, instance)) offers $INSTANCE" offers_instance

# Every panel's targets, with $instance as Grafana sends one selected host (its dots match themselves too).
panels=$(python3 - "$T_SRC/docs/grafana-dashboard.json" <<'EOF'
import json, sys
for p in json.load(open(sys.argv[1]))["panels"]:
    for t in p.get("targets", []):
        if t.get("expr"):
            print(p["title"] + "\x1f" + t.get("legendFormat", "") + "\x1f" + t["expr"])
EOF
) || t_die "read docs/grafana-dashboard.json"
n=0
# \x1f, not a tab: IFS folds runs of whitespace, so an empty legend would shift the fields.
while IFS=$'\x1f' read -r title legend expr; do
        q=${expr//\$instance/$INSTANCE}
        q=${q//\$__rate_interval/5m} # Grafana's: at least 4 scrape intervals
        out=$(curl -s --max-time 10 --data-urlencode "query=$q" "$LAB_PROM_URL/api/v1/query")
        status=$(jq -r '.status' <<<"$out" 2>/dev/null)
        count=$(jq -r '.data.result | length' <<<"$out" 2>/dev/null)
        if [[ $status == success && $count -gt 0 ]]; then
                t_pass "panel '$title' ($legend): $count series for $q"
        else
                t_fail "panel '$title' ($legend): $q answered status '$status', $count series: ${out:0:300}"
        fi
        n=$((n + 1))
done <<<"$panels"
t_expect "dashboard: $n panel queries run (every target of the file)" test "$n" -ge 10

# The shipped rules, evaluated by this Prometheus on the same data: all loaded, none in error.
rules=$(curl -sf --max-time 5 "$LAB_PROM_URL/api/v1/rules")
t_eq "rules: every rule of docs/alerting-rules.yml loaded" \
        "$(jq -r '[.data.groups[].rules[]] | length' <<<"$rules" 2>/dev/null)" \
        "$(grep -c '^      - alert:' "$T_SRC/docs/alerting-rules.yml")"
t_until 10 '[[ $(curl -sf --max-time 5 "$LAB_PROM_URL/api/v1/rules" | jq -r "[.data.groups[].rules[] | select(.health != \"ok\")] | length") == 0 ]]'
t_eq "rules: every rule evaluates with health ok" \
        "$(curl -sf --max-time 5 "$LAB_PROM_URL/api/v1/rules" | jq -r '[.data.groups[].rules[] | select(.health != "ok") | "\(.name): \(.health) \(.lastError)"] | join("; ")')" ""

echo "test_dashboard: $(since "$T_START") s in all"
t_summary
((T_FAIL == 0))
