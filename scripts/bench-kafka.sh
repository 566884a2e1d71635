#!/usr/bin/env bash
# Kafka end to end (issue #5): produce N simulator spans into a 6-partition
# topic on a real Apache Kafka broker, as OTLP protobuf in Collector-like
# batches (`epicenter simulate --kafka`), then time over the same topic
#   (a) `epicenter run` consuming everything through the whole pipeline
#       (decode → graph → windows → analysis), done when
#       epicenter_graph_spans_received_total reaches the produced span count;
#   (b) a do-nothing rdkafka consumer (examples/kafka_ceiling.rs), the ceiling.
# Prints spans/s, on-CPU seconds per million spans (utime + stime of the whole
# process from /proc/<pid>/stat) and peak RSS (VmHWM) for both, with the load.
#
# Usage: scripts/bench-kafka.sh            (from any directory of a clone)
#
# Environment:
#   BENCH_SPANS        spans to produce, approximately (default 2000000)
#   BENCH_RATE         simulated root requests per second of event time (default 200)
#   BENCH_PARTITIONS   partitions of the bench topic (default 6)
#   BENCH_KEYED        1 (default) = one record per trace keyed by its id, as the
#                      Collector's exporter writes with partition_traces_by_id
#                      (what Epicenter's docs recommend); 0 = one unkeyed record
#                      per Collector batch (random partition per record)
#   BENCH_KEEP_TOPIC   1 = do not delete the topic afterwards
#   BENCH_RUNS         epicenter runs over the same topic (default 1)
#   BENCH_BASELINE     another `epicenter` binary (e.g. main's) to run before
#                      each run of this checkout's, on the same topic
#   BENCH_CEILING      a built examples/kafka_ceiling to use instead of building
#                      it (the example build recompiles the library)
#   BENCH_PERF         file: `perf record -g` (or BENCH_PERF_ARGS, e.g.
#                      "--call-graph dwarf -F 499") this checkout's daemon while it
#                      consumes (needs perf; the last run's profile is kept)
#   BENCH_BROKERS      use this running broker instead of starting one
#   BENCH_KAFKA_EXTRA  YAML lines added under ingest.kafka of the daemon's
#                      config (indented by 4), e.g. "    max_event_time_skew_secs: 600"
#   EPICENTER_KAFKA_*  as for scripts/kafka.sh (a free port pair is picked if unset)
#
# Needs: Rust, Java 17+ and Maven (first run fetches the broker jars), curl.
# The broker is started with scripts/kafka.sh and stopped on exit only if this
# script started it. Runs in a fresh temporary directory, removed on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

SPANS="${BENCH_SPANS:-2000000}"
RATE="${BENCH_RATE:-200}"
PARTITIONS="${BENCH_PARTITIONS:-6}"
KEYED="${BENCH_KEYED:-1}"
key_flag=()
[[ "$KEYED" == 1 ]] && key_flag=(--key-by-trace-id)
RUN_ID="$(date +%s)-$$"
TOPIC="bench_spans_$RUN_ID"

log "building (release)"
# Two builds: an example pulls in dev-dependencies, which changes feature
# unification; built alone, the daemon is the same binary the other bench
# scripts build (and neither invalidates the other's cache).
cargo build --release -q --bin epicenter
BIN="$ROOT/target/release/epicenter"
if [[ -n "${BENCH_CEILING:-}" ]]; then
    CEILING="$BENCH_CEILING"
else
    cargo build --release -q --example kafka_ceiling
    CEILING="$ROOT/target/release/examples/kafka_ceiling"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/epicenter-bench-kafka.XXXXXX")"
