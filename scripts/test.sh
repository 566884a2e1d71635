#!/usr/bin/env bash
# The one test command (README, .ci/run): sets up everything the suite needs,
# runs the whole suite, tears down what it started, exits with cargo's status.
#
#   1. a Python venv in .venv with the OpenTelemetry SDK (pip, cached by
#      requirement hash), exported as EPICENTER_PYTHON;
#   2. a real single-node KRaft Kafka on 127.0.0.1 (scripts/kafka.sh; jars
#      fetched with Maven on first use), exported as EPICENTER_TEST_KAFKA and
#      stopped on exit;
#   3. Debian's `chromium` (apt, only when it is missing) for the report
#      chart screenshot test, exported as EPICENTER_CHROMIUM; without apt
#      (or root) a warning is logged and that test skips;
#   4. `cargo test --all-targets --no-fail-fast` (unit tests, the `it` binary,
#      benches in test mode).
#
# Needs: Rust, Java 17+, Maven, Python 3 (and apt, for Chromium). Extra arguments go to `cargo test`
# (e.g. `scripts/test.sh -- kafka_real`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "test.sh: $*" >&2; }

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Two free loopback ports for the broker and its controller. Several checkouts
# on one machine may run this script at once, so do not insist on the default.
pick_kafka_ports() {
    if [[ -n "${EPICENTER_KAFKA_PORT:-}" ]]; then
        return 0
    fi
    local port=19092
    local tries=0
    until port_free "$port" && port_free "$((port + 1))"; do
        tries=$((tries + 1))
        ((tries < 50)) || { log "no free port pair for kafka"; exit 1; }
        port=$((20000 + RANDOM % 20000))
    done
    export EPICENTER_KAFKA_PORT="$port"
    export EPICENTER_KAFKA_CONTROLLER_PORT="$((port + 1))"
}

setup_python() {
    local req="scripts/python-requirements.txt"
    local stamp=".venv/.requirements.sha256"
    local want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ -x .venv/bin/python && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    local python
    python="$(command -v python3 || command -v python)" || { log "python3 not found"; exit 1; }
    [[ -x .venv/bin/python ]] || "$python" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
}

# Headless Chromium renders the report's SVG charts (tests/it/report.rs).
setup_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        local sudo=()
        if [[ "$(id -u)" != 0 ]]; then
            if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
                sudo=(sudo -n)
            else
                log "WARNING: chromium missing and not root (no sudo): the chart screenshot test will skip"
                return 0
            fi
        fi
        if ! command -v apt-get >/dev/null 2>&1; then
            log "WARNING: chromium missing and apt-get unavailable: the chart screenshot test will skip"
            return 0
        fi
        log "installing chromium (apt)"
        if ! { "${sudo[@]}" apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; } >&2; then
            log "WARNING: installing chromium failed: the chart screenshot test will skip"
            return 0
        fi
    fi
    EPICENTER_CHROMIUM="$(command -v chromium)"
    export EPICENTER_CHROMIUM
    log "chromium at $EPICENTER_CHROMIUM"
}

started=$SECONDS
setup_chromium
setup_python
export EPICENTER_PYTHON="$ROOT/.venv/bin/python"
log "python venv ready ($((SECONDS - started))s)"

# Compile before the broker starts: on two cores the JVM and rustc compete.
# Only cargo's own flags (those before `--`) apply to the build. A compile
# error is reported again, with its status, by the real run below.
cargo_flags=()
for arg in "$@"; do
    [[ "$arg" == "--" ]] && break
    cargo_flags+=("$arg")
done
build_started=$SECONDS
cargo test --all-targets --no-run -q "${cargo_flags[@]}" || true
log "build done ($((SECONDS - build_started))s)"

pick_kafka_ports
scripts/kafka.sh fetch
trap 'scripts/kafka.sh stop' EXIT
kafka_started=$SECONDS
EPICENTER_TEST_KAFKA="$(scripts/kafka.sh start)"
export EPICENTER_TEST_KAFKA
log "kafka at $EPICENTER_TEST_KAFKA (ready in $((SECONDS - kafka_started))s, setup $((SECONDS - started))s)"

status=0
cargo test --all-targets --no-fail-fast "$@" || status=$?
log "cargo test exited with $status after $((SECONDS - started))s"
exit "$status"
