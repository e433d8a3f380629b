# shellcheck shell=bash
# The rtun-monitor lab: a real systemd (nspawn), real bastion sshds, real tunnels, real faults.
# Every function prints a clear error on stderr and returns non-zero on failure; none calls exit, and
# each runs with its own shell options (safe under the caller's set -euo pipefail). All state lives in
# files under $LAB, so functions also work from subshells. Background: /work/shared/lab.md.
#
#   . tests/lab/lab.sh
#   lab_init                          # $LAB, keys, $LAB_TPORT; trap lab_cleanup EXIT (LAB_NO_TRAP=1: yours)
#   lab_target_start                  # "the host's own sshd" on 127.0.0.1:$LAB_TPORT
#   lab_bastion_start NAME            # sshd on 127.0.0.1:$(lab_bastion_port NAME); lab_bastion_stop NAME
#   lab_bastion_authorize NAME PORT [noopen]   # before lab_tunnel_add: noopen = probes are prohibited
#   lab_container_start               # systemd PID 1; lab_exec CMD..., lab_put PATH <file, /lab = $LAB
#   P=$(lab_port_alloc); lab_tunnel_add NAME $P [LPORT [KEY]]   # reverse-ssh@NAME.service up, 127.0.0.1:$P -> target
#   lab_banner PORT [T]               # first line within T (3) s; rc 2 timeout, 3 refused, 4 closed
#   lab_fault_stop UNIT..., lab_fault_cont UNIT...,  lab_fault_halfopen UNIT, lab_fault_clear, lab_unit_fail_hard UNIT
#   lab_unit_mainpid|lab_unit_nrestarts|lab_unit_state|lab_unit_ctlpath|lab_journal UNIT, lab_hostpid CPID
#   lab_listener_pid PORT            # who holds a bastion listener, seen without connecting to it
#   lab_on_cleanup CMD; lab_cleanup   # idempotent; LAB_KEEP=1 keeps $LAB for a post-mortem
#   lab_reap_stale                    # removes labs whose owner shell died (e.g. SIGKILL)
# A fleet on one bastion run from a real sshd_config (the bastion role, tests/integration/test_bastion.sh):
#   P=$(lab_port_block N [OFFSET])    # N consecutive free ports from P (and P+OFFSET.. too), reserved
#   lab_bastion_sshd_config NAME >F   # a complete sshd_config for NAME (port, host key, LogLevel VERBOSE...)
#   lab_bastion_start_conf NAME F [SSHD_ARG...]  # sshd -D -f F; its key file is the test's to write
#   lab_host_key HOST                 # HOST's own key (comment HOST); prints "ssh-ed25519 AAAA... HOST"
#   lab_host_fpr HOST                 # its SHA256:... fingerprint, as sshd.log names the key that logged in
#   lab_bastion_alias ALIAS NAME [SSH_CONFIG_LINE...]  # Host ALIAS = NAME's sshd (+ e.g. a RemoteForward)
#   lab_tunnel_add ALIAS P "" HOST    # reverse-ssh@ALIAS.service with HOST's key; lab_tunnel_start: no wait
# UNIT is a unit name or a bastion name or alias (NAME -> reverse-ssh@NAME.service).

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LAB_PY=/usr/bin/python3                 # the distribution's python: the container has no /root/.pyenv
LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-60}
LAB_TUNNEL_TIMEOUT=${LAB_TUNNEL_TIMEOUT:-20}
LAB_RESTART_SEC=${LAB_RESTART_SEC:-1}

lab__err() { echo "lab: ERROR: $*" >&2; }
lab__log() { [[ -n ${LAB_QUIET:-} ]] || echo "lab: $*" >&2; }
lab__need() { [[ -n ${LAB:-} && -d $LAB ]] || { lab__err "${1:-lab}: no lab (call lab_init first)"; return 1; }; }
lab__now() { date +%s.%N; }
# lab__within START SECONDS: true while less than SECONDS have passed since START (lab__now).
lab__within() { awk -v s="$1" -v t="$2" -v n="$(lab__now)" 'BEGIN { exit !(n - s < t) }'; }
lab__since() { awk -v a="$1" -v b="$(lab__now)" 'BEGIN { printf "%.2f", b - a }'; }
# Daemons die with the shell that started them (SIGTERM on its death, even by SIGKILL): no lab outlives
# its test. So call lab_*_start in the test's own shell, never inside $(...) or a pipeline.
# An array, not a function: `func &` would fork a subshell in between, and $! would be that subshell.
LAB_SPAWN=()
command -v setpriv >/dev/null && LAB_SPAWN=(setpriv --pdeathsig TERM)

# reverse-ssh@NAME.service for a bastion name, the name itself for a unit name.
lab__unit() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        case $1 in
        *.service | *.timer | *.socket | *.target) echo "$1" ;;
        *) echo "reverse-ssh@$1.service" ;;
        esac
}
# The bastion of a reverse-ssh@ unit (or the argument itself when it is a bastion name).
lab__bastion_of() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local u=$1
        u=${u%.service}
        echo "${u#reverse-ssh@}"
}

# A pid that still runs (not gone, not a zombie waiting for a parent that is not us).
lab__alive() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local st
        [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
        st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
        [[ $st != Z && $st != X ]]
}

# Every descendant of a pid (children first walked breadth-first), from one ps snapshot.
lab__descendants() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        ps -e -o pid=,ppid= | awk -v root="$1" '
                { parent[$1] = $2; pids[NR] = $1 }
                END {
                        want[root] = 1; changed = 1
                        while (changed) {
                                changed = 0
                                for (i in pids) { p = pids[i]; if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1 } }
                        }
                        for (p in want) if (p != root) print p
                }'
}

# Kill a pid and its descendants (sshd sessions outlive their listener), wait up to $2 s, then SIGKILL.
# The parent is stopped first so it forks nothing new (a tunnel reconnects within a second), and
# dies last, so its children are reaped (orphans linger as zombies under this machine's init).
lab__kill_tree() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid=$1 wait=${2:-5} kids p i
        lab__alive "$pid" || return 0
        kill -STOP "$pid" 2>/dev/null
        kids=$(lab__descendants "$pid")
        if [[ -n $kids ]]; then
                # shellcheck disable=SC2086 # a list of pids
                kill -TERM $kids 2>/dev/null
                for ((i = 0; i < 30; i++)); do
                        for p in $kids; do lab__alive "$p" && break; done
                        lab__alive "$p" || break
                        sleep 0.1
                done
                for p in $kids; do lab__alive "$p" && kill -KILL "$p" 2>/dev/null; done
        fi
        kill -TERM "$pid" 2>/dev/null
        kill -CONT "$pid" 2>/dev/null
        for ((i = 0; i < wait * 10; i++)); do
                lab__alive "$pid" || return 0
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        for ((i = 0; i < 20; i++)); do
                lab__alive "$pid" || return 0
                sleep 0.1
        done
        lab__err "pid $pid did not die"
        return 1
}

