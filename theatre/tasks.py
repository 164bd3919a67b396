"""Thin Celery tasks for theatre: each takes ids (or nothing) and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from core.audit import Actor
from theatre.locking import lock_due_sessions


@shared_task(name="theatre.tasks.lock_upcoming_sessions")
def lock_upcoming_sessions() -> int:
    """Lock every open list starting within two weeks (6-4-2); running it twice locks nothing twice."""
    locked = lock_due_sessions(now=timezone.now(), actor=Actor.system("task:theatre.tasks.lock_upcoming_sessions"))
    return len(locked)
