from __future__ import annotations

from celery import shared_task


@shared_task(name="core.tasks.ping")
def ping() -> str:
    """Answers "pong": proves a worker is consuming from the broker (tests, /healthz drills)."""
    return "pong"
