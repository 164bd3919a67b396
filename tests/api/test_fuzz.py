"""The API against its own OpenAPI schema, fuzzed by schemathesis (issue 15).

A live server (pytest-django's `live_server`, on the PostgreSQL test database) holds the
permission world (tests/builders/clinic.py). schemathesis loads the served schema and calls every
operation as a coordinator and as a viewer, and fails on:

- a server error (5xx);
- a response that breaks its documented schema, status code, content type or headers;
- a request the schema says is invalid (a wrong type, an unknown field, a value past a limit)
  that the API accepted;
- the documented authentication being ignored.

The schema-valid request refused for a reason a schema cannot state (a surgeon id that does not
exist, `date_to` before `date_from`) is not a failure (`positive_data_acceptance` is left out).

Both runs also play the stateful phase: scenarios that follow the schema's links from a created
case, list, patient, theatre, staff member or timetable to the operations on it.
Each role runs once with a fixed seed (the same cases every time: a regression net) and once
with a fresh random seed for a few seconds, so new cases are tried over time; a failure prints
schemathesis's report with a `curl` line that reproduces it, and the seed to replay the run.
Run it alone with `pytest -m fuzz`; FUZZ_SEED, FUZZ_EXAMPLES, FUZZ_FIXED_SECONDS and FUZZ_SECONDS
tune it (about two and a half minutes in all by default). `POST /auth/logout/` is left out: it
would revoke the fuzzer's own token.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer

from core.api.auth import issue_token
from tests.builders.clinic import build_permission_world

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

FIXED_SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
# Per role: the fixed-seed run stops after FIXED_SECONDS, the random one after FUZZ_SECONDS.
FIXED_SECONDS = int(os.environ.get("FUZZ_FIXED_SECONDS", "60"))
RANDOM_SECONDS = int(os.environ.get("FUZZ_SECONDS", "15"))
ST = Path(sys.executable).with_name("st")
# The stateful phase chains calls along the schema's links (core/api/schema.py LINKS: POST /cases/
# → book, cancel, plan that case; POST /sessions/ → read, change, cancel it; POST /patients/ →
# change, delete them). It shares each run's --max-time: schemathesis holds back part of the
# budget for it among the elastic phases (fuzzing, stateful), so the fuzz time is what it was.
PHASES_FIXED = "coverage,fuzzing,stateful"
PHASES_RANDOM = "fuzzing,stateful"


def schemathesis(base: str, token: str, *, seed: int, extra: list[str], report_dir: Path) -> tuple[int, str]:
    command = [
        str(ST),
        "run",
        f"{base}/api/v1/schema/?format=json",
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--seed",
        str(seed),
        # One worker: hypothesis describes its strategies by parsing source with ast, which is not
        # thread-safe on CPython 3.11 ("AST constructor recursion depth mismatch" in a second worker).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        # Logging out would revoke the very token the fuzzer calls with (tests/core/test_auth.py
        # covers it); every other operation is fuzzed.
        "--exclude-path",
        "/api/v1/auth/logout/",
        "--report-dir",
        str(report_dir),
        *extra,
    ]
    # In the run's own folder: schemathesis keeps a cache of past crashes beside it (.schemathesis/).
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=report_dir.parent)
    return done.returncode, done.stdout + done.stderr


def test_every_operation_survives_the_fuzzer_as_coordinator_and_viewer(live_server: LiveServer, tmp_path: Path) -> None:
    world = build_permission_world()
    users = {role: world.users[role] for role in ("coordinator", "viewer")}
    tokens = {role: issue_token(user)[0] for role, user in users.items() if user is not None}
    random_seed = random.SystemRandom().randrange(1, 2**31)
    failures: list[str] = []
    for role, token in tokens.items():
        runs = [
            (
                FIXED_SEED,
                ["--max-examples", str(EXAMPLES), "--max-time", str(FIXED_SECONDS), "--phases", PHASES_FIXED],
            ),
            (random_seed, ["--max-time", str(RANDOM_SECONDS), "--phases", PHASES_RANDOM]),
        ]
        for seed, extra in runs:
            code, output = schemathesis(live_server.url, token, seed=seed, extra=extra, report_dir=tmp_path / role)
            if code != 0:
                failures.append(f"===== as {role}, seed {seed} ({' '.join(extra)}) =====\n{output}")
    assert not failures, "\n".join(failures)
