"""Booking checks `active` on the theatre, the staff and the equipment units, as availability does
(DESIGN §5.8): a deactivated theatre, surgeon or anaesthetist takes no new booking or move, with its
own 409 code; an inactive unit is never claimed; and availability never offers what booking refuses."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.audit import Actor
from core.errors import DomainError
from scheduling.availability import availability_for
from scheduling.booking import book_case, move_case
from scheduling.models import Case
from tests.builders.world import BookingWorld, at, build_booking_world
from theatre.models import EquipmentUnit, StaffMember, Theatre

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


@pytest.fixture
def actor(coordinator_user: User) -> Actor:
    return Actor.of(coordinator_user)


def refusal(world: BookingWorld, case: Case, actor: Actor) -> DomainError:
    with pytest.raises(DomainError) as excinfo:
        book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=actor)
    case.refresh_from_db()
    assert case.status == "waiting" and case.session_id is None  # nothing changed
    return excinfo.value


def test_booking_into_a_deactivated_theatre_is_refused(world: BookingWorld, actor: Actor) -> None:
    Theatre.objects.filter(pk=world.theatre.pk).update(active=False)
    error = refusal(world, world.case(), actor)
    assert error.code == "theatre_inactive"
    assert world.theatre.name in error.detail


@pytest.mark.parametrize("who", ["surgeon", "anaesthetist"])
def test_booking_with_a_deactivated_surgeon_or_anaesthetist_is_refused(
    world: BookingWorld, actor: Actor, who: str
) -> None:
    member: StaffMember = getattr(world, who)
    StaffMember.objects.filter(pk=member.pk).update(active=False)
    error = refusal(world, world.case(), actor)
    assert error.code == "staff_inactive"
    assert error.extra["staff"] == [member.pk]
    assert who in error.detail


def test_booking_never_claims_a_deactivated_unit(world: BookingWorld, actor: Actor) -> None:
    EquipmentUnit.objects.filter(pk=world.units[0].pk).update(active=False)
    assert refusal(world, world.case(), actor).code == "equipment_unavailable"


def test_moving_into_a_deactivated_theatre_is_refused_and_the_case_stays(world: BookingWorld, actor: Actor) -> None:
    case = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(8), actor=actor)
    Theatre.objects.filter(pk=world.theatre.pk).update(active=False)
    with pytest.raises(DomainError) as excinfo:
        move_case(case_id=case.pk, session_id=world.session.pk, start=at(10), actor=actor)
    assert excinfo.value.code == "theatre_inactive"
    case.refresh_from_db()
    assert case.start == at(8)


def test_the_api_answers_409_with_the_code(world: BookingWorld, coordinator: APIClient) -> None:
    StaffMember.objects.filter(pk=world.surgeon.pk).update(active=False)
    case = world.case()
    response = coordinator.post(f"/api/v1/cases/{case.pk}/book/", {"session": world.session.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "staff_inactive"


@pytest.mark.parametrize("who", ["surgeon", "anaesthetist"])
def test_availability_does_not_offer_a_list_whose_team_is_deactivated(world: BookingWorld, who: str) -> None:
    case = world.case()
    day = at(0).date()
    assert availability_for(case_id=case.pk, date_from=day, date_to=day)
    StaffMember.objects.filter(pk=getattr(world, who).pk).update(active=False)
    assert availability_for(case_id=case.pk, date_from=day, date_to=day) == []
