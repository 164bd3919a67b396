"""The service starts, guards its configuration, and answers with one error shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests.conftest import WorkerFactory

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k8$Vq2!mZr9@Lx4#Tn7&Wp1*Hs6^Jd3%Fb5(Gc0)Ya8-Ue2+Oi9=Rk4~Qe7?Zm",
    "ALLOWED_HOSTS": "theatres.example.nhs.uk",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/theatre",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    clean.pop("SECURE_SSL_REDIRECT", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_web_worker_has_its_views_loaded_and_frozen_out_of_the_garbage_collectors_sight() -> None:
    """config/wsgi.py loads every view and freezes what start-up made: a full collection walked it
    all, about 70 ms, and that was the session list's p99 (105-127 ms, then 35-42 ms)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    show = "import gc, sys, config.wsgi; print(gc.get_freeze_count(), 'scheduling.api.sessions' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    frozen, views_loaded = result.stdout.split()
    assert int(frozen) > 50_000, result.stderr
    assert views_loaded == "True"


def test_production_profile_passes_check_deploy_without_warnings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE"),
        ({"EMAIL_PORT": "twenty-five"}, "EMAIL_PORT"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"CONN_MAX_AGE": "-1"}, "CONN_MAX_AGE"),
        ({"CONN_MAX_AGE": "forever"}, "CONN_MAX_AGE"),
        ({"CONN_HEALTH_CHECKS": "maybe"}, "CONN_HEALTH_CHECKS"),
        ({"DB_SERVER_SIDE_BINDING": "maybe"}, "DB_SERVER_SIDE_BINDING"),
    ],
)
def test_bad_environment_stops_start_up_naming_the_variable(override: dict[str, str], named: str) -> None:
    result = run_manage("check", env={**PRODUCTION_ENV, **override})
    assert result.returncode != 0
    assert named in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_production_keeps_database_connections_with_health_checks_and_debug_does_not() -> None:
    """Opening a connection costs a request 5-6 ms: production keeps it 60 s, checked before reuse.
    The development server (DEBUG) runs each request on a new thread, so it does not keep them."""
    show = (
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    production = run_manage("shell", "--verbosity", "0", "-c", show, env={**PRODUCTION_ENV, "CONN_MAX_AGE": ""})
    debug = run_manage(
        "shell", "--verbosity", "0", "-c", show, env={**PRODUCTION_ENV, "DEBUG": "true", "CONN_MAX_AGE": ""}
    )
    assert production.stdout.split() == ["60", "True"], production.stderr
    assert debug.stdout.split() == ["0", "True"], debug.stderr


@pytest.mark.django_db
def test_a_statement_run_repeatedly_is_prepared_by_the_server_so_it_is_not_planned_again() -> None:
    """Server-side binding (DB_SERVER_SIDE_BINDING, on by default): a booking's statements are
    the same every time, and from the fifth run PostgreSQL keeps their plans (issue 18)."""
    marker = "SELECT count(*) FROM auth_group WHERE name = %s AND id > %s"
    with connection.cursor() as cursor:
        for n in range(6):
            cursor.execute(marker, ["coordinator", -n])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{marker[:40]}%"])
        (prepared,) = cursor.fetchone()
    assert prepared == 1


def test_server_side_binding_can_be_turned_off_for_a_pooler_without_prepared_statements() -> None:
    show = "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS']['server_side_binding'])"
    default = run_manage("shell", "--verbosity", "0", "-c", show, env=PRODUCTION_ENV)
    off = run_manage("shell", "--verbosity", "0", "-c", show, env={**PRODUCTION_ENV, "DB_SERVER_SIDE_BINDING": "false"})
    assert default.stdout.split() == ["True"], default.stderr
    assert off.stdout.split() == ["False"], off.stderr


@pytest.mark.django_db
def test_role_groups_are_created_by_migration() -> None:
    names = set(Group.objects.values_list("name", flat=True))
    assert {"coordinator", "surgeon", "anaesthetist", "viewer"} <= names


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(anon_client: APIClient) -> None:
    for path in ("/healthz", "/healthz/"):
        response = anon_client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(anon_client: APIClient) -> None:
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # type: ignore[misc]  # nothing listens on port 1
    try:
        response = anon_client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original  # type: ignore[misc]  # celery-types: read-only, but settable
    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"


def test_healthz_is_503_when_the_database_is_down() -> None:
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(r.status_code, r.json()['database'], r.json()['broker'])"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["503", "down", "ok"], result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
def test_anonymous_gets_401_or_403_and_no_data(anon_client: APIClient, path: str) -> None:
    response = anon_client.get(path)
    assert response.status_code in (401, 403)
    assert b"/api/v1/" not in response.content  # no schema, no paths
    assert b"swagger-ui" not in response.content


@pytest.mark.django_db
def test_a_user_without_a_role_is_denied(anon_client: APIClient, django_user_model: type[User]) -> None:
    nobody = django_user_model.objects.create_user(username="nobody", password="pw")
    anon_client.force_authenticate(nobody)
    assert anon_client.get("/api/v1/schema/").status_code == 403


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served_to_staff(viewer: APIClient) -> None:
    schema = viewer.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    docs = viewer.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # Served from our own static files: no third-party script runs on the API's origin.
    assert b"cdn.jsdelivr.net" not in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content


@pytest.mark.django_db
def test_token_authentication_works(anon_client: APIClient, django_user_model: type[User]) -> None:
    from core.api.auth import issue_token

    user = django_user_model.objects.create_user(username="tok", password="pw")
    user.groups.add(Group.objects.get(name="viewer"))
    token, _ = issue_token(user)
    anon_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon_client.get("/api/v1/schema/").status_code == 200


@pytest.mark.celery_worker
def test_a_real_worker_on_redis_completes_a_task(celery_worker_process: WorkerFactory) -> None:
    from core.tasks import ping

    celery_worker_process()
    assert celery_app.conf.broker_url.startswith("redis://")
    assert ping.delay().get(timeout=30) == "pong"
