#!/usr/bin/env bash
# TLS and authentication on /metrics and /sd (issue 13): the Prometheus exporter-toolkit web config, the
# same files `promtool check web-config` accepts. The host daemon (shipped rtun-monitord.service in the
# container) serves /metrics over TLS with basic auth; the bastion daemon (on the host) serves /sd the same
# way; one real Prometheus finds the host through the bastion's /sd (http_sd_configs with tls_config and
# basic_auth) and scrapes it with its tls_config and basic_auth. curl without credentials gets 401 with
# WWW-Authenticate, a wrong password 401, plain HTTP to the TLS port is refused, and each refusal is
# counted in rtun_http_refused_total{reason} and logged once per source and minute. The file is re-read
# when it changes (a user added and one removed, then client certificates required: a certificate from
# another CA is refused, Prometheus's own still works, same MainPID). A broken new file keeps the one
# before and is logged once; a bad file at start is exit 2 with FILE:LINE. Certificates made here with
# openssl, hashes with htpasswd -B.
. "$(dirname "$0")/lib.sh"
. "$T_SRC/tests/lab/prometheus.sh"
T_START=$(date +%s)
BIN=${RTUN_BIN:-$T_SRC/build/rtun-monitor}
for tool in openssl htpasswd promtool; do
        command -v $tool >/dev/null || t_die "precondition: $tool missing (tests/lab/install-deps.sh)"
done
SCRAPE_BOUND=20 # first samples in Prometheus after it starts (1 s interval; slack for a busy machine)
RELOAD_BOUND=5  # a changed file applies to the next connection; the daemon's loop may be busy

t_lab_up
D=rtun-monitord.service
MP=$(lab_port_alloc) || t_die "precondition: metrics port"
BL=$(lab_port_alloc) || t_die "precondition: bastion daemon port"
W=$LAB/web # seen as /lab/web inside the container
mkdir -p "$W" && chmod 0755 "$W" || t_die "precondition: $W"

