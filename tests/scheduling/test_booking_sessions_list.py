"""Booked cases appear on /sessions/ in order, with the list's utilisation (theatre's endpoint)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework import serializers
from rest_framework.test import APIClient

from core.audit import Actor
from scheduling.api.sessions import SessionCaseSerializer, SessionSerializer
from scheduling.booking import book_case, cancel_case
from scheduling.lists import listed_cases, sessions_for_lists, sessions_with_cases
from scheduling.models import Case
from scheduling.predictions import key_of, template_of
from tests.builders.world import at, build_booking_world
from theatre.models import TheatreSession

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


@pytest.mark.parametrize("identified", [True, False])
def test_a_listed_case_is_rendered_as_its_declared_fields_say(identified: bool, coordinator_user: User) -> None:
    """SessionCaseSerializer writes its fields out by hand (a week's list renders 200 cases): the
    result is DRF's own field-by-field rendering of the same declared fields, keys in order, with
    `patient` only for a role that may see identifiers."""
    world = build_booking_world()
    book_case(
        case_id=world.case(levels=["T12", "L1"]).pk,
        session_id=world.session.pk,
        start=at(9),
        actor=Actor.of(coordinator_user),
    )
    (session,) = sessions_with_cases([sessions_for_lists().get(pk=world.session.pk)])
    (case,) = session.listed_cases  # type: ignore[attr-defined]
    serializer = SessionCaseSerializer(context={"identified": identified})
    generic = serializers.Serializer.to_representation(serializer, case)
    if not identified:
        del generic["patient"]
    assert list(serializer.to_representation(case).items()) == list(generic.items())


@pytest.mark.parametrize("anaesthetist", [True, False])
def test_a_list_is_rendered_as_its_declared_fields_say(anaesthetist: bool, coordinator_user: User) -> None:
    """SessionSerializer writes its fields out by hand too (a week's page renders 50 lists): the
    result is DRF's own field-by-field rendering of the same declared fields, keys in order, with
    and without an anaesthetist."""
    world = build_booking_world()
    book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=Actor.of(coordinator_user))
    if not anaesthetist:
        TheatreSession.objects.filter(pk=world.session.pk).update(anaesthetist=None, notes="Short of staff")
    (session,) = sessions_with_cases([sessions_for_lists().get(pk=world.session.pk)])
    serializer = SessionSerializer(context={"identified": True})
    generic = serializers.Serializer.to_representation(serializer, session)
    assert list(serializer.to_representation(session).items()) == list(generic.items())
    assert (generic["anaesthetist_name"] is None) is not anaesthetist


def test_a_listed_case_is_predicted_as_its_case_is(coordinator_user: User) -> None:
    world = build_booking_world()
    booked = book_case(
        case_id=world.case(levels=["T12", "L1"], planned_minutes=75, planned_minutes_reason="slow surgeon").pk,
        session_id=world.session.pk,
        actor=Actor.of(coordinator_user),
    )
    case = Case.objects.select_related("procedure", "procedure_version").get(pk=booked.pk)
    (listed,) = listed_cases([world.session.pk])[world.session.pk]
    assert (listed.key, listed.template) == (key_of(case), template_of(case))
    assert (listed.planned_minutes, listed.status, listed.start) == (75, case.status, case.start)