# ---------------------------------------------------------------------------------------------------
# Ports: from a high range outside the kernel's ephemeral range, not bound by anyone, not reserved by
# another lab (every lab lists its ports in /tmp/rtunlab.*/ports; /tmp itself is the lock).
lab_port_alloc() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_port_alloc || return 1
        local lo hi elo ehi p tries fd
        read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range
        if ((ehi < 64000)); then lo=$((ehi + 1)) hi=65000; else lo=20000 hi=$((elo - 1)); fi
        exec {fd}</tmp
        flock -w 10 "$fd" || { exec {fd}<&-; lab__err "lab_port_alloc: cannot lock /tmp"; return 1; }
        for ((tries = 0; tries < 200; tries++)); do
                p=$((lo + SRANDOM % (hi - lo + 1)))
                cat /tmp/rtunlab.*/ports 2>/dev/null | grep -qx "$p" && continue
                [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]] || continue
                echo "$p" >>"$LAB/ports"
                exec {fd}<&-
                echo "$p"
                return 0
        done
        exec {fd}<&-
        lab__err "lab_port_alloc: no free port in $lo-$hi after 200 tries"
        return 1
}

# lab_port_block N [OFFSET]: N consecutive free ports P..P+N-1 (and, with OFFSET, P+OFFSET..P+OFFSET+N-1
# as well), all reserved like lab_port_alloc's; prints P. For tests that need port ranges, e.g. the
# bastion role's ssh_ports / service_ports, where a host's metrics forward is its ssh port + 1000.
lab_port_block() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_port_block || return 1
        local n=$1 off=${2:-0} lo hi elo ehi p q tries fd want busy taken
        [[ $n =~ ^[1-9][0-9]*$ && $off =~ ^[0-9]+$ && $n -le 100 ]] || { lab__err "usage: lab_port_block N (1-100) [OFFSET]"; return 1; }
        read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range
        if ((ehi < 64000)); then lo=$((ehi + 1)) hi=65000; else lo=20000 hi=$((elo - 1)); fi
        ((hi - lo + 1 > off + 2 * n)) || { lab__err "lab_port_block: $n ports at offset $off do not fit in $lo-$hi"; return 1; }
        exec {fd}</tmp
        flock -w 10 "$fd" || { exec {fd}<&-; lab__err "lab_port_block: cannot lock /tmp"; return 1; }
        taken=$(cat /tmp/rtunlab.*/ports 2>/dev/null)
        busy=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n]; n = split($5, b, ":"); print b[n] }' | sort -u)
        for ((tries = 0; tries < 200; tries++)); do
                p=$((lo + SRANDOM % (hi - lo - off - n + 2)))
                want=$(for ((q = p; q < p + n; q++)); do echo "$q"; ((off)) && echo "$((q + off))"; done)
                grep -qxF -f <(echo "$want") <(printf '%s\n%s\n' "$taken" "$busy") && continue
                echo "$want" >>"$LAB/ports"
                exec {fd}<&-
                echo "$p"
                return 0
        done
        exec {fd}<&-
        lab__err "lab_port_block: no $n free ports (offset $off) in $lo-$hi after 200 tries"
        return 1
}

# ---------------------------------------------------------------------------------------------------
# lab_init: LAB dir, keys, target port, tunnel user, /run/sshd; installs `trap lab_cleanup EXIT`
# unless LAB_NO_TRAP=1 (then the caller must call lab_cleanup itself).
lab_init() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local cmd run
        for cmd in systemd-nspawn nsenter nft ssh ssh-keygen ss flock useradd; do
                command -v "$cmd" >/dev/null || { lab__err "lab_init: $cmd not found (run tests/lab/install-deps.sh)"; return 1; }
        done
        [[ -x /usr/sbin/sshd ]] || { lab__err "lab_init: /usr/sbin/sshd missing (apt-get install openssh-server)"; return 1; }
        [[ -x $LAB_PY ]] || { lab__err "lab_init: $LAB_PY missing"; return 1; }
        [[ $(id -u) == 0 ]] || { lab__err "lab_init: must run as root"; return 1; }
        if [[ -n ${LAB:-} && -d $LAB ]]; then lab__err "lab_init: a lab is already up at $LAB"; return 1; fi

        # RUN is lower-case alphanumeric: valid in a machine name, an nft table name and a path.
        for _ in 1 2 3 4 5; do
                run=$(printf '%08x' "$SRANDOM")
                mkdir -m 0755 "/tmp/rtunlab.$run" 2>/dev/null && break
                run=
        done
        [[ -n $run ]] || { lab__err "lab_init: cannot create /tmp/rtunlab.*"; return 1; }
        export LAB=/tmp/rtunlab.$run LAB_RUN=$run
        export LAB_MACHINE=rtunlab-$run LAB_NFT_TABLE=rtunlab_$run
        if [[ ${LAB_NO_TRAP:-0} != 1 ]]; then
                trap lab_cleanup EXIT
                trap 'exit 130' INT
                trap 'exit 143' TERM
        fi
        : >"$LAB/ports"
        # Owner = this shell (pid + start time): lab_reap_stale tells a lab whose owner died.
        echo "$BASHPID $(awk '{ print $22 }' "/proc/$BASHPID/stat")" >"$LAB/owner"
        mkdir -p "$LAB/keys" "$LAB/bastions" "$LAB/target" "$LAB/run" || return 1
        chmod 0700 "$LAB/keys"

        ssh-keygen -q -t ed25519 -N '' -C "rtunlab-$run-client" -f "$LAB/keys/client" &&
                ssh-keygen -q -t ed25519 -N '' -C "rtunlab-$run-target" -f "$LAB/keys/target_hostkey" ||
                { lab__err "lab_init: ssh-keygen failed"; return 1; }

        # sshd refuses a locked account: a new system account is locked ('!'), '*' is not.
        if ! id reverse-ssh >/dev/null 2>&1; then
                useradd -r -m reverse-ssh 2>/dev/null || id reverse-ssh >/dev/null 2>&1 ||
                        { lab__err "lab_init: useradd reverse-ssh failed"; return 1; }
        fi
        [[ $(getent shadow reverse-ssh | cut -d: -f2) == '*' ]] || usermod -p '*' reverse-ssh ||
                { lab__err "lab_init: usermod -p '*' reverse-ssh failed"; return 1; }
        mkdir -p /run/sshd && chmod 0755 /run/sshd

        LAB_TPORT=$(lab_port_alloc) || return 1
        export LAB_TPORT
        echo "$LAB_TPORT" >"$LAB/target/port"
        lab__log "lab $LAB (machine $LAB_MACHINE), target port $LAB_TPORT"
}

# Register a command to run at lab_cleanup, before the teardown (last registered runs first).
lab_on_cleanup() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_on_cleanup || return 1
        printf '%s\n' "$*" >>"$LAB/cleanup_hooks"
}

# ---------------------------------------------------------------------------------------------------
# lab_banner PORT [TIMEOUT=3]: prints the first line answered on 127.0.0.1:PORT.
# Exit 0 with the line; 2 timeout, 3 refused, 4 closed without a line, 1 other error (reason on stderr).
lab_banner() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        "$LAB_PY" - "$1" "${2:-3}" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + limit
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    buf = b""
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        s.settimeout(left)
        d = s.recv(512)
        if not d:
            break
        buf += d
    line = buf.split(b"\n")[0].rstrip(b"\r").decode(errors="replace")
    if not line:
        print(f"lab_banner: 127.0.0.1:{port}: closed without a line", file=sys.stderr)
        sys.exit(4)
    print(line)
except socket.timeout:
    print(f"lab_banner: 127.0.0.1:{port}: timeout after {limit:g}s", file=sys.stderr)
    sys.exit(2)
except ConnectionRefusedError:
    print(f"lab_banner: 127.0.0.1:{port}: connection refused", file=sys.stderr)
    sys.exit(3)
