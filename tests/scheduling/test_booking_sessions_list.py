"""Booked cases appear on /sessions/ in order, with the list's utilisation (theatre's endpoint)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.audit import Actor
from scheduling.booking import book_case, cancel_case
from tests.builders.world import at, build_booking_world

pytestmark = pytest.mark.django_db


def test_booked_cases_are_listed_in_order_with_utilisation(coordinator: APIClient, coordinator_user: User) -> None:
    world = build_booking_world()
    actor = Actor.of(coordinator_user)
    late = book_case(
        case_id=world.case(estimated_minutes=90).pk, session_id=world.session.pk, start=at(11), actor=actor
    )
    early = book_case(
        case_id=world.case(estimated_minutes=60).pk, session_id=world.session.pk, start=at(8), actor=actor
    )
    gone = book_case(case_id=world.case(estimated_minutes=30).pk, session_id=world.session.pk, start=at(9), actor=actor)
    cancel_case(case_id=gone.pk, reason="clinical", actor=actor)

    body = coordinator.get(f"/api/v1/sessions/{world.session.pk}/").data
    assert [(c["id"], c["start"][:16]) for c in body["cases"]] == [
        (early.pk, "2027-01-04T08:00"),
        (late.pk, "2027-01-04T11:00"),
    ]
    assert body["utilisation"] == {"booked_minutes": 150, "session_minutes": 300, "percent": 50.0}
