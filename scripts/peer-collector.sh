#!/usr/bin/env bash
# Builds the OpenTelemetry Collector used as the peer in scripts/bench-peer.sh
# with the OpenTelemetry Collector Builder (ocb) from the Go module proxy,
# from the manifest scripts/peer/builder.yaml, into
# .cache/otelcol/<hash of manifest and Go version>/ (gitignored). A cached
# build is reused. Prints the binary's path on stdout.
#
# Usage: scripts/peer-collector.sh
# Needs: Go (1.26 works), the Go module proxy, ≈2 GB of Go module cache plus
# ≈0.8 GB of Go build cache, and
# about 3 minutes of 2 cores the first time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

BUILDER_VERSION=v0.165.0 # the core release the manifest names
MANIFEST="$ROOT/scripts/peer/builder.yaml"

command -v go >/dev/null || die "needs Go (https://go.dev); not found on PATH"
hash="$({ cat "$MANIFEST"; echo "$BUILDER_VERSION"; go version; } | sha256sum | cut -c1-16)"
DIR="$ROOT/.cache/otelcol/$hash"
BIN="$DIR/otelcol-peer/otelcol-peer"
if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$DIR/bin"
if [[ ! -x "$DIR/bin/builder" ]]; then
    log "installing the Collector Builder $BUILDER_VERSION"
    GOBIN="$DIR/bin" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2
fi
log "building the Collector (first time: a few minutes)"
cp "$MANIFEST" "$DIR/builder.yaml"
(cd "$DIR" && ./bin/builder --config builder.yaml) >"$DIR/build.log" 2>&1 ||
    { tail -n 30 "$DIR/build.log" >&2; die "the Collector build failed (log: $DIR/build.log)"; }
[[ -x "$BIN" ]] || die "the builder produced no binary at $BIN"
# The generated sources are not needed to run it.
find "$DIR/otelcol-peer" -maxdepth 1 -name '*.go' -delete
echo "$BIN"