except OSError as e:
    print(f"lab_banner: 127.0.0.1:{port}: {e}", file=sys.stderr)
    sys.exit(1)
EOF
}

# lab_wait_banner PORT TIMEOUT: waits until PORT answers "SSH-..."; prints it.
lab_wait_banner() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local port=$1 timeout=${2:-10} start line
        start=$(lab__now)
        while :; do
                line=$(lab_banner "$port" 1 2>/dev/null) && [[ $line == SSH-* ]] && { echo "$line"; return 0; }
                lab__within "$start" "$timeout" || break
                sleep 0.1
        done
        lab__err "port $port gave no SSH banner within ${timeout}s"
        return 1
}

# ---------------------------------------------------------------------------------------------------
# sshd on the host's loopback, as lab.md: no system config, our own host key, pid file and log.
lab__sshd() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local dir=$1 port=$2 hostkey=$3
        shift 3
        "${LAB_SPAWN[@]}" /usr/sbin/sshd -D -f /dev/null -o ListenAddress="127.0.0.1:$port" -o HostKey="$hostkey" \
                -o PidFile="$dir/sshd.pid" -o StrictModes=no -o PasswordAuthentication=no \
                -o KbdInteractiveAuthentication=no -o UsePAM=no -o LogLevel=VERBOSE -E "$dir/sshd.log" "$@" \
                </dev/null >>"$dir/sshd.log" 2>&1 &
        echo $! >"$dir/pid"
        if ! lab_wait_banner "$port" 10 >/dev/null; then
                lab__err "sshd on 127.0.0.1:$port did not come up; its log:"
                tail -n 20 "$dir/sshd.log" >&2
                return 1
        fi
}

# The bastion's authorized_keys: ONE line for the client key (sshd uses the first line that matches a
# key, so every forward of the key must sit on that line). Ports listed in $dir/authorized with "noopen"
# get permitlisten only: a probe channel to them is "administratively prohibited".
lab__write_authorized_keys() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local dir=$1 opts="restrict,port-forwarding" port flag opens=0
        while read -r port flag; do
                [[ -n $port ]] || continue
                opts+=",permitlisten=\"localhost:$port\""
                [[ $flag == noopen ]] && continue
                opts+=",permitopen=\"localhost:$port\""
                opens=$((opens + 1))
        done <"$dir/authorized"
        # No permitopen at all would allow any open: keep one that matches nothing (port 1).
        ((opens)) || opts+=',permitopen="localhost:1"'
        echo "$opts $(cat "$LAB/keys/client.pub")" >"$dir/authorized_keys.new" &&
                chmod 0644 "$dir/authorized_keys.new" && mv -f "$dir/authorized_keys.new" "$dir/authorized_keys"
}

# lab_bastion_authorize NAME PORT [noopen]: allow the client key to listen on PORT (and open it, unless
# noopen). sshd reads the file at each login: a running tunnel keeps its old rights until restarted.
lab_bastion_authorize() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion_authorize || return 1
        local name=$1 port=$2 flag=${3:-open} dir
        [[ -n $name && $port =~ ^[0-9]+$ ]] || { lab__err "usage: lab_bastion_authorize NAME PORT [noopen]"; return 1; }
        [[ $flag == open || $flag == noopen ]] || { lab__err "lab_bastion_authorize: bad flag '$flag'"; return 1; }
        dir=$LAB/bastions/$name
        mkdir -p "$dir" || return 1
        touch "$dir/authorized"
        grep -v "^$port " "$dir/authorized" >"$dir/authorized.new"
        echo "$port $flag" >>"$dir/authorized.new"
        mv -f "$dir/authorized.new" "$dir/authorized"
        lab__write_authorized_keys "$dir"
}

# lab_bastion_port NAME: the bastion's port; NAME may be an alias (lab_bastion_alias).
lab_bastion_port() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local b
        b=$(lab__bastion_name "$1") || return 1
        cat "$LAB/bastions/$b/port" 2>/dev/null || { lab__err "no bastion '$1'"; return 1; }
}

# The bastion an alias stands for (lab_bastion_alias, lab_tunnels_add_many), or NAME itself; fails for neither.
lab__bastion_name() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local a b
        if [[ -n $1 && -f $LAB/run/aliases ]]; then
                while read -r a b; do [[ $a == "$1" ]] && { echo "$b"; return 0; }; done <"$LAB/run/aliases"
        fi
        # The aliases of lab_tunnels_add_many: "ALIAS UNIT REMOTE_PORT BASTION".
        if [[ -n $1 && -f $LAB/run/many ]]; then
                while read -r a _ _ b; do [[ $a == "$1" ]] && { echo "$b"; return 0; }; done <"$LAB/run/many"
        fi
        [[ -n $1 && -d $LAB/bastions/$1 ]] || { lab__err "no bastion or alias '$1'"; return 1; }
        echo "$1"
}

# lab_bastion_start NAME [SSHD_ARG...]: a bastion sshd on 127.0.0.1:PORT (port kept across stop/start);
# extra arguments go to sshd (e.g. -o MaxStartups=100:30:200).
# ClientAliveInterval 2 x 2: a bastion frees a dead tunnel's listener within about 12 s (LAB_CLIENT_ALIVE="I N"
# for others: a suite whose faults stop tunnels for long wants its bastions to keep them).
# A bastion started from a config file (lab_bastion_start_conf) starts again from that file.
lab_bastion_start() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion_start || return 1
        local name=$1 dir port alive
        shift
        read -r -a alive <<<"${LAB_CLIENT_ALIVE:-2 2}"
        [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || { lab__err "lab_bastion_start: bad bastion name '$name'"; return 1; }
        dir=$LAB/bastions/$name
        [[ -f $dir/conf ]] && { lab_bastion_start_conf "$name" "$(cat "$dir/conf")" "$@"; return; }
        mkdir -p "$dir" || return 1
        if lab__alive "$(cat "$dir/pid" 2>/dev/null)"; then lab__err "bastion $name already running"; return 1; fi
        if [[ ! -f $dir/port ]]; then
                port=$(lab_port_alloc) || return 1
                echo "$port" >"$dir/port"
                ssh-keygen -q -t ed25519 -N '' -C "rtunlab-$LAB_RUN-$name" -f "$dir/hostkey" ||
                        { lab__err "ssh-keygen for bastion $name failed"; return 1; }
        fi
        port=$(cat "$dir/port")
        touch "$dir/authorized"
        lab__write_authorized_keys "$dir" || return 1
        lab__sshd "$dir" "$port" "$dir/hostkey" -o AuthorizedKeysFile="$dir/authorized_keys" \
                -o AllowUsers=reverse-ssh -o ClientAliveInterval="${alive[0]:-2}" -o ClientAliveCountMax="${alive[1]:-2}" \
                "$@" || return 1
        lab__log "bastion $name on 127.0.0.1:$port (pid $(cat "$dir/pid")) $*"
        # A container that is already up learns the new Host entry.
        [[ -f $LAB/run/pid1 ]] && lab__write_ssh_config
        return 0
}

# lab_bastion_stop NAME: the listener and every session it forked (so tunnels really lose the bastion).
lab_bastion_stop() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion_stop || return 1
        local dir=$LAB/bastions/$1 pid
        [[ -d $dir ]] || { lab__err "no bastion '$1'"; return 1; }
        pid=$(cat "$dir/pid" 2>/dev/null)
        lab__kill_tree "$pid" 5 || return 1
        rm -f "$dir/pid"
        lab__log "bastion $1 stopped"
}

