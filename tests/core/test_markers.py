"""The pytest markers: `db` is added to every test that can reach the database, and a `pure` test
runs with the database blocked (`make test-pure`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from theatre.models import Site

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.pure
def test_a_pure_test_is_not_marked_db_and_cannot_reach_the_database(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("db") is None
    with pytest.raises(RuntimeError, match="Database access not allowed"):
        Site.objects.exists()


def test_a_test_with_the_db_fixture_is_marked_db(db: None, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("db") is not None


@pytest.mark.django_db
def test_a_test_with_the_django_db_marker_is_marked_db(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("db") is not None


def test_a_pure_test_asking_for_the_database_stops_the_run(tmp_path: Path) -> None:
    """Given the suite's collection hook and two pure tests, one of them reaching for the database
    through a fixture, when pytest collects them, then it stops with a usage error naming that one."""
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n\n\n"
        "@pytest.fixture\n"
        "def sites(db):\n"
        "    return []\n"
    )
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.pure\n"
        "def test_fine():\n"
        "    pass\n\n\n"
        "@pytest.mark.pure\n"
        "def test_sneaky(sites):\n"
        "    pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "Tests marked pure must not use the database" in output
    assert "test_sample.py::test_sneaky" in output
    assert "test_fine" not in output.split("must not use the database")[1]
