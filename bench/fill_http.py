"""The whole list fill over HTTP at 160 lists and 600 waiting cases, on a scratch PostgreSQL database.

    .venv/bin/python bench/fill_http.py

Creates `theatre_bench_fill` (BENCH_FILL_DATABASE_URL overrides), migrates it, and seeds the
standard family of bench/fill.py in the database: 160 lists of 240 minutes (40 surgeons, one list
a day each, 4 days; 20 theatres at one site, each with a morning and an afternoon list), and 600
eligible waiting cases of the seeded kyphoplasty and vertebroplasty versions, each needing a C-arm
and a kit from the site's shared units, with planned minutes lognormal (median 75, log-spread
0.4) plus 15 minutes turnover, clipped to the list, and priorities 10/20/40/30% P1-P4.

It prints the p50 and worst of `POST /api/v1/fill/` previews (the whole request: load, fill,
answer), the queries per preview, the core's own time from the answer, and one commit's time
(every placement booked through `book_case` in one transaction), with units ample and scarce
(SCENARIOS). Target: the preview <= 2 s. The database is dropped at the end. Figures, not
assertions.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_FILL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_fill")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Booking plans reminders and queues their tasks on commit: keep them in this process.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")

from bench.scratch_db import create_database, drop_database  # noqa: E402

SEED = 20261202
LISTS = 160
SURGEONS = 40
THEATRES = 20
CASES = 600
LIST_MINUTES = 240
PRIORITY_SHARE = {"P1": 0.10, "P2": 0.20, "P3": 0.40, "P4": 0.30}
FIRST_DAY = dt.date(2027, 3, 1)  # a Monday in GMT
RUNS = 10


def seed(units: int) -> None:
    from procedures.models import ProcedureVersion
    from scheduling.models import Case, Patient
    from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession

    rng = random.Random(SEED)
    versions = [
        ProcedureVersion.objects.filter(template__slug=slug).order_by("-number").first()
        for slug in ("kyphoplasty", "vertebroplasty")
    ]
    assert all(versions), "the seeded procedure versions are missing"
    site = Site.objects.create(name="Bench Fill General")
    theatres = [
        Theatre.objects.create(
            site=site, name=f"Theatre {t + 1:02d}", capabilities=["fluoroscopy", "laminar_flow", "biplanar_fluoroscopy"]
        )
        for t in range(THEATRES)
    ]
    for kind in ("c_arm", "kyphoplasty_system", "vertebroplasty_kit"):
        for n in range(units):
            EquipmentUnit.objects.create(site=site, kind=kind, name=f"{kind} {n}", serial=f"B-{kind}-{n}")
    surgeons = [StaffMember.objects.create(name=f"Surgeon {s:02d}", role="surgeon") for s in range(SURGEONS)]
    anaesthetists = [StaffMember.objects.create(name=f"Anaes {s:02d}", role="anaesthetist") for s in range(SURGEONS)]
    sessions = []
    for index in range(LISTS):
        # Each theatre runs a morning and an afternoon list a day, each led by its own surgeon.
        surgeon = index % SURGEONS
        day = FIRST_DAY + dt.timedelta(days=index // SURGEONS)
        start = dt.datetime.combine(day, dt.time(8 if surgeon < THEATRES else 13, 0), tzinfo=dt.UTC)
        sessions.append(
            TheatreSession(
                theatre=theatres[surgeon % THEATRES],
                surgeon=surgeons[surgeon],
                anaesthetist=anaesthetists[surgeon],
                start=start,
                end=start + dt.timedelta(minutes=LIST_MINUTES),
                status="published",
            )
        )
    TheatreSession.objects.bulk_create(sessions)
    patients = Patient.objects.bulk_create(
        Patient(
            nhs_number=f"{9000000000 + n:010d}",
            mrn=f"B{n:06d}",
            given_name="Bench",
            family_name=f"Patient {n}",
            date_of_birth=dt.date(1945, 1, 1),
        )
        for n in range(CASES)
    )
    priorities = list(PRIORITY_SHARE)
    cases = []
    for n, patient in enumerate(patients):
        version = versions[n % 2]
        assert version is not None
        touch = min(math.exp(rng.gauss(math.log(75), 0.4)), LIST_MINUTES - 15)
        cases.append(
            Case(
                reference=f"B{n:06d}",
                patient=patient,
                procedure=version.template,
                procedure_version=version,
                levels=["L1"],
                approach="bipedicular",
                anaesthesia="local_sedation",
                surgeon=surgeons[rng.randrange(SURGEONS)],
                priority=rng.choices(priorities, weights=list(PRIORITY_SHARE.values()))[0],
                referral_date=dt.date(2026, 11, 1) - dt.timedelta(days=rng.randrange(200)),
                screening_result={"result": "eligible", "blockers": [], "warnings": []},
                estimated_minutes=round(touch) + 15,
                planned_minutes=round(touch) + 15,
                planned_minutes_reason="bench",
                status="waiting",
            )
        )
    Case.objects.bulk_create(cases)


# Units of each kind at the site: as many as theatres (the kit never binds, as in bench/fill.py),
# or half as many (20 theatres at once share 10 C-arms: units bind, and the fill times its cases).
SCENARIOS = {"units ample (20 of each kind)": 20, "units scarce (10 of each kind)": 10}


def main() -> None:
    for label, units in SCENARIOS.items():
        print(f"== {label}")
        run(units)


def run(units: int) -> None:
    create_database(BENCH_URL)
    try:
        import django

        django.setup()
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command
        from django.db import connection, connections
        from django.test.utils import CaptureQueriesContext
        from rest_framework.test import APIClient

        call_command("migrate", verbosity=0)
        seed(units)
        user = User.objects.create(username="bench-coordinator")
        user.groups.add(Group.objects.get(name="coordinator"))
        body = {"date_from": FIRST_DAY.isoformat(), "date_to": (FIRST_DAY + dt.timedelta(days=6)).isoformat()}

        def post(extra: dict[str, Any]) -> Any:
            client = APIClient()
            client.force_authenticate(User.objects.get(pk=user.pk))
            response = client.post("/api/v1/fill/", {**body, **extra}, format="json")
            assert response.status_code in (200, 201), response.content[:300]
            return response.json()

        timings, core = [], []
        answer: Any = None
        for _ in range(RUNS):
            began = time.perf_counter()
            answer = post({})
            timings.append((time.perf_counter() - began) * 1000)
            core.append(answer["solver"]["elapsed_ms"])
        with CaptureQueriesContext(connection) as captured:
            post({})
        print(
            f"Seeded {LISTS} lists, {CASES} waiting cases (PostgreSQL: {BENCH_URL}); "
            f"preview places {len(answer['placements'])}, leaves {len(answer['unplaced'])} waiting, "
            f"utilisation {answer['score']['utilisation']:.3f}"
        )
        print(
            f"POST /fill/ preview: p50 {statistics.median(timings):.0f} ms, worst {max(timings):.0f} ms "
            f"(target <= 2000 ms: {'met' if max(timings) <= 2000 else 'MISSED'}); "
            f"core p50 {statistics.median(core):.0f} ms; {len(captured)} queries"
        )
        limited = post({"max_overrun_risk": 0.2})
        print(
            f"With max_overrun_risk 0.2: places {len(limited['placements'])}, "
            f"utilisation {limited['score']['utilisation']:.3f}, {limited['solver']['elapsed_ms']:.0f} ms in the core"
        )
        began = time.perf_counter()
        committed = post({"commit": True})
        elapsed = time.perf_counter() - began
        print(
            f"Commit: {len(committed['placements'])} bookings through book_case in one transaction in "
            f"{elapsed:.1f} s ({len(committed['placements']) / elapsed:.0f} bookings/s)"
        )
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