# ---------------------------------------------------------------------------------------------------
# A bastion run from a real sshd_config file (`sshd -f FILE`), several hosts (keys) on one bastion, and
# ssh Host aliases, so that one container plays several hosts of a fleet (the bastion role, issue 11).

# lab__bastion_prepare NAME: the bastion's directory, port and host key (once; kept across restarts).
lab__bastion_prepare() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion || return 1
        local name=$1 dir port
        [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || { lab__err "bad bastion name '$name'"; return 1; }
        dir=$LAB/bastions/$name
        mkdir -p "$dir" || return 1
        [[ -f $dir/port ]] && return 0
        port=$(lab_port_alloc) || return 1
        ssh-keygen -q -t ed25519 -N '' -C "rtunlab-$LAB_RUN-$name" -f "$dir/hostkey" ||
                { lab__err "ssh-keygen for bastion $name failed"; return 1; }
        echo "$port" >"$dir/port"
}

# lab_bastion_sshd_config NAME: prints a complete sshd_config for bastion NAME (its port and host key
# are allocated on first use): ListenAddress 127.0.0.1:PORT, HostKey, PidFile, AuthorizedKeysFile
# $LAB/bastions/NAME/authorized_keys (the test writes that file: lab.sh never writes the key file of a
# bastion started from a config), AllowUsers reverse-ssh, ClientAliveInterval 2 x 2, StrictModes no,
# UsePAM no, no passwords, LogLevel VERBOSE (sshd.log names each accepted key's fingerprint).
# The test edits it as it likes, writes it to a file and starts it with lab_bastion_start_conf.
lab_bastion_sshd_config() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local name=$1 dir
        lab__bastion_prepare "$name" || return 1
        dir=$LAB/bastions/$name
        cat <<EOF
# sshd_config of lab bastion $name (tests/lab/lab.sh lab_bastion_sshd_config)
ListenAddress 127.0.0.1:$(cat "$dir/port")
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers reverse-ssh
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PermitTTY no
PrintMotd no
ClientAliveInterval 2
ClientAliveCountMax 2
LogLevel VERBOSE
EOF
}

# lab_bastion_start_conf NAME FILE [SSHD_ARG...]: the bastion sshd as `sshd -D -f FILE -E sshd.log`.
# FILE is a real sshd_config (e.g. from lab_bastion_sshd_config), checked with `sshd -T`; its one
# ListenAddress must be 127.0.0.1:PORT with PORT reserved by this lab (that becomes lab_bastion_port
# NAME), its HostKey under $LAB (never the machine's own keys). FILE's key file is the
# test's: lab_tunnel_add authorizes nothing on such a bastion. lab_bastion_stop NAME stops it;
# lab_bastion_start NAME (or this again) starts it from FILE again.
lab_bastion_start_conf() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion_start_conf || return 1
        local name=$1 file=$2 dir port listen out
        [[ -n $name && -n $file ]] || { lab__err "usage: lab_bastion_start_conf NAME FILE [SSHD_ARG...]"; return 1; }
        shift 2
        [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || { lab__err "lab_bastion_start_conf: bad bastion name '$name'"; return 1; }
        [[ -f $file ]] || { lab__err "lab_bastion_start_conf: no file $file"; return 1; }
        file=$(realpath "$file")
        dir=$LAB/bastions/$name
        mkdir -p "$dir" || return 1
        if lab__alive "$(cat "$dir/pid" 2>/dev/null)"; then lab__err "bastion $name already running"; return 1; fi
        out=$(/usr/sbin/sshd -T -f "$file" "$@" 2>&1) ||
                { lab__err "lab_bastion_start_conf: sshd -T -f $file rejects it: $out"; return 1; }
        listen=$(awk '$1 == "listenaddress" { print $2 }' <<<"$out")
        [[ $listen =~ ^127\.0\.0\.1:([0-9]+)$ ]] ||
                { lab__err "lab_bastion_start_conf: $file must listen on exactly one 127.0.0.1:PORT (sshd -T: ${listen//$'\n'/ })"; return 1; }
        port=${BASH_REMATCH[1]}
        # Only this lab's ports and keys: never a port another lab (or the machine) may use, never the
        # machine's own host keys (sshd's default when the file names none).
        grep -qx "$port" "$LAB/ports" ||
                { lab__err "lab_bastion_start_conf: port $port is not this lab's (lab_port_alloc, lab_bastion_sshd_config)"; return 1; }
        if awk -v lab="$LAB/" '$1 == "hostkey" && index($2, lab) != 1 { bad = 1 } END { exit !bad }' <<<"$out"; then
                lab__err "lab_bastion_start_conf: $file must name its HostKey under $LAB (sshd -T: $(awk '$1 == "hostkey" { printf "%s ", $2 }' <<<"$out"))"
                return 1
        fi
        echo "$port" >"$dir/port"
        echo "$file" >"$dir/conf"
        "${LAB_SPAWN[@]}" /usr/sbin/sshd -D -f "$file" -E "$dir/sshd.log" "$@" </dev/null >>"$dir/sshd.log" 2>&1 &
        echo $! >"$dir/pid"
        if ! lab_wait_banner "$port" 10 >/dev/null; then
                lab__err "bastion $name (sshd -f $file) did not come up on 127.0.0.1:$port; its log:"
                tail -n 20 "$dir/sshd.log" >&2
                return 1
        fi
        lab__log "bastion $name on 127.0.0.1:$port (pid $(cat "$dir/pid")) from $file $*"
        [[ -f $LAB/run/pid1 ]] && lab__write_ssh_config
        return 0
}

# lab_host_key HOST: an ed25519 key for the fleet host HOST (made once), comment HOST, as the host's own
# key would be; prints its public line ("ssh-ed25519 AAAA... HOST") for the test's authorized_keys.
# Private key: $LAB/keys/hosts/HOST, in the container /lab/keys/hosts/HOST (lab_tunnel_add ... HOST).
lab_host_key() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_host_key || return 1
        local host=$1 f
        [[ $host =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { lab__err "lab_host_key: bad host name '$host'"; return 1; }
        f=$LAB/keys/hosts/$host
        mkdir -p "$LAB/keys/hosts" || return 1
        if [[ ! -f $f ]]; then
                ssh-keygen -q -t ed25519 -N '' -C "$host" -f "$f" || { lab__err "ssh-keygen for host $host failed"; return 1; }
        fi
        cat "$f.pub"
}

# lab_host_fpr HOST: the SHA256 fingerprint of HOST's key, as ssh-keygen -l and sshd's log print it.
lab_host_fpr() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -f ${LAB:-/nonexistent}/keys/hosts/$1.pub ]] || { lab__err "lab_host_fpr: no key for host '$1' (lab_host_key)"; return 1; }
        ssh-keygen -l -E sha256 -f "$LAB/keys/hosts/$1.pub" | awk '{ print $2 }'
}

