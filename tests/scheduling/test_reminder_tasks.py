"""The reminder tasks live in scheduling.reminders.tasks but keep the names that the beat
schedule, the delivery retries and any message already queued in Redis use; a fresh process
finds them through Celery's autodiscovery, as a worker does when it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: in this one, other tests have imported the task modules already.
SCRIPT = """
import json
from config.celery import app
app.loader.import_default_modules()  # what a worker does when it starts: autodiscovery
registered = sorted(app.tasks)
from scheduling.reminders.delivery import NOTICES, REMINDERS
print(json.dumps({
    "registered": registered,
    "beat": sorted(entry["task"] for entry in app.conf.beat_schedule.values()),
    "retries": [REMINDERS.retry_task, NOTICES.retry_task],
}))
"""


def test_a_fresh_worker_registers_the_reminder_tasks_under_their_old_names() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    registered = set(seen["registered"])
    assert {
        "scheduling.tasks.send_due_reminders",
        "scheduling.tasks.send_reminder",
        "scheduling.tasks.send_staff_notice",
    } <= registered
    assert set(seen["beat"]) <= registered
    assert set(seen["retries"]) <= registered
