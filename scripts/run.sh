#!/usr/bin/env bash
# `make run`: the whole system on one machine with no servers to install.
# SQLite and kombu's filesystem broker by default; REDIS_URL / DATABASE_URL override them.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
export PYTHONUNBUFFERED=1
BIN=.venv/bin
mkdir -p var

$BIN/python manage.py migrate --noinput
$BIN/python manage.py seed_demo

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo; echo "Stopping web, worker and beat…"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup INT TERM EXIT

$BIN/celery -A config worker --loglevel=INFO --concurrency=2 --hostname="worker@%h" & pids+=($!)
$BIN/celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule & pids+=($!)
$BIN/python manage.py runserver 127.0.0.1:8000 & pids+=($!)

echo "Staff UI: http://127.0.0.1:8000/  (log in as coordinator / coordinator-demo, surgeon / surgeon-demo, …: see the logins above)"
echo "API: http://127.0.0.1:8000/api/v1/   Swagger UI: http://127.0.0.1:8000/api/v1/docs/   Health: http://127.0.0.1:8000/healthz"
echo "Outgoing email: var/outbox/   SMS: var/sms-outbox/   Press Ctrl-C to stop everything."
wait -n "${pids[@]}"
