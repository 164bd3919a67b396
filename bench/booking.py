"""Booking throughput and availability latency against a scratch PostgreSQL database.

    .venv/bin/python bench/booking.py

Creates `theatre_bench` (BENCH_DATABASE_URL overrides), migrates it, seeds one site with 10
theatres and four weeks of weekday AM/PM lists and waiting cases whose patients have an email
address and a mobile number (so every booking plans reminders on both channels), then prints:
- queries per booking (book_case, measured over PROBE_BOOKINGS bookings, by statement kind);
  BENCH_SHOW_QUERIES=1 lists the first booking's statements;
- bookings per second from 1, 4 and 16 parallel clients (book_case without a start, each
  client its own process and connection, like web workers; each booking its own transaction),
  next to the raw-psycopg limit measured in the same run (bench/booking_raw.py: the same locks
  and rows written by hand in one transaction per booking) from 1 and 4 clients, with ratios.
  Every phase starts from empty lists, so the phases book into the same free time, and runs
  ROUNDS times, the limit and the service alternating: the figure is the median round;
- the availability query's p50 and p99 (find_slots over the 4-week horizon), with the ratio.
The database is dropped at the end. Not part of `make test`: figures, not assertions.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.seed import bench_patients  # noqa: E402

THEATRES = 10
WEEKS = 4
PHASES = ((1, 150), (4, 300), (16, 600))  # (parallel clients, bookings attempted)
RAW_PHASES = ((1, 150), (4, 300))
ROUNDS = 3
PROBE_BOOKINGS = 20
AVAILABILITY_QUERIES = 300


def seed() -> dict[int, list[int]]:
    """The estate, lists and waiting cases; returns surgeon id -> their session ids."""
    from procedures.versions import latest_version
    from scheduling.models import Case
    from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession

    zone = dt.UTC
    site = Site.objects.create(name="Bench General")
    version = latest_version(slug="kyphoplasty")
    assert version is not None, "the kyphoplasty seed migration is missing"
    for kind in version.required_equipment:
        EquipmentUnit.objects.bulk_create(
            EquipmentUnit(site=site, kind=kind, name=f"{kind} {n}", serial=f"B-{kind}-{n}") for n in range(THEATRES)
        )
    caps = sorted(set(version.required_capabilities) | {"laminar_flow"})
    sessions_by_surgeon: dict[int, list[int]] = {}
    monday = dt.date(2031, 1, 6)
    for t in range(THEATRES):
        theatre = Theatre.objects.create(site=site, name=f"Theatre {t + 1}", capabilities=caps)
        surgeon = StaffMember.objects.create(name=f"Surgeon {t}", role="surgeon")
        anaesthetist = StaffMember.objects.create(name=f"Anaesthetist {t}", role="anaesthetist")
        rows = []
        for day in range(WEEKS * 7):
            date = monday + dt.timedelta(days=day)
            if date.weekday() >= 5:
                continue
            for start_h, end_h in ((8, 13), (13, 18)):
                rows.append(
                    TheatreSession(
                        theatre=theatre,
                        start=dt.datetime.combine(date, dt.time(start_h), tzinfo=zone),
                        end=dt.datetime.combine(date, dt.time(end_h), tzinfo=zone),
                        surgeon=surgeon,
                        anaesthetist=anaesthetist,
                        status="published",
                    )
                )
        sessions_by_surgeon[surgeon.pk] = [s.pk for s in TheatreSession.objects.bulk_create(rows)]
    patients = bench_patients(max(n for _, n in PHASES) + PROBE_BOOKINGS + 50, contact=True)
    surgeons = list(sessions_by_surgeon)
    Case.objects.bulk_create(
        Case(
            reference=f"BN-{n:06d}",
            patient=patient,
            procedure=version.template,
            procedure_version=version,
            levels=["L1"],
            anaesthesia="general",
            surgeon_id=surgeons[n % len(surgeons)],
            referral_date=dt.date(2030, 12, 1),
            screening_result={"result": "eligible", "blockers": [], "warnings": []},
            estimated_minutes=random.choice([45, 60, 75, 90]),
        )
        for n, patient in enumerate(patients)
    )
    return sessions_by_surgeon


def _client(
    work: list[tuple[int, int]], sessions_by_surgeon: dict[int, list[int]], start: Any, out: Any, raw: bool
) -> None:
    """One booking client: its own process and connection, like one web worker. `raw`: the limit."""
    from django.db import connections
    from django.utils import timezone

    from bench.booking_raw import RawBooker
    from core.audit import Actor
    from core.errors import DomainError
    from scheduling.booking import book_case

    connections.close_all()  # never share the parent's socket
    actor = Actor.system("bench")
    booker = RawBooker(BENCH_URL, actor.label) if raw else None
    rng = random.Random(len(work))
    ok = refused = 0
    start.wait()
    for case_id, surgeon_id in work:
        # Early lists first, as a coordinator fills them: contention is realistic, not maximal.
        sessions = sessions_by_surgeon[surgeon_id]
        session_id = sessions[min(int(rng.expovariate(1 / 8)), len(sessions) - 1)]
        if booker is not None:
            booked = booker.book(case_id=case_id, session_id=session_id, now=timezone.now())
            ok, refused = ok + booked, refused + (not booked)
            continue
        try:
            book_case(case_id=case_id, session_id=session_id, actor=actor)
            ok += 1
        except DomainError:
            refused += 1
    if booker is not None:
        booker.close()
    connections.close_all()
    out.put((ok, refused))


def reset_bookings() -> None:
    """Every case back on the waiting list, with no claims, reminders or notices: the next phase
    books into the same free time as the last. Audit entries stay (they are append-only)."""
    from django.db import connection

    from scheduling.models import Case, CaseEquipment, Reminder, ReminderPlan, StaffNotice

    with connection.cursor() as cursor:
        for model in (Reminder, ReminderPlan, CaseEquipment, StaffNotice):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 - table names from the models
        cursor.execute(
            f"UPDATE {Case._meta.db_table} SET status = 'waiting', session_id = NULL, start = NULL, "  # noqa: S608
            '"end" = NULL, anaesthetist_id = NULL'
        )
        # The deletes and updates leave dead rows behind; every phase starts from clean tables.
        for table in (Reminder, ReminderPlan, CaseEquipment, StaffNotice, Case):
            cursor.execute(f"VACUUM ANALYZE {table._meta.db_table}")


def run_phase(
    clients: int, attempts: int, sessions_by_surgeon: dict[int, list[int]], *, raw: bool = False
) -> tuple[float, int, int]:
    from django.db import connections

    from scheduling.models import Case

    reset_bookings()
    waiting = list(Case.objects.filter(status="waiting").order_by("pk").values_list("pk", "surgeon_id")[:attempts])
    chunks = [waiting[i::clients] for i in range(clients)]
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(chunk, sessions_by_surgeon, start, out, raw)) for chunk in chunks]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let every client import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    return elapsed, sum(r[0] for r in results), sum(r[1] for r in results)


def queries_per_booking(sessions_by_surgeon: dict[int, list[int]]) -> tuple[float, int, int, Counter[str]]:
    """Book PROBE_BOOKINGS cases one by one, counting statements: (mean, min, max, by kind)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.audit import Actor
    from scheduling.booking import book_case
    from scheduling.models import Case

    reset_bookings()
    actor = Actor.system("bench")
    counts: list[int] = []
    kinds: Counter[str] = Counter()
    waiting = Case.objects.filter(status="waiting").order_by("-pk").values_list("pk", "surgeon_id")
    for n, (case_id, surgeon_id) in enumerate(waiting[:PROBE_BOOKINGS]):
        session_id = sessions_by_surgeon[surgeon_id][n // len(sessions_by_surgeon)]
        with CaptureQueriesContext(connection) as captured:
            book_case(case_id=case_id, session_id=session_id, actor=actor)
        counts.append(len(captured))
        for query in captured.captured_queries:
            sql = query["sql"]
            verb = sql.split(None, 1)[0].upper()
            kinds[f"{verb} {_table_of(sql)}" if verb in ("INSERT", "UPDATE") else verb] += 1
        if n == 0 and os.environ.get("BENCH_SHOW_QUERIES"):
            for query in captured.captured_queries:
                print("    " + query["sql"][:160])
    return statistics.mean(counts), min(counts), max(counts), kinds


def _report(clients: int, label: str, runs: list[tuple[float, int, int]], *, versus: float | None) -> float:
    """Print a phase's median run and every round's rate; returns the median rate."""
    by_rate = sorted(runs, key=lambda run: (run[1] + run[2]) / run[0])
    elapsed, ok, refused = by_rate[len(by_rate) // 2]
    rate = (ok + refused) / elapsed
    each = ", ".join(f"{(o + r) / e:.0f}" for e, o, r in runs)
    ratio = f"; raw limit / book_case x{versus / rate:.2f}" if versus else ""
    print(
        f"  {clients:>2} client(s), {label} {ok + refused:>4} attempts in {elapsed:6.2f}s = {rate:7.1f} bookings/s "
        f"({ok} booked, {refused} refused), {1000 / rate * clients:5.2f} ms each "
        f"(median of {len(runs)}: {each}/s){ratio}"
    )
    return rate


def _table_of(sql: str) -> str:
    words = sql.replace('"', "").split()
    return words[2] if words[0].upper() in ("INSERT", "DELETE") else words[1]


def availability_latency(sessions_by_surgeon: dict[int, list[int]]) -> list[float]:
    from scheduling.availability import AvailabilityQuery, demand_of, find_slots
    from scheduling.models import Case

    cases = list(Case.objects.filter(status="waiting").select_related("procedure_version")[:50])
    horizon_start = dt.datetime(2031, 1, 6, tzinfo=dt.UTC)
    horizon_end = horizon_start + dt.timedelta(weeks=WEEKS)
    timings: list[float] = []
    for n in range(AVAILABILITY_QUERIES):
        case = cases[n % len(cases)]
        began = time.perf_counter()
        find_slots(
            query=AvailabilityQuery(
                demand=demand_of(case), date_from=horizon_start, date_to=horizon_end, exclude_case_id=case.pk, limit=20
            )
        )
        timings.append(time.perf_counter() - began)
    return timings


def main() -> None:
    create_database(BENCH_URL)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        random.seed(42)
        sessions_by_surgeon = seed()
        total_sessions = sum(len(v) for v in sessions_by_surgeon.values())
        print(f"Seeded {THEATRES} theatres, {total_sessions} lists over {WEEKS} weeks (PostgreSQL: {BENCH_URL})")

        mean, low, high, kinds = queries_per_booking(sessions_by_surgeon)
        print(
            f"Queries per booking (patient with email and phone, {PROBE_BOOKINGS} bookings): "
            f"mean {mean:.1f}, min {low}, max {high}"
        )
        print("  " + ", ".join(f"{kind} {n / PROBE_BOOKINGS:.1f}" for kind, n in sorted(kinds.items())))

        # Each phase is a second or two, so a burst of other work on this shared machine moves one
        # run a lot: every phase runs ROUNDS times, the limit and the service alternating, and the
        # median rate is the figure (every round's rate is printed too).
        rates: dict[int, float] = {}
        raw_rates: dict[int, float] = {}
        raw_phases = dict(RAW_PHASES)
        for clients, attempts in PHASES:
            service_runs: list[tuple[float, int, int]] = []
            raw_runs: list[tuple[float, int, int]] = []
            for _ in range(ROUNDS):
                if clients in raw_phases:
                    raw_runs.append(run_phase(clients, raw_phases[clients], sessions_by_surgeon, raw=True))
                service_runs.append(run_phase(clients, attempts, sessions_by_surgeon))
            if raw_runs:
                raw_rates[clients] = _report(clients, "raw psycopg limit:", raw_runs, versus=None)
            rates[clients] = _report(clients, "book_case:       ", service_runs, versus=raw_rates.get(clients))
        base = rates[PHASES[0][0]]
        print("  ratio vs 1 client: " + ", ".join(f"{c} clients x{rates[c] / base:.2f}" for c, _ in PHASES[1:]))

        timings = sorted(availability_latency(sessions_by_surgeon))
        p50 = statistics.median(timings) * 1000
        p99 = timings[int(len(timings) * 0.99) - 1] * 1000
        print(
            f"Availability over {WEEKS} weeks, {THEATRES} theatres, {AVAILABILITY_QUERIES} queries: "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms (p99/p50 x{p99 / p50:.2f})"
        )
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
