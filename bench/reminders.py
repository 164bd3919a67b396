"""Reminder delivery: 10,000 due reminders through a real Celery worker to real SMTP servers.

    .venv/bin/python bench/reminders.py

Creates `theatre_bench_reminders` (BENCH_REMINDERS_DATABASE_URL overrides) and uses Redis db 14
(BENCH_REDIS_URL overrides). The mail server is a sink that is not the bottleneck: SINKS
aiosmtpd servers (BENCH_SINKS, default 2), each its own process, all listening on one port
(SO_REUSEPORT: the kernel spreads the connections), each recording only the Message-ID and the
arrival time of what it accepts. Then it prints:

- the sink's own capacity, measured alone in the same run: messages per second that 4 clients,
  each on one kept-open connection like a sweep's, get accepted (messages shaped like a reminder);
- per worker size (BENCH_PHASES, default "1,4": 1 process without helper sweeps, then 4 processes
  with helpers), for 10,000 email reminders made due at the same instant, with a `celery worker`
  subprocess and beat played here (scheduling.tasks.send_due_reminders queued at the due time and
  every 60 s while rows remain): wall time until the last message reached the sink, messages per
  second, lateness (arrival at the sink - due_at) p50, p99 and max, duplicates and missing
  messages (both must be 0; counted by Message-ID, which is per reminder row), and the system's
  rate as a share of the sink's capacity.
Target: p99 lateness <= 75 s with 4 processes. In production beat's phase adds up to 60 s to every
lateness figure: the sweep runs once a minute. Not part of `make test`: figures, not assertions.
The database is dropped at the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
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

from aiosmtpd.smtp import SMTP  # noqa: E402

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.serve import free_port  # noqa: E402

SINKS = int(os.environ.get("BENCH_SINKS", "2"))
PHASES = [int(n) for n in os.environ.get("BENCH_PHASES", "1,4").split(",")]


class Sink:
    """Records each accepted message's Message-ID and arrival time; nothing else, so it stays cheap."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[bytes, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        at = time.time()
        content: bytes = envelope.content
        head = content[: content.find(b"\r\n\r\n") + 2]  # the headers, each line ending in CRLF
        start = head.lower().find(b"\nmessage-id:")
        message_id = head[start + 12 : head.find(b"\r\n", start + 1)].strip() if start >= 0 else b""
        self.arrivals.append((message_id, at))  # one event loop thread: no lock needed
        return "250 OK"


def _sink_process(port: int, commands: Any) -> None:
    """One sink, listening with SO_REUSEPORT so that several processes share the port (aiosmtpd's
    Controller cannot: its start-up check connects to the port, and may reach another process).
    Serves until told to stop; hands over (and forgets) its arrivals when asked."""
    sink = Sink()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(sink, loop=loop), host="127.0.0.1", port=port, reuse_port=True)
    )
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def take() -> list[tuple[bytes, float]]:  # in the loop's thread, between two messages
        arrivals, sink.arrivals = sink.arrivals, []
        return arrivals

    commands.send("ready")
    while commands.recv() == "collect":
        commands.send(asyncio.run_coroutine_threadsafe(take(), loop).result())
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)


class Sinks:
    """SINKS sink processes on one port."""

    def __init__(self, count: int) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_sink_process, args=(self.port, theirs), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def collect(self) -> list[tuple[bytes, float]]:
        arrivals: list[tuple[bytes, float]] = []
        for pipe in self.pipes:
            pipe.send("collect")
            arrivals.extend(pipe.recv())
        return arrivals

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            pipe.send("stop")
            proc.join(timeout=10)


def _client(port: int, count: int, offset: int) -> None:
    """One SMTP client on one kept-open connection, like a sweep's Outbox."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for n in range(count):
            message = EmailMessage()
            message["Subject"] = "Your procedure tomorrow"
            message["From"] = "theatres@example.org"
            message["To"] = f"patient{n}@example.org"
            message["Message-ID"] = f"<capacity-{offset + n}@example.org>"
            message.set_content("Please arrive at 07:00 at Bench General. Do not eat after midnight.\n" * 6)
            smtp.send_message(message)


def sink_capacity(sinks: Sinks, *, clients: int = 4, per_client: int = 1500) -> float:
    """Messages per second the sinks accept from `clients` connections, with nothing else running."""
    sinks.collect()
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_client, args=(sinks.port, per_client, c * per_client)) for c in range(clients)]
    began = time.monotonic()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - began
    accepted = len({m for m, _ in sinks.collect()})
    assert accepted == clients * per_client, accepted
    return accepted / elapsed


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


def run_phase(label: str, concurrency: int, cases: list[Any], estate: Any, sinks: Sinks, capacity: float) -> None:
    from django.utils import timezone

    from config.celery import app
    from scheduling.models import Reminder, ReminderStatus
    from scheduling.reminders.delivery import mail_domain
    from scheduling.tasks import send_due_reminders

    with app.connection_for_write() as conn:
        app.control.purge(connection=conn)
    worker = start_worker(sinks.port, concurrency)
    try:
        sinks.collect()
        due = timezone.now() + dt.timedelta(seconds=3)
        make_due(cases, estate, due)
        expected = {f"<reminder-{pk}@{mail_domain()}>".encode() for pk in Reminder.objects.values_list("pk", flat=True)}
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

    arrivals = sinks.collect()
    due_ts = due.timestamp()
    lateness = sorted(at - due_ts for _, at in arrivals)
    ids = [m for m, _ in arrivals]
    wall = lateness[-1]
    p99 = lateness[int(0.99 * (len(lateness) - 1))]
    rate = len(ids) / wall
    print(
        f"{label:<30} {len(ids):>6} sent in {wall:6.1f} s  {rate:5.0f} msg/s ({rate / capacity:4.0%} of the sink's)  "
        f"lateness p50 {statistics.median(lateness):5.1f} s  p99 {p99:5.1f} s  max {wall:5.1f} s "
        f"(target p99 <= 75 s: {'met' if p99 <= 75 else 'MISSED'})  "
        f"duplicates {len(ids) - len(set(ids))}  missing {len(expected - set(ids))}  strays {len(set(ids) - expected)}",
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
    sinks = Sinks(SINKS)
    try:
        cases, estate = seed()
        capacity = sink_capacity(sinks)
        print(
            f"{COUNT} due reminders; {SINKS} aiosmtpd sink processes on 127.0.0.1:{sinks.port}; Redis {REDIS}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        print(f"The sink alone (4 clients, 6,000 messages, kept-open connections): {capacity:.0f} msg/s", flush=True)
        for concurrency in PHASES:
            label = "1 worker process, one sweep" if concurrency == 1 else f"{concurrency} worker processes, sweeps"
            run_phase(label, concurrency, cases, estate, sinks, capacity)
    finally:
        sinks.stop()
        from django.db import connections

        connections.close_all()
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
