"""Booking races on real PostgreSQL: real threads, one connection each, through the HTTP layer.

Each scenario runs 10 rounds; afterwards SQL over the whole table proves that no session, surgeon,
anaesthetist, patient or equipment unit is double-booked.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from core.audit import Actor
from core.roles import Role
from scheduling.booking import book_case
from scheduling.models import Case, CaseEquipment
from tests.builders.people import login
from tests.builders.world import build_booking_world
from tests.concurrency.row_locks import row_held_elsewhere
from tests.factories import (
    EquipmentUnitFactory,
    PatientFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    london,
)
from theatre.models import TheatreSession

ROUNDS = 10
PARALLEL = 20

# serialized_rollback: a transactional test flushes the tables afterwards, data migrations'
# rows (role groups, the seeded procedures) included; this puts them back for the next test.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.timeout(240)]

OVERLAP_SQL = {
    "session": """
        SELECT count(*) FROM scheduling_case a JOIN scheduling_case b
          ON a.id < b.id AND a.{col} = b.{col}
         AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
        WHERE a.status IN ('booked','confirmed','in_theatre','completed')
          AND b.status IN ('booked','confirmed','in_theatre','completed')
    """,
    "unit": """
        SELECT count(*) FROM scheduling_caseequipment a JOIN scheduling_caseequipment b
          ON a.id < b.id AND a.unit_id = b.unit_id
         AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
    """,
}


def overlaps() -> dict[str, int]:
    """Pairs of live cases (or claims) that overlap, per resource: all must be 0."""
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for col in ("session_id", "surgeon_id", "anaesthetist_id", "patient_id"):
            cursor.execute(OVERLAP_SQL["session"].format(col=col))
            found[col] = cursor.fetchone()[0]
        cursor.execute(OVERLAP_SQL["unit"])
        found["unit_id"] = cursor.fetchone()[0]
    return found


def race(calls: list[Callable[[], int]]) -> Counter[int]:
    """Start every call at once on its own thread (and its own connection); count the statuses."""
    barrier = threading.Barrier(len(calls))
    results: list[int] = []
    lock = threading.Lock()

    def run(call: Callable[[], int]) -> None:
        try:
            barrier.wait()
            status = call()
        except Exception:  # a crash is a 500 as far as the client is concerned
            status = 500
        finally:
            connection.close()
        with lock:
            results.append(status)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(results)


@pytest.fixture
def coordinator_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(login("racer", Role.COORDINATOR))
    return client


def post(user: User, path: str, body: dict[str, object]) -> Callable[[], int]:
    def call() -> int:
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(path, body, format="json")
        assert response.status_code in (200, 409), response.data
        return response.status_code

    return call


def test_twenty_cases_racing_for_the_last_slot_give_one_booking(coordinator_client: APIClient) -> None:
    """Given a list with one hour left, when 20 cases try to take it at once, exactly one wins."""
    user = User.objects.get(username="racer")
    for round_no in range(ROUNDS):
        world = build_booking_world(units=PARALLEL, site_name=f"Site {round_no}")
        filler = world.case(estimated_minutes=240)
        book_case(case_id=filler.pk, session_id=world.session.pk, actor=Actor.of(user))
        cases = [world.case() for _ in range(PARALLEL)]
        outcome = race([post(user, f"/api/v1/cases/{c.pk}/book/", {"session": world.session.pk}) for c in cases])
        assert outcome == Counter({200: 1, 409: PARALLEL - 1}), outcome
        assert Case.objects.filter(session=world.session, status="booked").count() == 2
    assert overlaps() == dict.fromkeys(("session_id", "surgeon_id", "anaesthetist_id", "patient_id", "unit_id"), 0)


def test_one_surgeon_booked_into_two_theatres_at_once_never_overlaps(coordinator_client: APIClient) -> None:
    """Given two shared lists at the same time, 20 bookings of one surgeon's cases leave one booked."""
    user = User.objects.get(username="racer")
    for round_no in range(ROUNDS):
        world = build_booking_world(units=PARALLEL, site_name=f"Site {round_no}")
        other = world.other_session()
        surgeon = SurgeonFactory()
        start = world.session.start + dt.timedelta(hours=1)
        calls = [
            post(
                user,
                f"/api/v1/cases/{world.case(surgeon=surgeon).pk}/book/",
                {"session": (world.session if n % 2 else other).pk, "start": start.isoformat()},
            )
            for n in range(PARALLEL)
        ]
        outcome = race(calls)
        assert outcome == Counter({200: 1, 409: PARALLEL - 1}), outcome
        assert Case.objects.filter(surgeon=surgeon, status="booked").count() == 1
    assert overlaps()["surgeon_id"] == 0
    assert overlaps() == dict.fromkeys(("session_id", "surgeon_id", "anaesthetist_id", "patient_id", "unit_id"), 0)


