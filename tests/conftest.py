"""Shared fixtures: a logged-in API client per role, and a real Celery worker process."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone as django_timezone
from pytest_django import Settings
from rest_framework.test import APIClient

from core.roles import Role
from tests.api import error_ledger
from tests.builders.people import login

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs two workers), give each worker its own Redis db.

    pytest-django already gives each worker its own test database (test_theatre_gw0, ...). Redis
    is shared, so without this a worker's Celery test worker would take the other's tasks, its
    broker purge would drop them, and throttle counters (the cache) of equal user ids would add up.
    Django's settings are read before this file is imported, so the worker's settings, the Celery
    app and the environment (for worker subprocesses) are all pointed at the worker's db here.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        _use_redis_db(offset=int(worker.removeprefix("gw")))


def _use_redis_db(*, offset: int) -> None:
    from django.conf import settings

    from config.celery import app

    base = urlsplit(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    db = (int(base.path.strip("/") or 0) + offset) % 16
    url = urlunsplit(base._replace(path=f"/{db}"))
    os.environ["REDIS_URL"] = url
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        setattr(settings, name, url)
    settings.CACHES["default"]["LOCATION"] = url
    app.conf.update(broker_url=url, result_backend=url)


# pytest-django fixtures that open the test database to whoever requests them.
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "django_db_setup"}
)


def uses_database(item: pytest.Item) -> bool:
    """True if the test can reach the database: the django_db marker, a database fixture anywhere
    in its fixtures, or django_db_blocker asked for by the test or by one of our fixtures."""
    if item.get_closest_marker("django_db") is not None:
        return True
    if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    if "django_db_blocker" in info.argnames:
        return True
    # pytest-django's own autouse fixtures ask for the blocker on every test, to keep it closed.
    return any(
        "django_db_blocker" in fixturedef.argnames and not fixturedef.func.__module__.startswith("pytest_django")
        for fixturedefs in info.name2fixturedefs.values()
        for fixturedef in fixturedefs
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Restore migration data after transactional tests, and mark tests `db` or check they are `pure`.

    A `transaction=True` test ends with a flush of every table. Without serialized rollback the
    groups and the kyphoplasty/vertebroplasty templates created by data migrations would be gone for
    the tests after it, and the next serialized test would trip over re-created content types.

    Every test that can reach the database gets the `db` marker, so `-m "not db"` narrows a run. A
    test marked `pure` promises to run with the database blocked (`make test-pure`): one that asks
    for it stops the run here, and one that queries without asking fails on pytest-django's block.
    """
    impure: list[str] = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(pytest.mark.django_db(**{**marker.kwargs, "serialized_rollback": True}), append=False)
        if uses_database(item):
            item.add_marker(pytest.mark.db)
            if item.get_closest_marker("pure") is not None:
                impure.append(item.nodeid)
    if impure:
        raise pytest.UsageError("Tests marked pure must not use the database:\n  " + "\n  ".join(impure))


# --- The error ledger (tests/api/error_ledger.py) ---------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every handler built from now on (test Clients, the live server) records API errors."""
    from django.conf import settings

    settings.MIDDLEWARE = [error_ledger.MIDDLEWARE, *settings.MIDDLEWARE]


def pytest_runtest_setup(item: pytest.Item) -> None:
    error_ledger.current_test = item.nodeid


_ledger_report: list[str] = []


