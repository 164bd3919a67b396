"""The Celery app. JSON only, time limits, late acks; the beat schedule lives here, in code."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("theatre")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The one place the periodic work is defined. Each entry names a thin task that calls one service.
app.conf.beat_schedule = {
    # Reminders are swept every minute rather than queued with long ETAs, which a broker
    # restart or a move of the case would silently invalidate (DESIGN §2 reminders).
    "send-due-reminders": {
        "task": "scheduling.tasks.send_due_reminders",
        "schedule": 60.0,
    },
    "purge-idempotency-records": {
        "task": "core.tasks.purge_idempotency_records",
        "schedule": crontab(minute=17),
    },
    # 6-4-2: lists lock two weeks ahead. Hourly, so a list locks within the hour it falls due.
    "lock-upcoming-sessions": {
        "task": "theatre.tasks.lock_upcoming_sessions",
        "schedule": crontab(minute=5),
    },
}
