"""The `make run` demo: one case with an approved plan and a complete WHO checklist,
and one whose approval a later move withdrew, both made through the real services."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from core.audit import history
from core.demo import seed_users
from scheduling.demo import seed_plan_demo
from scheduling.models import CaseStatus, ChecklistEntry
from theatre.demo import seed_estate

TODAY = dt.date(2027, 1, 6)  # a Wednesday


@pytest.mark.django_db
def test_demo_has_a_completed_approved_case_and_one_whose_approval_a_move_withdrew() -> None:
    users = seed_users()
    seed_estate(today=TODAY)
    made = seed_plan_demo(today=TODAY)

    done = made["completed"]
    assert done.status == CaseStatus.COMPLETED
    assert done.start is not None and done.start.date() < TODAY
    assert done.plan_approved_by == users["surgeon"]
    assert list(ChecklistEntry.objects.filter(case=done).order_by("signed_at").values_list("phase", flat=True)) == [
        "sign_in",
        "time_out",
        "sign_out",
    ]

    withdrawn = made["withdrawn"]
    assert withdrawn.status == CaseStatus.BOOKED
    assert withdrawn.plan_approved_at is None
    actions = list(history(withdrawn).values_list("action", flat=True))
    assert actions.index("case.plan_approved") < actions.index("case.moved")
    assert "case.plan_approval_withdrawn" in actions

    client = APIClient()
    client.force_authenticate(users["surgeon"])
    assert client.get(f"/api/v1/cases/{done.pk}/plan/").json()["approval"]["state"] == "approved"
    approval = client.get(f"/api/v1/cases/{withdrawn.pk}/plan/").json()["approval"]
    assert approval["state"] == "withdrawn"
    assert "case.moved" in approval["reason"]


@pytest.mark.django_db
def test_demo_can_be_loaded_twice_without_duplicates() -> None:
    seed_users()
    seed_estate(today=TODAY)
    first = seed_plan_demo(today=TODAY)
    second = seed_plan_demo(today=TODAY)
    assert {k: c.pk for k, c in first.items()} == {k: c.pk for k, c in second.items()}
