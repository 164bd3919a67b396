"""A change to a list never strands its cases: scheduling's receivers of theatre's hooks
(scheduling/theatre_rules.py), driven through theatre's own session services."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest

from core.audit import history
from core.errors import DomainError
from scheduling.models import Case
from tests.builders.world import SYSTEM, new_session, placed_case
from tests.factories import (
    AnaesthetistFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    TimetableFactory,
    london,
)
from theatre.models import StaffMember, TheatreSession
from theatre.sessions import cancel_session, create_session, update_session
from theatre.timetables import generate_sessions


@pytest.mark.django_db
def test_a_list_cannot_shrink_past_its_booked_cases_or_be_cancelled_with_them() -> None:
    session = new_session()
    placed_case(session, london(2027, 3, 1, 11), london(2027, 3, 1, 12))
    with pytest.raises(DomainError) as shrink:
        update_session(session=session, changes={"end": london(2027, 3, 1, 11, 30)}, actor=SYSTEM)
    with pytest.raises(DomainError) as cancel:
        cancel_session(session=session, actor=SYSTEM, reason="no anaesthetist")
    assert shrink.value.code == "outside_session"
    assert cancel.value.code == "invalid_transition"
    session.refresh_from_db()
    assert (session.end, session.status) == (london(2027, 3, 1, 13), "planned")


@pytest.mark.django_db
def test_changing_the_anaesthetist_keeps_booked_cases_in_step() -> None:
    session = new_session()
    case = placed_case(session, london(2027, 3, 1, 9), london(2027, 3, 1, 10))
    replacement = AnaesthetistFactory()
    update_session(session=session, changes={"anaesthetist": replacement}, actor=SYSTEM)
    case.refresh_from_db()
    assert case.anaesthetist == replacement


@pytest.mark.django_db
def test_a_new_anaesthetist_never_rewrites_the_record_of_a_completed_case() -> None:
    session = new_session()
    done = placed_case(session, london(2027, 3, 1, 8), london(2027, 3, 1, 9), status="completed")
    upcoming = placed_case(session, london(2027, 3, 1, 9), london(2027, 3, 1, 10))
    first, replacement = cast(StaffMember, session.anaesthetist), AnaesthetistFactory()
    update_session(session=session, changes={"anaesthetist": replacement}, actor=SYSTEM)
    done.refresh_from_db()
    upcoming.refresh_from_db()
    assert done.anaesthetist == first  # who was actually there
    assert upcoming.anaesthetist == replacement
    (entry,) = history(upcoming).filter(action="case.anaesthetist_changed")
    assert (entry.before, entry.after) == ({"anaesthetist": first.pk}, {"anaesthetist": replacement.pk})


@pytest.mark.django_db
def test_the_anaesthetist_cannot_change_while_a_case_is_in_theatre() -> None:
    session = new_session()
    placed_case(session, london(2027, 3, 1, 9), london(2027, 3, 1, 10), status="in_theatre")
    with pytest.raises(DomainError) as refused:
        update_session(session=session, changes={"anaesthetist": AnaesthetistFactory()}, actor=SYSTEM)
    assert refused.value.code == "invalid_transition"


@pytest.mark.django_db
def test_a_surgeon_operating_on_a_shared_list_cannot_be_given_a_list_elsewhere_then() -> None:
    """Booking refuses a case whose surgeon leads a list elsewhere; creating a list for a surgeon
    who is operating on someone else's list at that time is refused the same way."""
    shared = new_session()
    guest = SurgeonFactory()
    placed_case(shared, london(2027, 3, 1, 9), london(2027, 3, 1, 10), surgeon=guest)
    elsewhere = TheatreFactory(site=shared.theatre.site)
    with pytest.raises(DomainError) as refused:
        create_session(
            theatre=elsewhere,
            start=london(2027, 3, 1, 8),
            end=london(2027, 3, 1, 13),
            surgeon=guest,
            anaesthetist=None,
            actor=SYSTEM,
        )
    assert refused.value.code == "surgeon_busy"
    assert not TheatreSession.objects.filter(theatre=elsewhere).exists()


