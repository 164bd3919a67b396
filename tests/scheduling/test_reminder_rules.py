"""plan_reminders as a pure function: an Appointment in, the rows and warnings out.

No test here has a database: pytest-django blocks it (checked by `database_blocked`), so any
query the planning made would fail the test. The times are 10:00 and 09:00 London wall-clock
time on both sides of the autumn clock change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from scheduling.reminders.planning import HOLD_TOO_LATE, Appointment, Planned, plan_reminders, undated_kind

pytestmark = [pytest.mark.pure, pytest.mark.usefixtures("database_blocked")]

LONDON = ZoneInfo("Europe/London")
# Monday 1 November 2027, the day after the clocks go back (31 October, 02:00 BST -> 01:00 GMT).
START = dt.datetime(2027, 11, 1, 9, tzinfo=LONDON)
NOW = dt.datetime(2027, 9, 1, 12, tzinfo=dt.UTC)

APPOINTMENT = Appointment(
    reference="KP-ABC123",
    procedure="Balloon kyphoplasty",
    levels=("T12", "L1"),
    anaesthesia="general",
    start=START,
    session_id=9,
    theatre="Theatre 1",
    site_name="Northgate",
    site_address="1 Hospital Road",
    site_phone="0113 000 0000",
    timezone="Europe/London",
    screening_result={"result": "eligible", "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]},
    fasting={"food_hours": 6, "clear_fluids_hours": 2},
    follow_up=({"code": "review_6_weeks", "after_days": 42, "title": "Review", "advice": ["Avoid heavy lifting"]},),
    recovery={"rehabilitation": "Walk a little more each day", "advice": ["Keep the dressing dry"]},
)


def plan(appointment: Appointment = APPOINTMENT, **kwargs: object) -> tuple[dict[str, Planned], list[dict[str, str]]]:
    options: dict[str, object] = {"channels": ["email"], "now": NOW, "moved_from": None, "arrival_minutes": 60}
    options.update(kwargs)
    planned, warnings = plan_reminders(appointment=appointment, **options)  # type: ignore[arg-type]
    return {f"{p.kind}/{p.channel}": p for p in planned}, warnings


def local(value: dt.datetime) -> tuple[dt.date, dt.time]:
    moment = value.astimezone(LONDON)
    return moment.date(), moment.time()


def test_a_booked_case_gets_every_reminder_at_its_local_morning_time() -> None:
    rows, warnings = plan()
    assert warnings == []
    assert set(rows) == {
        "preop_assessment/email",
        "anticoagulant_hold:warfarin@2027-11-01/email",
        "fasting@2027-11-01/email",
        "day_before@2027-11-01/email",
        "follow_up:review_6_weeks@2027-11-01/email",
    }
    assert rows["preop_assessment/email"].due_at == NOW
    # Warfarin 5 days: no dose from Wednesday 27 October, told at 10:00 two days before (BST).
    hold = rows["anticoagulant_hold:warfarin@2027-11-01/email"]
    assert local(hold.due_at) == (dt.date(2027, 10, 25), dt.time(10))
    assert (hold.context["last_dose_on"], hold.context["stop_from"]) == ("2027-10-26", "2027-10-27")
    # 10:00 local either side of the change: 09:00 UTC on Saturday (BST), 10:00 UTC on Sunday (GMT).
    fasting, day_before = rows["fasting@2027-11-01/email"], rows["day_before@2027-11-01/email"]
    assert fasting.due_at == dt.datetime(2027, 10, 30, 9, tzinfo=dt.UTC)
    assert day_before.due_at == dt.datetime(2027, 10, 31, 10, tzinfo=dt.UTC)
    assert day_before.context["arrival"] == dt.datetime(2027, 11, 1, 8, tzinfo=dt.UTC).isoformat()
    assert fasting.context["food_until"] == dt.datetime(2027, 11, 1, 3, tzinfo=dt.UTC).isoformat()
    follow_up = rows["follow_up:review_6_weeks@2027-11-01/email"]
    assert local(follow_up.due_at) == (dt.date(2027, 12, 13), dt.time(9))
    assert follow_up.context["rehabilitation"] == "Walk a little more each day"
    assert all(p.context["site_address"] == "1 Hospital Road" for p in rows.values())
    assert all(p.context["anaesthesia"] == "General anaesthesia" for p in rows.values())


def test_each_row_is_planned_once_per_channel_and_keeps_its_undated_kind() -> None:
    rows, _ = plan(channels=["sms", "email"])
    assert {p.channel for p in rows.values()} == {"sms", "email"}
    assert len(rows) == 10
    assert all(p.undated_kind == undated_kind(p.kind) for p in rows.values())
    assert undated_kind("anticoagulant_hold:warfarin@2027-11-01") == "anticoagulant_hold:warfarin"


def test_no_channel_means_no_rows() -> None:
    rows, _ = plan(channels=[])
    assert rows == {}


def test_local_sedation_gets_no_fasting_instructions() -> None:
    rows, _ = plan(dataclasses.replace(APPOINTMENT, anaesthesia="local_sedation"))
    assert not [kind for kind in rows if kind.startswith("fasting")]
    assert rows["day_before@2027-11-01/email"].context["anaesthesia"] == "Local anaesthesia with sedation"


def test_a_hold_already_due_is_sent_at_once_with_a_warning_for_the_team() -> None:
    late = dt.datetime(2027, 10, 28, 8, tzinfo=dt.UTC)  # the day after warfarin should have stopped
    rows, warnings = plan(now=late)
    hold = rows["anticoagulant_hold:warfarin@2027-11-01/email"]
    assert hold.due_at == late and hold.context["too_late"] is True
    assert [w["code"] for w in warnings] == [HOLD_TOO_LATE]


def test_a_move_adds_a_rescheduled_notice_due_at_once() -> None:
    earlier = dt.datetime(2027, 10, 25, 9, tzinfo=LONDON)
    rows, _ = plan(moved_from=earlier)
    notice = rows["rescheduled@2027-11-01T0900/email"]
    assert notice.due_at == NOW
    assert notice.context["previous_start"] == earlier.astimezone(dt.UTC).isoformat()
    unmoved, _ = plan(moved_from=START)
    assert not [kind for kind in unmoved if kind.startswith("rescheduled")]