# lab_bastion_alias ALIAS BASTION [SSH_CONFIG_LINE...]: a Host ALIAS entry in the container's ssh_config
# with BASTION's HostName and Port, plus the given lines (e.g. "RemoteForward localhost:P localhost:Q").
# reverse-ssh@ALIAS.service is then another tunnel to the same sshd (another host of the fleet, with
# its own key: lab_tunnel_add ALIAS PORT "" HOST). lab_bastion_port ALIAS works. Again: replaces it.
lab_bastion_alias() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_bastion_alias || return 1
        local alias=$1 b=$2 line
        [[ $alias =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ && -n $b ]] || { lab__err "usage: lab_bastion_alias ALIAS BASTION [SSH_CONFIG_LINE...]"; return 1; }
        shift 2
        [[ -f $LAB/bastions/$b/port ]] || { lab__err "lab_bastion_alias: no bastion '$b'"; return 1; }
        [[ -d $LAB/bastions/$alias ]] && { lab__err "lab_bastion_alias: '$alias' is a bastion"; return 1; }
        touch "$LAB/run/aliases"
        grep -v "^$alias " "$LAB/run/aliases" >"$LAB/run/aliases.new"
        echo "$alias $b" >>"$LAB/run/aliases.new"
        mv -f "$LAB/run/aliases.new" "$LAB/run/aliases"
        for line in "$@"; do printf '    %s\n' "$line"; done >"$LAB/run/alias-$alias.conf"
        [[ -f $LAB/run/pid1 ]] && { lab__write_ssh_config || return 1; }
        lab__log "alias $alias -> bastion $b${*:+ (+ $*)}"
}

# lab_target_start [SSHD_ARG...]: the host's own sshd (what each tunnel forwards to) on 127.0.0.1:$LAB_TPORT.
lab_target_start() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_target_start || return 1
        local dir=$LAB/target
        if lab__alive "$(cat "$dir/pid" 2>/dev/null)"; then lab__err "target already running"; return 1; fi
        lab__sshd "$dir" "$LAB_TPORT" "$LAB/keys/target_hostkey" -o AuthorizedKeysFile=none -o AllowUsers=nobody-rtunlab \
                "$@" || return 1
        lab__log "target sshd on 127.0.0.1:$LAB_TPORT (pid $(cat "$dir/pid")) $*"
}
lab_target_stop() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_target_stop || return 1
        lab__kill_tree "$(cat "$LAB/target/pid" 2>/dev/null)" 5 && rm -f "$LAB/target/pid"
}

# ---------------------------------------------------------------------------------------------------
# The container. Its own cgroup (so two labs' nspawns don't share /payload), a preset that enables
# nothing (so no ssh.socket, prometheus, ... of the host's packages starts on the shared network).
lab__cgroup_dirs() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
                echo "/sys/fs/cgroup/$LAB_MACHINE"
        else
                [[ -d /sys/fs/cgroup/systemd ]] && echo "/sys/fs/cgroup/systemd/$LAB_MACHINE"
                [[ -d /sys/fs/cgroup/unified ]] && echo "/sys/fs/cgroup/unified/$LAB_MACHINE"
        fi
}

lab_pid1() {
        cat "$LAB/run/pid1" 2>/dev/null || { lab__err "container not running"; return 1; }
}

# lab_exec CMD...: runs CMD inside the container (all its namespaces), with a clean environment.
lab_exec() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid1
        pid1=$(lab_pid1) || return 1
        nsenter -t "$pid1" -a /usr/bin/env -i PATH="$LAB_PATH" HOME=/root LANG=C.UTF-8 SYSTEMD_PAGER= \
                SYSTEMD_COLORS=0 "$@"
}

# lab_put PATH [MODE]: stdin becomes the file PATH inside the container.
lab_put() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid1 root
        pid1=$(lab_pid1) || return 1
        root=/proc/$pid1/root
        mkdir -p "$root$(dirname "$1")" && cat >"$root$1" && chmod "${2:-0644}" "$root$1" ||
                { lab__err "lab_put: cannot write $1 in the container"; return 1; }
}

# Every lab bastion, plus the aliases of lab_bastion_alias ($LAB/run/aliases) and of lab_tunnels_add_many
# ($LAB/run/many), so that no writer drops another's Host entries.
lab__write_ssh_config() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local d name alias unit rport b
        local -A bport=() # bastion -> port, read once (hundreds of aliases: no fork per alias)
        for d in "$LAB"/bastions/*/; do
                [[ -f $d/port ]] && read -r bport["$(basename "$d")"] <"$d/port"
        done
        {
                echo "# written by lab.sh: every lab bastion, on the host's loopback"
                for name in "${!bport[@]}"; do
                        printf 'Host %s\n    HostName 127.0.0.1\n    Port %s\n' "$name" "${bport[$name]}"
                        printf '    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n'
                done
                [[ -f $LAB/run/aliases ]] && while read -r alias b; do
                        printf 'Host %s\n    HostName 127.0.0.1\n    Port %s\n' "$alias" "${bport[$b]}"
                        printf '    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n'
                        [[ -f $LAB/run/alias-$alias.conf ]] && cat "$LAB/run/alias-$alias.conf"
                done <"$LAB/run/aliases"
                [[ -f $LAB/run/many ]] && while read -r alias unit rport b; do
                        printf 'Host %s\n    HostName 127.0.0.1\n    Port %s\n' "$alias" "${bport[$b]}"
                        printf '    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n'
                done <"$LAB/run/many"
        } | lab_put /etc/ssh/ssh_config
}

# lab_container_start: boots systemd as PID 1 of a container over the host's /usr (lab.md), waits for
# it, writes /etc, installs systemd/reverse-ssh@.service with a drop-in for speed.
lab_container_start() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_container_start || return 1
        local start np pid1="" ns state cg unit=$LAB_SRC/systemd/reverse-ssh@.service
        [[ -f $unit ]] || { lab__err "lab_container_start: $unit missing"; return 1; }
        [[ ! -f $LAB/run/nspawn.pid ]] || { lab__err "container already started"; return 1; }
        start=$(lab__now)
        mkdir -p "$LAB/run/preset" && echo 'disable *' >"$LAB/run/preset/00-rtunlab.preset"
        for cg in $(lab__cgroup_dirs); do mkdir -p "$cg" || lab__log "warning: cannot create cgroup $cg"; done
        # shellcheck disable=SC2016
        "${LAB_SPAWN[@]}" bash -c 'for cg in $1; do [[ -d $cg ]] && echo $$ >"$cg/cgroup.procs"; done; shift; exec "$@"' lab-nspawn \
                "$(lab__cgroup_dirs | tr '\n' ' ')" \
                systemd-nspawn --volatile=yes -D / -b --console=passive --register=no --keep-unit \
                -M "$LAB_MACHINE" --bind="$LAB:/lab" --bind-ro="$LAB/run/preset:/etc/systemd/system-preset" \
                systemd.firstboot=off </dev/null >"$LAB/run/nspawn.log" 2>&1 &
        np=$!
        echo "$np" >"$LAB/run/nspawn.pid"
        # PID 1 of the container is the nspawn process's child, in another pid namespace.
        while lab__within "$start" "$LAB_BOOT_TIMEOUT"; do
                pid1=$(cat /proc/"$np"/task/*/children 2>/dev/null | tr -s ' \n' ' ' | awk '{ print $1 }')
                # nspawn's short-lived outer child comes first: wait for systemd in its own pid namespace.
                [[ -n $pid1 && $(cat "/proc/$pid1/comm" 2>/dev/null) == systemd ]] &&
                        ns=$(readlink "/proc/$pid1/ns/pid") && [[ $ns != "$(readlink /proc/self/ns/pid)" ]] && break
                pid1=""
                lab__alive "$np" || break
                sleep 0.05
        done
        if [[ -z $pid1 ]]; then
                lab__err "lab_container_start: no container init under nspawn pid $np; its output:"
                cat "$LAB/run/nspawn.log" >&2
                return 1
        fi
        echo "$pid1" >"$LAB/run/pid1"
        state=""
        while :; do
                state=$(lab_exec systemctl is-system-running 2>/dev/null)
                [[ $state == running || $state == degraded ]] && break
                if ! lab__alive "$np" || ! lab__within "$start" "$LAB_BOOT_TIMEOUT"; then
                        lab__err "lab_container_start: container not up after ${LAB_BOOT_TIMEOUT}s (state '$state'); its output:"
                        tail -n 60 "$LAB/run/nspawn.log" >&2
                        lab_exec systemctl --failed --no-pager >&2 2>&1
                        return 1
                fi
                sleep 0.1
        done
        [[ $state == degraded ]] && { lab__log "container degraded:"; lab_exec systemctl --failed --no-pager --no-legend >&2; }

        printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$LAB_MACHINE" | lab_put /etc/hosts &&
                printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' | lab_put /etc/nsswitch.conf &&
                lab__write_ssh_config &&
                lab_put /etc/systemd/system/reverse-ssh@.service <"$unit" &&
                printf '# lab: fast restarts, and no start limit (RestartSec=10 never hits it in production)\n[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestartSec=%s\n' \
                        "$LAB_RESTART_SEC" | lab_put /etc/systemd/system/reverse-ssh@.service.d/50-rtunlab.conf &&
                lab_exec mkdir -p /etc/reverse-ssh &&
                lab_exec systemctl daemon-reload || { lab__err "lab_container_start: setting up /etc failed"; return 1; }
        lab__log "container $LAB_MACHINE up: nspawn pid $np, init pid $pid1, $state, $(lab__since "$start") s"
}

