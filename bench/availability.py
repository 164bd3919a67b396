"""Availability latency at 40, 400 and 1,200 lists, beside the raw-psycopg limit, on scratch PostgreSQL.

    .venv/bin/python bench/availability.py            # all three sizes, HTTP at 400
    .venv/bin/python bench/availability.py 400        # one size

For each size it creates `theatre_bench_avail` (BENCH_DATABASE_URL overrides), migrates it and
seeds one site with 10 theatres, each with a morning (08:00-13:00) and an afternoon (13:30-18:00)
list every weekday from next Monday (Europe/London): 2 weekdays for 40 lists, 4 weeks for 400, 12
weeks for 1,200. Ten surgeons rotate across the theatres day by day (each leads a tenth of the
lists) with ten anaesthetists. Each list holds 1-3 booked cases (45-120 minutes, gaps between
some), kyphoplasty or vertebroplasty, each claiming a C-arm and the procedure's kit from the
site's shared units (7 C-arms, 4 kits of each kind) when one is free, as booking would: about 3.4
unit claims per list. Forty waiting kyphoplasty cases per surgeon.

It prints, per size:
- `availability_for(case_id=..., whole horizon)` (the service GET /availability/ calls), p50 and
  p99 in process, and its queries;
- the limit: the very statements that call sent, captured and replayed through one raw psycopg
  connection (C loaders, no ORM, no search), p50 and p99 in the same run, and the ratios;
- at 400 lists, GET /api/v1/availability/?case=... over HTTP against gunicorn (2 sync workers,
  token auth), p50 and p99, with CONN_MAX_AGE 0 (today's default) and 60.
and at the end the growth: each size's p50 per list relative to 40 lists.
The database is dropped after each size. Not part of `make test`: figures, not assertions.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_avail")
ENV = {
    **os.environ,
    "DATABASE_URL": BENCH_URL,
    "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"),
    "DEBUG": "false",  # DEBUG would keep every query in memory
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "API_THROTTLE_EXPENSIVE": "1000000/minute",  # the bench is one user asking many times
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
os.environ.update(ENV)

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.seed import bench_patients  # noqa: E402

THEATRES = 10
SURGEONS = 10
C_ARMS = 7
KITS = 4  # of each kind
SIZES = (40, 400, 1200)
QUERIES = {40: 400, 400: 300, 1200: 200}
HTTP_SIZE = 400
HTTP_QUERIES = 300
WARMUP = 20
SEED = 20260418


@dataclass(frozen=True)
class Seeded:
    lists: int
    claims: int
    booked: int
    first_day: dt.date
    last_day: dt.date
    waiting: list[int]  # case ids, surgeons interleaved


def weekdays(first: dt.date, count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def seed(lists: int) -> Seeded:
    from zoneinfo import ZoneInfo

    from procedures.models import ProcedureVersion
    from scheduling.models import Case, CaseEquipment
    from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession

    rng = random.Random(SEED + lists)
    zone = ZoneInfo("Europe/London")
    versions = {
        slug: ProcedureVersion.objects.filter(template__slug=slug).order_by("-number").first()
        for slug in ("kyphoplasty", "vertebroplasty")
    }
    assert all(versions.values()), "the kyphoplasty/vertebroplasty seed migration is missing"
    site = Site.objects.create(name="Bench General")
    units: dict[str, list[int]] = {}
    for kind, count in (("c_arm", C_ARMS), ("kyphoplasty_system", KITS), ("vertebroplasty_kit", KITS)):
        made = EquipmentUnit.objects.bulk_create(
            EquipmentUnit(site=site, kind=kind, name=f"{kind} {n}", serial=f"B-{kind}-{n}") for n in range(count)
        )
        units[kind] = [u.pk for u in made]
    theatres = [
        Theatre.objects.create(site=site, name=f"Theatre {t + 1:02d}", capabilities=["fluoroscopy", "laminar_flow"])
        for t in range(THEATRES)
    ]
    surgeons = [StaffMember.objects.create(name=f"Surgeon {n:02d}", role="surgeon") for n in range(SURGEONS)]
    anaesthetists = [StaffMember.objects.create(name=f"Anaesth {n:02d}", role="anaesthetist") for n in range(SURGEONS)]
    today = dt.datetime.now(dt.UTC).date()
    monday = today + dt.timedelta(days=7 - today.weekday())
    days = weekdays(monday, lists // (2 * THEATRES))
    rows = []
    for d, day in enumerate(days):
        for t, theatre in enumerate(theatres):
            for opens, closes in ((dt.time(8), dt.time(13)), (dt.time(13, 30), dt.time(18))):
                rows.append(
                    TheatreSession(
                        theatre=theatre,
                        start=dt.datetime.combine(day, opens, tzinfo=zone),
                        end=dt.datetime.combine(day, closes, tzinfo=zone),
                        surgeon=surgeons[(t + d) % SURGEONS],
                        anaesthetist=anaesthetists[(t + 3 * d) % SURGEONS],
                        period="am" if opens.hour < 12 else "pm",
                        status="published",
                    )
                )
    sessions = TheatreSession.objects.bulk_create(rows)
    assert len(sessions) == lists

    # Booked cases, each list 1-3 of them, a kit and a C-arm per case from the lowest free unit.
    planned: list[tuple[TheatreSession, dt.datetime, dt.datetime, str]] = []
    for session in sessions:
        at = session.start + dt.timedelta(minutes=rng.choice([0, 0, 15, 30]))
        for _ in range(rng.choice([1, 2, 2, 3, 3, 3])):
            minutes = rng.choice([45, 60, 75, 90, 120])
            if at + dt.timedelta(minutes=minutes) > session.end:
                break
            planned.append((session, at, at + dt.timedelta(minutes=minutes), rng.choice(list(versions))))
            at += dt.timedelta(minutes=minutes + rng.choice([0, 0, 0, 30]))
    planned.sort(key=lambda p: p[1])
    free_from: dict[int, dt.datetime] = {}
    booked: list[tuple[TheatreSession, dt.datetime, dt.datetime, str, list[int]]] = []
    for session, start, end, slug in planned:
        kit = "kyphoplasty_system" if slug == "kyphoplasty" else "vertebroplasty_kit"
        chosen = []
        for kind in ("c_arm", kit):
            unit = next((u for u in units[kind] if free_from.get(u, start) <= start), None)
            if unit is None:
                break
            chosen.append(unit)
        if len(chosen) < 2:
            continue  # no unit free: this case was never booked
        for unit in chosen:
            free_from[unit] = end
        booked.append((session, start, end, slug, chosen))
    waiting_per_surgeon = 40
    patients = bench_patients(len(booked) + waiting_per_surgeon * SURGEONS)
    common = {
        "levels": ["L1"],
        "anaesthesia": "general",
        "referral_date": monday - dt.timedelta(days=40),
        "screening_result": {"result": "eligible", "blockers": [], "warnings": []},
    }
    cases = Case.objects.bulk_create(
        Case(
            reference=f"BA-{n:06d}",
            patient=patients[n],
            procedure=versions[slug].template,  # type: ignore[union-attr]
            procedure_version=versions[slug],
            surgeon_id=session.surgeon_id,
            anaesthetist_id=session.anaesthetist_id,
            estimated_minutes=int((end - start).total_seconds() // 60),
            status="booked",
            session=session,
            start=start,
            end=end,
            **common,
        )
        for n, (session, start, end, slug, _) in enumerate(booked)
    )
    claims = CaseEquipment.objects.bulk_create(
        CaseEquipment(case=case, unit_id=unit, start=start, end=end)
        for case, (_, start, end, _, chosen) in zip(cases, booked, strict=True)
        for unit in chosen
    )
    kypho = versions["kyphoplasty"]
    assert kypho is not None
    waiting = Case.objects.bulk_create(
        Case(
            reference=f"BW-{n:06d}",
            patient=patients[len(booked) + n],
            procedure=kypho.template,
            procedure_version=kypho,
            surgeon=surgeons[n % SURGEONS],
            estimated_minutes=rng.choice([45, 60, 75, 90]),
            **common,
        )
        for n in range(waiting_per_surgeon * SURGEONS)
    )
    return Seeded(
        lists=len(sessions),
        claims=len(claims),
        booked=len(cases),
        first_day=days[0],
        last_day=days[-1],
        waiting=[c.pk for c in waiting],
    )


def pct(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered) * 1000, ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000


def in_process(seeded: Seeded, queries: int) -> tuple[list[float], list[list[str]], int]:
    """availability_for per waiting case; the statements each sent (captured once per case)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scheduling.availability import availability_for

    def ask(case_id: int) -> int:
        return len(availability_for(case_id=case_id, date_from=seeded.first_day, date_to=seeded.last_day, limit=20))

    cases = seeded.waiting
    statements: list[list[str]] = []
    found = 0
    for case_id in cases[:50]:
        with CaptureQueriesContext(connection) as captured:
            found += ask(case_id)
        statements.append([q["sql"] for q in captured.captured_queries])
    for n in range(WARMUP):
        ask(cases[n % len(cases)])
    timings = []
    for n in range(queries):
        began = time.perf_counter()
        ask(cases[n % len(cases)])
        timings.append(time.perf_counter() - began)
    return timings, statements, found // 50


