"""Celery tasks for reminders: thin, they take ids and call scheduling.reminders.delivery.

Registered through scheduling/tasks.py (the module Celery's autodiscovery imports) under their
original names, which `name=` pins: beat and queued messages refer to them.

No task is ever queued with a long ETA: beat runs the sweep every minute, and a retry's
countdown is capped by REMINDER_RETRY_MAX_SECONDS (minutes). A retry task that is lost (worker
killed) costs nothing: the row's next_attempt_at lets the next sweep take it.
"""

from __future__ import annotations

from celery import shared_task

from core.audit import Actor
from scheduling.reminders import delivery

# A sweep takes this many due rows before asking for a helper sweep on another worker process.
ROWS_PER_SWEEP = 250


@shared_task(name="scheduling.tasks.send_due_reminders", ignore_result=True)
def send_due_reminders(spread: bool = True, share: list[int] | None = None) -> dict[str, int]:
    """Send every due reminder and staff notice exactly once (scheduling.reminders.delivery explains the
    guarantee). On a backlog, queues up to REMINDER_SWEEP_PARALLEL - 1 helper sweeps so that
    several worker processes share the rows through SKIP LOCKED, each taking its own share first
    (`share`: [index, of], see delivery.Share)."""
    from django.conf import settings

    if spread:
        helpers = max(min(settings.REMINDER_SWEEP_PARALLEL - 1, delivery.due_count() // ROWS_PER_SWEEP), 0)
        for index in range(1, helpers + 1):
            send_due_reminders.delay(spread=False, share=[index, helpers + 1])
        share = [0, helpers + 1] if helpers else None
    return delivery.sweep(
        actor=Actor.system("task:scheduling.send_due_reminders"),
        share=delivery.Share(*share) if share else None,
    ).as_dict()


@shared_task(name="scheduling.tasks.send_reminder", ignore_result=True)
def send_reminder(reminder_id: int) -> str | None:
    """Retry one reminder after a transient failure; a no-op if it was sent, cancelled or taken."""
    return delivery.deliver_reminder(reminder_id=reminder_id, actor=Actor.system("task:scheduling.send_reminder"))


@shared_task(name="scheduling.tasks.send_staff_notice", ignore_result=True)
def send_staff_notice(notice_id: int) -> str | None:
    """Retry one staff notice after a transient failure; a no-op if it was sent or taken."""
    return delivery.deliver_staff_notice(notice_id=notice_id, actor=Actor.system("task:scheduling.send_staff_notice"))
