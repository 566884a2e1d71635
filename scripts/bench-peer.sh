#!/usr/bin/env bash
# The peer, side by side (issue #5): the same simulator spans, sent by the
# same client (examples/otlp_load.rs: pre-encoded OTLP protobuf requests,
# N concurrent gRPC streams) first to a fresh `epicenter run` and then to a
# fresh OpenTelemetry Collector (scripts/peer-collector.sh: OTLP receiver →
# spanmetrics connector → Prometheus exporter, scripts/peer/collector.yaml).
# For each: spans/s (wall, from the first request until the work is done:
# for Epicenter until epicenter_graph_spans_received_total reaches the spans
# sent, for the Collector when the last export returns, its pipeline being
# synchronous), server CPU seconds per million spans (utime + stime of the
# whole server process from /proc/<pid>/stat), peak RSS (VmHWM) and RSS at
# the end (VmRSS), with the 1-minute load average.
#
# Then it checks what both made of the traffic: spans counted by each, and
# per service the server/consumer spans the Collector counted against the
# requests Epicenter's service graph attributes to that service as the
# server (traces_service_graph_request_total summed by `server`).
#
# The Collector runs the spanmetrics connector, not the servicegraph
# connector: the Go module proxy reachable here refuses every version of the
# servicegraph connector (see scripts/peer/builder.yaml and the README).
#
# Usage: scripts/bench-peer.sh
# Environment:
#   BENCH_RATE         root requests per second of event time (default 200)
#   BENCH_DURATION     seconds of event time per pass (default 60)
#   BENCH_PASSES       passes over the base set, re-stamped (default 10;
#                      ≈1.3 M spans with the default fleet)
#   BENCH_SERVICES     a generated fleet of N services instead of the shop
#   BENCH_CONCURRENCY  requests in flight (default 8)
#   BENCH_TRANSPORT    grpc (default) or http
#   BENCH_ROUNDS       rounds of (Epicenter, Collector) (default 1)
# Needs: Rust, Go (first run builds the Collector, a few minutes), curl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

RATE="${BENCH_RATE:-200}"
DURATION="${BENCH_DURATION:-60}"
PASSES="${BENCH_PASSES:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"
TRANSPORT="${BENCH_TRANSPORT:-grpc}"
ROUNDS="${BENCH_ROUNDS:-1}"
fleet=()
[[ -n "${BENCH_SERVICES:-}" ]] && fleet=(--services "$BENCH_SERVICES")