def raw_limit(statements: list[list[str]], queries: int) -> list[float]:
    """The same statements, replayed through one raw psycopg connection (C loaders), every row fetched."""
    import psycopg

    timings = []
    # No server-side prepared statements, as Django's connection (prepare_threshold None): the
    # same work for PostgreSQL, so the ratio is what Python adds.
    with psycopg.connect(BENCH_URL, autocommit=True, prepare_threshold=None) as conn, conn.cursor() as cur:
        for n in range(WARMUP + queries):
            began = time.perf_counter()
            for sql in statements[n % len(statements)]:
                cur.execute(sql.encode())
                cur.fetchall()
            if n >= WARMUP:
                timings.append(time.perf_counter() - began)
    return timings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def over_http(seeded: Seeded, conn_max_age: int) -> list[float]:
    """GET /api/v1/availability/?case=... against gunicorn, one client, a fresh TCP connection each."""
    from django.contrib.auth.models import Group, User
    from django.db import connections

    from core.api.auth import issue_token

    user, _ = User.objects.get_or_create(username="bench-coordinator")
    user.groups.add(Group.objects.get(name="coordinator"))
    token, _ = issue_token(user)
    connections.close_all()
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env={**ENV, "CONN_MAX_AGE": str(conn_max_age)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def get(case_id: int) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            path = (
                f"/api/v1/availability/?case={case_id}&date_from={seeded.first_day}&date_to={seeded.last_day}&limit=20"
            )
            conn.request("GET", path, headers={"Authorization": f"Token {token}", "Host": "localhost"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == 200, (response.status, body[:300])
            return int(json.loads(body)["count"])

        deadline = time.monotonic() + 30
        while True:
            try:
                get(seeded.waiting[0])
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for n in range(WARMUP):
            get(seeded.waiting[n % len(seeded.waiting)])
        timings = []
        for n in range(HTTP_QUERIES):
            began = time.perf_counter()
            get(seeded.waiting[n % len(seeded.waiting)])
            timings.append(time.perf_counter() - began)
        return timings
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(size: int, growth: dict[int, float]) -> None:
    import django

    create_database(BENCH_URL)
    try:
        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        seeded = seed(size)
        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
            f"{seeded.lists} lists ({THEATRES} theatres, {seeded.first_day} to {seeded.last_day}): "
            f"{seeded.booked} booked cases, {seeded.claims} unit claims; each surgeon leads {seeded.lists // SURGEONS}"
        )
        queries = QUERIES[size]
        timings, statements, found = in_process(seeded, queries)
        raw = raw_limit(statements, queries)
        p50, p99 = pct(timings)
        r50, r99 = pct(raw)
        growth[size] = p50
        print(
            f"  availability_for, in process, {queries} calls: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
            f"({len(statements[0])} queries, {found} slots an answer)"
        )
        print(f"  raw psycopg, same statements:        p50 {r50:6.2f} ms  p99 {r99:6.2f} ms")
        print(f"  ratio (service / raw):               p50 x{p50 / r50:5.2f}   p99 x{p99 / r99:5.2f}")
        target = {400: 20.0, 1200: 50.0}.get(size)
        if target is not None:
            print(f"  target p99 <= {target:.0f} ms in process: {'met' if p99 <= target else 'MISSED'}")
        if size == HTTP_SIZE:
            for age in (0, 60):
                h50, h99 = pct(over_http(seeded, age))
                verdict = "met" if h99 <= 25 else "MISSED"
                print(
                    f"  HTTP GET /api/v1/availability/, gunicorn, CONN_MAX_AGE={age:<2}, {HTTP_QUERIES} requests: "
                    f"p50 {h50:6.2f} ms  p99 {h99:6.2f} ms  (x{h50 / p50:.2f} in-process p50; "
                    f"target p99 <= 25 ms: {verdict})"
                )
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


def main() -> None:
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES
    growth: dict[int, float] = {}
    for size in sizes:
        run(size, growth)
    if len(growth) > 1:
        base = min(growth)
        print(
            "\nGrowth of p50 with lists (linear would be the lists ratio): "
            + ", ".join(
                f"{size} lists x{growth[size] / growth[base]:.2f} for x{size / base:.0f} lists"
                for size in sorted(growth)
                if size != base
            )
        )


if __name__ == "__main__":
    main()
