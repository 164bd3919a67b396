"""Reliability proof: a real Celery worker on Redis sends 200 due reminders to a real SMTP server,
is SIGKILLed mid-sweep, restarts, and exactly 200 messages arrive: none twice, none missing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from scheduling.models import Reminder, ReminderStatus
from scheduling.tasks import send_due_reminders
from tests.builders.world import build_reminder_world, make_due_reminders
from tests.conftest import WorkerFactory
from tests.scheduling.conftest import SMTPSink

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_sigkill_mid_sweep_then_restart_delivers_each_of_200_exactly_once(
    celery_worker_process: WorkerFactory, smtp_server: SMTPSink
) -> None:
    """Given 200 due reminders and a worker running two sweeps side by side, when the SMTP server
    holds both senders in the middle of a message (row marked sent in an open transaction, SMTP
    transaction open) and the worker is killed with SIGKILL, then the in-flight rows roll back to
    pending, and after a restart exactly the 200 expected Message-IDs arrive, each once."""
    ids = make_due_reminders(build_reminder_world(), 200)
    smtp_env = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_USE_TLS": "false",
    }
    worker = celery_worker_process(concurrency=2, **smtp_env)
    send_due_reminders.delay(spread=False)
    send_due_reminders.delay(spread=False)

    wait_for(lambda: smtp_server.count() >= 50)
    smtp_server.hold()
    wait_for(lambda: smtp_server.held >= 2, timeout=20)  # both sweeps are mid-send
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=20)
    smtp_server.release()

    delivered_before_kill = smtp_server.count()
    assert 50 <= delivered_before_kill < 200
    # The held rows were marked sent inside transactions that never committed: invisible here,
    # and rolled back (their locks freed) as soon as PostgreSQL sees the dead connections.
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == delivered_before_kill

    celery_worker_process(concurrency=2, **smtp_env)
    send_due_reminders.delay()  # what beat would queue within the minute
    wait_for(lambda: Reminder.objects.filter(pk__in=ids, status=ReminderStatus.PENDING).count() == 0)
    time.sleep(0.5)  # give a stray duplicate the chance to show up

    message_ids = [m.message_id for m in smtp_server.messages]
    assert len(message_ids) == 200
    assert len(set(message_ids)) == 200  # 0 duplicates
    assert set(message_ids) == {f"<reminder-{i}@localhost>" for i in ids}  # 0 missing
    assert Reminder.objects.filter(pk__in=ids, status=ReminderStatus.SENT).count() == 200
