"""/availability/ and `availability_for`, the one service behind it (the pure search: test_slots.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor
from core.errors import DomainError, InvalidInput
from scheduling.availability import AvailabilityQuery, availability_for, demand_of, find_slots
from scheduling.booking import book_case
from scheduling.slots import OpenSlot
from tests.builders.world import BookingWorld, at, build_booking_world
from tests.factories import PatientFactory, SurgeonFactory, TheatreFactory, TheatreSessionFactory, london

# Every test here runs on the hot paths' raw SQL and again on their ORM definitions (conftest).
pytestmark = pytest.mark.usefixtures("both_query_paths")

URL = "/api/v1/availability/"
UTC = dt.UTC


# --- the endpoint --------------------------------------------------------------------------


@pytest.fixture
def world(db: None) -> BookingWorld:
    return build_booking_world()


def query(world: BookingWorld, **params: Any) -> dict[str, Any]:
    params.setdefault("date_from", "2027-01-01")
    params.setdefault("date_to", "2027-01-31")
    return params


@pytest.mark.django_db
def test_availability_for_a_case_lists_the_earliest_time_per_session(
    coordinator: APIClient, coordinator_user: User, world: BookingWorld
) -> None:
    booked = world.case()
    book_case(case_id=booked.pk, session_id=world.session.pk, start=at(8), actor=Actor.of(coordinator_user))
    tuesday = world.other_session(surgeon=world.surgeon, day=dt.date(2027, 1, 5))
    response = coordinator.get(URL, query(world, case=world.case().pk))
    assert response.status_code == 200, response.data
    slots = response.data["results"]
    assert [(s["session"], s["start"][:16]) for s in slots] == [
        (world.session.pk, "2027-01-04T09:00"),
        (tuesday.pk, "2027-01-05T08:00"),
    ]
    assert slots[0]["theatre"] == world.theatre.pk
    assert slots[0]["end"].startswith("2027-01-04T10:00")


@pytest.mark.django_db
def test_availability_for_a_booked_case_ignores_its_own_slot(
    coordinator: APIClient, coordinator_user: User, world: BookingWorld
) -> None:
    case = world.case()
    book_case(case_id=case.pk, session_id=world.session.pk, start=at(8), actor=Actor.of(coordinator_user))
    slots = coordinator.get(URL, query(world, case=case.pk)).data["results"]
    assert slots[0]["start"].startswith("2027-01-04T08:00")


@pytest.mark.django_db
def test_availability_skips_patient_clash_locked_lists_and_other_surgeons(
    coordinator: APIClient, coordinator_user: User, world: BookingWorld
) -> None:
    patient = PatientFactory()
    elsewhere = world.other_session(hour=8, hours=5)
    book_case(
        case_id=world.case(patient=patient, surgeon=elsewhere.surgeon).pk,
        session_id=elsewhere.pk,
        start=at(8),
        actor=Actor.of(coordinator_user),
    )
    world.other_session(surgeon=world.surgeon, day=dt.date(2027, 1, 5), status="locked")
    world.other_session(day=dt.date(2027, 1, 6))  # another surgeon's list
    slots = coordinator.get(URL, query(world, case=world.case(patient=patient).pk)).data["results"]
    # The patient is in theatre elsewhere 08:00-09:00, and the one C-arm with them.
    assert [(s["session"], s["start"][:16]) for s in slots] == [(world.session.pk, "2027-01-04T09:00")]


@pytest.mark.django_db
def test_availability_by_procedure_levels_and_surgeon(coordinator: APIClient, world: BookingWorld) -> None:
    slug = world.version.template.slug
    params = query(world, procedure=slug, levels="L1,L2", anaesthesia="local_sedation", surgeon=world.surgeon.pk)
    slots = coordinator.get(URL, params).data["results"]
    assert [s["session"] for s in slots] == [world.session.pk]


@pytest.mark.django_db
def test_availability_respects_the_date_range(coordinator: APIClient, world: BookingWorld) -> None:
    assert coordinator.get(URL, query(world, case=world.case().pk, date_from="2027-01-05")).data["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"procedure": "kyphoplasty"}, "levels"),
        ({"procedure": "kyphoplasty", "levels": "L9", "surgeon": 1}, "levels"),
        ({"case": 1, "date_from": "2027-02-01", "date_to": "2027-01-01"}, "date_to"),
    ],
)
def test_availability_bad_input_is_400(coordinator: APIClient, params: dict[str, Any], field: str) -> None:
    response = coordinator.get(URL, params)
    assert response.status_code == 400
    assert field in response.data["errors"]


@pytest.mark.django_db
def test_availability_for_unknown_case_is_404_and_ineligible_case_409(
    coordinator: APIClient, world: BookingWorld
) -> None:
    assert coordinator.get(URL, {"case": 999999}).status_code == 404
    ineligible = world.case(screening_result={"result": "ineligible"})
    response = coordinator.get(URL, {"case": ineligible.pk})
    assert (response.status_code, response.data["code"]) == (409, "not_eligible")


@pytest.mark.django_db
@pytest.mark.parametrize("sessions", [5, 50])
def test_availability_uses_constant_queries(
    coordinator: APIClient, coordinator_user: User, django_assert_num_queries: DjangoAssertNumQueries, sessions: int
) -> None:
    world = build_booking_world(units=2)
    actor = Actor.of(coordinator_user)
    theatres = [world.theatre, TheatreFactory(site=world.site, capabilities=["fluoroscopy"])]
    for n in range(sessions - 1):
        day = dt.date(2027, 1, 5) + dt.timedelta(days=n // 2)
        session = TheatreSessionFactory(
            theatre=theatres[n % 2],
            surgeon=world.surgeon if n % 2 == 0 else SurgeonFactory(),
            start=london(day.year, day.month, day.day, 8 if n % 2 == 0 else 13),
            end=london(day.year, day.month, day.day, 12 if n % 2 == 0 else 17),
        )
        book_case(case_id=world.case(surgeon=session.surgeon).pk, session_id=session.pk, actor=actor)
    case = world.case()
    params: dict[str, str | int] = {"case": case.pk, "date_from": "2027-01-01", "date_to": "2027-03-31", "limit": 100}
    # role lookup, the case, its patient's unavailable days, its procedure's learned history (slot
    # minutes), sessions, cases, the surgeon's lists, units with their claims
    with django_assert_num_queries(8):
        response = coordinator.get(URL, params)
    assert response.status_code == 200
    assert len(response.data["results"]) == 1 + (sessions - 1 + 1) // 2


# --- never in the past ----------------------------------------------------------------------


def test_availability_never_offers_time_that_has_passed(world: BookingWorld) -> None:
    """Given a list from 08:00 to 13:00 and the clock at 09:58,
    when availability is asked, then the slot offered starts at 10:00, not 08:00."""
    query = AvailabilityQuery(
        demand=demand_of(world.case(estimated_minutes=60)),
        date_from=at(0),
        date_to=at(23),
        now=at(9, 58),
    )
    (slot,) = [s for s in find_slots(query=query) if s.session_id == world.session.pk]
    assert slot.start == at(10)
    late = dataclasses.replace(query, now=at(12, 30))
    assert [s for s in find_slots(query=late) if s.session_id == world.session.pk] == []


# --- the service ----------------------------------------------------------------------------


def test_availability_for_a_case_is_what_the_endpoint_answers(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case()
    slots = availability_for(case_id=case.pk, date_from=dt.date(2027, 1, 1), date_to=dt.date(2027, 1, 31))
    body = coordinator.get(URL, query(world, case=case.pk)).json()
    assert [(s.session_id, s.theatre_id, s.start.isoformat()) for s in slots] == [
        (r["session"], r["theatre"], dt.datetime.fromisoformat(r["start"]).astimezone(UTC).isoformat())
        for r in body["results"]
    ]
    assert slots and body["count"] == len(slots)


def test_availability_for_an_ineligible_case_is_not_eligible(world: BookingWorld) -> None:
    case = world.case(screening_result={"result": "incomplete"})
    with pytest.raises(DomainError) as excinfo:
        availability_for(case_id=case.pk, date_from=dt.date(2027, 1, 1), date_to=dt.date(2027, 1, 31))
    assert (excinfo.value.status, excinfo.value.code) == (409, "not_eligible")


def test_availability_for_an_unknown_procedure_names_the_field(coordinator: APIClient, world: BookingWorld) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        availability_for(
            procedure="laminectomy",
            levels=["L1"],
            surgeon_id=world.surgeon.pk,
            date_from=dt.date(2027, 1, 1),
            date_to=dt.date(2027, 1, 31),
        )
    assert excinfo.value.field == "procedure"
    response = coordinator.get(URL, query(world, procedure="laminectomy", levels="L1", surgeon=world.surgeon.pk))
    assert (response.status_code, list(response.json()["errors"])) == (400, ["procedure"])


def test_availability_by_procedure_estimates_the_latest_version(world: BookingWorld) -> None:
    """A hypothetical case of the latest version, its levels and anaesthesia, is one with those minutes."""
    day, slug = dt.date(2027, 1, 4), world.version.template.slug

    def search(levels: list[str]) -> list[OpenSlot]:
        return availability_for(
            procedure=slug,
            levels=levels,
            anaesthesia="local_sedation",
            date_from=day,
            date_to=day,
            surgeon_id=world.surgeon.pk,
        )

    one, two = search(["L1"]), search(["L1", "L2"])
    assert [s.session_id for s in one] == [s.session_id for s in two] == [world.session.pk]
    assert two[0].end - two[0].start > one[0].end - one[0].start


@pytest.mark.django_db
def test_availability_never_offers_a_list_in_an_inactive_theatre(world: BookingWorld) -> None:
    case = world.case()
    tuesday = world.other_session(surgeon=world.surgeon, day=dt.date(2027, 1, 5))
    offered = availability_for(case_id=case.pk, date_from=dt.date(2027, 1, 4), date_to=dt.date(2027, 1, 5))
    assert [slot.session_id for slot in offered] == [world.session.pk, tuesday.pk]
    world.theatre.active = False
    world.theatre.save()
    offered = availability_for(case_id=case.pk, date_from=dt.date(2027, 1, 4), date_to=dt.date(2027, 1, 5))
    assert [slot.session_id for slot in offered] == [tuesday.pk]
