from __future__ import annotations

from celery import shared_task

from core.idempotency import purge_expired


@shared_task(name="core.tasks.ping")
def ping() -> str:
    """Answers "pong": proves a worker is consuming from the broker (tests, /healthz drills)."""
    return "pong"


@shared_task(name="core.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Forget Idempotency-Key responses past their retention (they carry patient details)."""
    return purge_expired()
