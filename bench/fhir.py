"""FHIR facade latency over the `make run` demo, against a scratch PostgreSQL database.

    .venv/bin/python bench/fhir.py

Creates `theatre_bench_fhir` (BENCH_FHIR_DATABASE_URL overrides), migrates it, loads the whole
demo (four weeks of lists, the waiting list, six weeks of history) and prints, for each search,
the p50 and p99 of the whole HTTP request, its entries and its queries (the bench's own user
lookup included); then what validating
each served resource with fhir.resources' R4B models would add per page (the reason the facade
builds plain dicts at run time and validates in the tests). Figures, not assertions.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_URL = os.environ.get("BENCH_FHIR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/theatre_bench_fhir")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.scratch_db import create_database, drop_database  # noqa: E402

RUNS = 30


def measure(call: Callable[[], Any]) -> tuple[float, float]:
    call()  # warm up
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main() -> None:
    create_database(BENCH_URL)
    try:
        import django

        django.setup()
        import datetime as dt

        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection, connections
        from django.utils import timezone
        from fhir.resources.R4B import get_fhir_model_class
        from rest_framework.test import APIClient

        from core.demo import seed_users
        from scheduling.demo import seed_cases, seed_plan_demo
        from scheduling.demo_history import seed_history
        from theatre.demo import seed_estate

        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        users = seed_users()
        seed_estate()
        seed_cases()
        seed_plan_demo()
        history = seed_history()
        print(
            f"Seeded the demo ({history['lists']} past lists, {history['cases']} completed cases) in "
            f"{time.perf_counter() - began:.0f} s (PostgreSQL: {BENCH_URL})"
        )
        today = timezone.localdate()
        past, ahead = (today - dt.timedelta(days=60)).isoformat(), (today + dt.timedelta(days=30)).isoformat()
        searches = {
            "Appointment 60 days back, 30 ahead, _count=50": f"Appointment?date=ge{past}&date=lt{ahead}&_count=50",
            "Appointment same, _count=200": f"Appointment?date=ge{past}&date=lt{ahead}&_count=200",
            "ServiceRequest?status=active": "ServiceRequest?status=active&_count=200",
            "Procedure (all)": "Procedure?_count=200",
            "Slot, 30 days ahead, all theatres": f"Slot?start=ge{today}&start=lt{ahead}&_count=200",
            "Patient (all)": "Patient?_count=200",
        }
        coordinator = users["coordinator"]

        def get(url: str) -> Any:
            client = APIClient()
            client.force_authenticate(User.objects.get(pk=coordinator.pk))  # roles looked up as a real request
            response = client.get(f"/fhir/R4/{url}")
            assert response.status_code == 200, response.content[:200]
            return response

        queries: list[str] = []

        def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            queries.append(sql)
            return execute(sql, params, many, context)

        print(f"{'search':<48} {'entries':>7} {'queries':>7} {'p50 ms':>8} {'p99 ms':>8} {'+R4B validation ms':>19}")
        for label, url in searches.items():
            queries.clear()
            with connection.execute_wrapper(counted):
                bundle = get(url).json()
            entries = [e["resource"] for e in bundle.get("entry", [])]
            p50, p99 = measure(lambda u=url: get(u))  # type: ignore[misc]

            def validate(resources: list[dict[str, Any]] = entries) -> None:
                for resource in resources:
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)

            validation, _ = measure(validate)
            print(f"{label:<48} {len(entries):>7} {len(queries):>7} {p50:>8.1f} {p99:>8.1f} {validation:>19.1f}")
        connections.close_all()
    finally:
        drop_database(BENCH_URL)


if __name__ == "__main__":
    main()
