"""The error ledger fails a real pytest run, with two xdist workers as `make test` runs it.

An xdist worker's own exit status does not decide the run, so this proves the records travel to
the controller (tests/conftest.py: pytest_testnodedown) and that the controller fails the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """\
from tests.conftest import (  # noqa: F401
    pytest_sessionfinish, pytest_sessionstart, pytest_terminal_summary, pytest_testnodedown,
)
"""
# Each test records what an API answer would have recorded: one documented, one not, and one
# body that breaks its schema.
TESTS = """\
from tests.api.error_ledger import BREACHES, Breach, Observed, record


def test_documented():
    record(Observed("POST", "/api/v1/cases/7/book/", 409, "slot_taken", "test_documented"))


def test_made_up():
    record(Observed("POST", "/api/v1/cases/7/book/", 409, "made_up_code", "test_made_up"))


def test_breaks_its_schema():
    BREACHES.append(Breach("GET", "/api/v1/cases/7/unavailability/", 200, "[] is not an object", "test_breaks"))
"""


def test_an_undocumented_code_or_a_breach_seen_by_a_worker_fails_the_whole_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_answers.py").write_text(TESTS)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_XDIST")}
    env |= {"PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert "3 passed" in output, output
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "POST /api/v1/cases/{id}/book/ answered 409 `made_up_code`" in output
    assert "slot_taken" not in output.split("undocumented")[-1]
    assert "contract: 1 answers that break their schema" in output
    assert "GET /api/v1/cases/7/unavailability/ answered 200 in test_breaks: [] is not an object" in output