@pytest.mark.django_db
def test_a_list_with_general_anaesthetics_booked_cannot_lose_its_anaesthetist() -> None:
    session = new_session()
    placed_case(session, london(2027, 3, 1, 9), london(2027, 3, 1, 10), anaesthesia="general")
    with pytest.raises(DomainError) as refused:
        update_session(session=session, changes={"anaesthetist": None}, actor=SYSTEM)
    assert refused.value.code == "anaesthetist_required"
    session.refresh_from_db()
    assert session.anaesthetist is not None


@pytest.mark.django_db
def test_a_new_anaesthetist_who_has_a_case_elsewhere_then_is_refused_as_busy() -> None:
    """Given an anaesthetist no longer on list A but still the record of a completed case there,
    when list B at the same time is handed to them, the database's anaesthetist constraint on
    cases refuses it as 409 anaesthetist_busy, and list B and its case are left as they were."""
    first = new_session()
    elsewhere = AnaesthetistFactory()
    placed_case(
        first,
        london(2027, 3, 1, 9),
        london(2027, 3, 1, 10),
        status="completed",
        anaesthetist=elsewhere,  # who was there, before the list's anaesthetist changed
    )
    second = new_session(theatre=TheatreFactory(site=first.theatre.site))
    upcoming = placed_case(second, london(2027, 3, 1, 9), london(2027, 3, 1, 10))
    with pytest.raises(DomainError) as refused:
        update_session(session=second, changes={"anaesthetist": elsewhere}, actor=SYSTEM)
    assert (refused.value.code, refused.value.detail) == (
        "anaesthetist_busy",
        "The new anaesthetist has a case elsewhere during this list.",
    )
    second.refresh_from_db()
    assert second.anaesthetist_id != elsewhere.pk
    assert Case.objects.get(pk=upcoming.pk).anaesthetist_id == second.anaesthetist_id
    assert not history(second).filter(action="session.updated").exists()


@pytest.mark.django_db
def test_moving_a_list_onto_the_time_its_surgeon_operates_elsewhere_is_refused() -> None:
    shared = new_session()
    guest = SurgeonFactory()
    placed_case(shared, london(2027, 3, 1, 12), london(2027, 3, 1, 13), status="confirmed", surgeon=guest)
    # Back to back with the guest's case: half-open intervals, so no clash.
    after = create_session(
        theatre=TheatreFactory(site=shared.theatre.site),
        start=london(2027, 3, 1, 13),
        end=london(2027, 3, 1, 17),
        surgeon=guest,
        anaesthetist=None,
        actor=SYSTEM,
    )
    with pytest.raises(DomainError) as refused:
        update_session(session=after, changes={"start": london(2027, 3, 1, 12, 30)}, actor=SYSTEM)
    assert refused.value.code == "surgeon_busy"
    assert "operating on list" in refused.value.detail
    assert TheatreSession.objects.get(pk=after.pk).start == london(2027, 3, 1, 13)


@pytest.mark.django_db
def test_a_cancelled_case_no_longer_holds_its_list() -> None:
    session = new_session()
    placed_case(session, london(2027, 3, 1, 9), london(2027, 3, 1, 10), status="cancelled")
    cancel_session(session=session, actor=SYSTEM, reason="surgeon on leave")
    session.refresh_from_db()
    assert session.status == "cancelled"


@pytest.mark.django_db
def test_generation_is_all_or_nothing_when_the_surgeon_operates_on_a_shared_list_one_date() -> None:
    timetable = TimetableFactory(weekday=0)
    shared = TheatreSessionFactory(start=london(2026, 6, 15, 8), end=london(2026, 6, 15, 13))
    placed_case(shared, london(2026, 6, 15, 11), london(2026, 6, 15, 12), surgeon=timetable.surgeon)
    with pytest.raises(DomainError) as excinfo:
        generate_sessions(
            timetable=timetable, date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 6, 30), actor=SYSTEM
        )
    assert excinfo.value.code == "surgeon_busy"
    assert f"operating on list {shared.pk} on Mon 15 Jun 2026 11:00–12:00" in excinfo.value.detail
    assert TheatreSession.objects.filter(timetable=timetable).count() == 0
