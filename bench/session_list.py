"""The one-week session list of 10 theatres, over HTTP and in process, beside a plain-dict rendering.

    .venv/bin/python bench/session_list.py

Creates `theatre_bench_sessions` (BENCH_DATABASE_URL overrides), migrates it, and seeds one site
(Europe/London) with 10 theatres and one week of lists, Monday to Friday, one all-day list per
theatre per day (50 lists), each with 4 booked or confirmed cases (200 cases) of the seeded
kyphoplasty and vertebroplasty versions, with patients' identifiers; plus 300 completed cases the
month before, with their theatre times, so that every list's forecast learns from a history as
it does in a running unit. Then it prints:

- over HTTP: gunicorn (2 sync workers, DEBUG off) serving GET /api/v1/sessions/ for that week as
  the staff UI's board asks for it (one page of up to 500), with a coordinator's API token
  (core.api.auth.issue_token), one client: p50 and p99 (target: p50 <= 30 ms);
- in process, measured side by side in alternating rounds: the requests per second of the real
  view (the whole Django stack, middleware and token authentication included, through the WSGI
  handler gunicorn calls) and of the plain-dict limit: the same week's lists and cases read by the
  same two queries (scheduling.lists.listed_sessions), given the same utilisation and forecast
  (the same pure functions over the same learned history), as plain dicts, json.dumps'd; and the
  ratio (target >= 0.75).

The database is dropped at the end. Not part of `make test`: figures, not assertions.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
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

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_sessions")
ENV = {
    **os.environ,
    "DATABASE_URL": BENCH_URL,
    "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"),
    "DEBUG": "false",  # DEBUG would keep every query in memory
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    # Persistent connections, as production runs (issue 18 turns them on by default): without
    # them every request also pays for a new PostgreSQL connection, 5-6 ms, which is not the
    # list's cost. CONN_MAX_AGE=0 in the environment measures that too.
    "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
os.environ.update(ENV)

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.serve import gunicorn  # noqa: E402

THEATRES = 10
CASES_PER_LIST = 4
HISTORY = 300
MONDAY = dt.date(2031, 3, 3)
HTTP_REQUESTS = int(os.environ.get("BENCH_HTTP_REQUESTS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
PER_ROUND = 25


def seed() -> None:
    """The estate, a week of lists with their cases, a month of history, and a coordinator."""
    from zoneinfo import ZoneInfo

    from procedures.models import ProcedureVersion
    from scheduling.models import Case, CaseTimes, Patient
    from theatre.models import Site, StaffMember, Theatre, TheatreSession

    rng = random.Random(20261203)
    zone = ZoneInfo("Europe/London")
    versions = [
        ProcedureVersion.objects.filter(template__slug=slug).select_related("template").order_by("-number").first()
        for slug in ("kyphoplasty", "vertebroplasty")
    ]
    assert all(versions), "the seeded procedure versions are missing"
    site = Site.objects.create(name="Bench General")
    theatres, surgeons, anaesthetists = [], [], []
    for t in range(THEATRES):
        theatres.append(Theatre.objects.create(site=site, name=f"Theatre {t + 1:02d}", capabilities=["fluoroscopy"]))
        surgeons.append(StaffMember.objects.create(name=f"Surgeon {t + 1:02d}", role="surgeon"))
        anaesthetists.append(StaffMember.objects.create(name=f"Anaesthetist {t + 1:02d}", role="anaesthetist"))

    def list_on(day: dt.date, t: int) -> TheatreSession:
        return TheatreSession(
            theatre=theatres[t],
            start=dt.datetime.combine(day, dt.time(8), tzinfo=zone),
            end=dt.datetime.combine(day, dt.time(17), tzinfo=zone),
            surgeon=surgeons[t],
            anaesthetist=anaesthetists[t],
            period="all_day",
            status="published",
        )

    week = TheatreSession.objects.bulk_create(
        list_on(MONDAY + dt.timedelta(days=d), t) for d in range(5) for t in range(THEATRES)
    )
    past = TheatreSession.objects.bulk_create(
        list_on(MONDAY - dt.timedelta(days=28 - d), t) for d in range(0, 26) if d % 7 < 5 for t in range(THEATRES)
    )
    booked = len(week) * CASES_PER_LIST
    patients = Patient.objects.bulk_create(
        Patient(
            nhs_number=f"{9000000000 + n:010d}",
            mrn=f"B{n:07d}",
            given_name=rng.choice(["Ann", "Bob", "Cyril", "Dora", "Edith"]),
            family_name=f"Patient {n}",
            date_of_birth=dt.date(1940 + n % 40, 1 + n % 12, 1 + n % 28),
            email=f"patient{n}@example.org",
            phone="+447700900000",
        )
        for n in range(booked + HISTORY)
    )

    def case(n: int, session: TheatreSession, start: dt.datetime, minutes: int, status: str) -> Case:
        version = versions[n % 2]
        assert version is not None
        return Case(
            reference=f"BS-{n:06d}",
            patient=patients[n],
            procedure=version.template,
            procedure_version=version,
            levels=["L1"] if n % 3 else ["T12", "L1"],
            anaesthesia="general" if n % 2 else "local_sedation",
            surgeon_id=session.surgeon_id,
            referral_date=MONDAY - dt.timedelta(days=90),
            screening_result={"result": "eligible", "blockers": [], "warnings": []},
            estimated_minutes=minutes,
            status=status,
            session=session,
            start=start,
            end=start + dt.timedelta(minutes=minutes),
        )

    cases = []
    for i, session in enumerate(week):
        start = session.start
        for slot in range(CASES_PER_LIST):
            n = i * CASES_PER_LIST + slot
            minutes = rng.choice([60, 75, 90, 105])
            cases.append(case(n, session, start, minutes, "confirmed" if slot == 0 else "booked"))
            start += dt.timedelta(minutes=minutes)
    history = []
    for k in range(HISTORY):
        session = past[k % len(past)]
        start = session.start + dt.timedelta(minutes=120 * (k // len(past)))
        history.append(case(booked + k, session, start, 90, "completed"))
    Case.objects.bulk_create(cases)
    done = Case.objects.bulk_create(history)
    times = []
    for c in done:
        assert c.start is not None
        times.append(
            CaseTimes(
                case=c,
                anaesthesia_start=c.start,
                in_theatre=c.start + dt.timedelta(minutes=5),
                knife_to_skin=c.start + dt.timedelta(minutes=15),
                closure=c.start + dt.timedelta(minutes=50),
                out_of_theatre=c.start + dt.timedelta(minutes=rng.randint(55, 85)),
            )
        )
    CaseTimes.objects.bulk_create(times)


def coordinator_token() -> str:
    from django.contrib.auth.models import Group, User

    from core.api.auth import issue_token

    user = User.objects.create_user("bench-coordinator", password=None)
    user.groups.add(Group.objects.get(name="coordinator"))
    token, _ = issue_token(user)
    return token


# As the staff UI's board asks for a week (ui/static/ui/js/pages/board.js): the whole week in one page.
QUERY = f"date_from={MONDAY.isoformat()}&date_to={(MONDAY + dt.timedelta(days=6)).isoformat()}&page_size=500"
PATH = "/api/v1/sessions/"


# --- The plain-dict limit -----------------------------------------------------------------------


def plain_dict_week() -> bytes:
    """The same body from the same rows, with no serializer: the week's lists and their cases read
    as the view reads them (scheduling.lists.listed_sessions, two queries), given the same
    utilisation and forecast (the same pure functions over the same learned history), as plain
    dicts, json.dumps'd with the API's datetime format."""
    from core.api.fields import datetime_writer
    from scheduling.availability import local_day_range
    from scheduling.lists import ListFilter, listed_sessions, session_forecast, utilisation
    from scheduling.predictions import Durations

    starts_from, starts_before = local_day_range(date_from=MONDAY, date_to=MONDAY + dt.timedelta(days=6))
    sessions = listed_sessions(filters=ListFilter(starts_from=starts_from, starts_before=starts_before), limit=500)
    durations = Durations()
    results = []
    for s in sessions:
        cases = s.listed_cases
        outlook = session_forecast(session=s, cases=cases, durations=durations)
        results.append(
            {
                "id": s.id,
                "site": s.site_id,
                "theatre": s.theatre_id,
                "theatre_name": s.theatre_name,
                "timetable": s.timetable_id,
                "period": s.period,
                "start": s.start,
                "end": s.end,
                "surgeon": s.surgeon_id,
                "surgeon_name": s.surgeon_name,
                "anaesthetist": s.anaesthetist_id,
                "anaesthetist_name": s.anaesthetist_name,
                "status": s.status,
                "notes": s.notes,
                "cases": [
                    {
                        "id": c.id,
                        "reference": c.reference,
                        "status": c.status,
                        "start": c.start,
                        "end": c.end,
                        "procedure": c.procedure,
                        "levels": c.levels,
                        "anaesthesia": c.anaesthesia,
                        "surgeon": c.surgeon_id,
                        "estimated_minutes": c.estimated_minutes,
                        "patient": {
                            "name": f"{c.patient_given_name} {c.patient_family_name}",
                            "nhs_number": c.patient_nhs_number,
                        },
                    }
                    for c in cases
                ],
                "utilisation": utilisation(session=s, intervals=[(c.start, c.end) for c in cases]).as_dict(),
                "forecast": None
                if outlook is None
                else {"expected_end": outlook.expected_end, "p_overrun": round(outlook.p_overrun, 4)},
                "actual_start": s.actual_start,
                "actual_end": s.actual_end,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            }
        )
    body = {"count": len(results), "next": None, "previous": None, "results": results}
    return json.dumps(body, default=datetime_writer()).encode()


# --- The real view, in process ------------------------------------------------------------------


def real_view(token: str) -> Callable[[], bytes]:
    """GET the week through Django's WSGI handler: the stack gunicorn calls, without the socket."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    handler = WSGIHandler()
    environ = RequestFactory()._base_environ(  # type: ignore[attr-defined]
        PATH_INFO=PATH, QUERY_STRING=QUERY, REQUEST_METHOD="GET", HTTP_AUTHORIZATION=f"Token {token}"
    )

    def get() -> bytes:
        statuses: list[str] = []

        def start_response(status: str, headers: Any, *_: Any) -> Callable[[bytes], object]:
            statuses.append(status)
            return lambda _data: None

        body = b"".join(handler(dict(environ), start_response))
        assert statuses[0].startswith("200"), (statuses, body[:300])
        return body

    return get


