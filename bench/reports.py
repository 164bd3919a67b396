"""Theatre utilisation report latency over a year of lists, against a scratch PostgreSQL database.

    .venv/bin/python bench/reports.py

Creates `theatre_bench_reports` (BENCH_REPORTS_DATABASE_URL overrides), migrates it, and seeds a
year (2025) of weekday AM and PM lists in 10 theatres, England bank holidays skipped: about 5,000
lists and 15,000 cases, with recorded times (lognormal touch, late starts, overruns), about 3%
of lists without times, 2% cancelled, and on-the-day cancellations (some abandoned in theatre).
The seed writes rows in bulk: it is the report being measured, not the services.

It prints, for each `group_by`, the p50 and p99 of:
- the report service (`scheduling.reports.theatre_utilisation`): three loads and the pure metrics;
- the whole HTTP request (`GET /api/v1/reports/theatre-utilisation/`, JSON and CSV);
and the number of queries for a month and for the whole year (constant: the target).
Target: p99 <= 300 ms over the year. The database is dropped at the end. Figures, not assertions.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_REPORTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_reports")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.seed import bench_patients  # noqa: E402

THEATRES = 10
YEAR = 2025
CASES_PER_LIST = 3
RUNS = 40  # per group_by and path
GROUPS = ("theatre", "surgeon", "site", "week", "day")


def seed() -> dict[str, int]:
    """A year of lists with what happened in them, written in bulk."""
    from zoneinfo import ZoneInfo

    from procedures.models import ProcedureVersion
    from scheduling.models import Case, CaseCancellation, CaseTimes
    from theatre.models import Site, StaffMember, Theatre, TheatreSession
    from theatre.timetables import england_bank_holidays

    rng = random.Random(2025)
    zone = ZoneInfo("Europe/London")
    version = ProcedureVersion.objects.filter(template__slug="kyphoplasty").order_by("-number").first()
    assert version is not None, "the kyphoplasty seed migration is missing"
    site = Site.objects.create(name="Bench General")
    holidays = england_bank_holidays(years=[YEAR])
    days = [
        dt.date(YEAR, 1, 1) + dt.timedelta(days=n)
        for n in range(365)
        if (dt.date(YEAR, 1, 1) + dt.timedelta(days=n)).weekday() < 5
        and dt.date(YEAR, 1, 1) + dt.timedelta(days=n) not in holidays
    ]
    sessions: list[TheatreSession] = []
    for t in range(THEATRES):
        theatre = Theatre.objects.create(site=site, name=f"Theatre {t + 1:02d}", capabilities=["fluoroscopy"])
        surgeon = StaffMember.objects.create(name=f"Surgeon {t + 1:02d}", role="surgeon")
        anaesthetist = StaffMember.objects.create(name=f"Anaesthetist {t + 1:02d}", role="anaesthetist")
        for day in days:
            for (start_h, start_m), (end_h, end_m) in (((8, 0), (13, 0)), ((13, 30), (18, 0))):
                sessions.append(
                    TheatreSession(
                        theatre=theatre,
                        start=dt.datetime.combine(day, dt.time(start_h, start_m), tzinfo=zone),
                        end=dt.datetime.combine(day, dt.time(end_h, end_m), tzinfo=zone),
                        surgeon=surgeon,
                        anaesthetist=anaesthetist,
                        status="cancelled" if rng.random() < 0.02 else "locked",
                    )
                )
    sessions = TheatreSession.objects.bulk_create(sessions, batch_size=2000)
    live = [s for s in sessions if s.status != "cancelled"]
    patients = bench_patients(len(live) * CASES_PER_LIST, batch_size=5000)
    cases: list[Case] = []
    times: list[tuple[int, dict[str, dt.datetime]]] = []
    cancellations: list[tuple[int, TheatreSession, str, str, dt.datetime]] = []
    n = 0
    for session in live:
        missing = rng.random() < 0.03
        clock = session.start + dt.timedelta(minutes=rng.choice([0, 0, 5, 10, 20, 35]))
        for slot in range(CASES_PER_LIST):
            patient = patients[n]
            n += 1
            planned_start = session.start + dt.timedelta(minutes=90 * slot)
            common = {
                "reference": f"BR-{n:07d}",
                "patient": patient,
                "procedure": version.template,
                "procedure_version": version,
                "levels": ["L1"],
                "anaesthesia": "general",
                "surgeon_id": session.surgeon_id,
                "referral_date": dt.date(YEAR - 1, 12, 1),
                "screening_result": {"result": "eligible", "blockers": [], "warnings": []},
                "estimated_minutes": 90,
            }
            fate = rng.random()
            if slot > 0 and fate < 0.04:  # cancelled on the morning of the list
                cases.append(Case(**common, status="cancelled", cancel_reason="patient_unfit"))
                cancellations.append((len(cases) - 1, session, "booked", "clinical", session.start))
                continue
            touch = max(30, round(75 * math.exp(rng.gauss(0.05, 0.22))))
            out = clock + dt.timedelta(minutes=touch)
            recorded = {
                "anaesthesia_start": clock,
                "in_theatre": clock + dt.timedelta(minutes=12),
                "out_of_theatre": out,
            }
            if slot > 0 and fate < 0.05:  # abandoned after sign in
                cases.append(Case(**common, status="cancelled", cancel_reason="abandoned_in_theatre"))
                cancellations.append((len(cases) - 1, session, "in_theatre", "clinical", out))
            else:
                cases.append(
                    Case(
                        **common,
                        status="completed",
                        session=session,
                        start=planned_start,
                        end=planned_start + dt.timedelta(minutes=90),
                        anaesthetist_id=session.anaesthetist_id,
                    )
                )
            if not missing:
                times.append((len(cases) - 1, recorded))
            clock = out + dt.timedelta(minutes=rng.choice([10, 15, 15, 20, 25]))
    cases = Case.objects.bulk_create(cases, batch_size=5000)
    CaseTimes.objects.bulk_create((CaseTimes(case=cases[i], **values) for i, values in times), batch_size=5000)
    CaseCancellation.objects.bulk_create(
        (
            CaseCancellation(
                case=cases[i],
                session=session,
                from_status=status,
                reason=cases[i].cancel_reason,
                category=category,
                on_the_day=True,
                cancelled_at=at,
            )
            for i, session, status, category, at in cancellations
        ),
        batch_size=5000,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"lists": len(sessions), "cases": len(cases), "times": len(times), "cancellations": len(cancellations)}


def percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered) * 1000, ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)] * 1000


def measure(call: Callable[[], Any]) -> tuple[float, float, float]:
    """p50 and p99 of wall time, and the p50 of this process's CPU time (the database's excluded):
    on a shared machine the gap between the two is other processes' load."""
    call()  # warm: the first call pays for imports and plan caching
    timings, cpu = [], []
    for _ in range(RUNS):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        timings.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return (*percentiles(timings), statistics.median(cpu) * 1000)


