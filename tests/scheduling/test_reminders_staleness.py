"""Stale reminders never go out: the sweep re-checks each row under its lock at the moment of sending
and marks a row whose moment has passed `skipped`, with its reason, audited, visible in the API."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from core.audit import Actor
from core.models import AuditEntry
from core.roles import Role
from scheduling.models import Case, CaseStatus, Reminder, ReminderStatus
from scheduling.reminders import delivery
from scheduling.reminders.planning import undated_kind
from scheduling.reminders.staleness import (
    APPOINTMENT_PASSED,
    CASE_CANCELLED,
    CASE_COMPLETED,
    CASE_IN_THEATRE,
    CASE_NOT_COMPLETED,
    FOLLOW_UP_OVERDUE,
    stale_reason,
)
from scheduling.tasks import send_due_reminders
from tests.builders.people import login
from tests.builders.world import World, at, build_reminder_world, next_monday
from tests.conftest import WorkerFactory, client_for
from tests.scheduling.conftest import SMTPSink

TASK = Actor.system("task:scheduling.send_due_reminders")
WARFARIN = {"result": "eligible", "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]}
START = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)
BEFORE = START - dt.timedelta(hours=1)
AFTER = START + dt.timedelta(minutes=1)


# --- The rule (pure) ---------------------------------------------------------------------------


@pytest.mark.pure
@pytest.mark.parametrize(
    ("kind", "status", "now", "reason"),
    [
        # Pre-op advice goes out only before the start, for a case still to happen.
        ("day_before@2027-01-04", "booked", BEFORE, None),
        ("day_before@2027-01-04", "confirmed", AFTER, APPOINTMENT_PASSED),
        ("day_before@2027-01-04", "booked", START, APPOINTMENT_PASSED),
        ("anticoagulant_hold:warfarin@2027-01-04", "booked", AFTER, APPOINTMENT_PASSED),
        ("fasting@2027-01-04", "confirmed", AFTER, APPOINTMENT_PASSED),
        ("preop_assessment", "booked", AFTER, APPOINTMENT_PASSED),
        ("rescheduled@2027-01-04T0800", "booked", AFTER, APPOINTMENT_PASSED),
        ("preop_assessment", "completed", BEFORE, CASE_COMPLETED),
        ("fasting@2027-01-04", "in_theatre", BEFORE, CASE_IN_THEATRE),
        ("anticoagulant_hold:apixaban@2027-01-04", "cancelled", BEFORE, CASE_CANCELLED),
        ("day_before@2027-01-04", "waiting", BEFORE, None),
        # A follow-up only after a case that actually happened.
        ("follow_up:two_weeks@2027-01-04", "completed", AFTER, None),
        ("follow_up:two_weeks@2027-01-04", "booked", AFTER, CASE_NOT_COMPLETED),
        ("follow_up:two_weeks@2027-01-04", "in_theatre", AFTER, CASE_NOT_COMPLETED),
        ("follow_up:six_weeks@2027-01-04", "cancelled", AFTER, CASE_CANCELLED),
        # The cancellation notice tells the patient not to come: pointless once the time has gone.
        ("cancellation", "cancelled", BEFORE, None),
        ("cancellation", "cancelled", AFTER, APPOINTMENT_PASSED),
        # A kind this rule does not know is never held back.
        ("something_new", "completed", AFTER, None),
    ],
)
def test_a_reminder_is_stale_once_its_moment_is_meaningless(
    kind: str, status: str, now: dt.datetime, reason: str | None
) -> None:
    assert stale_reason(kind=kind, case_status=status, start=START, due_at=BEFORE, now=now) == reason


@pytest.mark.pure
def test_a_row_without_a_known_start_is_judged_by_the_case_alone() -> None:
    assert stale_reason(kind="day_before", case_status="booked", start=None, due_at=BEFORE, now=AFTER) is None
    due = BEFORE
    assert stale_reason(kind="day_before", case_status="completed", start=None, due_at=due, now=AFTER) == CASE_COMPLETED


@pytest.mark.pure
def test_a_follow_up_goes_out_up_to_three_days_late_and_no_later() -> None:
    due = START + dt.timedelta(days=14)
    kind = "follow_up:review_2_weeks@2027-01-04"
    on_time = stale_reason(kind=kind, case_status="completed", start=START, due_at=due, now=due)
    late = stale_reason(kind=kind, case_status="completed", start=START, due_at=due, now=due + dt.timedelta(days=3))
    too_late = stale_reason(
        kind=kind, case_status="completed", start=START, due_at=due, now=due + dt.timedelta(days=3, minutes=1)
    )
    assert (on_time, late, too_late) == (None, None, FOLLOW_UP_OVERDUE)


# --- The sweep ---------------------------------------------------------------------------------


@pytest.fixture
def world(db: None) -> World:
    return build_reminder_world()


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    return delivery.sweep(actor=TASK, now=now).as_dict()


def rows(case: Case) -> dict[str, Reminder]:
    return {undated_kind(r.kind): r for r in Reminder.objects.filter(case=case)}


@pytest.mark.django_db
def test_pre_op_reminders_due_after_the_start_are_skipped_not_sent(world: World, smtp_server: SMTPSink) -> None:
    """Given a booked case whose pre-op reminders were never sent (say the worker was down for a
    week), when the sweep runs after the case's start, then not one of them goes out: each is
    `skipped` with `appointment_passed`, audited as the task's write."""
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"), screening_result=WARFARIN)
    pre_op = {"preop_assessment", "anticoagulant_hold:warfarin", "fasting", "day_before"}
    assert pre_op <= set(rows(case))

    result = sweep(now=at(9, day=day))

    assert smtp_server.messages == []
    assert result["sent"] == 0 and result["skipped"] == len(pre_op)
    by_kind = rows(case)
    for kind in pre_op:
        assert by_kind[kind].status == ReminderStatus.SKIPPED
        assert by_kind[kind].skip_reason == APPOINTMENT_PASSED
        assert by_kind[kind].sent_at is None
        entry: Any = AuditEntry.objects.get(object_id=str(by_kind[kind].pk), action="reminder.skipped")
        assert entry.actor_label == "task:scheduling.send_due_reminders"
        assert entry.reason == APPOINTMENT_PASSED
        assert entry.before["status"] == "pending" and entry.after["status"] == "skipped"
    # The follow-ups are not due yet: left pending, judged when they fall due.
    assert by_kind["follow_up:review_2_weeks"].status == ReminderStatus.PENDING
    assert sweep(now=at(9, day=day)) == {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0}  # terminal