log "building (release) and the Collector"
# One invocation: the example's dev-dependencies change feature unification,
# and building the two separately rebuilds the library each time.
cargo build --release -q --bin epicenter --example otlp_load
# BENCH_BIN: measure another `epicenter` binary (e.g. main's) instead.
BIN="${BENCH_BIN:-$ROOT/target/release/epicenter}"
LOAD="$ROOT/target/release/examples/otlp_load"
COLLECTOR="$(scripts/peer-collector.sh)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/epicenter-bench-peer.XXXXXX")"
DAEMON_PID=""
PEER_PID=""
cleanup() {
    stop_pid "$DAEMON_PID"
    stop_pid "$PEER_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

# One start for every run: identical request bytes for both servers.
START=$(($(date +%s) - DURATION * PASSES - 120))
load_args=(closed --transport "$TRANSPORT" --rate "$RATE" --duration "$DURATION" --passes "$PASSES"
    --start "$START" --concurrency "$CONCURRENCY" "${fleet[@]}")

rows=()
row() { # name kv-line load
    local spans secs cpu hwm rss ccpu
    spans="$(kv spans "$2")"
    secs="$(kv drained_seconds "$2")"
    cpu="$(kv server_cpu_seconds "$2")"
    hwm="$(kv server_vmhwm_kib "$2")"
    rss="$(kv server_vmrss_kib "$2")"
    ccpu="$(kv client_cpu_seconds "$2")"
    ((10#$(kv failed "$2") == 0)) || log "$1: $(kv failed "$2") requests failed"
    rows+=("$(awk -v n="$1" -v s="$spans" -v w="$secs" -v c="$cpu" -v h="$hwm" -v r="$rss" -v cc="$ccpu" -v l="$3" 'BEGIN {
        printf "%-26s %10.0f %8.2f %9.2f %12.2f %10.0f %10.0f %9.2f  %s", n, s / w, w, c, c / (s / 1e6), h / 1024, r / 1024, cc, l }')")
}

for ((round = 1; round <= ROUNDS; round++)); do
    # --- Epicenter ----------------------------------------------------------
    log "round $round: epicenter run"
    start_epicenter_otlp "$WORK/epicenter"
    port="$GRPC_PORT"
    [[ "$TRANSPORT" == http ]] && port="$HTTP_PORT"
    load_before="$(load1)"
    out="$("$LOAD" "${load_args[@]}" --endpoint "127.0.0.1:$port" --pid "$DAEMON_PID" \
        --drained "http://127.0.0.1:$API_PORT/metrics" epicenter_graph_spans_received_total)"
    row "epicenter run" "$out" "$load_before→$(load1)"
    SPANS="$(kv spans "$out")"
    # Let the graph's pairing TTL and windows settle before reading the graph.
    sleep 2
    curl -fsS "http://127.0.0.1:$API_PORT/metrics" >"$WORK/epicenter.metrics"
    stop_pid "$DAEMON_PID"
    DAEMON_PID=""
    rm -rf "$WORK/epicenter"

    # --- the Collector -------------------------------------------------------
    log "round $round: the Collector (spanmetrics)"
    PEER_GRPC_PORT="$(free_port)" PEER_HTTP_PORT="$(free_port)" PEER_PROM_PORT="$(free_port)" \
        PEER_TELEMETRY_PORT="$(free_port)"
    export PEER_GRPC_PORT PEER_HTTP_PORT PEER_PROM_PORT PEER_TELEMETRY_PORT
    "$COLLECTOR" --config "$ROOT/scripts/peer/collector.yaml" >"$WORK/collector.log" 2>&1 &
    PEER_PID=$!
    tries=0
    until curl -fsS --max-time 2 "http://127.0.0.1:$PEER_TELEMETRY_PORT/metrics" >/dev/null 2>&1 &&
        ! port_free "$PEER_GRPC_PORT" && ! port_free "$PEER_HTTP_PORT"; do
        kill -0 "$PEER_PID" 2>/dev/null || { cat "$WORK/collector.log" >&2; die "the Collector exited"; }
        tries=$((tries + 1))
        ((tries < 300)) || die "the Collector did not start"
        sleep 0.1
    done
    port="$PEER_GRPC_PORT"
    [[ "$TRANSPORT" == http ]] && port="$PEER_HTTP_PORT"
    load_before="$(load1)"
    out="$("$LOAD" "${load_args[@]}" --endpoint "127.0.0.1:$port" --pid "$PEER_PID")"
    row "collector (spanmetrics)" "$out" "$load_before→$(load1)"
    # The connector flushes every 15 s: wait for the counts to catch up.
    deadline=$((SECONDS + 60))
    until (($(scrape "$PEER_PROM_PORT" traces_span_metrics_calls_total) >= SPANS)); do
        ((SECONDS < deadline)) || { log "the Collector's span counts never reached $SPANS"; break; }
        sleep 1
    done
    curl -fsS "http://127.0.0.1:$PEER_PROM_PORT/metrics" >"$WORK/collector.metrics"
    curl -fsS "http://127.0.0.1:$PEER_TELEMETRY_PORT/metrics" >"$WORK/collector.telemetry"
    stop_pid "$PEER_PID"
    PEER_PID=""
done

# --- report -----------------------------------------------------------------
e="$(cat "$WORK/epicenter.metrics")"
c="$(cat "$WORK/collector.metrics")"
t="$(cat "$WORK/collector.telemetry")"
echo
echo "Peer side by side: $SPANS spans per run (rate $RATE req/s, $DURATION s × $PASSES passes${BENCH_SERVICES:+, $BENCH_SERVICES services}), OTLP/$TRANSPORT, $CONCURRENCY in flight, $(nproc) cores"
printf '%-26s %10s %8s %9s %12s %10s %10s %9s  %s\n' server "spans/s" "wall s" "CPU s" "CPU s/M spans" "peak MB" "end MB" "client s" "load (1 min)"
printf '%s\n' "${rows[@]}"
echo
echo "epicenter (last round): graph spans $(metric_sum "$e" epicenter_graph_spans_received_total), discarded $(metric_sum "$e" epicenter_graph_spans_discarded_total) ($(grep '^epicenter_graph_spans_discarded_total{' <<<"$e" | sed -E 's/^[^{]*\{reason="([^"]*)"\} /\1=/' | tr '\n' ' ')), edges paired $(metric_sum "$e" epicenter_graph_edges_paired_total), service-graph series $(grep -c '^traces_service_graph_request_total' <<<"$e"), requests $(metric_sum "$e" traces_service_graph_request_total)"
echo "collector (last round): accepted spans $(metric_sum "$t" otelcol_receiver_accepted_spans), refused $(metric_sum "$t" otelcol_receiver_refused_spans), spanmetrics series $(grep -c '^traces_span_metrics_calls_total' <<<"$c"), calls $(metric_sum "$c" traces_span_metrics_calls_total)"
echo
echo "per service: server + consumer spans (Collector spanmetrics) vs requests with that server (Epicenter graph)"
{
    awk '/^traces_span_metrics_calls_total\{/ && /span_kind="SPAN_KIND_(SERVER|CONSUMER)"/ {
        match($0, /service_name="[^"]*"/); s = substr($0, RSTART + 14, RLENGTH - 15); print "c", s, $NF }' <<<"$c"
    awk '/^traces_service_graph_request_total\{/ {
        match($0, /server="[^"]*"/); s = substr($0, RSTART + 8, RLENGTH - 9); print "e", s, $NF }' <<<"$e"
} | awk '{ v[$2, $1] += $3; k[$2] = 1 }
    END { for (s in k) printf "%-28s %12.0f %12.0f  %+8.0f%s\n", s, v[s, "c"], v[s, "e"], v[s, "e"] - v[s, "c"],
              v[s, "c"] == 0 ? "  (uninstrumented: the Collector counts these as the callers client spans)" : "" }' |
    sort | { printf "%-28s %12s %12s  %8s\n" service collector epicenter diff; cat; }