lab_container_stop() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_container_stop || return 1
        local np pid1 i cg start
        np=$(cat "$LAB/run/nspawn.pid" 2>/dev/null) || return 0
        pid1=$(cat "$LAB/run/pid1" 2>/dev/null)
        start=$(lab__now)
        if lab__alive "$np"; then
                kill -TERM "$np" 2>/dev/null
                for ((i = 0; i < 150; i++)); do
                        lab__alive "$np" || break
                        sleep 0.1
                done
                if lab__alive "$np"; then
                        lab__err "nspawn $np ignored SIGTERM for 15 s: SIGKILL (and its init $pid1)"
                        kill -KILL "$np" 2>/dev/null
                fi
        fi
        # Killing PID 1 of a pid namespace kills everything in it.
        [[ -n $pid1 ]] && lab__alive "$pid1" && kill -KILL "$pid1" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
                lab__alive "$np" || lab__alive "$pid1" || break
                sleep 0.1
        done
        # Our cgroups go once empty; the last processes may take a moment to leave them.
        for cg in $(lab__cgroup_dirs); do
                for ((i = 0; i < 30; i++)); do
                        [[ -d $cg ]] || break
                        find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
                        [[ -d $cg ]] && sleep 0.1
                done
                [[ -d $cg ]] && lab__err "cgroup $cg left behind"
        done
        rm -f "$LAB/run/nspawn.pid" "$LAB/run/pid1"
        lab__log "container $LAB_MACHINE stopped in $(lab__since "$start") s"
}

# ---------------------------------------------------------------------------------------------------
# lab_tunnel_start BASTION REMOTE_PORT [LOCAL_PORT [KEY]]: env file, authorize (if not yet), enable and
# (re)start reverse-ssh@BASTION.service; no wait. BASTION may be an alias (lab_bastion_alias). KEY: a host
# of lab_host_key (its key /lab/keys/hosts/HOST) or a path in the container; default the lab's client
# key. Only the client key on a lab-managed bastion is authorized here: a host key's line, and every line
# of a bastion started from a config (lab_bastion_start_conf), are the test's to write.
lab_tunnel_start() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_tunnel_start || return 1
        local b=$1 rport=$2 lport=${3:-$LAB_TPORT} key=${4:-} real unit
        [[ $rport =~ ^[0-9]+$ && $lport =~ ^[0-9]+$ ]] ||
                { lab__err "usage: lab_tunnel_start|lab_tunnel_add BASTION REMOTE_PORT [LOCAL_PORT [KEY]]"; return 1; }
        real=$(lab__bastion_name "$b" 2>/dev/null) && [[ -f $LAB/bastions/$real/port ]] ||
                { lab__err "lab_tunnel_add: no bastion or alias '$b'"; return 1; }
        case $key in
        "") key=/lab/keys/client ;;
        /*) ;;
        *)
                [[ -f $LAB/keys/hosts/$key ]] || { lab__err "lab_tunnel_add: no key for host '$key' (lab_host_key)"; return 1; }
                key=/lab/keys/hosts/$key
                ;;
        esac
        unit=$(lab__unit "$b")
        if [[ $key == /lab/keys/client && ! -f $LAB/bastions/$real/conf ]]; then
                grep -q "^$rport " "$LAB/bastions/$real/authorized" 2>/dev/null || lab_bastion_authorize "$real" "$rport" || return 1
        fi
        lab__write_ssh_config || return 1
        printf 'REMOTE_PORT=%s\nLOCAL_PORT=%s\nSSH_USER=reverse-ssh\nKEY=%s\n' "$rport" "$lport" "$key" |
                lab_put "/etc/reverse-ssh/$b.env" || return 1
        # enable + restart (not enable --now): re-adding a tunnel with a new port takes effect too.
        lab_exec systemctl enable --quiet "$unit" && lab_exec systemctl restart "$unit" ||
                { lab__err "lab_tunnel_add: systemctl enable/restart $unit failed"; return 1; }
}

# lab_tunnel_add BASTION REMOTE_PORT [LOCAL_PORT [KEY]]: lab_tunnel_start, then wait until
# 127.0.0.1:REMOTE_PORT (the bastion's listener, same loopback) answers the target's banner.
lab_tunnel_add() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_tunnel_add || return 1
        local b=$1 rport=$2 lport=${3:-$LAB_TPORT} unit start
        start=$(lab__now)
        lab_tunnel_start "$@" || return 1
        unit=$(lab__unit "$b")
        if ! lab_wait_banner "$rport" "$LAB_TUNNEL_TIMEOUT" >/dev/null; then
                lab__err "lab_tunnel_add: tunnel $unit does not forward 127.0.0.1:$rport; status and journal:"
                lab_exec systemctl status --no-pager -n 30 "$unit" >&2
                return 1
        fi
        lab__log "tunnel $unit: 127.0.0.1:$rport -> target :$lport up in $(lab__since "$start") s${4:+ (key ${4})}"
}

lab_unit_show() { lab_exec systemctl show -p "$2" --value "$(lab__unit "$1")"; }
lab_unit_mainpid() { lab_unit_show "$1" MainPID; }
lab_unit_nrestarts() { lab_unit_show "$1" NRestarts; }
lab_unit_state() { lab_exec systemctl is-active "$(lab__unit "$1")"; }
lab_unit_ctlpath() { echo "/run/reverse-ssh/$(lab__bastion_of "$(lab__unit "$1")")/ctl"; }
lab_journal() { lab_exec journalctl --no-pager -o cat -u "$(lab__unit "$1")" "${@:2}"; }

# lab_listener_pid PORT: host pid of the bastion session that holds the forward's listener on PORT.
# Looks with ss, without connecting: with OpenSSH 9.2 any connection to a stale listener (a probe, a
# banner check) counts as activity in that session and postpones its ClientAlive timeout.
lab_listener_pid() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid
        pid=$(ss -Htlnp "( sport = :$1 )" | grep -o 'pid=[0-9]*' | head -n 1)
        [[ -n $pid ]] || { lab__err "nothing listens on port $1"; return 1; }
        echo "${pid#pid=}"
}

# Host pid of a container pid: the NSpid line of /proc/PID/status, in the container's pid namespace.
lab_hostpid() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local cpid=$1 pid1 ns f
        pid1=$(lab_pid1) || return 1
        ns=$(readlink "/proc/$pid1/ns/pid")
        for f in /proc/[0-9]*/status; do
                awk -v c="$cpid" '/^NSpid:/ { exit !($NF == c && NF > 2) }' "$f" 2>/dev/null || continue
                [[ $(readlink "${f%/status}/ns/pid" 2>/dev/null) == "$ns" ]] || continue
                f=${f#/proc/}
                echo "${f%/status}"
                return 0
        done
        lab__err "no host pid for container pid $cpid"
        return 1
}

