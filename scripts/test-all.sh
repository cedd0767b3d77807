#!/usr/bin/env bash
# Runs every test against real services: makes sure PostgreSQL and Redis are up, builds and starts the
# project's own search engine (OpenSearch from Maven Central jars) unless one already answers, installs
# the Chromium the browser test drives if it is missing, then runs `pnpm test` and a quick benchmark
# smoke run. Stops the search engine again if this script started it, even when tests fail. The same for
# the test Kafka broker (KRaft, Maven Central jars) on 127.0.0.1:$KAFKA_PORT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh ensure
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"

OS_HTTP_PORT="${OS_HTTP_PORT:-9200}"
export OS_HTTP_PORT
started_engine=0
started_kafka=0
# One trap for both engines: each is stopped only if this script started it.
trap 'if [ "$started_kafka" = 1 ]; then bash scripts/engines.sh kafka-stop || true; fi; if [ "$started_engine" = 1 ]; then bash scripts/engines.sh stop || true; fi' EXIT
if ! bash scripts/engines.sh status >/dev/null 2>&1; then
  bash scripts/engines.sh build
  started_engine=1
  bash scripts/engines.sh start
fi
KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_PORT
if ! bash scripts/engines.sh kafka-status >/dev/null 2>&1; then
  bash scripts/engines.sh kafka-build
  started_kafka=1
  bash scripts/engines.sh kafka-start
fi
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT}}"
export ELASTICSEARCH_URL="${ELASTICSEARCH_URL:-http://127.0.0.1:${OS_HTTP_PORT}}"
export SEARCH_ENGINE="${SEARCH_ENGINE:-opensearch}"

if [ -f apps/bank-demo/scripts/ensure-chromium.sh ]; then bash apps/bank-demo/scripts/ensure-chromium.sh; fi

pnpm test

# Every benchmark at tiny sizes, so the suite cannot rot (figures are not judged here).
pnpm run bench:quick
