"""Cancellations (DESIGN §5.1): every reason has a category, on-the-day is judged on the list's
local date, and a case already in theatre can be abandoned, with its own reason."""

from __future__ import annotations

import datetime as dt

import pytest

from core.audit import history
from core.errors import DomainError
from scheduling.booking import NOTE_REQUIRED, REASON_CATEGORY, CancelReason
from scheduling.cancellations import is_on_the_day
from scheduling.models import CaseCancellation, Reminder
from tests.builders.theatre_day import TheatreDay, at, build_theatre_day
from tests.factories import LONDON, london

DAY = dt.date(2026, 11, 4)


@pytest.fixture
def unit(db: None) -> TheatreDay:
    return build_theatre_day()


@pytest.mark.pure
def test_every_reason_has_a_category_and_the_uk_reasons_are_there() -> None:
    assert set(REASON_CATEGORY) == set(CancelReason)
    assert {str(c) for c in REASON_CATEGORY.values()} == {"clinical", "non_clinical", "patient"}
    expected = {
        "no_bed": "non_clinical",
        "list_overrun": "non_clinical",
        "equipment_failure": "non_clinical",
        "staff_unavailable": "non_clinical",
        "patient_did_not_attend": "patient",
        "patient_declined": "patient",
        "not_fasted": "patient",
        "patient_unfit": "clinical",
        "abandoned_in_theatre": "clinical",
    }
    assert {code: str(REASON_CATEGORY[CancelReason(code)]) for code in expected} == expected
    assert {CancelReason.OTHER, CancelReason.ABANDONED_IN_THEATRE} == NOTE_REQUIRED


@pytest.mark.pure
@pytest.mark.parametrize(
    ("cancelled_at", "expected"),
    [
        # 00:30 BST on Sunday 25 October 2026 is 23:30 UTC on the 24th: the list's day locally.
        (dt.datetime(2026, 10, 24, 23, 30, tzinfo=dt.UTC), True),
        (dt.datetime(2026, 10, 24, 22, 59, tzinfo=dt.UTC), False),  # 23:59 BST on the 24th
        (dt.datetime(2026, 10, 25, 23, 59, tzinfo=dt.UTC), True),  # 23:59 GMT, after the clocks went back
        (dt.datetime(2026, 10, 26, 9, 0, tzinfo=dt.UTC), True),  # recorded the next morning: it did not happen
    ],
)
def test_on_the_day_is_the_lists_local_date_on_the_day_the_clocks_change(
    cancelled_at: dt.datetime, expected: bool
) -> None:
    assert is_on_the_day(list_start=london(2026, 10, 25, 8), cancelled_at=cancelled_at, zone=LONDON) is expected


def test_on_the_day_through_the_service_on_the_spring_change(unit: TheatreDay) -> None:
    """A 08:00 list on Sunday 29 March 2026: cancelled at 00:30 on its morning, and the evening before."""
    day = dt.date(2026, 3, 29)
    session = unit.session(day)
    on_the_day, before = unit.booked(session, "08:00"), unit.booked(session, "09:00")
    unit.cancel(on_the_day, "patient_unfit", when=at(day, "00:30"))
    unit.cancel(before, "patient_unfit", when=at(day - dt.timedelta(days=1), "23:59"))
    flags = dict(CaseCancellation.objects.values_list("case_id", "on_the_day"))
    assert flags == {on_the_day.pk: True, before.pk: False}


def test_a_cancel_on_the_lists_day_is_on_the_day_with_its_category(unit: TheatreDay) -> None:
    session = unit.session(DAY)
    early, late = unit.booked(session, "08:00"), unit.booked(session, "09:00")
    unit.cancel(early, "staff_unavailable", when=at(DAY - dt.timedelta(days=1), "16:00"))
    unit.cancel(late, "no_bed", when=at(DAY, "07:10"))
    rows = {c.case_id: c for c in CaseCancellation.objects.all()}
    assert (rows[early.pk].on_the_day, rows[early.pk].category) == (False, "non_clinical")
    assert (rows[late.pk].on_the_day, rows[late.pk].category, rows[late.pk].session_id) == (
        True,
        "non_clinical",
        session.pk,
    )
    entry = history(late).filter(action="case.cancelled").get()
    assert entry.after is not None and (entry.after["on_the_day"], entry.after["category"]) == (True, "non_clinical")
    body = unit.client("viewer").get(f"/api/v1/cases/{late.pk}/").json()
    assert body["cancellation"] == {
        "reason": "no_bed",
        "category": "non_clinical",
        "on_the_day": True,
        "from_status": "booked",
        "session": session.pk,
        "cancelled_at": "2026-11-04T07:10:00Z",
        "candidates": None,  # the list is over: nothing to backfill
    }
    assert body["session"] is None  # the case let go of the list at once


