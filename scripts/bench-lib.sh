# Helpers shared by scripts/bench-*.sh (sourced, not run).
# shellcheck shell=bash

log() { echo "$(basename "$0"): $*" >&2; }
die() {
    log "$*"
    exit 1
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free loopback port (racy, like every such helper, but good enough here).
free_port() {
    local port tries=0
    while :; do
        port=$((20000 + RANDOM % 20000))
        port_free "$port" && break
        tries=$((tries + 1))
        ((tries < 50)) || die "no free port"
    done
    echo "$port"
}

# Two free loopback ports for the broker and its controller, exported for
# scripts/kafka.sh (several checkouts on one machine may run brokers at once).
pick_kafka_ports() {
    [[ -n "${EPICENTER_KAFKA_PORT:-}" ]] && return 0
    local port=19092 tries=0
    until port_free "$port" && port_free "$((port + 1))"; do
        tries=$((tries + 1))
        ((tries < 50)) || die "no free port pair for kafka"
        port=$((20000 + RANDOM % 20000))
    done
    export EPICENTER_KAFKA_PORT="$port"
    export EPICENTER_KAFKA_CONTROLLER_PORT="$((port + 1))"
}

# The 1-minute load average.
load1() { cut -d' ' -f1 /proc/loadavg; }

# `key=value` from a line of such pairs.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# The span count of `epicenter simulate`'s report on stdin.
sim_spans() { sed -n 's/^\([0-9][0-9]*\) spans in .*/\1/p' | tail -n 1; }

# utime + stime of a process (all threads), seconds.
proc_cpu_seconds() {
    local tck
    tck="$(getconf CLK_TCK)"
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%.2f", ($12 + $13) / t }'
}

# A kB field of /proc/<pid>/status (VmRSS, VmHWM).
proc_status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# The sum of every series of a metric in a Prometheus text exposition.
metric_sum() {
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%.0f", s }' <<<"$1"
}

# The sum of a metric scraped from a local daemon's /metrics (0 if unreachable).
scrape() {
    local text
    text="$(curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null)" || {
        echo 0
        return 0
    }
    metric_sum "$text" "$2"
}

# Starts `epicenter run` ($BIN) with only the OTLP receivers on free loopback
# ports, in directory $1 (config, data, daemon.log); sets API_PORT,
# GRPC_PORT, HTTP_PORT and DAEMON_PID, and waits until /metrics answers.
start_epicenter_otlp() {
    local dir="$1" tries=0
    mkdir -p "$dir"
    API_PORT="$(free_port)"
    GRPC_PORT="$(free_port)"
    HTTP_PORT="$(free_port)"
    cat >"$dir/config.yaml" <<EOC
data_dir: $dir/data
api:
  listen: 127.0.0.1:$API_PORT
ingest:
  otlp:
    grpc_listen: 127.0.0.1:$GRPC_PORT
    http_listen: 127.0.0.1:$HTTP_PORT
log:
  level: warn
EOC
    "$BIN" run --config "$dir/config.yaml" 2>"$dir/daemon.log" >/dev/null &
    DAEMON_PID=$!
    until curl -fsS --max-time 2 "http://127.0.0.1:$API_PORT/metrics" >/dev/null 2>&1 &&
        ! port_free "$GRPC_PORT"; do
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$dir/daemon.log" >&2; die "the daemon exited"; }
        tries=$((tries + 1))
        ((tries < 300)) || die "the daemon did not start"
        sleep 0.1
    done
}

# Stops a process started by this script (TERM, then waits).
stop_pid() {
    [[ -n "${1:-}" ]] || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# On-CPU seconds (utime + stime) of each thread of a process, grouped by
# thread name: "name=seconds ..." (largest first).
thread_cpu_seconds() {
    local tck
    tck="$(getconf CLK_TCK)"
    for stat in /proc/"$1"/task/*/stat; do
        sed 's/^[0-9]* (\(.*\)) [A-Z] /\1\t/' "$stat" 2>/dev/null
    done | awk -F'\t' -v t="$tck" '{
        split($2, f, " "); name = $1; gsub(/[0-9]+$/, "", name)
        cpu[name] += (f[11] + f[12]) / t
    } END { for (n in cpu) printf "%s=%.2f\n", n, cpu[n] }' | sort -t= -k2 -rn | tr '\n' ' '
}