def rate(work: Callable[[], bytes], runs: int) -> float:
    began = time.perf_counter()
    for _ in range(runs):
        work()
    return runs / (time.perf_counter() - began)


def in_process(token: str) -> tuple[float, float, dict[str, Any], dict[str, Any]]:
    """Requests per second of each, alternating rounds so that both see the same machine."""
    view = real_view(token)
    real_body, plain_body = json.loads(view()), json.loads(plain_dict_week())
    for _ in range(5):  # warm both
        view()
        plain_dict_week()
    real_rates, plain_rates = [], []
    for _ in range(ROUNDS):
        real_rates.append(rate(view, PER_ROUND))
        plain_rates.append(rate(plain_dict_week, PER_ROUND))
    return statistics.median(real_rates), statistics.median(plain_rates), real_body, plain_body


# --- Over HTTP ----------------------------------------------------------------------------------


def http_get(port: int, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", f"{PATH}?{QUERY}", headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def over_http(token: str) -> list[float]:
    with gunicorn(ENV) as port:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = http_get(port, token)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        assert status == 200, body[:300]
        for _ in range(20):  # both workers warm: imports, the connection, the role cache
            http_get(port, token)
        timings = []
        for _ in range(HTTP_REQUESTS):
            began = time.perf_counter()
            status, body = http_get(port, token)
            timings.append((time.perf_counter() - began) * 1000)
            assert status == 200
        return sorted(timings)


def main() -> None:
    create_database(BENCH_URL)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections
        from django.test.utils import CaptureQueriesContext

        call_command("migrate", verbosity=0)
        seed()
        token = coordinator_token()
        connections.close_all()

        timings = over_http(token)
        real, plain, real_body, plain_body = in_process(token)
        view = real_view(token)
        with CaptureQueriesContext(connection) as captured:
            view()
        lists = real_body["results"]
        cases = sum(len(s["cases"]) for s in lists)
        same = real_body == plain_body
        p50 = statistics.median(timings)
        p99 = timings[int(0.99 * (len(timings) - 1))]
        print(
            f"Week of {MONDAY:%a %d %b %Y}: {len(lists)} lists in {THEATRES} theatres, {cases} cases, "
            f"{HISTORY} past cases learned from; CONN_MAX_AGE={ENV['CONN_MAX_AGE']}; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(
            f"HTTP GET {PATH}?{QUERY} (gunicorn, 2 workers, token auth, {HTTP_REQUESTS} requests): "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p50 <= 30 ms: {'met' if p50 <= 30 else 'MISSED'})"
        )
        print(
            f"In process, {ROUNDS} alternating rounds of {PER_ROUND}: real view {real:.1f} req/s "
            f"({1000 / real:.1f} ms, {len(captured)} queries incl. token auth), plain-dict limit {plain:.1f} req/s "
            f"({1000 / plain:.1f} ms); ratio {real / plain:.2f} (target >= 0.75: "
            f"{'met' if real / plain >= 0.75 else 'MISSED'}); same body: {'yes' if same else 'NO'}"
        )
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
