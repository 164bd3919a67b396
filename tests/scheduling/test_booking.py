"""book_case, move_case and cancel_case: every invariant of DESIGN §2 with its exact 409 code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from core.audit import Actor, AuditBatch, history
from core.errors import DomainError, InvalidInput
from scheduling import booking, reminders
from scheduling.booking import book_case, cancel_case, move_case
from scheduling.models import Case, CaseEquipment
from scheduling.slots import Occupancy
from tests.builders.world import BookingWorld, at, build_booking_world
from tests.factories import EquipmentUnitFactory, PatientFactory, SurgeonFactory, TheatreFactory

# Every test here runs on the hot paths' raw SQL and again on their ORM definitions (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("both_query_paths")]


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


@pytest.fixture
def actor(coordinator_user: User) -> Actor:
    return Actor.of(coordinator_user)


def book(world: BookingWorld, case: Case, actor: Actor, start: dt.datetime | None = None, **kwargs: Any) -> Case:
    session = kwargs.pop("session", world.session)
    return book_case(case_id=case.pk, session_id=session.pk, start=start, actor=actor, **kwargs)


def code_of(excinfo: pytest.ExceptionInfo[DomainError]) -> str:
    return excinfo.value.code


def test_booking_places_case_claims_unit_and_copies_anaesthetist(world: BookingWorld, actor: Actor) -> None:
    case = world.case(estimated_minutes=75)
    booked = book(world, case, actor, at(9))
    assert booked.status == "booked"
    assert booked.session_id == world.session.pk
    assert (booked.start, booked.end) == (at(9), at(10, 15))
    assert booked.anaesthetist_id == world.anaesthetist.pk
    claim = CaseEquipment.objects.get(case=case)
    assert (claim.unit_id, claim.start, claim.end) == (world.units[0].pk, at(9), at(10, 15))


def test_booking_is_audited_with_actor_before_after(world: BookingWorld, actor: Actor) -> None:
    case = world.case()
    book(world, case, actor, at(9))
    entry: Any = history(case).get(action="case.booked")
    assert entry.actor_label == "user:coord"
    assert entry.before["status"] == "waiting"
    assert entry.after["status"] == "booked"
    assert entry.after["equipment_units"] == [world.units[0].pk]


def test_booking_without_start_takes_earliest_gap_that_fits(world: BookingWorld, actor: Actor) -> None:
    book(world, world.case(estimated_minutes=60), actor, at(8))
    book(world, world.case(estimated_minutes=60), actor, at(9, 30))  # leaves 09:00-09:30, too short
    case = book(world, world.case(estimated_minutes=60), actor)
    assert case.start == at(10, 30)


def test_booking_rejects_start_outside_session(world: BookingWorld, actor: Actor) -> None:
    with pytest.raises(DomainError) as before_start:
        book(world, world.case(), actor, at(7, 30))
    with pytest.raises(DomainError) as past_end:
        book(world, world.case(estimated_minutes=90), actor, at(12))
    assert code_of(before_start) == code_of(past_end) == "outside_session"


def test_booking_rejects_overlap_in_session_as_slot_taken(world: BookingWorld, actor: Actor) -> None:
    book(world, world.case(), actor, at(9))
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(), actor, at(9, 30))
    assert code_of(excinfo) == "slot_taken"


def test_booking_back_to_back_is_allowed(world: BookingWorld, actor: Actor) -> None:
    book(world, world.case(), actor, at(9))
    assert book(world, world.case(), actor, at(10)).start == at(10)


def test_booking_without_start_in_full_session_is_session_full(world: BookingWorld, actor: Actor) -> None:
    book(world, world.case(estimated_minutes=240), actor, at(8))
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(estimated_minutes=90), actor)
    assert code_of(excinfo) == "session_full"


def test_booking_rejects_surgeon_in_two_theatres(world: BookingWorld, actor: Actor) -> None:
    visiting = SurgeonFactory()  # leads no list; operates on two shared lists
    elsewhere = world.other_session()
    book(world, world.case(surgeon=visiting), actor, at(9), session=elsewhere)
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(surgeon=visiting), actor, at(9, 30))
    assert code_of(excinfo) == "surgeon_busy"


def test_booking_rejects_surgeon_leading_another_list_at_that_time(world: BookingWorld, actor: Actor) -> None:
    visiting = SurgeonFactory()
    world.other_session(surgeon=visiting, hour=12, hours=4)  # visiting surgeon leads 12:00-16:00 elsewhere
    assert book(world, world.case(surgeon=visiting), actor, at(11)).end == at(12)  # half-open: fine
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(surgeon=visiting), actor, at(12))
    assert code_of(excinfo) == "surgeon_busy"


def test_booking_rejects_anaesthetist_in_two_places(world: BookingWorld, actor: Actor) -> None:
    other = world.other_session(hour=8, hours=2, anaesthetist=SurgeonFactory(role="anaesthetist"))
    book(world, world.case(surgeon=other.surgeon), actor, at(8), session=other)
    # Someone reassigns the other list's anaesthetist onto ours afterwards: the case keeps its copy.
    Case.objects.filter(session=other).update(anaesthetist=world.anaesthetist)
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(), actor, at(8, 30))
    assert code_of(excinfo) == "anaesthetist_busy"


def test_booking_rejects_patient_in_two_places(world: BookingWorld, actor: Actor) -> None:
    patient = PatientFactory()
    other = world.other_session()
    book(world, world.case(patient=patient, surgeon=other.surgeon), actor, at(9), session=other)
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(patient=patient), actor, at(9))
    assert code_of(excinfo) == "patient_busy"


def test_booking_rejects_when_every_unit_is_claimed(world: BookingWorld, actor: Actor) -> None:
    other = world.other_session()
    book(world, world.case(surgeon=other.surgeon), actor, at(8, 30), session=other)
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(), actor, at(9))
    assert code_of(excinfo) == "equipment_unavailable"
    # Without a start the search waits for the C-arm to come free.
    assert book(world, world.case(), actor).start == at(9, 30)


def test_booking_claims_a_second_unit_when_the_first_is_busy(world: BookingWorld, actor: Actor) -> None:
    spare = EquipmentUnitFactory(site=world.site, kind="c_arm")
    other = world.other_session()
    book(world, world.case(surgeon=other.surgeon), actor, at(9), session=other)
    case = book(world, world.case(), actor, at(9))
    assert list(case.equipment_claims.values_list("unit_id", flat=True)) == [spare.pk]


def test_booking_ignores_units_at_other_sites_and_inactive_units(actor: Actor) -> None:
    world = build_booking_world(units=0)
    EquipmentUnitFactory(site=world.site, kind="c_arm", active=False)
    EquipmentUnitFactory(site=build_booking_world(site_name="Elsewhere").site, kind="c_arm")
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(), actor, at(9))
    assert code_of(excinfo) == "equipment_unavailable"


def test_booking_rejects_theatre_without_capability(world: BookingWorld, actor: Actor) -> None:
    bare = world.other_session(theatre=TheatreFactory(site=world.site, capabilities=["laminar_flow"]))
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(surgeon=bare.surgeon), actor, at(9), session=bare)
    assert code_of(excinfo) == "capability_missing"


@pytest.mark.parametrize("result", ["ineligible", "incomplete"])
def test_booking_rejects_case_not_screened_eligible(world: BookingWorld, actor: Actor, result: str) -> None:
    case = world.case(screening_result={"result": result, "blockers": [], "warnings": []})
    with pytest.raises(DomainError) as excinfo:
        book(world, case, actor, at(9))
    assert code_of(excinfo) == "not_eligible"


def test_booking_without_start_names_the_binding_rule(world: BookingWorld, actor: Actor) -> None:
    """Given gaps long enough but the surgeon busy in each, the answer is surgeon_busy, not session_full."""
    visiting = SurgeonFactory()
    world.other_session(surgeon=visiting, hour=8, hours=5)
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(surgeon=visiting), actor)
    assert code_of(excinfo) == "surgeon_busy"


def test_booking_into_locked_list_needs_coordinator_override_with_reason(world: BookingWorld, actor: Actor) -> None:
    world.session.status = "locked"
    world.session.save()
    with pytest.raises(DomainError) as refused:
        book(world, world.case(), actor, at(9))
    assert code_of(refused) == "session_locked"
    with pytest.raises(InvalidInput) as no_reason:
        book(world, world.case(), actor, at(9), override=True)
    assert no_reason.value.field == "override_reason"
    case = book(world, world.case(), actor, at(9), override=True, override_reason="urgent P1 case")
    assert case.status == "booked"
    assert history(world.session).filter(action="session.lock_overridden", reason="urgent P1 case").exists()


def test_booking_into_cancelled_list_is_refused_even_with_override(world: BookingWorld, actor: Actor) -> None:
    world.session.status = "cancelled"
    world.session.save()
    with pytest.raises(DomainError) as excinfo:
        book(world, world.case(), actor, at(9), override=True, override_reason="x")
    assert code_of(excinfo) == "session_locked"


def test_booking_a_booked_case_again_is_an_invalid_transition(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    with pytest.raises(DomainError) as excinfo:
        book(world, case, actor, at(11))
    assert code_of(excinfo) == "invalid_transition"


def test_booking_with_naive_start_is_invalid_input(world: BookingWorld, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        book(world, world.case(), actor, dt.datetime(2027, 1, 4, 9))  # noqa: DTZ001
    assert excinfo.value.field == "start"


def test_booking_calls_reminder_replanning_inside_the_transaction(
    world: BookingWorld, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, bool]] = []

    def spy(*, case: Case, actor: Actor, audit: AuditBatch | None = None) -> None:
        seen.append((case.pk, transaction.get_connection().in_atomic_block))

    monkeypatch.setattr(reminders, "replan_for_case", spy)
    case = book(world, world.case(), actor, at(9))
    assert seen == [(case.pk, True)]


def test_exclusion_constraint_hit_becomes_the_rules_409(
    world: BookingWorld, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the service blind to unit claims, PostgreSQL still refuses the double-booked C-arm, as a 409."""
    other = world.other_session()
    book(world, world.case(surgeon=other.surgeon), actor, at(9), session=other)
    see_everything = booking.load_occupancy  # type: ignore[attr-defined]  # the name booking calls and the test patches

    def blind_to_claims(**kwargs: Any) -> Occupancy:
        occupancy = see_everything(**kwargs)
        occupancy.units = {key: {unit: [] for unit in units} for key, units in occupancy.units.items()}
        return occupancy

    monkeypatch.setattr(booking, "load_occupancy", blind_to_claims)
    late = world.case()
    with pytest.raises(DomainError) as excinfo:
        book(world, late, actor, at(9, 30))
    assert code_of(excinfo) == "equipment_unavailable"
    late.refresh_from_db()
    assert (late.status, late.session_id) == ("waiting", None)
    assert not CaseEquipment.objects.filter(case=late).exists()


