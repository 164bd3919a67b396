#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer; start them if not.
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # wait_for <check-function> <seconds>
    for _ in $(seq 1 "$2"); do "$1" && return 0; sleep 1; done
    return 1
}

if ! pg_up; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it."
    if ls /etc/postgresql >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    if ! wait_for pg_up 30; then
        echo "ERROR: PostgreSQL could not be started or reached at 127.0.0.1:5432 (user postgres, trust auth)." >&2
        echo "       make test needs a real PostgreSQL 15; start it and run make test again." >&2
        exit 1
    fi
fi

if ! redis_up; then
    echo "Redis is not answering on 127.0.0.1:6379; starting it."
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
    if ! wait_for redis_up 15; then
        echo "ERROR: Redis could not be started or reached at 127.0.0.1:6379." >&2
        echo "       make test needs a real Redis; start it and run make test again." >&2
        exit 1
    fi
fi
echo "PostgreSQL and Redis are up."
