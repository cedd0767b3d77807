#!/usr/bin/env bash
# Build, start, stop and inspect the test-only single-node OpenSearch 2.19 (embedded Node, Maven Central jars)
# and the test-only single-node KRaft Kafka 4.0 broker (kafka_2.13 jars from Maven Central).
#
#   bash scripts/engines.sh build    # mvn package of testinfra/opensearch (skipped when already up to date)
#   bash scripts/engines.sh start    # wipe data, start on 127.0.0.1:$OS_HTTP_PORT, wait for yellow
#   bash scripts/engines.sh stop     # SIGTERM (then SIGKILL) the JVM from the pid file
#   bash scripts/engines.sh status   # exit 0 when the node answers, 3 when it does not
#   bash scripts/engines.sh kafka-build|kafka-start|kafka-stop|kafka-status
#                                    # the same for Kafka on 127.0.0.1:$KAFKA_PORT (readiness: a Metadata
#                                    # round trip, testinfra/kafka/metadata-probe.mjs)
#
# Environment: OS_HTTP_PORT (9200), OS_TRANSPORT_PORT (9300-9400), OS_HEAP (1g),
#              OS_START_TIMEOUT seconds (180), JAVA (java = OpenJDK 17; OpenSearch 2.19 runs on 17),
#              KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT (120).
# Runtime files (pid, log, node home) live in .engines/ at the repo root (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.engines"
OS_DIR="$ROOT/testinfra/opensearch"
OS_HOME="$RUN/opensearch-home"
PIDFILE="$RUN/opensearch.pid"
LOGFILE="$RUN/opensearch.log"
OS_HTTP_PORT="${OS_HTTP_PORT:-9200}"
OS_TRANSPORT_PORT="${OS_TRANSPORT_PORT:-9300-9400}"
OS_HEAP="${OS_HEAP:-1g}"
OS_START_TIMEOUT="${OS_START_TIMEOUT:-180}"
JAVA="${JAVA:-java}"
MAIN_CLASS="testinfra.OpenSearchMain"
BASE_URL="http://127.0.0.1:$OS_HTTP_PORT"

log() { echo "[engines] $*" >&2; }

# ---------------------------------------------------------------- shared by both engines
# Each engine is a Maven project under testinfra/ whose jars go to target/lib; its JVM is started with
# setsid (own session, so it outlives the calling shell and stops only via `stop`), its pid kept in a
# pid file, its data wiped on every start.

# mvn package of a testinfra project unless its stamp is newer than its sources. name dir is_built_fn
mvn_build() {
  local name="$1" dir="$2" is_built_fn="$3"
  if "$is_built_fn"; then
    log "$name: up to date (testinfra/$(basename "$dir")/target)"
    return 0
  fi
  log "$name: mvn package (the first run downloads its jars into ~/.m2)"
  mkdir -p "$RUN"
  rm -rf "$dir/target/lib"   # no stale jars of an older version left on the classpath
  # Offline first: fast, and works without a network once ~/.m2 is filled; online if something is missing.
  if ! mvn -B -q -Dstyle.color=never -o -f "$dir/pom.xml" package >"$RUN/$name-mvn-offline.log" 2>&1; then
    log "$name: offline build failed (see .engines/$name-mvn-offline.log), retrying online"
    mvn -B -q -Dstyle.color=never -f "$dir/pom.xml" package
  fi
  touch "$dir/target/.build-stamp"
}

# Pid from the pid file if that process is alive and its command line holds the marker. pidfile marker
pid_from_file() {
  local pid
  [[ -f "$1" ]] || return 0
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
    echo "$pid"
  fi
}

# Pids whose command line holds both markers (an engine of THIS checkout, pid file or not). marker marker
pids_matching() {
  local d
  for d in /proc/[0-9]*; do
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$1" || continue
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$2" || continue
    echo "${d#/proc/}"
  done
}

