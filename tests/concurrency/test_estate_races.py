"""A deactivation and a booking never pass each other: whichever commits first, the other sees it
(real threads on their own PostgreSQL connections). Booking reads `active` on the theatre, the team
and the units it chose under FOR KEY SHARE; the estate service changes those rows under FOR UPDATE."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from core.audit import Actor
from core.errors import DomainError
from core.roles import Role
from scheduling.booking import book_case
from scheduling.models import Case, CaseEquipment
from tests.builders.people import login
from tests.builders.world import BookingWorld, at, build_booking_world
from theatre import estate
from theatre.models import EquipmentUnit, Theatre

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def outcome(work: Callable[[], Any]) -> str:
    try:
        work()
    except DomainError as error:
        return error.code
    return "done"


class HeldOpen:
    """Run `work` in a transaction on another thread and keep it open (its locks held) until released."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.inside, self.release = threading.Event(), threading.Event()
        self.result = ""
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.result = outcome(self.work)
                self.inside.set()
                self.release.wait(timeout=20)
        finally:
            self.inside.set()
            connection.close()

    def __enter__(self) -> HeldOpen:
        self.thread.start()
        assert self.inside.wait(timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(timeout=20)


class Waiting:
    """Run `work` on another thread; it is expected to wait for a lock the test holds open."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result = ""

        def run() -> None:
            try:
                self.result = outcome(work)
            finally:
                connection.close()

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def is_waiting(self) -> bool:
        self.thread.join(timeout=1.0)
        return self.thread.is_alive()

    def finish(self) -> str:
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()
        return self.result


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


@pytest.fixture
def coordinator() -> User:
    return login("racer", Role.COORDINATOR)


def test_a_booking_waits_for_a_theatre_deactivation_in_progress_and_is_refused(
    world: BookingWorld, coordinator: User
) -> None:
    actor = Actor.of(coordinator)
    case = world.case()
    deactivate = HeldOpen(lambda: estate.update_theatre(actor=actor, theatre=world.theatre, changes={"active": False}))
    with deactivate:
        assert deactivate.result == "done"  # no booked case yet: nothing to refuse
        booking = Waiting(lambda: book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=actor))
        assert booking.is_waiting()  # on the theatre row the deactivation holds
    assert booking.finish() == "theatre_inactive"
    assert Case.objects.get(pk=case.pk).status == "waiting"


def test_a_deactivation_waits_for_a_booking_in_progress_and_is_refused_naming_it(
    world: BookingWorld, coordinator: User
) -> None:
    actor = Actor.of(coordinator)
    case = world.case()
    booking = HeldOpen(lambda: book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=actor))
    with booking:
        assert booking.result == "done"
        deactivation = Waiting(
            lambda: estate.update_theatre(actor=actor, theatre=world.theatre, changes={"active": False})
        )
        assert deactivation.is_waiting()  # on the booking's share lock of the theatre row
    assert deactivation.finish() == "affects_booked_cases"
    assert Theatre.objects.get(pk=world.theatre.pk).active is True


def test_a_unit_deactivated_while_a_booking_chose_it_is_never_held(world: BookingWorld, coordinator: User) -> None:
    actor = Actor.of(coordinator)
    case = world.case()
    [unit] = world.units
    deactivate = HeldOpen(lambda: estate.update_equipment_unit(actor=actor, unit=unit, changes={"active": False}))
    with deactivate:
        booking = Waiting(lambda: book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=actor))
        assert booking.is_waiting()  # its re-read of the unit waits for the unit's row
    assert booking.finish() == "equipment_unavailable"
    assert not CaseEquipment.objects.filter(unit=unit).exists()
    assert EquipmentUnit.objects.get(pk=unit.pk).active is False


def test_a_booking_waits_for_its_surgeons_deactivation_in_progress_and_is_refused(
    world: BookingWorld, coordinator: User
) -> None:
    actor = Actor.of(coordinator)
    case = world.case()
    deactivate = HeldOpen(
        lambda: estate.update_staff_member(actor=actor, staff=world.surgeon, changes={"active": False})
    )
    with deactivate:
        assert deactivate.result == "done"
        booking = Waiting(lambda: book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=actor))
        assert booking.is_waiting()  # on the surgeon's row the deactivation holds
    assert booking.finish() == "staff_inactive"