def test_two_cases_racing_for_the_last_c_arm_get_one_unit_at_most(coordinator_client: APIClient) -> None:
    """Given two C-arms, one already claimed, two lists at once race for the other: one wins."""
    user = User.objects.get(username="racer")
    for round_no in range(ROUNDS):
        world = build_booking_world(units=2, site_name=f"Site {round_no}")
        first, second, third = (world.other_session() for _ in range(3))
        start = first.start + dt.timedelta(hours=1)
        book_case(case_id=world.case(surgeon=first.surgeon).pk, session_id=first.pk, start=start, actor=Actor.of(user))
        racers = [(world.case(surgeon=s.surgeon), s) for s in (second, third)]
        outcome = race(
            [
                post(user, f"/api/v1/cases/{c.pk}/book/", {"session": s.pk, "start": start.isoformat()})
                for c, s in racers
            ]
        )
        assert outcome == Counter({200: 1, 409: 1}), outcome
        claimed = CaseEquipment.objects.filter(unit__site=world.site).values_list("unit_id", flat=True)
        assert sorted(claimed) == sorted(u.pk for u in world.units)
    assert overlaps()["unit_id"] == 0


# --- the database holds the line on its own -----------------------------------------------------


def place_raw(case: Case, session_id: int, start: dt.datetime, minutes: int = 60, **extra: object) -> None:
    Case.objects.filter(pk=case.pk).update(
        status="booked", session_id=session_id, start=start, end=start + dt.timedelta(minutes=minutes), **extra
    )


@pytest.mark.parametrize(
    ("constraint", "second"),
    [
        ("case_no_session_overlap", "same_session"),
        ("case_no_surgeon_overlap", "same_surgeon"),
        ("case_no_anaesthetist_overlap", "same_anaesthetist"),
        ("case_no_patient_overlap", "same_patient"),
    ],
)
def test_exclusion_constraints_reject_overlaps_written_around_the_service(constraint: str, second: str) -> None:
    world = build_booking_world()
    start = london(2027, 1, 4, 9)
    patient = PatientFactory()
    first = world.case(patient=patient)
    place_raw(first, world.session.pk, start, anaesthetist_id=world.anaesthetist.pk)
    other = TheatreSessionFactory(
        theatre=TheatreFactory(site=world.site), start=world.session.start, end=world.session.end
    )
    kwargs: Any = {  # (case fields, session id, place_raw extras)
        "same_session": ({"surgeon": SurgeonFactory()}, world.session.pk, {}),
        "same_surgeon": ({}, other.pk, {}),
        "same_anaesthetist": ({"surgeon": SurgeonFactory()}, other.pk, {"anaesthetist_id": world.anaesthetist.pk}),
        "same_patient": ({"surgeon": SurgeonFactory(), "patient": patient}, other.pk, {}),
    }[second]
    rogue = world.case(**kwargs[0])
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        place_raw(rogue, kwargs[1], start + dt.timedelta(minutes=30), **kwargs[2])
    assert excinfo.value.__cause__.diag.constraint_name == constraint  # type: ignore[union-attr]


def test_exclusion_constraint_rejects_a_double_booked_unit() -> None:
    world = build_booking_world()
    unit = world.units[0]
    start = london(2027, 1, 4, 9)
    a, b = world.case(), world.case()
    CaseEquipment.objects.create(case=a, unit=unit, start=start, end=start + dt.timedelta(hours=1))
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        CaseEquipment.objects.create(
            case=b, unit=unit, start=start + dt.timedelta(minutes=59), end=start + dt.timedelta(hours=2)
        )
    assert excinfo.value.__cause__.diag.constraint_name == "caseequipment_no_unit_overlap"  # type: ignore[union-attr]
    spare = EquipmentUnitFactory(site=world.site)
    CaseEquipment.objects.create(case=b, unit=spare, start=start, end=start + dt.timedelta(hours=1))


def test_cancelled_cases_do_not_block_in_the_database() -> None:
    world = build_booking_world()
    start = london(2027, 1, 4, 9)
    gone = world.case()
    place_raw(gone, world.session.pk, start)
    Case.objects.filter(pk=gone.pk).update(status="cancelled")
    place_raw(world.case(), world.session.pk, start)
    assert overlaps()["session_id"] == 0


def test_a_lock_held_too_long_gives_409_busy_not_500() -> None:
    """Given another transaction holding the list's row, a booking that cannot get it in time is 409 busy."""
    world = build_booking_world()
    user = login("waiter", Role.COORDINATOR)
    case = world.case()
    client = APIClient()
    client.force_authenticate(user)
    with row_held_elsewhere(TheatreSession.objects.filter(pk=world.session.pk)):
        response = client.post(f"/api/v1/cases/{case.pk}/book/", {"session": world.session.pk}, format="json")
    assert (response.status_code, response.data["code"]) == (409, "busy")
    case.refresh_from_db()
    assert case.status == "waiting"