def count_queries(call: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def main() -> None:
    create_database(BENCH_URL)
    try:
        import django

        django.setup()
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command
        from django.db import connections
        from rest_framework.test import APIClient

        from scheduling.metrics import GroupBy
        from scheduling.reports import theatre_utilisation

        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        seeded = seed()
        print(
            f"Seeded {seeded['lists']} lists ({THEATRES} theatres, weekdays of {YEAR}), {seeded['cases']} cases, "
            f"{seeded['times']} with times, {seeded['cancellations']} on-the-day cancellations "
            f"in {time.perf_counter() - began:.0f} s (PostgreSQL: {BENCH_URL})"
        )
        user = User.objects.create(username="bench-coordinator")
        user.groups.add(Group.objects.get(name="coordinator"))
        year = {"date_from": f"{YEAR}-01-01", "date_to": f"{YEAR}-12-31"}
        month = {"date_from": f"{YEAR}-03-01", "date_to": f"{YEAR}-03-31"}

        def api(params: dict[str, str], as_user: User | None = None) -> Any:
            client = APIClient()
            # A fresh user object each time, so the request looks its roles up as a real one does.
            client.force_authenticate(as_user or User.objects.get(pk=user.pk))
            response = client.get("/api/v1/reports/theatre-utilisation/", params)
            assert response.status_code == 200, response.content[:200]
            return response

        first = theatre_utilisation(date_from=dt.date(YEAR, 1, 1), date_to=dt.date(YEAR, 12, 31))
        print(
            f"Year totals: {first.totals.lists} lists, capped {first.totals.capped_utilisation}%, "
            f"uncapped {first.totals.uncapped_utilisation}%, {first.totals.late_starts.count} late starts, "
            f"{first.totals.overruns.count} overruns, {first.totals.lists_missing_times} lists missing times"
        )
        print(
            f"{'group_by':<9} {'service p50/p99 ms':>20} {'API JSON p50/p99 ms':>21} {'API CSV p50/p99 ms':>20}"
            f" {'API JSON CPU p50 ms':>20}"
        )
        worst = 0.0
        for group_by in GROUPS:
            service = measure(
                lambda g=group_by: theatre_utilisation(  # type: ignore[misc]
                    date_from=dt.date(YEAR, 1, 1), date_to=dt.date(YEAR, 12, 31), group_by=GroupBy(g)
                )
            )
            as_json = measure(lambda g=group_by: api({**year, "group_by": g}))  # type: ignore[misc]
            as_csv = measure(lambda g=group_by: api({**year, "group_by": g, "format": "csv"}))  # type: ignore[misc]
            worst = max(worst, as_json[1], as_csv[1])
            print(
                f"{group_by:<9} {service[0]:>9.1f} / {service[1]:>7.1f} {as_json[0]:>10.1f} / {as_json[1]:>7.1f} "
                f"{as_csv[0]:>9.1f} / {as_csv[1]:>7.1f} {as_json[2]:>20.1f}"
            )
        fresh = User.objects.get(pk=user.pk)
        queries_month = count_queries(lambda: api({**month, "group_by": "theatre"}, fresh))
        fresh = User.objects.get(pk=user.pk)
        queries_year = count_queries(lambda: api({**year, "group_by": "day"}, fresh))
        print(
            f"Queries per request (roles, lists, cases, cancellations): {queries_month} for a month, "
            f"{queries_year} for the year (constant: {'yes' if queries_month == queries_year else 'NO'})"
        )
        print(f"Worst API p99 over the year: {worst:.1f} ms (target <= 300 ms: {'met' if worst <= 300 else 'MISSED'})")
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