@pytest.mark.django_db
def test_nothing_pre_op_goes_to_a_completed_case_and_its_follow_up_does(world: World, smtp_server: SMTPSink) -> None:
    """Given a case completed before its pre-op rows were swept, when the sweep runs, then the pre-op
    rows are skipped as `case_completed`, and two weeks later the follow-up is sent."""
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"))
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.COMPLETED)  # signed out (see test_checklist)

    sweep(now=at(7, day=day))  # before the start: still only the case's status speaks
    assert rows(case)["preop_assessment"].skip_reason == CASE_COMPLETED
    assert rows(case)["day_before"].skip_reason == CASE_COMPLETED
    assert smtp_server.messages == []

    sweep(now=at(10, day=day + dt.timedelta(days=15)))
    assert rows(case)["follow_up:review_2_weeks"].status == ReminderStatus.SENT
    [message] = smtp_server.messages
    assert message.subject == "Two-week review"


@pytest.mark.django_db
def test_a_follow_up_for_a_case_that_never_happened_is_skipped(world: World, smtp_server: SMTPSink) -> None:
    """A case still `booked` two weeks after its date was not operated on (or not recorded): the
    patient is not asked how their recovery is going."""
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"))

    sweep(now=at(10, day=day + dt.timedelta(days=15)))

    follow_up = rows(case)["follow_up:review_2_weeks"]
    assert follow_up.status == ReminderStatus.SKIPPED and follow_up.skip_reason == CASE_NOT_COMPLETED
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_the_check_is_made_at_send_time_under_the_rows_lock(world: World, smtp_server: SMTPSink) -> None:
    """A row that was due and pending when planned is judged when it is claimed: a case cancelled
    by a write that left its rows pending (an import, a bug) gets nothing; the retry path (one row
    by id) applies the same check."""
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"))
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CANCELLED)
    invitation = rows(case)["preop_assessment"]

    assert delivery.deliver_reminder(reminder_id=invitation.pk, actor=TASK) == "skipped"

    invitation.refresh_from_db()
    assert invitation.status == ReminderStatus.SKIPPED and invitation.skip_reason == CASE_CANCELLED
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_a_skipped_row_shows_its_reason_in_the_cases_reminders(world: World, smtp_server: SMTPSink) -> None:
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"))
    sweep(now=at(9, day=day))

    response = client_for(login("coord", Role.COORDINATOR)).get(f"/api/v1/reminders/?case={case.pk}")

    assert response.status_code == 200
    by_kind = {undated_kind(r["kind"]): r for r in response.json()["results"]}
    assert by_kind["day_before"]["status"] == "skipped"
    assert by_kind["day_before"]["skip_reason"] == APPOINTMENT_PASSED
    assert by_kind["follow_up:review_2_weeks"]["skip_reason"] == ""


