"""/availability/ and the pure slot search behind it (and behind `book` without a start)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor
from scheduling.availability import AvailabilityQuery, demand_of, earliest_bookable, find_slots
from scheduling.booking import book_case
from scheduling.slots import Demand, Occupancy, SessionWindow, earliest_slots, earliest_start
from tests.factories import PatientFactory, SurgeonFactory, TheatreFactory, TheatreSessionFactory, london
from tests.scheduling.booking_world import World, at, build_world

URL = "/api/v1/availability/"
UTC = dt.UTC


def t(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, 4, hour, minute, tzinfo=UTC)


WINDOW = SessionWindow(
    id=1,
    theatre_id=7,
    site_id=3,
    start=t(8),
    end=t(13),
    status="published",
    surgeon_id=11,
    anaesthetist_id=21,
    capabilities=frozenset({"fluoroscopy"}),
)
DEMAND = Demand(
    minutes=60,
    surgeon_id=11,
    patient_id=31,
    capabilities=frozenset({"fluoroscopy"}),
    equipment=("c_arm",),
)


def occupancy(**kwargs: Any) -> Occupancy:
    kwargs.setdefault("units", {(3, "c_arm"): {41: []}})
    return Occupancy(**kwargs)


# --- the pure search -----------------------------------------------------------------------


def test_search_takes_the_session_start_when_nothing_is_booked() -> None:
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=occupancy())
    assert (fit.start, dict(fit.units)) == (t(8), {"c_arm": 41})


def test_search_finds_the_first_gap_long_enough() -> None:
    busy = occupancy(session_cases={1: [(t(8), t(9)), (t(9, 30), t(10, 30))]})
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy).start == t(10, 30)


def test_search_waits_for_the_latest_of_several_busy_resources() -> None:
    busy = occupancy(
        surgeon_cases=[(t(7), t(8, 30))],
        patient_cases=[(t(8, 30), t(9))],
        anaesthetist_cases={21: [(t(9), t(9, 15))]},
        units={(3, "c_arm"): {41: [(t(9, 15), t(9, 45))]}},
    )
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy).start == t(9, 45)


def test_search_uses_any_free_unit_of_the_kind() -> None:
    busy = occupancy(units={(3, "c_arm"): {41: [(t(8), t(13))], 42: []}})
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy)
    assert (fit.start, dict(fit.units)) == (t(8), {"c_arm": 42})


def test_search_ignores_the_surgeons_own_list_but_not_another() -> None:
    own_list = occupancy(surgeon_sessions=[(1, (t(8), t(13)))])
    other_list = occupancy(surgeon_sessions=[(2, (t(8), t(12)))])
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=own_list).start == t(8)
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=other_list).start == t(12)


@pytest.mark.parametrize(
    ("busy", "code"),
    [
        (occupancy(session_cases={1: [(t(8), t(12, 30))]}), "session_full"),
        (occupancy(surgeon_cases=[(t(7), t(14))]), "surgeon_busy"),
        (occupancy(anaesthetist_cases={21: [(t(7), t(14))]}), "anaesthetist_busy"),
        (occupancy(patient_cases=[(t(7), t(14))]), "patient_busy"),
        (occupancy(units={(3, "c_arm"): {41: [(t(7), t(14))]}}), "equipment_unavailable"),
        (occupancy(units={}), "equipment_unavailable"),
    ],
)
def test_search_names_the_binding_rule_when_nothing_fits(busy: Occupancy, code: str) -> None:
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy)
    assert (fit.start, fit.code) == (None, code)


def test_search_rules_out_locked_sessions_and_missing_capabilities() -> None:
    locked = SessionWindow(**{**WINDOW.__dict__, "status": "locked"})
    bare = SessionWindow(**{**WINDOW.__dict__, "capabilities": frozenset()})
    assert earliest_start(window=locked, demand=DEMAND, occupancy=occupancy()).code == "session_locked"
    assert earliest_start(window=locked, demand=DEMAND, occupancy=occupancy(), allow_locked=True).start == t(8)
    assert earliest_start(window=bare, demand=DEMAND, occupancy=occupancy()).code == "capability_missing"


def test_slots_come_earliest_first_one_per_session_capped() -> None:
    later = SessionWindow(**{**WINDOW.__dict__, "id": 2, "start": t(14), "end": t(18)})
    full = SessionWindow(**{**WINDOW.__dict__, "id": 3, "start": t(8), "end": t(8, 30)})
    slots = earliest_slots(windows=[later, full, WINDOW], demand=DEMAND, occupancy=occupancy(), limit=5)
    assert [(s.session_id, s.start, s.end) for s in slots] == [(1, t(8), t(9)), (2, t(14), t(15))]
    assert len(earliest_slots(windows=[later, WINDOW], demand=DEMAND, occupancy=occupancy(), limit=1)) == 1


# --- the endpoint --------------------------------------------------------------------------


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def query(world: World, **params: Any) -> dict[str, Any]:
    params.setdefault("date_from", "2027-01-01")
    params.setdefault("date_to", "2027-01-31")
    return params


@pytest.mark.django_db
def test_availability_for_a_case_lists_the_earliest_time_per_session(
    coordinator: APIClient, coordinator_user: User, world: World
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
    coordinator: APIClient, coordinator_user: User, world: World
) -> None:
    case = world.case()
    book_case(case_id=case.pk, session_id=world.session.pk, start=at(8), actor=Actor.of(coordinator_user))
    slots = coordinator.get(URL, query(world, case=case.pk)).data["results"]
    assert slots[0]["start"].startswith("2027-01-04T08:00")


@pytest.mark.django_db
def test_availability_skips_patient_clash_locked_lists_and_other_surgeons(
    coordinator: APIClient, coordinator_user: User, world: World
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
def test_availability_by_procedure_levels_and_surgeon(coordinator: APIClient, world: World) -> None:
    slug = world.version.template.slug
    params = query(world, procedure=slug, levels="L1,L2", anaesthesia="local_sedation", surgeon=world.surgeon.pk)
    slots = coordinator.get(URL, params).data["results"]
    assert [s["session"] for s in slots] == [world.session.pk]


@pytest.mark.django_db
def test_availability_respects_the_date_range(coordinator: APIClient, world: World) -> None:
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
def test_availability_for_unknown_case_is_404_and_ineligible_case_409(coordinator: APIClient, world: World) -> None:
    assert coordinator.get(URL, {"case": 999999}).status_code == 404
    ineligible = world.case(screening_result={"result": "ineligible"})
    response = coordinator.get(URL, {"case": ineligible.pk})
    assert (response.status_code, response.data["code"]) == (409, "not_eligible")


@pytest.mark.django_db
@pytest.mark.parametrize("sessions", [5, 50])
def test_availability_uses_constant_queries(
    coordinator: APIClient, coordinator_user: User, django_assert_num_queries: DjangoAssertNumQueries, sessions: int
) -> None:
    world = build_world(units=2)
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
    # role lookup, the case, sessions, cases, the surgeon's lists, units, unit claims
    with django_assert_num_queries(7):
        response = coordinator.get(URL, params)
    assert response.status_code == 200
    assert len(response.data["results"]) == 1 + (sessions - 1 + 1) // 2


# --- never in the past ----------------------------------------------------------------------


def test_search_in_a_list_under_way_starts_no_earlier_than_now() -> None:
    under_way = dataclasses.replace(WINDOW, not_before=t(10, 5))
    assert earliest_start(window=under_way, demand=DEMAND, occupancy=occupancy()).start == t(10, 5)


def test_search_in_a_list_that_is_over_says_outside_session() -> None:
    over = dataclasses.replace(WINDOW, not_before=t(13))
    assert earliest_start(window=over, demand=DEMAND, occupancy=occupancy()).code == "outside_session"


def test_earliest_bookable_rounds_now_up_to_the_five_minute_grid() -> None:
    assert earliest_bookable(dt.datetime(2027, 1, 4, 9, 58, 13, tzinfo=UTC)) == t(10)
    assert earliest_bookable(t(10)) == t(10)
    assert earliest_bookable(dt.datetime(2027, 1, 4, 10, 0, 1, tzinfo=UTC)) == t(10, 5)


def test_availability_never_offers_time_that_has_passed(world: World) -> None:
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


def test_a_general_anaesthetic_needs_a_list_with_an_anaesthetist() -> None:
    no_anaesthetist = dataclasses.replace(WINDOW, anaesthetist_id=None)
    general = dataclasses.replace(DEMAND, needs_anaesthetist=True)
    assert earliest_start(window=no_anaesthetist, demand=general, occupancy=occupancy()).code == (
        "anaesthetist_required"
    )
    # Local anaesthesia with sedation may go on such a list; GA goes on a list with an anaesthetist.
    assert earliest_start(window=no_anaesthetist, demand=DEMAND, occupancy=occupancy()).start == t(8)
    assert earliest_start(window=WINDOW, demand=general, occupancy=occupancy()).start == t(8)
