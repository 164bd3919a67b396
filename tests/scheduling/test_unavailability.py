"""Patient not ready (issue 16 part B): unavailable periods on a case keep availability and
booking off those days, flag a booking already inside a new period, and pause the treat-by date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor, history
from core.demo import seed_users
from core.errors import DomainError
from scheduling.availability import availability_for
from scheduling.booking import book_case, cancel_case, move_case
from scheduling.demo import seed_cases
from scheduling.models import Case, CaseUnavailability
from scheduling.unavailability import add_unavailability, remove_unavailability, unavailable_spans_for
from tests.builders.world import MONDAY, BookingWorld, at, build_booking_world
from tests.factories import LONDON, CaseFactory
from theatre.demo import seed_estate

# Every test here runs on the hot paths' raw SQL and again on their ORM definitions (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("both_query_paths")]

TUESDAY = MONDAY + dt.timedelta(days=1)  # MONDAY: 4 January 2027, the booking world's list (08:00-13:00)
URL = "/api/v1/cases/"


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


@pytest.fixture
def actor(coordinator_user: User) -> Actor:
    return Actor.of(coordinator_user)


def away(case: Case, actor: Actor, first: dt.date, last: dt.date, **fields: Any) -> bool:
    fields.setdefault("reason", "holiday")
    return add_unavailability(actor=actor, case_id=case.pk, start_date=first, end_date=last, **fields).booked_inside


# --- Availability and booking never use those days --------------------------------------------


def test_availability_skips_the_list_on_an_unavailable_day_and_offers_the_next(
    world: BookingWorld, actor: Actor
) -> None:
    tuesday = world.session_on(TUESDAY)
    case = world.case()
    offered = availability_for(case_id=case.pk, date_from=MONDAY, date_to=TUESDAY)
    assert [slot.session_id for slot in offered] == [world.session.pk, tuesday.pk]

    away(case, actor, MONDAY, MONDAY)
    offered = availability_for(case_id=case.pk, date_from=MONDAY, date_to=TUESDAY)
    assert [slot.session_id for slot in offered] == [tuesday.pk]


@pytest.mark.parametrize("start", [None, at(9)])
def test_booking_on_an_unavailable_day_is_refused_and_changes_nothing(
    world: BookingWorld, actor: Actor, start: dt.datetime | None
) -> None:
    case = world.case()
    away(case, actor, MONDAY - dt.timedelta(days=3), MONDAY)
    with pytest.raises(DomainError) as refused:
        book_case(case_id=case.pk, session_id=world.session.pk, start=start, actor=actor)
    assert refused.value.code == "patient_unavailable"
    case.refresh_from_db()
    assert (case.status, case.session_id) == ("waiting", None)
    # The day after the period is bookable.
    booked = book_case(case_id=case.pk, session_id=world.session_on(TUESDAY).pk, actor=actor)
    assert booked.status == "booked"


def test_moving_onto_an_unavailable_day_is_refused_and_the_case_stays(world: BookingWorld, actor: Actor) -> None:
    case = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=actor)
    tuesday = world.session_on(TUESDAY)
    away(case, actor, TUESDAY, TUESDAY)
    with pytest.raises(DomainError) as refused:
        move_case(case_id=case.pk, session_id=tuesday.pk, actor=actor)
    assert refused.value.code == "patient_unavailable"
    case.refresh_from_db()
    assert (case.session_id, case.start) == (world.session.pk, at(9))


def test_the_day_is_the_local_day_not_the_utc_one(world: BookingWorld, actor: Actor) -> None:
    """A list at 00:30 BST on 1 July 2027 starts at 23:30 UTC on 30 June: the patient away on
    1 July (local) cannot be booked into it, and one away on 30 June can."""
    start = dt.datetime(2027, 7, 1, 0, 30, tzinfo=LONDON)
    assert start.astimezone(dt.UTC).date() == dt.date(2027, 6, 30)
    night = world.session_on(dt.date(2027, 7, 1), hour=0, hours=3)
    night.start, night.end = start, start + dt.timedelta(hours=3)
    night.save()
    away_on_first = world.case()
    away(away_on_first, actor, dt.date(2027, 7, 1), dt.date(2027, 7, 1))
    with pytest.raises(DomainError, match="unavailable"):
        book_case(case_id=away_on_first.pk, session_id=night.pk, actor=actor)
    away_on_thirtieth = world.case()
    away(away_on_thirtieth, actor, dt.date(2027, 6, 30), dt.date(2027, 6, 30))
    assert book_case(case_id=away_on_thirtieth.pk, session_id=night.pk, actor=actor).start == start


# --- A booking already inside a new period is flagged ---------------------------------------------


def test_a_period_over_a_booked_day_flags_the_case_until_it_is_moved(
    world: BookingWorld, actor: Actor, coordinator: APIClient
) -> None:
    case = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=actor)
    assert coordinator.get(f"{URL}{case.pk}/").data["unavailable_on_booked_date"] is False

    response = coordinator.post(
        f"{URL}{case.pk}/unavailability/",
        {"start_date": "2027-01-03", "end_date": "2027-01-05", "reason": "unfit", "note": "chest infection"},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["booked_inside"] is True
    assert coordinator.get(f"{URL}{case.pk}/").data["unavailable_on_booked_date"] is True
    # The booking stays where it is: moving or cancelling is the coordinator's decision.
    case.refresh_from_db()
    assert (case.status, case.session_id) == ("booked", world.session.pk)

    move_case(case_id=case.pk, session_id=world.session_on(MONDAY + dt.timedelta(days=7)).pk, actor=actor)
    assert coordinator.get(f"{URL}{case.pk}/").data["unavailable_on_booked_date"] is False


def test_a_period_elsewhere_does_not_flag_and_a_cancelled_case_is_never_flagged(
    world: BookingWorld, actor: Actor, coordinator: APIClient
) -> None:
    case = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=actor)
    assert away(case, actor, TUESDAY, TUESDAY + dt.timedelta(days=3)) is False
    assert coordinator.get(f"{URL}{case.pk}/").data["unavailable_on_booked_date"] is False
    other = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(11), actor=actor)
    assert away(other, actor, MONDAY, MONDAY) is True
    cancel_case(case_id=other.pk, actor=actor, reason="patient_request")
    assert coordinator.get(f"{URL}{other.pk}/").data["unavailable_on_booked_date"] is False


def test_adding_and_removing_are_audited_on_the_case(world: BookingWorld, actor: Actor) -> None:
    case = book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=actor)
    away(case, actor, MONDAY, MONDAY, reason="patient_choice", note="caring for her husband")
    period = CaseUnavailability.objects.get(case=case)
    added = history(case).get(action="case.unavailability_added")
    assert added.actor == actor.user and added.after is not None
    assert added.after["booked_inside"] is True and added.after["reason"] == "patient_choice"

    remove_unavailability(actor=actor, case_id=case.pk, unavailability_id=period.pk)
    removed = history(case).get(action="case.unavailability_removed")
    assert removed.before is not None and removed.before["start_date"] == MONDAY.isoformat()
    assert not CaseUnavailability.objects.filter(case=case).exists()


# --- The API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_date": "2027-01-05", "end_date": "2027-01-04", "reason": "holiday"}, "end_date"),
        ({"start_date": "2027-01-04", "end_date": "2028-02-04", "reason": "holiday"}, "end_date"),
        ({"start_date": "2027-01-04", "end_date": "2027-01-04", "reason": "bored"}, "reason"),
        ({"start_date": "2027-01-04", "end_date": "2027-01-04", "reason": "other"}, "note"),
        (
            {"start_date": "2027-01-04", "end_date": "2027-01-04", "reason": "unfit", "patient_initiated": True},
            "patient_initiated",
        ),
        ({"start_date": "4/1/2027", "end_date": "2027-01-04", "reason": "holiday"}, "start_date"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_field_and_records_nothing(
    world: BookingWorld, coordinator: APIClient, body: dict[str, Any], field: str
) -> None:
    case = world.case()
    response = coordinator.post(f"{URL}{case.pk}/unavailability/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not CaseUnavailability.objects.filter(case=case).exists()


def test_a_closed_case_takes_no_period(world: BookingWorld, actor: Actor, coordinator: APIClient) -> None:
    case = world.case()
    cancel_case(case_id=case.pk, actor=actor, reason="patient_request")
    response = coordinator.post(
        f"{URL}{case.pk}/unavailability/",
        {"start_date": "2027-01-04", "end_date": "2027-01-04", "reason": "holiday"},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_removing_another_cases_period_is_a_404(world: BookingWorld, actor: Actor, coordinator: APIClient) -> None:
    mine, theirs = world.case(), world.case()
    away(theirs, actor, MONDAY, MONDAY)
    period = CaseUnavailability.objects.get(case=theirs)
    assert coordinator.delete(f"{URL}{mine.pk}/unavailability/{period.pk}/").status_code == 404
    assert CaseUnavailability.objects.filter(pk=period.pk).exists()


def test_viewers_read_the_periods_without_the_note(world: BookingWorld, actor: Actor, viewer: APIClient) -> None:
    case = world.case()
    away(case, actor, MONDAY, TUESDAY, reason="unfit", note="Mrs Quarrington has pneumonia")
    body = viewer.get(f"{URL}{case.pk}/unavailability/").json()
    assert body["count"] == 1
    periods = body["results"]
    assert [(p["start_date"], p["end_date"], p["reason"]) for p in periods] == [("2027-01-04", "2027-01-05", "unfit")]
    assert "note" not in periods[0] and "Quarrington" not in str(body)


# --- Treat-by on the case -------------------------------------------------------------------------


def test_treat_by_pauses_for_a_patient_initiated_period_and_not_for_an_unfit_one(
    world: BookingWorld, actor: Actor, coordinator: APIClient
) -> None:
    case = world.case(priority="P2", referral_date=dt.date(2027, 1, 4))
    assert coordinator.get(f"{URL}{case.pk}/").data["treat_by"] == "2027-02-04"
    away(case, actor, dt.date(2027, 1, 10), dt.date(2027, 1, 12), reason="unfit")
    assert coordinator.get(f"{URL}{case.pk}/").data["treat_by"] == "2027-02-04"
    response = coordinator.post(
        f"{URL}{case.pk}/unavailability/",
        {"start_date": "2027-01-20", "end_date": "2027-02-02", "reason": "holiday", "patient_initiated": True},
        format="json",
    )
    assert response.data["treat_by"] == "2027-02-18" and response.data["pauses_treat_by"] is True
    assert coordinator.get(f"{URL}{case.pk}/").data["treat_by"] == "2027-02-18"
    assert coordinator.get(f"{URL}{CaseFactory(priority='P4').pk}/").data["treat_by"] is None


@pytest.mark.parametrize("count", [2, 12])
def test_the_case_list_loads_periods_and_treat_by_in_constant_queries(
    world: BookingWorld,
    actor: Actor,
    coordinator: APIClient,
    django_assert_num_queries: DjangoAssertNumQueries,
    count: int,
) -> None:
    for n in range(count):
        case = world.case(priority="P3")
        away(case, actor, TUESDAY + dt.timedelta(days=n), TUESDAY + dt.timedelta(days=n + 2), patient_initiated=True)
    # role lookup, count, page, equipment claims, open warnings, unavailable periods, the learned history
    with django_assert_num_queries(7):
        rows = coordinator.get(URL).json()["results"]
    assert len(rows) == count
    assert all(row["treat_by"] is not None and row["unavailable_on_booked_date"] is False for row in rows)


def test_the_fill_loader_reads_every_cases_periods_in_one_query(
    world: BookingWorld, actor: Actor, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    cases = [world.case() for _ in range(4)]
    away(cases[0], actor, MONDAY, MONDAY)
    away(cases[0], actor, dt.date(2027, 2, 1), dt.date(2027, 2, 3))
    away(cases[2], actor, TUESDAY, TUESDAY)
    with django_assert_num_queries(1):
        spans = unavailable_spans_for(case.pk for case in cases)
    assert spans == {
        cases[0].pk: [(MONDAY, MONDAY), (dt.date(2027, 2, 1), dt.date(2027, 2, 3))],
        cases[2].pk: [(TUESDAY, TUESDAY)],
    }


def test_the_demo_shows_a_patient_away_a_flagged_booking_and_dabigatrans_longer_hold(coordinator: APIClient) -> None:
    seed_users()
    seed_estate()
    assert seed_cases() == {"created": 40, "booked": 20}
    periods = list(CaseUnavailability.objects.select_related("case"))
    assert sorted((p.reason, p.case.status, p.patient_initiated) for p in periods) == [
        ("holiday", "waiting", True),
        ("unfit", "booked", False),
    ]
    flagged = next(p.case for p in periods if p.reason == "unfit")
    assert coordinator.get(f"{URL}{flagged.pk}/").data["unavailable_on_booked_date"] is True
    holds = [
        hold
        for case in Case.objects.all()
        for hold in case.screening_result.get("anticoagulant_holds", [])
        if hold["drug"] == "dabigatran"
    ]
    assert sorted(hold["stop_days_before"] for hold in holds) == [2, 4, 4]
    assert seed_cases() == {"created": 0, "booked": 0}
    assert CaseUnavailability.objects.count() == 2


def test_a_retried_post_with_its_idempotency_key_records_the_period_once(
    world: BookingWorld, coordinator: APIClient
) -> None:
    case = world.case()
    body = {"start_date": "2027-01-04", "end_date": "2027-01-06", "reason": "holiday"}
    first = coordinator.post(f"{URL}{case.pk}/unavailability/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = coordinator.post(f"{URL}{case.pk}/unavailability/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert CaseUnavailability.objects.filter(case=case).count() == 1
