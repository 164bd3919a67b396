"""Reminder delivery: 10,000 due reminders through a real Celery worker to a local SMTP sink.

    .venv/bin/python bench/reminders.py

Creates `theatre_bench_reminders` (BENCH_REMINDERS_DATABASE_URL overrides) and uses Redis db 14
(BENCH_REDIS_URL overrides), starts an aiosmtpd sink on 127.0.0.1 and a `celery worker`
subprocess, makes 10,000 email reminders due at the same instant, then plays beat: queues
scheduling.tasks.send_due_reminders at the due time and every 60 s while rows remain. Prints,
per worker size (1 process without helper sweeps, then 4 processes with helpers):
- wall time from due_at until the last message reached the SMTP server, and messages/second;
- lateness (arrival at the SMTP server - due_at): p50, p99 and max;
- duplicates and missing messages (both must be 0).
In production beat's phase adds up to 60 s to every lateness figure: the sweep runs once a
minute. Not part of `make test`: figures, not assertions. The database is dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COUNT = int(os.environ.get("BENCH_REMINDERS", "10000"))
BENCH_URL = os.environ.get("BENCH_REMINDERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_reminders")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ["REDIS_URL"] = REDIS
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["LOG_LEVEL"] = "WARNING"

from aiosmtpd.controller import Controller  # noqa: E402

from bench.scratch_db import create_database, drop_database  # noqa: E402


class Sink:
    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        at = time.time()
        message_id = ""
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
                break
            if not line:
                break
        with self.lock:
            self.arrivals.append((message_id, at))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed() -> tuple[Any, Any]:
    from scheduling.models import Case, Patient
    from tests.factories import (
        ProcedureTemplateFactory,
        ProcedureVersionFactory,
        SiteFactory,
        SurgeonFactory,
        TheatreFactory,
        valid_nhs_number,
    )

    site = SiteFactory()
    theatre = TheatreFactory(site=site)
    version = ProcedureVersionFactory(
        template=ProcedureTemplateFactory(slug="kyphoplasty-bench", name="Balloon kyphoplasty")
    )
    surgeon = SurgeonFactory()
    patients = Patient.objects.bulk_create(
        Patient(
            nhs_number=valid_nhs_number(i * 3),
            mrn=f"B{i:08d}",
            given_name="Bench",
            family_name=f"Patient{i}",
            date_of_birth=dt.date(1950, 1, 1),
            email=f"patient{i}@example.org",
            reminder_channels=["email"],
        )
        for i in range(COUNT)
    )
    cases = Case.objects.bulk_create(
        Case(
            reference=f"B{i:07d}",
            patient=p,
            procedure=version.template,
            procedure_version=version,
            levels=["L1"],
            anaesthesia="general",
            surgeon=surgeon,
            referral_date=dt.date(2026, 1, 1),
            estimated_minutes=60,
        )
        for i, p in enumerate(patients)
    )
    return cases, (site, theatre, version)


def make_due(cases: list[Any], estate: tuple[Any, Any, Any], due: dt.datetime) -> None:
    from scheduling.models import Reminder

    site, theatre, version = estate
    Reminder.objects.all().delete()
    start = due + dt.timedelta(days=1)
    Reminder.objects.bulk_create(
        (
            Reminder(
                case=case,
                kind="day_before@bench",
                channel="email",
                due_at=due,
                context={
                    "reference": case.reference,
                    "procedure": version.template.name,
                    "start": start.isoformat(),
                    "arrival": (start - dt.timedelta(hours=1)).isoformat(),
                    "timezone": "Europe/London",
                    "site_name": site.name,
                    "site_address": site.address,
                    "site_phone": "",
                },
            )
            for case in cases
        ),
        batch_size=2000,
    )


def start_worker(port: int, concurrency: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "REMINDER_SWEEP_PARALLEL": str(concurrency),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=bench-{os.getpid()}-{concurrency}@%h",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    from config.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("worker did not start")
    return proc


def run_phase(label: str, concurrency: int, cases: list[Any], estate: Any, sink: Sink, port: int) -> None:
    from django.utils import timezone

    from config.celery import app
    from scheduling.models import Reminder, ReminderStatus
    from scheduling.tasks import send_due_reminders

    with app.connection_for_write() as conn:
        app.control.purge(connection=conn)
    worker = start_worker(port, concurrency)
    try:
        sink.arrivals.clear()
        due = timezone.now() + dt.timedelta(seconds=3)
        make_due(cases, estate, due)
        while timezone.now() < due:
            time.sleep(0.01)
        # Beat: the sweep at the due time, then once a minute while anything is left.
        next_tick = time.monotonic()
        while Reminder.objects.filter(status=ReminderStatus.PENDING).exists():
            if time.monotonic() >= next_tick:
                send_due_reminders.delay(spread=concurrency > 1)
                next_tick += 60
            time.sleep(0.2)
        time.sleep(1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    due_ts = due.timestamp()
    lateness = sorted(at - due_ts for _, at in sink.arrivals)
    ids = [m for m, _ in sink.arrivals]
    wall = lateness[-1]
    p99 = lateness[int(0.99 * (len(lateness) - 1))]
    print(
        f"{label:<36} {len(ids):>6} sent in {wall:6.1f} s  {len(ids) / wall:7.0f} msg/s   "
        f"lateness p50 {statistics.median(lateness):5.1f} s  p99 {p99:5.1f} s  max {wall:5.1f} s   "
        f"duplicates {len(ids) - len(set(ids))}  missing {COUNT - len(set(ids))}",
        flush=True,
    )


def main() -> None:
    # SIGTERM (Ctrl-C from make, a timeout) must still stop the worker and drop the database:
    # a stray worker would keep consuming from the bench queue with a dead SMTP port.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    create_database(BENCH_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cases, estate = seed()
        print(f"{COUNT} due reminders, one SMTP sink on 127.0.0.1:{port}, Redis {REDIS}", flush=True)
        run_phase("1 worker process, one sweep", 1, cases, estate, sink, port)
        run_phase("4 worker processes, 4 sweeps", 4, cases, estate, sink, port)
    finally:
        controller.stop()
        from django.db import connections

        connections.close_all()
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
