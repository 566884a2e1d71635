#!/usr/bin/env bash
# Replay against zcat (issue #5): writes a gzip OTLP/JSON span file of about
# 300,000 simulator spans, then times `epicenter replay --spans FILE --alerts
# /dev/null` and `zcat FILE > /dev/null` alternately in the same run, and
# prints both (wall and on-CPU user + system seconds, best of the runs) and the
# ratio. Goal: replay at most 3× zcat.
#
# Usage: scripts/bench-replay.sh
# Environment: BENCH_SPANS (default 300000), BENCH_RATE (root requests/s,
# default 50), BENCH_RUNS (default 3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

SPANS="${BENCH_SPANS:-300000}"
RATE="${BENCH_RATE:-50}"
RUNS="${BENCH_RUNS:-3}"

log "building (release)"
cargo build --release -q --bin epicenter
BIN="$ROOT/target/release/epicenter"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/epicenter-bench-replay.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$BIN" simulate --out "$WORK/calibrate.jsonl" --rate "$RATE" --duration 60 --seed 7 \
    2>"$WORK/calibrate.log" >/dev/null
per_sec=$(($(sim_spans <"$WORK/calibrate.log") / 60))
((per_sec > 0)) || die "calibration produced no spans"
DURATION=$(((SPANS + per_sec - 1) / per_sec))
FILE="$WORK/spans.jsonl.gz"
"$BIN" simulate --out "$FILE" --rate "$RATE" --duration "$DURATION" --seed 1 \
    --start 2026-03-02T09:00:00Z 2>"$WORK/sim.log" >/dev/null
COUNT="$(sim_spans <"$WORK/sim.log")"
log "$COUNT spans, $(($(stat -c %s "$FILE") / 1024)) KiB gzip, $(($(zcat "$FILE" | wc -c) / 1048576)) MiB JSON"

# One timed command: prints "wall user+sys" in seconds.
timed() {
    local out
    out="$({ TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>"$WORK/err"; } 2>&1)" ||
        { cat "$WORK/err" >&2; die "$* failed"; }
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$out"
}

best_wall=() best_cpu=()
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
load_before="$(load1)"
for ((i = 0; i < RUNS; i++)); do
    read -r w c < <(timed zcat "$FILE")
    best_wall[0]="$(min "${best_wall[0]:-}" "$w")"
    best_cpu[0]="$(min "${best_cpu[0]:-}" "$c")"
    read -r w c < <(timed "$BIN" replay --spans "$FILE" --alerts /dev/null)
    best_wall[1]="$(min "${best_wall[1]:-}" "$w")"
    best_cpu[1]="$(min "${best_cpu[1]:-}" "$c")"
done
load_after="$(load1)"

echo
echo "Replay vs zcat: $COUNT spans, best of $RUNS alternating runs, $(nproc) cores, load $load_before→$load_after"
printf '%-18s %10s %12s %14s\n' command "wall s" "CPU s" "spans/s (wall)"
printf '%-18s %10.3f %12.3f %14.0f\n' "zcat" "${best_wall[0]}" "${best_cpu[0]}" \
    "$(awk -v n="$COUNT" -v w="${best_wall[0]}" 'BEGIN { print n / w }')"
printf '%-18s %10.3f %12.3f %14.0f\n' "epicenter replay" "${best_wall[1]}" "${best_cpu[1]}" \
    "$(awk -v n="$COUNT" -v w="${best_wall[1]}" 'BEGIN { print n / w }')"
awk -v a="${best_wall[1]}" -v b="${best_wall[0]}" -v ca="${best_cpu[1]}" -v cb="${best_cpu[0]}" 'BEGIN {
    printf "replay / zcat: %.1f× wall, %.1f× CPU (goal: at most 3×)\n", a / b, ca / cb }'