# --- move -------------------------------------------------------------------------------------


def test_move_to_a_free_place_frees_the_old_one(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    moved = move_case(case_id=case.pk, session_id=world.session.pk, start=at(11), actor=actor)
    assert (moved.start, moved.end) == (at(11), at(12))
    assert CaseEquipment.objects.get(case=case).start == at(11)
    assert book(world, world.case(), actor, at(9)).start == at(9)  # the old slot is free again


def test_move_that_breaks_a_rule_leaves_the_case_fully_where_it_was(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    book(world, world.case(), actor, at(11))
    with pytest.raises(DomainError) as excinfo:
        move_case(case_id=case.pk, session_id=world.session.pk, start=at(11, 30), actor=actor)
    assert code_of(excinfo) == "slot_taken"
    case.refresh_from_db()
    assert (case.status, case.start, case.end) == ("booked", at(9), at(10))
    claim = CaseEquipment.objects.get(case=case)
    assert (claim.unit_id, claim.start) == (world.units[0].pk, at(9))


def test_move_within_own_time_overlapping_itself_is_allowed(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    assert move_case(case_id=case.pk, session_id=world.session.pk, start=at(9, 30), actor=actor).start == at(9, 30)


def test_moving_confirmed_case_returns_it_to_booked_and_withdraws_approval(
    world: BookingWorld, actor: Actor, coordinator_user: User
) -> None:
    case = book(world, world.case(), actor, at(9))
    Case.objects.filter(pk=case.pk).update(
        status="confirmed", plan_approved_by=coordinator_user, plan_approved_at=at(7), plan_fingerprint="abc"
    )
    moved = move_case(case_id=case.pk, session_id=world.session.pk, actor=actor, start=at(11))
    assert moved.status == "booked"
    assert moved.plan_approved_at is None
    assert history(case).filter(action="case.plan_approval_withdrawn").exists()


def test_moving_a_waiting_case_is_an_invalid_transition(world: BookingWorld, actor: Actor) -> None:
    with pytest.raises(DomainError) as excinfo:
        move_case(case_id=world.case().pk, session_id=world.session.pk, actor=actor)
    assert code_of(excinfo) == "invalid_transition"


def test_moving_out_of_a_locked_list_needs_an_override(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    world.session.status = "locked"
    world.session.save()
    later = world.other_session(surgeon=world.surgeon, day=dt.date(2027, 1, 5))
    with pytest.raises(DomainError) as excinfo:
        move_case(case_id=case.pk, session_id=later.pk, actor=actor)
    assert code_of(excinfo) == "session_locked"
    moved = move_case(
        case_id=case.pk, session_id=later.pk, actor=actor, override=True, override_reason="patient unwell"
    )
    assert moved.session_id == later.pk


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_frees_time_and_units_at_once(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(), actor, at(9))
    cancelled = cancel_case(case_id=case.pk, reason="patient_request", actor=actor)
    assert cancelled.status == "cancelled"
    assert cancelled.session_id is None
    assert not CaseEquipment.objects.filter(case=case).exists()
    assert book(world, world.case(), actor, at(9)).start == at(9)
    entry: Any = history(case).get(action="case.cancelled")
    assert (entry.before["session"], entry.reason) == (world.session.pk, "patient_request")


def test_cancel_needs_a_known_reason_and_a_note_for_other(world: BookingWorld, actor: Actor) -> None:
    case = world.case()
    with pytest.raises(InvalidInput):
        cancel_case(case_id=case.pk, reason="bored", actor=actor)
    with pytest.raises(InvalidInput) as excinfo:
        cancel_case(case_id=case.pk, reason="other", actor=actor)
    assert excinfo.value.field == "note"
    assert cancel_case(case_id=case.pk, reason="other", note="duplicate referral", actor=actor).cancel_note


def test_cancel_calls_reminder_cancellation(world: BookingWorld, actor: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(reminders, "cancel_for_case", lambda *, case, actor, reason: seen.append(reason))
    cancel_case(case_id=book(world, world.case(), actor, at(9)).pk, reason="clinical", actor=actor)
    assert seen == ["clinical"]


@pytest.mark.parametrize("status", ["cancelled", "completed", "in_theatre"])
def test_cancel_of_a_closed_case_is_an_invalid_transition(world: BookingWorld, actor: Actor, status: str) -> None:
    case = book(world, world.case(), actor, at(9))
    Case.objects.filter(pk=case.pk).update(status=status)
    with pytest.raises(DomainError) as excinfo:
        cancel_case(case_id=case.pk, reason="clinical", actor=actor)
    assert code_of(excinfo) == "invalid_transition"


def test_cancelled_cases_hold_nothing_in_the_database(world: BookingWorld, actor: Actor) -> None:
    """A cancelled case leaves the exclusion constraints at once: the same slot books straight away."""
    first = book(world, world.case(), actor, at(9))
    cancel_case(case_id=first.pk, reason="list_overrun", actor=actor)
    with transaction.atomic():
        assert book(world, world.case(), actor, at(9)).status == "booked"


def test_database_refuses_overlapping_case_written_around_the_service(world: BookingWorld, actor: Actor) -> None:
    book(world, world.case(), actor, at(9))
    rogue = world.case()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=rogue.pk).update(status="booked", session=world.session, start=at(9, 30), end=at(10, 30))


def test_booking_refuses_a_start_that_has_passed(world: BookingWorld, actor: Actor) -> None:
    """A coordinator's slip must not book a patient into time already gone."""
    case = world.case(estimated_minutes=60)
    with pytest.raises(DomainError) as excinfo:
        book(world, case, actor, at(9), now=at(9, 30))
    assert code_of(excinfo) == "outside_session"
    case.refresh_from_db()
    assert case.status == "waiting"


def test_booking_without_start_in_a_list_under_way_takes_the_next_grid_time(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(estimated_minutes=60), actor, now=at(9, 31))
    assert case.start == at(9, 35)


def test_moving_into_a_list_that_is_over_is_outside_session(world: BookingWorld, actor: Actor) -> None:
    case = book(world, world.case(estimated_minutes=60), actor, at(8), now=at(7))
    with pytest.raises(DomainError) as excinfo:
        move_case(case_id=case.pk, session_id=world.session.pk, actor=actor, now=world.session.end)
    assert code_of(excinfo) == "outside_session"
