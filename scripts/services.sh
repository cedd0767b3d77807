#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL (127.0.0.1:5432, trust auth), Redis (127.0.0.1:6379) and RabbitMQ
# (127.0.0.1:5672, guest/guest) answer, starting them when they do not.   bash scripts/services.sh ensure|status
# Tests reach RabbitMQ at AMQP_URL (default amqp://guest:guest@127.0.0.1:5672; scripts/test-all.sh exports it).
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
# An AMQP 0-9-1 handshake: after the protocol header a broker that accepts connections answers with a
# method frame (type 1, Connection.Start); an open port alone is not enough while RabbitMQ boots.
amqp_up() {
  timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3 | od -An -tx1' \
    2>/dev/null | grep -q 01
}

wait_for() { # name check seconds
  local deadline=$((SECONDS + $3))
  until $2; do
    ((SECONDS < deadline)) || { echo "$1 did not come up within $3 s" >&2; return 1; }
    sleep 1
  done
}

ensure() {
  if ! pg_up; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
    wait_for PostgreSQL pg_up 60
  fi
  if ! redis_up; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for Redis redis_up 30
  fi
  if ! amqp_up; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    wait_for RabbitMQ amqp_up 120
  fi
  echo "services up: postgresql 127.0.0.1:5432, redis 127.0.0.1:6379, rabbitmq 127.0.0.1:5672"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  status) pg_up && echo "postgresql up" || echo "postgresql down"; redis_up && echo "redis up" || echo "redis down"
    amqp_up && echo "rabbitmq up" || echo "rabbitmq down" ;;
  *) echo "usage: $0 ensure|status" >&2; exit 2 ;;
esac
