#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) answer,
# starting them when they do not.   bash scripts/services.sh ensure|status
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

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
  echo "services up: postgresql 127.0.0.1:5432, redis 127.0.0.1:6379"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  status) pg_up && echo "postgresql up" || echo "postgresql down"; redis_up && echo "redis up" || echo "redis down" ;;
  *) echo "usage: $0 ensure|status" >&2; exit 2 ;;
esac
