"""The scheduling app's Celery tasks, where `app.autodiscover_tasks()` looks for them.

Each task lives next to the service it calls; importing it here registers it in every worker.
The names are pinned with `name=` ("scheduling.tasks.send_due_reminders", …): the beat schedule
in config/celery.py and any message already queued in Redis refer to them, so moving a task
never renames it.
"""

from scheduling.reminders.tasks import send_due_reminders, send_reminder, send_staff_notice

__all__ = ["send_due_reminders", "send_reminder", "send_staff_notice"]
