"""Two clinicians publishing at the same moment get consecutive numbers, never an error."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps
from django.db import connection

from core.audit import Actor
from procedures.models import ProcedureTemplate, ProcedureVersion
from procedures.versions import create_version

SEED = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")
SEED_V2 = importlib.import_module("procedures.migrations.0005_seed_version_2_renal_holds_and_sources")


# serialized_rollback: restores the seeded templates (migration data) for later tests, and keeps
# this test's flush from re-creating content types that the next serialized_rollback test reloads.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_publishes_get_consecutive_numbers() -> None:
    SEED.seed(apps, None)  # idempotent; in case an earlier plain transactional test flushed the seed
    SEED_V2.seed(apps, None)
    template = ProcedureTemplate.objects.get(slug="kyphoplasty")
    barrier = threading.Barrier(4)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def publish(turnover: int) -> None:
        try:
            barrier.wait()
            version = create_version(
                template=template,
                changes={"turnover_minutes": turnover},
                change_note=f"turnover {turnover}",
                actor=Actor.system("test:race"),
            )
            numbers.append(version.number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(10 + i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(numbers) == [3, 4, 5, 6]  # after the seeded versions 1 and 2
    versions = ProcedureVersion.objects.filter(template=template)
    assert sorted(versions.values_list("number", flat=True)) == [1, 2, 3, 4, 5, 6]
    # Each version is whole: every one carries the full step list.
    assert {v.steps.count() for v in versions} == {14}