# ---------------------------------------------------------------------------------------------------
# Faults that leave a tunnel dead but running.
lab__mainpid_or_fail() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid
        pid=$(lab_unit_mainpid "$1") && [[ $pid =~ ^[1-9][0-9]*$ ]] || { lab__err "$(lab__unit "$1") has no MainPID"; return 1; }
        echo "$pid"
}

# lab_fault_stop UNIT...: SIGSTOP the tunnels' ssh (systemd keeps saying active (running)), every UNIT's with
# one kill, so several tunnels die at the same instant.
lab_fault_stop() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local u pid i pids=() units=()
        for u in "$@"; do
                pid=$(lab__mainpid_or_fail "$u") || return 1
                pids+=("$pid")
                units+=("$(lab__unit "$u")")
        done
        ((${#pids[@]})) || { lab__err "usage: lab_fault_stop UNIT..."; return 1; }
        lab_exec kill -STOP "${pids[@]}" || { lab__err "kill -STOP ${pids[*]} failed"; return 1; }
        for ((i = 0; i < ${#pids[@]}; i++)); do
                echo "${units[i]} ${pids[i]}" >>"$LAB/run/stopped"
                lab__log "fault: ${units[i]} ssh (container pid ${pids[i]}) stopped"
        done
}

# lab_fault_cont UNIT...: SIGCONT what lab_fault_stop stopped (and the current MainPID), every UNIT's ssh
# with one kill, so several tunnels come back at the same instant.
lab_fault_cont() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local unit pid u p pids=() units=()
        for unit in "$@"; do
                unit=$(lab__unit "$unit")
                units+=("$unit")
                pid=$(lab_unit_mainpid "$unit")
                if [[ -f $LAB/run/stopped ]]; then
                        while read -r u p; do [[ $u == "$unit" ]] && pids+=("$p"); done <"$LAB/run/stopped"
                fi
                [[ $pid =~ ^[1-9][0-9]*$ ]] && pids+=("$pid")
        done
        ((${#pids[@]})) && lab_exec kill -CONT "${pids[@]}" 2>/dev/null
        lab__log "fault cleared: ${units[*]} continued"
        return 0
}

# lab_tunnel_clientport UNIT: local port of the tunnel ssh's TCP connection to its bastion.
lab_tunnel_clientport() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local pid bport cport
        pid=$(lab__mainpid_or_fail "$1") || return 1
        bport=$(lab_bastion_port "$(lab__bastion_of "$(lab__unit "$1")")") || return 1
        cport=$(lab_exec ss -Htnp state established "( dport = :$bport )" |
                awk -v p="pid=$pid," 'index($0, p) { n = split($3, a, ":"); print a[n]; exit }')
        [[ $cport =~ ^[0-9]+$ ]] || { lab__err "no TCP connection of pid $pid to bastion port $bport"; return 1; }
        echo "$cport"
}

# lab_fault_halfopen UNIT: drop every packet of the tunnel's own TCP connection, both ways (a NAT
# mapping that vanished). New connections still work. Table inet $LAB_NFT_TABLE, one per lab.
lab_fault_halfopen() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_fault_halfopen || return 1
        local cport
        cport=$(lab_tunnel_clientport "$1") || return 1
        nft -f - <<EOF || { lab__err "nft failed"; return 1; }
table inet $LAB_NFT_TABLE {
        chain out {
                type filter hook output priority 0; policy accept;
                tcp sport $cport drop
                tcp dport $cport drop
        }
}
EOF
        echo "$LAB_NFT_TABLE" >"$LAB/run/nft"
        lab__log "fault: $(lab__unit "$1") connection (client port $cport) black-holed"
}

# lab_fault_clear: removes the lab's nft table (the half-open faults).
lab_fault_clear() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -n ${LAB_NFT_TABLE:-} ]] || return 0
        if nft list table inet "$LAB_NFT_TABLE" >/dev/null 2>&1; then
                nft delete table inet "$LAB_NFT_TABLE" || { lab__err "nft delete table inet $LAB_NFT_TABLE failed"; return 1; }
                lab__log "fault cleared: nft table $LAB_NFT_TABLE removed"
        fi
        rm -f "${LAB:-/nonexistent}/run/nft"
        return 0
}

# lab_unit_fail_hard UNIT [keep]: gets UNIT into `failed` because systemd gave up on it (start limit
# hit, "Start request repeated too quickly" in its journal). What works on systemd 252: a drop-in
# StartLimitBurst=1 (interval 1 h), reset-failed + restart (start #1), SIGKILL the ssh; Restart=always
# asks for start #2, which the limit refuses. Note: Result= stays "signal" (systemd keeps the first
# failure's result; only a start refused from a clean state shows "start-limit-hit").
# Default: the drop-in is removed again (daemon-reload keeps the failed state; systemd does not restart
# it on its own), so any later start works. With "keep" the limit stays: a plain StartUnit is refused,
# only ResetFailedUnit + StartUnit heals it; lab_unit_fail_hard_clear UNIT removes the drop-in.
lab_unit_fail_hard() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local unit keep=${2:-} n0 i state=""
        unit=$(lab__unit "$1")
        n0=$(lab_journal "$unit" | grep -c "Start request repeated too quickly")
        printf '# lab_unit_fail_hard\n[Unit]\nStartLimitIntervalSec=1h\nStartLimitBurst=1\n' |
                lab_put "/etc/systemd/system/$unit.d/90-rtunlab-failhard.conf" &&
                lab_exec systemctl daemon-reload || return 1
        # reset-failed also resets the start counter: the restart below is start #1 of the burst.
        lab_exec systemctl reset-failed "$unit" 2>/dev/null
        lab_exec systemctl restart "$unit" || { lab__err "restart of $unit failed"; return 1; }
        lab_exec systemctl kill --signal=KILL "$unit" || { lab__err "systemctl kill $unit failed"; return 1; }
        for ((i = 0; i < 100; i++)); do
                state=$(lab_unit_state "$unit")
                [[ $state == failed ]] &&
                        (($(lab_journal "$unit" | grep -c "Start request repeated too quickly") > n0)) && break
                state=""
                sleep 0.1
        done
        [[ $keep == keep ]] || lab_unit_fail_hard_clear "$unit" || return 1
        if [[ $state != failed ]]; then
                lab__err "lab_unit_fail_hard: $unit is $(lab_unit_state "$unit"), not failed by the start limit; journal:"
                lab_journal "$unit" -n 10 >&2
                return 1
        fi
        lab__log "fault: $unit failed, start limit hit${keep:+ (limit kept)}"
}
lab_unit_fail_hard_clear() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local unit
        unit=$(lab__unit "$1")
        lab_exec rm -f "/etc/systemd/system/$unit.d/90-rtunlab-failhard.conf" && lab_exec systemctl daemon-reload
}