def pytest_testnodedown(node: Any, error: object) -> None:
    """Under pytest-xdist, the controller gathers each worker's records (sent in workeroutput)."""
    output = getattr(node, "workeroutput", {})
    error_ledger.LEDGER.extend(error_ledger.Observed(*row) for row in output.get("error_ledger", []))
    error_ledger.BREACHES.extend(error_ledger.Breach(*row) for row in output.get("breaches", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any operation answered a status or code its schema does not document, or
    a body that breaks its schema.

    An xdist worker's own exit status does not fail the run, so a worker hands its records to
    the controller (pytest_testnodedown above), which checks them all here.
    """
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["error_ledger"] = [astuple(observed) for observed in error_ledger.LEDGER]
        workeroutput["breaches"] = [astuple(breach) for breach in error_ledger.BREACHES]
        return
    if error_ledger.BREACHES:
        first_breach: dict[tuple[str, str, int], str] = {}
        for breach in error_ledger.BREACHES:
            first_breach.setdefault((breach.method, breach.path, breach.status), str(breach))
        _ledger_report.append(f"contract: {len(first_breach)} answers that break their schema (first seen):")
        _ledger_report.extend(f"  {line}" for line in sorted(first_breach.values()))
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not error_ledger.LEDGER:
        return
    docs = error_ledger.documented(error_ledger.served_schema())
    offences = error_ledger.undocumented(error_ledger.LEDGER, docs)
    pairs = error_ledger.all_pairs(docs)
    seen = error_ledger.exercised(error_ledger.LEDGER, docs)
    _ledger_report.append(
        f"error ledger: {len(error_ledger.LEDGER)} error responses over {len(docs)} operations; "
        f"{len(seen)} of {len(pairs)} documented (operation, status, code) seen, {len(pairs - seen)} never exercised"
    )
    if offences:
        first: dict[str, str] = {}
        for offence in offences:
            key = f"{offence.operation} {offence.observed.status} `{offence.observed.code}`"
            first.setdefault(key, str(offence))
        _ledger_report.append(f"error ledger: {len(first)} undocumented status/code answers (first seen):")
        _ledger_report.extend(f"  {line}" for line in sorted(first.values()))
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _ledger_report:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """PBKDF2 costs ~0.5 s a user; tests check roles, not password strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def coordinator_user(db: None) -> User:
    return login("coord", Role.COORDINATOR)


@pytest.fixture
def surgeon_user(db: None) -> User:
    return login("surg", Role.SURGEON)


@pytest.fixture
def anaesthetist_user(db: None) -> User:
    return login("anaes", Role.ANAESTHETIST)


@pytest.fixture
def viewer_user(db: None) -> User:
    return login("view", Role.VIEWER)


@pytest.fixture
def admin_user_(db: None) -> User:
    return login("root", None, superuser=True)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def coordinator(coordinator_user: User) -> APIClient:
    return client_for(coordinator_user)


@pytest.fixture
def surgeon(surgeon_user: User) -> APIClient:
    return client_for(surgeon_user)


@pytest.fixture
def anaesthetist(anaesthetist_user: User) -> APIClient:
    return client_for(anaesthetist_user)


@pytest.fixture
def viewer(viewer_user: User) -> APIClient:
    return client_for(viewer_user)


@pytest.fixture
def admin(admin_user_: User) -> APIClient:
    return client_for(admin_user_)


@pytest.fixture
def admin_client_(admin_user_: User) -> Client:
    """A browser logged in to the Django admin as a superuser (a session, not an API token)."""
    client = Client()
    client.force_login(admin_user_)
    return client


# --- A real Celery worker --------------------------------------------------------------------


def _test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _purge_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        app.control.purge(connection=conn)


def _wait_until_ready(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Celery worker exited early with code {proc.returncode}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("Celery worker did not answer a ping within the timeout")


WorkerFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def celery_worker_process(transactional_db: None, django_db_serialized_rollback: None) -> Iterator[WorkerFactory]:
    """Start real `celery worker` processes on Redis, using the test database.

    Call the fixture to start one (extra env vars as keyword arguments); every worker started is
    stopped at the end. The test must use `transactional_db` data, since the worker reads it
    over its own connection.
    """
    procs: list[subprocess.Popen[bytes]] = []
    _purge_broker()

    def start(*, concurrency: int = 2, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **extra_env,
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
                f"--hostname=test-{os.getpid()}-{len(procs)}@%h",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        procs.append(proc)
        _wait_until_ready(proc)
        return proc

    yield start

    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    _purge_broker()


FreezeClock = Callable[[dt.datetime], None]


@pytest.fixture
def freeze_clock(monkeypatch: pytest.MonkeyPatch) -> FreezeClock:
    """Stop the server's clock (django.utils.timezone.now, which every service reads) at an aware
    moment: "it is 08:05 on the day of the list". Undone at the end of the test."""

    def freeze(moment: dt.datetime) -> None:
        assert moment.tzinfo is not None, "freeze the clock at an aware datetime"
        monkeypatch.setattr(django_timezone, "now", lambda: moment.astimezone(dt.UTC))

    return freeze
