#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker + controller) on
# 127.0.0.1 for tests and local development. No Docker, no download script:
# the jars come from Maven Central through Maven (scripts/kafka/pom.xml) and
# are cached in the git-ignored .cache/kafka/<version>/libs.
#
# Usage: scripts/kafka.sh fetch|start|stop|status
#
#   fetch   resolve the broker jars into the cache (no-op when cached)
#   start   fetch, format fresh KRaft storage with a random cluster id, start
#           the broker, wait until it serves, print the bootstrap address
#           (idempotent: an already running broker just prints it)
#   stop    stop the broker (SIGTERM, then SIGKILL after a grace period)
#   status  print the bootstrap address and exit 0 if running, else exit 1
#
# Environment:
#   EPICENTER_KAFKA_PORT             client port (default 19092)
#   EPICENTER_KAFKA_CONTROLLER_PORT  KRaft controller port (default port + 1)
#   EPICENTER_KAFKA_VERSION          Kafka version (default 4.4.0)
#   EPICENTER_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   EPICENTER_KAFKA_HEAP             JVM heap (default 512m)
#
# Needs: Java 17+ and Maven. Quiet on success except for what `start` and
# `status` print. The broker's own log is .cache/kafka/run-<port>/logs/server.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${EPICENTER_KAFKA_VERSION:-4.4.0}"
PORT="${EPICENTER_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${EPICENTER_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
START_TIMEOUT="${EPICENTER_KAFKA_START_TIMEOUT:-90}"
HEAP="${EPICENTER_KAFKA_HEAP:-512m}"
LIBS="$ROOT/.cache/kafka/$VERSION/libs"
RUN="$ROOT/.cache/kafka/run-$PORT"
PIDFILE="$RUN/kafka.pid"
BOOTSTRAP="127.0.0.1:$PORT"

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

require_tools() {
    command -v java >/dev/null || die "java not found (Java 17 or newer is required)"
    local major
    major="$(java -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1)"
    [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] ||
        die "java $major found; Kafka $VERSION needs Java 17 or newer"
}

fetch() {
    [[ -f "$LIBS/.complete" ]] && return 0
    command -v mvn >/dev/null || die "mvn not found (Maven fetches the Kafka jars)"
    local tmp="$LIBS.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$LIBS")"
    if ! mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" \
        -Dkafka.version="$VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" \
        dependency:copy-dependencies >"$tmp.log" 2>&1; then
        cat "$tmp.log" >&2
        rm -rf "$tmp" "$tmp.log"
        die "maven could not fetch kafka $VERSION"
    fi
    rm -f "$tmp.log"
    ls "$tmp"/kafka_2.13-"$VERSION".jar >/dev/null 2>&1 || die "kafka_2.13-$VERSION.jar missing after fetch"
    touch "$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
}

# The pid of our running broker, or nothing. A stale pid file (process gone,
# or the pid reused by something else) counts as not running.
running_pid() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $RUN/"; then
        echo "$pid"
    fi
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cluster_id() {
    # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding. Kafka's
    # own generator avoids a leading '-' (it would parse as a flag); so do we.
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* ]] && break
    done
    echo "$id"
}

write_config() {
    mkdir -p "$RUN/logs"
    cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN/data
num.partitions=6
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=4
EOF
    cat >"$RUN/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $RUN/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

start() {
    local pid
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        echo "$BOOTSTRAP"
        return 0
    fi
    require_tools
    fetch
    port_open "$PORT" && die "127.0.0.1:$PORT is already in use by another process (set EPICENTER_KAFKA_PORT)"
    port_open "$CONTROLLER_PORT" &&
        die "127.0.0.1:$CONTROLLER_PORT is already in use (set EPICENTER_KAFKA_CONTROLLER_PORT)"

    rm -rf "$RUN"
    write_config
    local cp="$LIBS/*"
    local jvm=(-Xms128m "-Xmx$HEAP" -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Xshare:auto
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$RUN/log4j2.properties"
        -Dkafka.logs.dir="$RUN/logs")

    if ! java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format \
        -t "$(cluster_id)" -c "$RUN/server.properties" >"$RUN/logs/format.log" 2>&1; then
        cat "$RUN/logs/format.log" >&2
        die "formatting the KRaft storage failed"
    fi

    # setsid: the broker leaves our process group, so a Ctrl-C aimed at a
    # test run does not kill it mid-write; `stop` (or test.sh's trap) does.
    setsid java "${jvm[@]}" -cp "$cp" kafka.Kafka "$RUN/server.properties" \
        >"$RUN/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    pid=$!

    local deadline=$((SECONDS + START_TIMEOUT))
    until port_open "$PORT" && grep -q "Kafka Server started" "$RUN/logs/server.log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$RUN/logs/server.log" "$RUN/logs/stdout.log" >&2 2>/dev/null || true
            die "the broker exited during startup (logs in $RUN/logs)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$RUN/logs/server.log" "$RUN/logs/stdout.log" >&2 2>/dev/null || true
            stop
            die "the broker did not become ready within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    echo "$BOOTSTRAP"
}

stop() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "kafka.sh: broker $pid did not stop within 30s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$PIDFILE"
}

status() {
    local pid
    pid="$(running_pid)"
    if [[ -n "$pid" ]] && port_open "$PORT"; then
        echo "$BOOTSTRAP"
        return 0
    fi
    echo "stopped" >&2
    return 1
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 fetch|start|stop|status" >&2
    exit 64
    ;;
esac