# ---- certificates: a CA, the server's (SAN 127.0.0.1 and localhost), Prometheus's client certificate,
# and a client certificate from another CA.
ossl() { openssl "$@" 2>"$W/openssl.err" || { cat "$W/openssl.err"; return 1; }; }
mkcert() { # mkcert NAME CN CA EXTFILE|"": NAME.key, NAME.crt signed by CA (self-signed when CA is "")
        ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$1.key" -out "$W/$1.csr" \
                -subj "/CN=$2" || return 1
        if [[ -z $3 ]]; then
                ossl x509 -req -in "$W/$1.csr" -signkey "$W/$1.key" -out "$W/$1.crt" -days 2 \
                        -extfile <(printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n')
        else
                ossl x509 -req -in "$W/$1.csr" -CA "$W/$3.crt" -CAkey "$W/$3.key" -CAcreateserial -out "$W/$1.crt" \
                        -days 2 ${4:+-extfile "$4"}
        fi
}
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$W/server.ext"
printf 'extendedKeyUsage=clientAuth\n' >"$W/client.ext"
{ mkcert ca "rtun lab CA" "" && mkcert server localhost ca "$W/server.ext" &&
        mkcert prom prometheus ca "$W/client.ext" && mkcert otherca "other CA" "" &&
        mkcert intruder prometheus otherca "$W/client.ext"; } || t_die "precondition: certificates"
chmod 0600 "$W"/*.key && chmod 0644 "$W"/*.crt || t_die "precondition: modes"

PW=scrape-$RANDOM$RANDOM
OPS_PW=ops-$RANDOM$RANDOM
hash() { htpasswd -nbBC 10 "" "$1" | tr -d ':\n'; }
PW_HASH=$(hash "$PW") && OPS_HASH=$(hash "$OPS_PW") && [[ $PW_HASH == '$2y$10$'* ]] || t_die "precondition: htpasswd -B"
printf '%s' "$PW" >"$W/prom.pass" && chmod 0600 "$W/prom.pass"

# The host daemon's web config, relative paths (the file's directory, as exporter-toolkit).
cat >"$W/web.yml" <<EOF
# /metrics of the host daemon (tests/integration/test_web_tls.sh)
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  min_version: TLS12
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: $PW_HASH
  old: $OPS_HASH
EOF
cat >"$W/bastion-web.yml" <<EOF
tls_server_config:
  cert_file: $W/server.crt
  key_file: $W/server.key
basic_auth_users:
  prometheus: $PW_HASH
EOF
chmod 0644 "$W/web.yml" "$W/bastion-web.yml"
t_match "promtool check web-config accepts the host's file" "$(promtool check web-config "$W/web.yml" 2>&1)" "SUCCESS"
t_match "promtool check web-config accepts the bastion's file" "$(promtool check web-config "$W/bastion-web.yml" 2>&1)" \
        "SUCCESS"

# ===== 1. the host daemon over TLS with basic auth
t_daemon_install "--monitor.interval=1s --metrics.listen=127.0.0.1:$MP --metrics.web_config=/lab/web/web.yml" ||
        t_die "precondition: daemon unit"
lab_exec systemctl start $D || { lab_journal $D | tail -n 20; t_die "precondition: systemctl start $D"; }
PID0=$(lab_exec systemctl show -p MainPID --value $D)
URL=https://127.0.0.1:$MP
TLS=(--cacert "$W/ca.crt")
MTLS=(--cacert "$W/ca.crt" --cert "$W/prom.crt" --key "$W/prom.key")
code() { curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$@"; }
scrape() { curl -s --max-time 5 "${MTLS[@]}" -u "prometheus:$PW" "$URL/metrics"; }
refused() { scrape | awk -v r="reason=\"$1\"" 'index($0, "rtun_http_refused_total{" r "}") == 1 { print $2 }'; }
t_until 20 '[[ $(code "${TLS[@]}" -u "prometheus:$PW" "$URL/healthz") == 200 ]]' ||
        { lab_journal $D | tail -n 20; t_die "precondition: the daemon answers over TLS within 20 s"; }
t_match "daemon: started" "$(lab_journal $D)" "Monitoring [0-9]+ tunnel"

t_eq "right user and password: 200" "$(code "${TLS[@]}" -u "prometheus:$PW" "$URL/metrics")" 200
t_match "right user and password: the metrics" "$(scrape)" $'\nrtun_tunnel_up\\{name="'"$UA"'"'
HEAD=$(curl -s -D - -o /dev/null --max-time 5 "${TLS[@]}" "$URL/metrics")
t_match "no credentials: 401" "$HEAD" "^HTTP/1.1 401"
t_match "no credentials: WWW-Authenticate: Basic" "$HEAD" $'\n''WWW-Authenticate: Basic'
t_match "http_server_config.headers on every answer" "$HEAD" $'\n''X-Content-Type-Options: nosniff'
t_eq "wrong password: 401" "$(code "${TLS[@]}" -u "prometheus:wrong" "$URL/metrics")" 401
t_eq "unknown user: 401" "$(code "${TLS[@]}" -u "nobody:$PW" "$URL/metrics")" 401
t_eq "no credentials, other paths too: /healthz 401" "$(code "${TLS[@]}" "$URL/healthz")" 401
PLAIN=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$MP/metrics")
PLAIN_RC=$?
t_expect "plain HTTP to the TLS port: refused (curl exit $PLAIN_RC, status $PLAIN)" test "$PLAIN_RC" -ne 0 -a "$PLAIN" != 200
curl -s -o /dev/null --max-time 5 "$URL/metrics"
t_expect "a client without our CA refuses the certificate (curl exit $?)" test $? -ne 0
t_expect "counted: no_auth >= 2 (got $(refused no_auth))" test "$(refused no_auth)" -ge 2
t_expect "counted: bad_auth >= 2 (got $(refused bad_auth))" test "$(refused bad_auth)" -ge 2
t_expect "counted: tls_handshake >= 1 (got $(refused tls_handshake))" test "$(refused tls_handshake)" -ge 1
t_eq "counted: client_cert 0" "$(refused client_cert)" 0
# All of that from 127.0.0.1 within a minute: one line in the journal.
NLOG=$(lab_journal $D | grep -c 'HTTP: refused 127.0.0.1')
t_eq "logged once per source and minute (journal lines)" "$NLOG" 1

# ===== 2. the bastion daemon's /sd over TLS; Prometheus finds the host through it and scrapes it
# One key line whose metrics port (ssh port + 1000) is the host daemon's: the fleet's shape, where the host
# forwards its metrics port through its tunnel (here the container shares the host's loopback).
SP=$((MP - 1000))
SC=$LAB/bastion-tls.sshd_config
lab_bastion_sshd_config bastion-tls.test >"$SC" || t_die "precondition: sshd_config"
AK=$W/authorized_keys
echo "restrict,port-forwarding,permitlisten=\"localhost:$SP\",permitlisten=\"localhost:$MP\" $(lab_host_key web-tls)" \
        >"$AK" || t_die "precondition: $AK"
cat >"$LAB/bastion-tls.conf" <<EOF
[monitor]
interval = 1s
[bastion]
authorized_keys = $AK
sshd_config = $SC
users = reverse-ssh
ssh_ports = $SP
service_ports = $MP
metrics_port_offset = 1000
listen = 127.0.0.1:$BL
web_config = $W/bastion-web.yml
EOF
mkdir -p "$LAB/bastion-state"
"${LAB_SPAWN[@]}" env STATE_DIRECTORY="$LAB/bastion-state" "$BIN" bastion daemon --config "$LAB/bastion-tls.conf" \
        </dev/null >"$LAB/bastion-daemon.log" 2>&1 &
BD=$!
bd_stop() {
        lab__alive "$BD" || return 0
        kill -TERM "$BD" 2>/dev/null
        local i
        for ((i = 0; i < 100; i++)); do lab__alive "$BD" || return 0; sleep 0.1; done
        kill -KILL "$BD" 2>/dev/null
}
lab_on_cleanup bd_stop
BURL=https://127.0.0.1:$BL
t_until 20 '[[ $(code "${TLS[@]}" -u "prometheus:$PW" "$BURL/healthz") == 200 ]]' ||
        { tail -n 20 "$LAB/bastion-daemon.log"; t_die "precondition: the bastion daemon answers over TLS within 20 s"; }
t_eq "bastion /sd over TLS with basic auth" "$(curl -s --max-time 5 "${TLS[@]}" -u "prometheus:$PW" "$BURL/sd")" \
        "[{\"targets\":[\"127.0.0.1:$MP\"],\"labels\":{\"host\":\"web-tls\"}}]"
t_eq "bastion /sd without credentials: 401" "$(code "${TLS[@]}" "$BURL/sd")" 401
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$BL/sd"
t_expect "bastion /sd in plain HTTP: refused (curl exit $?)" test $? -ne 0
t_match "bastion /metrics counts its refusals" "$(curl -s --max-time 5 "${TLS[@]}" -u "prometheus:$PW" "$BURL/metrics")" \
        $'\nrtun_http_refused_total\\{reason="no_auth"\\} 1\n'

lab__prom_run 1s "the host through the bastion's /sd, both over TLS" "    scheme: https
    basic_auth:
      username: prometheus
      password_file: $W/prom.pass
    tls_config:
      ca_file: $W/ca.crt
      cert_file: $W/prom.crt
      key_file: $W/prom.key
    http_sd_configs:
      - url: $BURL/sd
        refresh_interval: 1s
        basic_auth:
          username: prometheus
          password_file: $W/prom.pass
        tls_config:
          ca_file: $W/ca.crt" || t_die "precondition: prometheus"
if lab_prom_wait "rtun_tunnel_up{host=\"web-tls\",name=\"$UA\"} == 1" $SCRAPE_BOUND; then
        t_pass "prometheus: found the host through /sd over TLS and scraped it over TLS + basic auth (rtun_tunnel_up)"
else
        t_fail "prometheus: no rtun_tunnel_up{host=\"web-tls\"} within ${SCRAPE_BOUND} s"
        curl -s "$LAB_PROM_URL/api/v1/targets" | head -c 1500; echo
fi
t_eq "prometheus: the scrape is up" "$(lab_prom_query 'up{job="rtun",host="web-tls"}' | jq -r '.[0].value[1]')" 1

# ===== 3. re-read on change: a user added, one removed; then client certificates required
BEFORE_NOAUTH=$(refused no_auth)
t_eq "before the change: 'old' may scrape" "$(code "${TLS[@]}" -u "old:$OPS_PW" "$URL/metrics")" 200
t_eq "before the change: 'ops' may not" "$(code "${TLS[@]}" -u "ops:$OPS_PW" "$URL/metrics")" 401
sed -i "s/^  old: /  ops: /" "$W/web.yml"
t_until $RELOAD_BOUND '[[ $(code "${TLS[@]}" -u "ops:$OPS_PW" "$URL/metrics") == 200 ]]'
t_expect "re-read: 'ops' may scrape within ${RELOAD_BOUND} s (${WAITED} s), no restart" test "$(code "${TLS[@]}" -u "ops:$OPS_PW" "$URL/metrics")" = 200
t_eq "re-read: 'old' gets 401" "$(code "${TLS[@]}" -u "old:$OPS_PW" "$URL/metrics")" 401

cat >>"$W/web.yml.new" <<EOF
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
basic_auth_users:
  prometheus: $PW_HASH
  ops: $OPS_HASH
EOF
t_match "promtool check web-config accepts the mTLS file" "$(promtool check web-config "$W/web.yml.new" 2>&1)" "SUCCESS"
mv "$W/web.yml.new" "$W/web.yml" # as an editor or a config manager replaces it
t_until $RELOAD_BOUND '[[ $(code "${MTLS[@]}" -u "ops:$OPS_PW" "$URL/metrics") == 200 && $(code "${TLS[@]}" -u "ops:$OPS_PW" "$URL/metrics") != 200 ]]'
t_expect "mTLS: Prometheus's client certificate (our CA) scrapes within ${RELOAD_BOUND} s (${WAITED} s)" \
        test "$(code "${MTLS[@]}" -u "ops:$OPS_PW" "$URL/metrics")" = 200
BEFORE_CERT=$(refused client_cert)
NOCERT=$(code "${TLS[@]}" -u "ops:$OPS_PW" "$URL/metrics")
t_expect "mTLS: no client certificate: refused (status $NOCERT)" test "$NOCERT" != 200
OTHER=$(code --cacert "$W/ca.crt" --cert "$W/intruder.crt" --key "$W/intruder.key" -u "ops:$OPS_PW" "$URL/metrics")
t_expect "mTLS: a client certificate from another CA: refused (status $OTHER)" test "$OTHER" != 200
t_expect "mTLS: counted as client_cert (+2: $BEFORE_CERT -> $(refused client_cert))" \
        test "$(refused client_cert)" -ge $((BEFORE_CERT + 2))
t_eq "mTLS: a right certificate with no password still 401" "$(code "${MTLS[@]}" "$URL/metrics")" 401
t_expect "no_auth still counts after the re-reads ($BEFORE_NOAUTH -> $(refused no_auth))" \
        test "$(refused no_auth)" -gt "$BEFORE_NOAUTH"
sleep 3
t_eq "prometheus: still up under RequireAndVerifyClientCert" \
        "$(lab_prom_query 'min_over_time(up{job="rtun",host="web-tls"}[2s])' | jq -r '.[0].value[1]')" 1
t_eq "re-reads did not restart the daemon (MainPID)" "$(lab_exec systemctl show -p MainPID --value $D)" "$PID0"

# ===== 4. a broken new file keeps the one before, logged once
J0=$(lab_journal $D | wc -l)
cp "$W/web.yml" "$W/web.yml.good"
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n' >"$W/web.yml"
for _ in 1 2 3 4 5; do code "${MTLS[@]}" -u "ops:$OPS_PW" "$URL/metrics" >/dev/null; sleep 0.2; done
t_eq "broken file: the one before still serves" "$(code "${MTLS[@]}" -u "ops:$OPS_PW" "$URL/metrics")" 200
NEW=$(lab_journal $D | tail -n +$((J0 + 1)))
t_eq "broken file: logged once with FILE:LINE" "$(grep -c '^/lab/web/web.yml:4: invalid client_auth_type "Sometimes"' <<<"$NEW")" 1
mv "$W/web.yml.good" "$W/web.yml"
t_until $RELOAD_BOUND 'code "${MTLS[@]}" -u "ops:$OPS_PW" "$URL/healthz" >/dev/null
        [[ $(lab_journal $D | grep -c "web config /lab/web/web.yml read again") -ge 3 ]]'
t_expect "fixed file: read again" test $? -eq 0

# ===== 5. bad files at start: exit 2, FILE:LINE
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  ciphers: [x]\n' >"$W/bad.yml"
t_match "promtool rejects the bad file too" "$(promtool check web-config "$W/bad.yml" 2>&1)" "FAILED"
t_monitor check --metrics.web_config=/lab/web/bad.yml
t_eq "bad web config: exit 2" "$RC" 2
t_match "bad web config: FILE:LINE" "$OUT" '(^|'$'\n'')/lab/web/bad.yml:4: tls_server_config: unknown key "ciphers"'
cp "$W/bastion-web.yml" "$W/open.yml" && chmod 0666 "$W/open.yml"
t_monitor check --metrics.web_config=/lab/web/open.yml
t_eq "world-writable web config: exit 2" "$RC" 2
t_match "world-writable web config: says why" "$OUT" "/lab/web/open.yml: writable by others than root \\(mode 0666\\): refused"
timeout 30 "$BIN" bastion daemon --config "$LAB/bastion-tls.conf" \
        --bastion.web_config="$W/bad.yml" >"$LAB/bad-bastion.log" 2>&1
t_eq "bastion daemon with a bad web config: exit 2" "$?" 2
t_match "bastion daemon with a bad web config: FILE:LINE" "$(cat "$LAB/bad-bastion.log")" "$W/bad.yml:4: "

lab_exec systemctl stop $D
t_eq "daemon: stops cleanly" "$(lab_exec systemctl show -p Result --value $D)" success
echo "test_web_tls: $(since "$T_START") s"
t_summary