DAEMON_PID=""
STARTED_BROKER=0
BROKERS=""
cleanup() {
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [[ -n "$BROKERS" && "${BENCH_KEEP_TOPIC:-0}" != 1 ]]; then
        "$CEILING" delete "$BROKERS" "$TOPIC" 2>/dev/null || true
    fi
    if ((STARTED_BROKER)); then
        scripts/kafka.sh stop || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- broker -----------------------------------------------------------------
if [[ -n "${BENCH_BROKERS:-}" ]]; then
    BROKERS="$BENCH_BROKERS"
else
    pick_kafka_ports
    if ! BROKERS="$(scripts/kafka.sh status 2>/dev/null)"; then
        STARTED_BROKER=1
        BROKERS="$(scripts/kafka.sh start)"
    fi
fi
log "kafka at $BROKERS; topic $TOPIC ($PARTITIONS partitions)"
"$CEILING" create "$BROKERS" "$TOPIC" "$PARTITIONS"

# --- produce ----------------------------------------------------------------
# Spans per root request of the default fleet, from a short file run, sizes
# the event-time duration so that about $SPANS spans come out.
"$BIN" simulate --out "$WORK/calibrate.jsonl" --rate "$RATE" --duration 60 --seed 7 \
    2>"$WORK/calibrate.log" >/dev/null
per_sec="$(sim_spans <"$WORK/calibrate.log")"
((per_sec > 0)) || die "calibration produced no spans"
per_sec=$((per_sec / 60))
DURATION=$(((SPANS + per_sec - 1) / per_sec))
START="$(date -u -d "@$(($(date +%s) - DURATION - 120))" +%Y-%m-%dT%H:%M:%SZ)"
log "producing ≈$SPANS spans: $RATE req/s for $DURATION s of event time from $START"
produce_started=$SECONDS
"$BIN" simulate --kafka "$BROKERS" --topic "$TOPIC" "${key_flag[@]}" --rate "$RATE" --duration "$DURATION" \
    --speed 0 --seed 1 --start "$START" 2>"$WORK/produce.log" >/dev/null ||
    { cat "$WORK/produce.log" >&2; die "producing failed"; }
PRODUCED="$(sim_spans <"$WORK/produce.log")"
tail -n 1 "$WORK/produce.log" | sed 's/^/  /' >&2
grep -q " 0 failed" "$WORK/produce.log" || die "some records failed to produce"
log "produced $PRODUCED spans in $((SECONDS - produce_started)) s"

# --- (b) the ceiling --------------------------------------------------------
log "ceiling: do-nothing rdkafka consumer"
load_before="$(load1)"
ceiling_out="$("$CEILING" consume "$BROKERS" "$TOPIC" "bench-ceiling-$RUN_ID")"
load_after="$(load1)"
c_records="$(kv records "$ceiling_out")"
c_bytes="$(kv bytes "$ceiling_out")"
c_secs="$(kv seconds "$ceiling_out")"
c_cpu="$(kv cpu_seconds "$ceiling_out")"
c_hwm="$(kv vmhwm_kib "$ceiling_out")"
c_load="$load_before→$load_after"

# --- (a) epicenter ----------------------------------------------------------
# One run of `epicenter run` ($1: row name, $2: binary) with a fresh group and
# data dir; appends its row to $ROWS and its details to $DETAILS.
ROWS=""
DETAILS=""
RUN_NO=0
run_epicenter() {
    local name="$1" bin="$2"
    RUN_NO=$((RUN_NO + 1))
    local dir="$WORK/run-$RUN_NO"
    mkdir -p "$dir"
    API_PORT="$(free_port)"
    cat >"$dir/config.yaml" <<EOF
data_dir: $dir/data
api:
  listen: 127.0.0.1:$API_PORT
ingest:
  otlp:
    enabled: false
  kafka:
    brokers: [$BROKERS]
    group_id: bench-epicenter-$RUN_ID-$RUN_NO
    auto_offset_reset: earliest
    topics:
    - name: $TOPIC
      encoding: otlp_proto
${BENCH_KAFKA_EXTRA:-}
log:
  level: warn
EOF
    log "$name: consuming through the whole pipeline"
    local load_before load_after started_ns first_ns="" now_ns done_ns received=0 deadline perf_pid=""
    load_before="$(load1)"
    "$bin" run --config "$dir/config.yaml" 2>"$dir/daemon.log" >/dev/null &
    DAEMON_PID=$!
    started_ns="$(date +%s%N)"
    local metric=epicenter_graph_spans_received_total
    deadline=$((SECONDS + 1800))
    while :; do
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$dir/daemon.log" >&2; die "the daemon exited"; }
        received="$(scrape "$API_PORT" "$metric")"
        now_ns="$(date +%s%N)"
        if [[ -z "$first_ns" ]] && ((received > 0)); then
            first_ns="$now_ns"
            if [[ -n "${BENCH_PERF:-}" && "$bin" == "$BIN" ]]; then
                perf record -q ${BENCH_PERF_ARGS:--g} -o "$BENCH_PERF" -p "$DAEMON_PID" 2>/dev/null &
                perf_pid=$!
            fi
        fi
        ((received >= PRODUCED)) && break
        ((SECONDS < deadline)) || die "timed out at $received of $PRODUCED spans"
        sleep 0.1
    done
    done_ns="$now_ns"
    if [[ -n "$perf_pid" ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    local d_cpu d_hwm d_load d_secs d_total metrics kafka_spans discarded reasons paired pauses threads
    d_cpu="$(proc_cpu_seconds "$DAEMON_PID")"
    d_hwm="$(proc_status_kib "$DAEMON_PID" VmHWM)"
    threads="$(thread_cpu_seconds "$DAEMON_PID")"
    load_after="$(load1)"
    d_load="$load_before→$load_after"
    d_secs="$(awk -v a="$first_ns" -v b="$done_ns" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    d_total="$(awk -v a="$started_ns" -v b="$done_ns" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    metrics="$(curl -fsS "http://127.0.0.1:$API_PORT/metrics")"
    kafka_spans="$(metric_sum "$metrics" epicenter_ingest_kafka_spans_received_total)"
    discarded="$(metric_sum "$metrics" epicenter_graph_spans_discarded_total)"
    reasons="$(sed -n 's/^epicenter_graph_spans_discarded_total{reason="\([a-z_]*\)"} \([0-9]*\)$/\1 \2/p' <<<"$metrics" | tr '\n' ' ')"
    paired="$(metric_sum "$metrics" epicenter_graph_edges_paired_total)"
    pauses="$(sed -n 's/^epicenter_[a-z_]*partition_pauses_total{reason="\([a-z_]*\)"} \([0-9]*\)$/\1 \2/p' <<<"$metrics" | tr '\n' ' ')"
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
    ROWS+="$(row "$name" "$PRODUCED" "$d_secs" "$d_cpu" "$d_hwm" "$d_load")"$'\n'
    DETAILS+="$name: kafka spans $kafka_spans, graph spans $received, discarded $discarded ($reasons), edges paired $paired, partition pauses ($pauses); $d_total s from start (incl. group join); CPU s by thread: $threads"$'\n'
}

row() { # name spans secs cpu hwm_kib load
    awk -v n="$1" -v s="$2" -v w="$3" -v c="$4" -v h="$5" -v l="$6" 'BEGIN {
        printf "%-22s %12.0f %10.2f %14.2f %12.0f %12.1f  %s\n", n, s / w, w, c / (s / 1e6), s / c, h / 1024, l }'
}

# Alternate the two binaries when comparing, so both see the same minutes.
for ((i = 1; i <= ${BENCH_RUNS:-1}; i++)); do
    if [[ -n "${BENCH_BASELINE:-}" ]]; then
        run_epicenter "baseline run" "$BENCH_BASELINE"
    fi
    run_epicenter "epicenter run" "$BIN"
done

# --- report -----------------------------------------------------------------
echo
echo "Kafka end to end: $PRODUCED spans in $c_records records ($(awk -v b="$c_bytes" 'BEGIN { printf "%.0f", b / 1048576 }') MiB), topic of $PARTITIONS partitions, keyed by trace id: $KEYED, $(nproc) cores"
printf '%s' "$DETAILS"
printf '%-22s %12s %10s %14s %12s %12s  %s\n' consumer "spans/s" "wall s" "CPU s/M spans" "spans/CPU s" "peak RSS MB" "load (1 min)"
row "rdkafka (ceiling)" "$PRODUCED" "$c_secs" "$c_cpu" "$c_hwm" "$c_load"
printf '%s' "$ROWS"
