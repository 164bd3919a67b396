"""The `make run` demo: a waiting list of about 40 realistic cases, about half booked."""

from __future__ import annotations

import nhs_number
import pytest

from core.demo import seed_users
from scheduling.demo import seed_cases
from scheduling.models import Case, Patient
from theatre.demo import seed_estate

pytestmark = pytest.mark.django_db


def test_demo_waiting_list_is_realistic_half_booked_and_idempotent() -> None:
    seed_users()
    seed_estate()
    first = seed_cases()
    assert first == {"created": 40, "booked": 20}
    assert seed_cases() == {"created": 0, "booked": 0}
    results = {c.screening_result["result"] for c in Case.objects.all()}
    assert results == {"eligible", "ineligible", "incomplete"}
    assert {c.procedure.slug for c in Case.objects.all()} == {"kyphoplasty", "vertebroplasty"}
    assert all(
        nhs_number.is_valid(n) and n.startswith("999") for n in Patient.objects.values_list("nhs_number", flat=True)
    )
    booked = Case.objects.filter(status="booked")
    assert all(c.equipment_claims.count() == 2 for c in booked)
    assert all(c.session.start <= c.start and c.end <= c.session.end for c in booked)  # type: ignore[union-attr,operator]