def test_a_waiting_list_entry_cancelled_is_never_on_the_day(unit: TheatreDay) -> None:
    from tests.factories import CaseFactory

    case = CaseFactory(procedure_version=unit.version, surgeon=unit.surgeon)
    unit.cancel(case, "patient_request", when=at(DAY, "09:00"))
    row = CaseCancellation.objects.get(case=case)
    assert (row.session_id, row.on_the_day, row.category) == (None, False, "patient")


def test_a_case_in_theatre_is_abandoned_with_its_own_reason_and_a_note(unit: TheatreDay) -> None:
    session = unit.session(DAY)
    case = unit.signed_in(session, "08:00")
    unit.record(case, DAY, anaesthesia_start="08:10", in_theatre="08:20", out_of_theatre="08:50")
    with pytest.raises(DomainError) as refused:
        unit.cancel(case, "patient_unfit", when=at(DAY, "08:45"))
    assert refused.value.code == "invalid_transition"
    with pytest.raises(DomainError) as no_note:
        unit.cancel(case, "abandoned_in_theatre", when=at(DAY, "08:45"))
    assert (no_note.value.code, no_note.value.status) == ("invalid", 400)

    cancelled = unit.cancel(case, "abandoned_in_theatre", when=at(DAY, "08:45"), note="bronchospasm at induction")
    assert cancelled.status == "cancelled" and cancelled.session is None
    row = CaseCancellation.objects.get(case=case)
    assert (row.from_status, row.on_the_day, row.category, row.session_id) == (
        "in_theatre",
        True,
        "clinical",
        session.pk,
    )
    # The times stay, with the list they belong to, for the metrics.
    times = unit.client("viewer").get(f"/api/v1/cases/{case.pk}/times/").json()
    assert (times["session"], times["touch"]["minutes"]) == (session.pk, 40)
    # Pending reminders go; the patient, who is with the team, gets no cancellation letter.
    assert not Reminder.objects.filter(case=case, status="pending").exists()
    assert not Reminder.objects.filter(case=case, kind="cancellation").exists()


def test_only_a_case_in_theatre_can_be_abandoned(unit: TheatreDay) -> None:
    case = unit.booked(unit.session(DAY), "08:00")
    response = unit.client("coordinator").post(
        f"/api/v1/cases/{case.pk}/cancel/", {"reason": "abandoned_in_theatre", "note": "x"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"
    assert not CaseCancellation.objects.exists()


def test_cancelled_booked_cases_still_get_their_notice(unit: TheatreDay) -> None:
    """The notice to the patient is unchanged for an ordinary cancellation."""
    case = unit.booked(unit.session(DAY), "08:00")
    unit.cancel(case, "patient_did_not_attend", when=at(DAY, "09:00"))
    assert Reminder.objects.filter(case=case, kind="cancellation", status="pending").exists()


def test_the_cancel_reasons_endpoint_lists_every_reason_with_its_category(unit: TheatreDay) -> None:
    response = unit.client("viewer").get("/api/v1/cancel-reasons/")
    assert response.status_code == 200
    reasons = {r["code"]: r for r in response.json()}
    assert set(reasons) == set(CancelReason.values)
    assert reasons["abandoned_in_theatre"] == {
        "code": "abandoned_in_theatre",
        "label": "Abandoned after WHO sign in",
        "category": "clinical",
        "note_required": True,
        "in_theatre_only": True,
    }
    assert reasons["no_bed"]["category"] == "non_clinical" and not reasons["no_bed"]["in_theatre_only"]
