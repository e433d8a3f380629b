# shellcheck shell=bash
# A real Prometheus server for lab tests, on the host's loopback (the container shares the network):
#   . tests/lab/prometheus.sh           # after lab.sh and lab_init
#   lab_prom_start TARGET [INTERVAL=1s] # scrapes http://TARGET/metrics; $LAB_PROM_URL; killed at lab_cleanup
#   lab_prom_start_sd URL [INTERVAL=1s] # scrapes what http_sd_configs URL lists (refreshed every INTERVAL)
#   lab_prom_query EXPR                 # instant query: the JSON "result" array on stdout
#   lab_prom_wait EXPR TIMEOUT          # until the instant query returns a non-empty result
#   lab_prom_samples EXPR               # raw samples of a range selector, one "unixtime value" per line
#   lab_prom_stop                       # by pid; idempotent
#   LAB_PROM_RULES=FILE lab_prom_start ...   # also evaluates the rules of FILE (every INTERVAL)
# No remote read/write, no alerting, storage under $LAB/prom, a port from lab_port_alloc.
LAB_PROM_BIN=${LAB_PROM_BIN:-/usr/bin/prometheus}
LAB_PROM_START_TIMEOUT=${LAB_PROM_START_TIMEOUT:-30}

lab_prom_start() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -n $1 ]] || { lab__err "usage: lab_prom_start HOST:PORT [INTERVAL]"; return 1; }
        lab__prom_run "${2:-1s}" "$1" "    static_configs:
      - targets: ['$1']"
}

# lab_prom_start_sd URL [INTERVAL=1s]: the targets come from Prometheus' HTTP service discovery at URL
# (http_sd_configs, refreshed every INTERVAL), with the labels it gives them.
lab_prom_start_sd() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ $1 == http://* ]] || { lab__err "usage: lab_prom_start_sd http://HOST:PORT/PATH [INTERVAL]"; return 1; }
        lab__prom_run "${2:-1s}" "targets of $1" "    http_sd_configs:
      - url: '$1'
        refresh_interval: ${2:-1s}"
}

# lab__prom_run INTERVAL DESCRIPTION SCRAPE_CONFIG_LINES: one job "rtun" with those lines.
lab__prom_run() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_prom_start || return 1
        local interval=$1 what=$2 sc=$3 dir=$LAB/prom port pid start i
        [[ -x $LAB_PROM_BIN ]] || { lab__err "lab_prom_start: $LAB_PROM_BIN missing (apt-get install prometheus)"; return 1; }
        [[ ! -f $dir/pid ]] || { lab__err "lab_prom_start: already running (pid $(cat "$dir/pid"))"; return 1; }
        mkdir -p "$dir/data" || return 1
        port=$(lab_port_alloc) || return 1
        cat >"$dir/prometheus.yml" <<EOF
# written by tests/lab/prometheus.sh: one job, the daemon under test; nothing remote
global:
  scrape_interval: $interval
  scrape_timeout: $interval
  evaluation_interval: $interval
${LAB_PROM_RULES:+rule_files: ['$LAB_PROM_RULES']}
scrape_configs:
  - job_name: rtun
$sc
EOF
        start=$(lab__now)
        "$LAB_PROM_BIN" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
                --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1h \
                --log.level=warn </dev/null >"$dir/log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/pid"
        lab_on_cleanup lab_prom_stop
        export LAB_PROM_URL=http://127.0.0.1:$port
        for ((i = 0; i < LAB_PROM_START_TIMEOUT * 10; i++)); do
                curl -sf -o /dev/null "$LAB_PROM_URL/-/ready" && break
                lab__alive "$pid" || break
                sleep 0.1
        done
        if ! curl -sf -o /dev/null "$LAB_PROM_URL/-/ready"; then
                lab__err "lab_prom_start: prometheus (pid $pid) not ready on $LAB_PROM_URL; its log:"
                tail -n 30 "$dir/log" >&2
                lab_prom_stop
                return 1
        fi
        lab__log "prometheus on $LAB_PROM_URL (pid $pid) scraping $what every $interval, ready in $(lab__since "$start") s"
}

lab_prom_stop() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -n ${LAB:-} && -f $LAB/prom/pid ]] || return 0
        local pid i
        pid=$(cat "$LAB/prom/pid")
        rm -f "$LAB/prom/pid"
        kill -TERM "$pid" 2>/dev/null || return 0
        for ((i = 0; i < 100; i++)); do
                lab__alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
                sleep 0.1
        done
        lab__err "prometheus $pid ignored SIGTERM for 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 0
}

lab_prom_query() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -n ${LAB_PROM_URL:-} ]] || { lab__err "lab_prom_query: no prometheus (lab_prom_start)"; return 1; }
        local out
        out=$(curl -sf --max-time 5 --data-urlencode "query=$1" "$LAB_PROM_URL/api/v1/query") ||
                { lab__err "lab_prom_query: query failed: $1"; return 1; }
        jq -ce 'select(.status == "success") | .data.result' <<<"$out" ||
                { lab__err "lab_prom_query: bad answer: ${out:0:300}"; return 1; }
}

lab_prom_wait() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local expr=$1 timeout=${2:-10} start res
        start=$(lab__now)
        while :; do
                res=$(lab_prom_query "$expr" 2>/dev/null) && [[ $res != "[]" ]] && { echo "$res"; return 0; }
                lab__within "$start" "$timeout" || break
                sleep 0.2
        done
        lab__err "lab_prom_wait: '$expr' empty after ${timeout}s"
        return 1
}

# lab_prom_samples 'metric{...}[2m]': every stored sample of the (single) series, oldest first.
lab_prom_samples() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local res
        res=$(lab_prom_query "$1") || return 1
        jq -r '.[0].values[]? | "\(.[0]) \(.[1])"' <<<"$res"
}
