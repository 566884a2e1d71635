#!/usr/bin/env bash
# OTLP receivers (issue #5): Epicenter's throughput over OTLP/gRPC and
# OTLP/HTTP (protobuf), then p99 request latency at 80 % of that maximum.
# Client: examples/otlp_load.rs (simulator spans pre-encoded as protobuf
# requests of ≈550 spans, ≈190 KiB).
#
#  1. closed loop, per transport: BENCH_CONCURRENCY requests in flight until
#     every request was sent; spans/s until epicenter_graph_spans_received_total
#     reaches the spans sent (so the whole pipeline kept up), server CPU
#     seconds per million spans, peak RSS;
#  2. open loop, per transport: requests started at a fixed rate of 80 % of
#     the maximum of step 1 for about BENCH_OPEN_SECS seconds, whatever the
#     responses do; latency of each request from its scheduled start to its
#     response (HDR histogram), p50/p99/p99.9/max.
# Every run gets a fresh daemon (each run's event time starts anew).
#
# Usage: scripts/bench-otlp.sh
# Environment: BENCH_RATE (200), BENCH_DURATION (60 s of event time per
# pass), BENCH_PASSES (10, closed loop), BENCH_CONCURRENCY (8),
# BENCH_OPEN_SECS (20), BENCH_TRANSPORTS ("grpc http"), BENCH_OPEN_RPS (a
# fixed open-loop rate instead of 80 % of the measured maximum), BENCH_BIN
# (another `epicenter` binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

RATE="${BENCH_RATE:-200}"
DURATION="${BENCH_DURATION:-60}"
PASSES="${BENCH_PASSES:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"
OPEN_SECS="${BENCH_OPEN_SECS:-20}"
TRANSPORTS="${BENCH_TRANSPORTS:-grpc http}"

log "building (release)"
# One invocation: the example's dev-dependencies change feature unification,
# and building the two separately rebuilds the library each time.
cargo build --release -q --bin epicenter --example otlp_load
# BENCH_BIN: measure another `epicenter` binary (e.g. main's) instead.
BIN="${BENCH_BIN:-$ROOT/target/release/epicenter}"
LOAD="$ROOT/target/release/examples/otlp_load"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/epicenter-bench-otlp.XXXXXX")"
DAEMON_PID=""
cleanup() {
    stop_pid "$DAEMON_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Runs the load generator against a fresh daemon; prints its key=value line
# followed by ` load=BEFORE→AFTER`.
run_once() { # transport, load-generator arguments...
    local transport="$1" port out before
    shift
    start_epicenter_otlp "$WORK/run"
    port="$GRPC_PORT"
    [[ "$transport" == http ]] && port="$HTTP_PORT"
    before="$(load1)"
    out="$("$LOAD" "$@" --transport "$transport" --rate "$RATE" --duration "$DURATION" \
        --endpoint "127.0.0.1:$port" --pid "$DAEMON_PID" \
        --drained "http://127.0.0.1:$API_PORT/metrics" epicenter_graph_spans_received_total)"
    echo "$out load=$before→$(load1)"
    stop_pid "$DAEMON_PID"
    DAEMON_PID=""
    rm -rf "$WORK/run"
}

closed=()
open=()
for transport in $TRANSPORTS; do
    log "$transport: closed loop, $CONCURRENCY in flight"
    out="$(run_once "$transport" closed --passes "$PASSES" --concurrency "$CONCURRENCY")"
    closed+=("$out")
    spans="$(kv spans "$out")"
    secs="$(kv drained_seconds "$out")"
    per_req="$(kv spans_per_request "$out")"
    rps="$(awk -v s="$spans" -v w="$secs" -v p="$per_req" 'BEGIN { printf "%.1f", 0.8 * s / w / p }')"
    # BENCH_OPEN_RPS: a fixed open-loop rate, to compare builds or settings
    # at the same load (80 % of a noisy maximum differs between runs).
    rps="${BENCH_OPEN_RPS:-$rps}"
    requests_per_pass="$(awk -v r="$(kv requests "$out")" -v p="$PASSES" 'BEGIN { printf "%d", r / p }')"
    passes="$(awk -v r="$rps" -v t="$OPEN_SECS" -v q="$requests_per_pass" 'BEGIN { n = int(r * t / q + 0.999); print (n < 1 ? 1 : n) }')"
    log "$transport: open loop at $rps requests/s (80 %), $passes passes"
    open+=("$(run_once "$transport" open --rps "$rps" --passes "$passes") rps=$rps")
done

echo
echo "OTLP receivers of epicenter run: rate $RATE req/s of event time, ≈$(kv spans_per_request "${closed[0]}") spans per request, $(nproc) cores"
printf '%-6s %-7s %10s %8s %12s %10s %10s %9s %9s %9s %9s  %s\n' transport loop "spans/s" "wall s" "CPU s/M sp" "peak MB" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "failed" "load (1 min)"
line() { # transport loop kv
    awk -v t="$1" -v m="$2" -v s="$(kv spans "$3")" -v w="$(kv drained_seconds "$3")" -v ws="$(kv seconds "$3")" \
        -v c="$(kv server_cpu_seconds "$3")" -v h="$(kv server_vmhwm_kib "$3")" -v r="$(kv requests "$3")" \
        -v p50="$(kv p50_ms "$3")" -v p99="$(kv p99_ms "$3")" -v p999="$(kv p999_ms "$3")" \
        -v f="$(kv failed "$3")+$(kv skipped "$3")" -v l="$(kv load "$3")" 'BEGIN {
        printf "%-6s %-7s %10.0f %8.2f %12.2f %10.0f %10.0f %9.2f %9.2f %9.2f %9s  %s\n",
            t, m, s / w, w, c / (s / 1e6), h / 1024, r / ws, p50, p99, p999, f, l }'
}
i=0
for transport in $TRANSPORTS; do
    line "$transport" closed "${closed[$i]}"
    line "$transport" "open80" "${open[$i]}"
    i=$((i + 1))
done
echo "(failed = failed+skipped requests; open-loop latency from each request's scheduled start)"