# ---------------------------------------------------------------------------------------------------
# lab_cleanup: hooks, container, sshds, nft table, LAB dir. Idempotent; safe from `trap ... EXIT`.
# LAB_KEEP=1 keeps the LAB dir (logs) for a post-mortem; everything else still goes.
lab_cleanup() {
        local rc=$? d hook
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        [[ -n ${LAB:-} && -d $LAB ]] || return "$rc"
        if [[ -f $LAB/cleanup_hooks ]]; then
                while IFS= read -r hook; do
                        [[ -n $hook ]] && eval "$hook"
                done < <(tac "$LAB/cleanup_hooks")
                rm -f "$LAB/cleanup_hooks"
        fi
        lab_container_stop
        for d in "$LAB"/bastions/*/ "$LAB"/target/; do
                [[ -f $d/pid ]] && { lab__kill_tree "$(cat "$d/pid")" 5; rm -f "$d/pid"; }
        done
        lab_fault_clear
        if [[ ${LAB_KEEP:-0} == 1 ]]; then
                rm -f "$LAB/ports"
                lab__log "kept $LAB"
        else
                rm -rf "$LAB"
        fi
        unset LAB
        return "$rc"
}

# ---------------------------------------------------------------------------------------------------
# Many tunnels (tests/bench): bastions that take many sessions, one ssh Host alias per tunnel, units
# started in batches. The list of tunnels is $LAB/run/many: "ALIAS UNIT REMOTE_PORT BASTION" per line.

# lab__wait_banners TIMEOUT PORT...: waits until every port answers "SSH-" (polled together, each round
# of looks given LAB_BANNER_LOOK s, default 1); prints the ports still silent and returns 1 on timeout.
lab__wait_banners() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        "$LAB_PY" - "$@" <<'PYEOF'
import os, selectors, socket, sys, time
limit, left = float(sys.argv[1]), set(int(p) for p in sys.argv[2:])
look = float(os.environ.get("LAB_BANNER_LOOK", "1.0"))  # seconds the first round of looks may take
end, window = time.monotonic() + limit, look
while left and time.monotonic() < end:
    sel, socks = selectors.DefaultSelector(), {}
    for p in left:
        s = socket.socket(); s.setblocking(False)
        s.connect_ex(("127.0.0.1", p)); sel.register(s, selectors.EVENT_READ, p); socks[p] = s
    # A round's window grows (x2, at most 5 s): 200 banners at once from one far side take more than 1 s.
    stop, window = time.monotonic() + window, min(window * 2, max(look, 5.0))
    while socks and time.monotonic() < stop:
        for key, _ in sel.select(max(0.0, stop - time.monotonic())):
            p = key.data
            try:
                ok = key.fileobj.recv(64).startswith(b"SSH-")
            except OSError:
                ok = False
            sel.unregister(key.fileobj); key.fileobj.close(); del socks[p]
            if ok:
                left.discard(p)
    for s in socks.values():
        s.close()
    if left:
        time.sleep(0.2)
if left:
    print(" ".join(str(p) for p in sorted(left)))
    sys.exit(1)
PYEOF
}

# lab_tunnels_add_many PREFIX COUNT BATCH BASTION...: COUNT tunnels reverse-ssh@PREFIXNNN.test.service
# (NNN from 000), spread round-robin over the bastions (started already), each with its own remote
# port; authorized in one write per bastion; started BATCH units at a time, each batch waited for
# (every remote port answers the target's banner).
lab_tunnels_add_many() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        lab__need lab_tunnels_add_many || return 1
        local prefix=$1 count=$2 batch=$3 i alias unit rport b start silent
        shift 3
        local bastions=("$@") units=() ports=()
        [[ $count =~ ^[0-9]+$ && $batch =~ ^[1-9][0-9]*$ && ${#bastions[@]} -gt 0 ]] ||
                { lab__err "usage: lab_tunnels_add_many PREFIX COUNT BATCH BASTION..."; return 1; }
        for b in "${bastions[@]}"; do
                [[ -f $LAB/bastions/$b/port ]] || { lab__err "lab_tunnels_add_many: no bastion '$b'"; return 1; }
        done
        start=$(lab__now)
        for ((i = 0; i < count; i++)); do
                alias=$(printf '%s%03d.test' "$prefix" "$i")
                b=${bastions[i % ${#bastions[@]}]}
                rport=$(lab_port_alloc) || return 1
                echo "$rport open" >>"$LAB/bastions/$b/authorized"
                echo "$alias reverse-ssh@$alias.service $rport $b" >>"$LAB/run/many"
                printf 'REMOTE_PORT=%s\nLOCAL_PORT=%s\nSSH_USER=reverse-ssh\nKEY=/lab/keys/client\n' "$rport" "$LAB_TPORT" |
                        lab_put "/etc/reverse-ssh/$alias.env" || return 1
        done
        for b in "${bastions[@]}"; do lab__write_authorized_keys "$LAB/bastions/$b" || return 1; done
        lab__write_ssh_config || return 1
        while read -r alias unit rport b; do
                [[ $alias == "$prefix"[0-9][0-9][0-9].test ]] || continue
                units+=("$unit")
                ports+=("$rport")
                if ((${#units[@]} >= batch)); then
                        lab_exec systemctl enable --quiet --now "${units[@]}" || { lab__err "enable --now failed"; return 1; }
                        silent=$(lab__wait_banners "$LAB_TUNNEL_TIMEOUT" "${ports[@]}") ||
                                { lab__err "lab_tunnels_add_many: no banner on ports $silent"; return 1; }
                        units=() ports=()
                fi
        done <"$LAB/run/many"
        if ((${#units[@]})); then
                lab_exec systemctl enable --quiet --now "${units[@]}" || { lab__err "enable --now failed"; return 1; }
                silent=$(lab__wait_banners "$LAB_TUNNEL_TIMEOUT" "${ports[@]}") ||
                        { lab__err "lab_tunnels_add_many: no banner on ports $silent"; return 1; }
        fi
        lab__log "$count tunnels ${prefix}NNN.test over ${#bastions[@]} bastions up in $(lab__since "$start") s"
}

# lab_reap_stale: cleans up every /tmp/rtunlab.* whose owner shell is gone (a test killed by SIGKILL:
# its daemons died with it, but its nft table and directory stay). Labs of live shells are left alone.
lab_reap_stale() {
        local -; set +e +u +o pipefail # errors are handled here, whatever the caller set
        local d pid start run n=0
        for d in /tmp/rtunlab.*/; do
                d=${d%/}
                [[ -f $d/owner ]] || continue
                read -r pid start <"$d/owner"
                [[ -d /proc/$pid && $(awk '{ print $22 }' "/proc/$pid/stat" 2>/dev/null) == "$start" ]] && continue
                run=${d#/tmp/rtunlab.}
                lab__log "reaping stale lab $d (owner $pid gone)"
                (LAB=$d LAB_RUN=$run LAB_MACHINE=rtunlab-$run LAB_NFT_TABLE=rtunlab_$run LAB_KEEP=0 lab_cleanup)
                n=$((n + 1))
        done
        lab__log "reaped $n stale lab(s)"
}