@pytest.mark.django_db
def test_a_move_reopens_a_skipped_row_for_the_sweep_to_judge_afresh(world: World, smtp_server: SMTPSink) -> None:
    """A skip judged the case as it was; booked again for the same day, the row is pending again."""
    from scheduling.booking import move_case

    day = next_monday()
    session = world.session_on(day, hours=6, status="planned")
    case = world.booked(session)
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.COMPLETED)
    sweep(now=at(7, day=day))
    assert rows(case)["day_before"].status == ReminderStatus.SKIPPED
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.BOOKED)  # the completion was a mistake

    move_case(case_id=case.pk, session_id=session.pk, start=at(10, day=day), actor=TASK)

    day_before = rows(case)["day_before"]
    assert day_before.status == ReminderStatus.PENDING and day_before.skip_reason == ""
    sweep(now=at(10, day=day - dt.timedelta(days=1)))
    assert rows(case)["day_before"].status == ReminderStatus.SENT


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_skips_a_stale_row_and_audits_it(
    celery_worker_process: WorkerFactory, smtp_server: SMTPSink
) -> None:
    """The beat task on a real Celery worker (Redis broker): a completed case's pending pre-op
    reminder is skipped and audited as the task's write; nothing reaches the mail server."""
    world = build_reminder_world()
    case = world.booked(world.session_on(next_monday(), status="planned"))
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.COMPLETED)
    invitation = rows(case)["preop_assessment"]
    celery_worker_process(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=str(smtp_server.port),
        EMAIL_USE_TLS="false",
    )

    send_due_reminders.delay(spread=False)

    deadline = time.monotonic() + 60
    while Reminder.objects.filter(pk=invitation.pk, status=ReminderStatus.PENDING).exists():
        assert time.monotonic() < deadline, "the worker did not sweep in time"
        time.sleep(0.05)
    invitation.refresh_from_db()
    assert invitation.status == ReminderStatus.SKIPPED and invitation.skip_reason == CASE_COMPLETED
    entry = AuditEntry.objects.get(object_id=str(invitation.pk), action="reminder.skipped")
    assert entry.actor_label == "task:scheduling.send_due_reminders"
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_a_case_completed_after_the_sweep_read_its_rows_is_still_not_sent_them(
    world: World, smtp_server: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep reads a batch of due ids without locks, then claims each under its lock. If the case
    is signed out in between, the claim sees it: the check is made at send time, not at read time."""
    day = next_monday()
    case = world.booked(world.session_on(day, status="planned"))
    read_candidates = delivery._candidates

    def read_then_complete(spec: Any, now: dt.datetime, share: delivery.Share | None) -> list[int]:
        ids = read_candidates(spec, now, share)
        Case.objects.filter(pk=case.pk).update(status=CaseStatus.COMPLETED)  # the sign out lands here
        return ids

    monkeypatch.setattr(delivery, "_candidates", read_then_complete)
    result = sweep(now=at(7, day=day))

    assert result["sent"] == 0 and result["skipped"] > 0
    assert smtp_server.messages == []
    assert rows(case)["preop_assessment"].skip_reason == CASE_COMPLETED
