"""The staff UI's theatre board: time to interactive for a week of 10 theatres, and its API calls.

    .venv/bin/python bench/ui_board.py

Creates `theatre_bench_ui` (BENCH_UI_DATABASE_URL overrides), migrates it, and seeds one week of
AM and PM lists in 10 theatres (Monday to Friday: 100 lists) with 3 booked cases each, plus a
coordinator. Collects the static files and serves the site as production does (gunicorn, two
workers, whitenoise, DEBUG off), then opens the board in Debian's Chromium (Playwright):

- time to interactive: from navigation start to the board drawn with its handlers bound (the
  page's `ui-ready` performance mark), on a cold first load and on warm reloads (p50, max);
- the API calls the board makes, for the full week, one theatre's week, and an empty week:
  the same few requests whatever the week holds, never one per list.

Target: under 1 s on this machine. Figures, not assertions. The database is dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_UI_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_ui")
CHROMIUM = os.environ.get("UI_CHROMIUM", "/usr/bin/chromium")
VAR_DIR = Path(tempfile.mkdtemp(prefix="bench-ui-"))
ENV = {
    **os.environ,
    "DATABASE_URL": BENCH_URL,
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "VAR_DIR": str(VAR_DIR),
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
os.environ.update(ENV)

from bench.scratch_db import create_database, drop_database  # noqa: E402
from bench.seed import bench_patients  # noqa: E402
from bench.serve import gunicorn  # noqa: E402

THEATRES = 10
CASES_PER_LIST = 3
WARM_RUNS = 10
PASSWORD = "bench-coordinator"  # noqa: S105 - a scratch database's only login


def seed(monday: dt.date) -> None:
    """A week of lists, each with three booked cases, written in bulk (the board is measured, not booking)."""
    from zoneinfo import ZoneInfo

    from django.contrib.auth.models import Group, User

    from procedures.models import ProcedureVersion
    from scheduling.models import Case
    from theatre.models import Site, StaffMember, Theatre, TheatreSession

    zone = ZoneInfo("Europe/London")
    version = ProcedureVersion.objects.filter(template__slug="kyphoplasty").order_by("-number").first()
    assert version is not None, "the kyphoplasty seed migration is missing"
    site = Site.objects.create(name="Bench General")
    sessions: list[TheatreSession] = []
    for t in range(THEATRES):
        theatre = Theatre.objects.create(site=site, name=f"Theatre {t + 1:02d}", capabilities=["fluoroscopy"])
        surgeon = StaffMember.objects.create(name=f"Surgeon {t + 1:02d}", role="surgeon")
        anaesthetist = StaffMember.objects.create(name=f"Anaesthetist {t + 1:02d}", role="anaesthetist")
        for d in range(5):
            day = monday + dt.timedelta(days=d)
            for start, end in ((dt.time(8), dt.time(13)), (dt.time(13, 30), dt.time(18))):
                sessions.append(
                    TheatreSession(
                        theatre=theatre,
                        start=dt.datetime.combine(day, start, tzinfo=zone),
                        end=dt.datetime.combine(day, end, tzinfo=zone),
                        surgeon=surgeon,
                        anaesthetist=anaesthetist,
                        period="am" if start.hour < 12 else "pm",
                        status="published",
                    )
                )
    sessions = TheatreSession.objects.bulk_create(sessions)
    patients = bench_patients(len(sessions) * CASES_PER_LIST)
    cases = []
    for i, session in enumerate(sessions):
        for slot in range(CASES_PER_LIST):
            n = i * CASES_PER_LIST + slot
            case_start = session.start + dt.timedelta(minutes=90 * slot)
            cases.append(
                Case(
                    reference=f"BU-{n:06d}",
                    patient=patients[n],
                    procedure=version.template,
                    procedure_version=version,
                    levels=["L1"],
                    anaesthesia="general",
                    surgeon_id=session.surgeon_id,
                    referral_date=monday - dt.timedelta(days=40),
                    screening_result={"result": "eligible", "blockers": [], "warnings": []},
                    estimated_minutes=90,
                    status="booked",
                    session=session,
                    start=case_start,
                    end=case_start + dt.timedelta(minutes=90),
                )
            )
    Case.objects.bulk_create(cases)
    user = User.objects.create_user("coordinator", password=PASSWORD)
    user.groups.add(Group.objects.get(name="coordinator"))


def wait_for(url: str, seconds: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own server on 127.0.0.1
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not start")


def measure(base: str, monday: dt.date) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", "coordinator")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")

        calls: list[str] = []
        page.on("request", lambda r: calls.append(r.url) if "/api/v1/" in r.url else None)

        slowest: list[float] = []

        def load(query: str) -> tuple[float, int, int]:
            calls.clear()
            page.goto(f"/?{query}")
            page.wait_for_selector("body[data-ready=board]")
            ready = page.evaluate("performance.getEntriesByName('ui-ready')[0].startTime")
            slowest.append(
                page.evaluate(
                    "Math.max(...performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/api/v1/')).map(e => e.duration))"
                )
            )
            lists = page.locator("article.list-card").count()
            return float(ready), len(calls), lists

        # Cold: a fresh context, nothing cached (static files, modules) but the login.
        week = f"week={monday.isoformat()}"
        cold = load(week)
        warm = [load(week)[0] for _ in range(WARM_RUNS)]
        one_theatre = load(
            f"{week}&theatre={page.locator('select[name=theatre] option').nth(1).get_attribute('value')}"
        )
        empty = load(f"week={(monday + dt.timedelta(days=28)).isoformat()}")
        browser.close()

    print(
        f"Board, week of {monday:%a %d %b %Y}: {cold[2]} lists in {THEATRES} theatres, {cold[2] * CASES_PER_LIST} cases"
    )
    print(f"Slowest API response in a full-week load: p50 {statistics.median(slowest[1 : WARM_RUNS + 1]):.0f} ms")
    print(f"Time to interactive, first load (cold cache): {cold[0]:.0f} ms")
    print(
        f"Time to interactive, {WARM_RUNS} reloads: p50 {statistics.median(warm):.0f} ms, max {max(warm):.0f} ms "
        f"(target < 1000 ms: {'met' if max(warm + [cold[0]]) < 1000 else 'MISSED'})"
    )
    print(
        f"API calls per board load: {cold[1]} for {cold[2]} lists, {one_theatre[1]} for one theatre "
        f"({one_theatre[2]} lists), {empty[1]} for an empty week "
        f"(constant: {'yes' if cold[1] == one_theatre[1] == empty[1] else 'NO'})"
    )


def main() -> None:
    import django

    create_database(BENCH_URL)
    try:
        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        call_command("collectstatic", verbosity=0, interactive=False)
        today = dt.datetime.now(dt.UTC).date()
        monday = today + dt.timedelta(days=7 - today.weekday())
        seed(monday)
        connections.close_all()
        with gunicorn(ENV) as port:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/login/")
            measure(base, monday)
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