port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Polls the probe until it answers, the JVM exits or the deadline passes. name pid seconds probe_fn logfile what
wait_ready() {
  local name="$1" pid="$2" deadline=$((SECONDS + $3)) probe="$4" logfile="$5" what="$6"
  until "$probe"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name: JVM (pid $pid) exited during start-up; last log lines:"
      tail -n 60 "$logfile" >&2 || true
      return 1
    fi
    if (( SECONDS >= deadline )); then
      log "$name: $what after $3 s; last log lines:"
      tail -n 60 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

kill_and_wait() { # name pid
  local name="$1" pid="$2"
  kill -TERM "$pid" 2>/dev/null || return 0     # the JVM's shutdown hook closes the engine cleanly
  for _ in $(seq 1 60); do                       # up to 30 s
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  log "$name: pid $pid ignored SIGTERM for 30 s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "$name: pid $pid still alive after SIGKILL"
  return 1
}

# Stops the pid-file engine and any orphan of this checkout. name pidfile pid marker marker
stop_engine() {
  local name="$1" pidfile="$2" pid="$3" rc=0 p found=""
  if [[ -n "$pid" ]]; then
    log "$name: stopping pid $pid"
    kill_and_wait "$name" "$pid" || rc=1
    found=1
  fi
  for p in $(pids_matching "$4" "$5"); do   # e.g. pid file lost: still only engines of this checkout
    [[ "$p" == "$pid" ]] && continue
    log "$name: stopping pid $p (not in pid file)"
    kill_and_wait "$name" "$p" || rc=1
    found=1
  done
  rm -f "$pidfile"
  [[ -n "$found" ]] || log "$name: not running"
  return "$rc"
}

# Exit 0 when the engine answers, 3 when it does not. name pid answers_fn where
engine_status() {
  local name="$1" pid="$2" answers="$3" where="$4"
  if "$answers"; then
    echo "$name: up on $where${pid:+ (pid $pid)}"
    return 0
  fi
  if [[ -n "$pid" ]]; then echo "$name: pid $pid alive but not answering on $where (starting?)"
  else echo "$name: down"; fi
  return 3
}

elapsed_since() { # t0 from date +%s.%N
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'
}

# ---------------------------------------------------------------- opensearch
is_built() {
  local stamp="$OS_DIR/target/.build-stamp" f
  [[ -f "$stamp" && -f "$OS_DIR/target/classes/testinfra/OpenSearchMain.class" && -d "$OS_DIR/target/lib" ]] || return 1
  [[ -n "$(ls -A "$OS_DIR/target/lib" 2>/dev/null)" ]] || return 1
  [[ "$OS_DIR/pom.xml" -ot "$stamp" ]] || return 1
  while IFS= read -r -d '' f; do
    [[ "$f" -ot "$stamp" ]] || return 1
  done < <(find "$OS_DIR/src" -type f -print0)
  return 0
}

build() { mvn_build opensearch "$OS_DIR" is_built; }

node_pid() { pid_from_file "$PIDFILE" "$MAIN_CLASS"; }

# 0 if an OpenSearch node answers GET / on the port.
opensearch_answers() {
  curl -fsS -m 3 "$BASE_URL/" 2>/dev/null | grep -q '"distribution" *: *"opensearch"'
}

opensearch_yellow() {
  curl -fsS -m 10 "$BASE_URL/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null 2>&1
}

start() {
  mkdir -p "$RUN"
  exec 9>"$RUN/opensearch.lock"
  # Two concurrent `start`s: the second waits here, then finds the first node answering.
  flock -w $((OS_START_TIMEOUT + 60)) 9 || { log "opensearch: could not take .engines/opensearch.lock"; return 1; }

  local t0 pid
  t0="$(date +%s.%N)"
  if opensearch_answers; then
    log "opensearch: already answering on $BASE_URL (pid file: $(node_pid || true)); not starting another"
    return 0
  fi
  pid="$(node_pid)"
  if [[ -n "$pid" ]]; then
    log "opensearch: pid $pid is still starting; waiting for it instead of starting another"
  else
    if port_in_use "$OS_HTTP_PORT"; then
      log "opensearch: 127.0.0.1:$OS_HTTP_PORT is taken by something that is not OpenSearch; set OS_HTTP_PORT"
      return 1
    fi
    build
    rm -rf "$OS_HOME" "$PIDFILE"
    mkdir -p "$OS_HOME/tmp"
    # exec chain keeps $! == the java pid.
    setsid nohup "$JAVA" -Xms"$OS_HEAP" -Xmx"$OS_HEAP" -XX:+UseG1GC -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30 -Xss1m \
      -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow -XX:+ShowCodeDetailsInExceptionMessages \
      -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true \
      -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true \
      -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0 \
      -Dopensearch.set.netty.runtime.available.processors=false \
      -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true \
      -Dlog4j2.configurationFile="$OS_DIR/log4j2.properties" \
      -Djava.locale.providers=SPI,COMPAT \
      -Djava.io.tmpdir="$OS_HOME/tmp" \
      -Dos.home="$OS_HOME" -Dos.http.port="$OS_HTTP_PORT" -Dos.transport.port="$OS_TRANSPORT_PORT" \
      -cp "$OS_DIR/target/classes:$OS_DIR/target/lib/*" "$MAIN_CLASS" \
      </dev/null >"$LOGFILE" 2>&1 9>&- &   # 9>&-: the JVM must not inherit (and hold) the start lock
    pid=$!
    echo "$pid" >"$PIDFILE"
    log "opensearch: started pid $pid, log .engines/opensearch.log; waiting for yellow (max ${OS_START_TIMEOUT}s)"
  fi
  if ! wait_ready opensearch "$pid" "$OS_START_TIMEOUT" opensearch_yellow "$LOGFILE" "not yellow"; then
    stop
    return 1
  fi
  echo "opensearch up: $BASE_URL (pid $pid) in $(elapsed_since "$t0") s"
}

stop() { stop_engine opensearch "$PIDFILE" "$(node_pid)" "-Dos.home=$OS_HOME " "$MAIN_CLASS"; }

status() {
  engine_status opensearch "$(node_pid)" opensearch_answers "$BASE_URL" || return $?
  curl -fsS -m 5 "$BASE_URL/_cluster/health?pretty" || true
}

# ---------------------------------------------------------------- kafka (KRaft, broker + controller in one JVM)
KAFKA_DIR="$ROOT/testinfra/kafka"
KAFKA_HOME="$RUN/kafka-home"
KAFKA_PIDFILE="$RUN/kafka.pid"
KAFKA_LOGFILE="$RUN/kafka.log"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_MAIN_CLASS="kafka.Kafka"
# Any 22-character base64url UUID; fixed so that a formatted log dir is recognised as ours.
KAFKA_CLUSTER_ID="4L6g3nShT-eMCtK--X86sw"

kafka_is_built() {
  local stamp="$KAFKA_DIR/target/.build-stamp"
  [[ -f "$stamp" && -n "$(ls -A "$KAFKA_DIR/target/lib" 2>/dev/null)" && "$KAFKA_DIR/pom.xml" -ot "$stamp" ]]
}

kafka_build() { mvn_build kafka "$KAFKA_DIR" kafka_is_built; }

kafka_pid() { pid_from_file "$KAFKA_PIDFILE" "$KAFKA_HOME/"; }

kafka_answers() {
  node "$KAFKA_DIR/metadata-probe.mjs" 127.0.0.1 "$KAFKA_PORT" 3000 >/dev/null 2>&1
}

kafka_start() {
  mkdir -p "$RUN"
  exec 8>"$RUN/kafka.lock"
  flock -w $((KAFKA_START_TIMEOUT + 60)) 8 || { log "kafka: could not take .engines/kafka.lock"; return 1; }

  local t0 pid cp="$KAFKA_DIR/target/lib/*"
  t0="$(date +%s.%N)"
  if kafka_answers; then
    log "kafka: already answering on 127.0.0.1:$KAFKA_PORT (pid file: $(kafka_pid || true)); not starting another"
    return 0
  fi
  pid="$(kafka_pid)"
  if [[ -n "$pid" ]]; then
    log "kafka: pid $pid is still starting; waiting for it instead of starting another"
  else
    if port_in_use "$KAFKA_PORT"; then
      log "kafka: 127.0.0.1:$KAFKA_PORT is taken by something that is not answering Kafka metadata; set KAFKA_PORT"
      return 1
    fi
    kafka_build
    rm -rf "$KAFKA_HOME" "$KAFKA_PIDFILE"
    mkdir -p "$KAFKA_HOME/tmp"
    sed -e "s#@LOG_DIR@#$KAFKA_HOME/data#" -e "s#@BROKER_PORT@#$KAFKA_PORT#g" \
        -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
        "$KAFKA_DIR/server.properties.template" >"$KAFKA_HOME/server.properties"
    # KRaft needs a formatted log dir (static quorum: no --standalone).
    if ! "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" -cp "$cp" kafka.tools.StorageTool \
        format --cluster-id "$KAFKA_CLUSTER_ID" --config "$KAFKA_HOME/server.properties" --ignore-formatted \
        >"$RUN/kafka-format.log" 2>&1; then
      log "kafka: formatting the log dir failed:"
      cat "$RUN/kafka-format.log" >&2
      return 1
    fi
    setsid nohup "$JAVA" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:+ExitOnOutOfMemoryError -XX:ActiveProcessorCount=2 -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
      -Djava.io.tmpdir="$KAFKA_HOME/tmp" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      -cp "$cp" "$KAFKA_MAIN_CLASS" "$KAFKA_HOME/server.properties" \
      </dev/null >"$KAFKA_LOGFILE" 2>&1 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$KAFKA_PIDFILE"
    log "kafka: started pid $pid, log .engines/kafka.log; waiting for a metadata answer (max ${KAFKA_START_TIMEOUT}s)"
  fi
  if ! wait_ready kafka "$pid" "$KAFKA_START_TIMEOUT" kafka_answers "$KAFKA_LOGFILE" "no metadata answer"; then
    kafka_stop
    return 1
  fi
  echo "kafka up: 127.0.0.1:$KAFKA_PORT (pid $pid) in $(elapsed_since "$t0") s"
}

kafka_stop() { stop_engine kafka "$KAFKA_PIDFILE" "$(kafka_pid)" "$KAFKA_HOME/server.properties" "$KAFKA_MAIN_CLASS"; }

kafka_status() { engine_status kafka "$(kafka_pid)" kafka_answers "127.0.0.1:$KAFKA_PORT"; }

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  kafka-build) kafka_build ;;
  kafka-start) kafka_start ;;
  kafka-stop) kafka_stop ;;
  kafka-status) kafka_status ;;
  *) echo "usage: $0 build|start|stop|status|kafka-build|kafka-start|kafka-stop|kafka-status" >&2; exit 2 ;;
esac
