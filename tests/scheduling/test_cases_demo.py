"""The `make run` demo: a waiting list of about 40 realistic cases, about half booked."""

from __future__ import annotations

import nhs_number
import pytest

from core.demo import seed_users
from scheduling.demo import preview_demo_fill, seed_cases
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


def test_the_demo_previews_a_fill_of_next_months_lists_with_real_content() -> None:
    """A coordinator's first fill after `make run`: next month's lists take the eligible waiting
    cases, and every case left waiting says why."""
    seed_users()
    seed_estate()
    seed_cases()
    waiting = Case.objects.filter(status="waiting")
    eligible = {c.pk for c in waiting if c.screening_result["result"] == "eligible"}
    demo = preview_demo_fill()
    assert demo.placed > 0
    assert demo.waiting == waiting.count()
    assert demo.placed == len(eligible)  # next month has room for every eligible case
    assert demo.codes == {"not_eligible": waiting.count() - len(eligible)}
    assert Case.objects.filter(status="waiting").count() == demo.waiting  # a preview books nothing
