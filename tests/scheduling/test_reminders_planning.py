"""Booking plans a case's reminders from its pinned version; moving re-plans; cancelling cancels."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries

from core.audit import Actor, history
from core.models import AuditEntry
from procedures.versions import pinned_version
from scheduling.booking import book_case, cancel_case, move_case
from scheduling.models import Reminder, ReminderStatus, StaffNotice
from scheduling.reminders import reminder_warnings
from tests.builders.world import SYSTEM, World, at, build_reminder_world, next_monday, next_october_change
from tests.factories import LONDON, AnaesthetistFactory, SurgeonFactory

pytestmark = pytest.mark.django_db

WARFARIN = {
    "result": "eligible",
    "blockers": [],
    "warnings": [],
    "missing": [],
    "anticoagulant_holds": [
        {"drug": "warfarin", "stop_days_before": 5},
        {"drug": "clopidogrel", "stop_days_before": 5},
    ],
}


@pytest.fixture
def world() -> World:
    return build_reminder_world()


def rows(case_id: int, **filters: object) -> dict[str, Reminder]:
    return {f"{r.kind}/{r.channel}": r for r in Reminder.objects.filter(case_id=case_id, **filters)}


def local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(LONDON)


def test_booking_plans_every_reminder_from_the_pinned_version(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday), at(9, day=monday), screening_result=WARFARIN)
    planned = rows(case.pk)
    day = monday.isoformat()
    assert set(planned) == {
        "preop_assessment/email",
        f"anticoagulant_hold:warfarin@{day}/email",
        f"anticoagulant_hold:clopidogrel@{day}/email",
        f"fasting@{day}/email",
        f"day_before@{day}/email",
        f"follow_up:review_2_weeks@{day}/email",
        f"follow_up:review_6_weeks@{day}/email",
    }
    assert all(r.status == ReminderStatus.PENDING for r in planned.values())

    # Day before: 10:00 London on Sunday, with arrival 60 minutes before the 09:00 start and the address.
    day_before = planned[f"day_before@{day}/email"]
    assert local(day_before.due_at) == at(10, day=monday - dt.timedelta(days=1))
    assert dt.datetime.fromisoformat(day_before.context["arrival"]) == at(8, day=monday)
    assert day_before.context["site_address"] == world.site.address

    # Warfarin 5 days: last dose on day -6, none from day -5; told at 10:00 two days before that.
    hold = planned[f"anticoagulant_hold:warfarin@{day}/email"]
    assert hold.context["last_dose_on"] == (monday - dt.timedelta(days=6)).isoformat()
    assert hold.context["stop_from"] == (monday - dt.timedelta(days=5)).isoformat()
    assert local(hold.due_at) == at(10, day=monday - dt.timedelta(days=7))

    fasting = planned[f"fasting@{day}/email"]
    assert fasting.context["food_hours"] == 6 and fasting.context["clear_fluids_hours"] == 2
    assert dt.datetime.fromisoformat(fasting.context["food_until"]) == at(3, day=monday)
    assert dt.datetime.fromisoformat(fasting.context["fluids_until"]) == at(7, day=monday)

    six_weeks = planned[f"follow_up:review_6_weeks@{day}/email"]
    assert local(six_weeks.due_at) == at(9, day=monday + dt.timedelta(days=42))
    assert "Avoid strenuous activity and heavy lifting for 6 weeks" in six_weeks.context["advice"]
    assert six_weeks.context["rehabilitation"].startswith("Build up walking gently")

    assert planned["preop_assessment/email"].due_at <= dt.datetime.now(dt.UTC)
    actions = AuditEntry.objects.filter(object_type="scheduling.reminder", action="reminder.planned")
    assert actions.count() == len(planned)


def test_local_anaesthesia_gets_no_fasting_instructions(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday), anaesthesia="local_sedation")
    assert not [k for k in rows(case.pk) if k.startswith("fasting")]


def test_one_row_per_preferred_channel_with_contact_details(world: World) -> None:
    monday = next_monday()
    both = world.booked(world.session_on(monday), patient_kwargs={"reminder_channels": ["sms", "email"]})
    channels = {r.channel for r in Reminder.objects.filter(case=both, kind="preop_assessment")}
    assert channels == {"sms", "email"}

    sms_only = world.booked(
        world.session_on(monday + dt.timedelta(days=1)),
        patient_kwargs={"reminder_channels": ["sms"], "phone": "+447700900456"},
    )
    assert set(Reminder.objects.filter(case=sms_only).values_list("channel", flat=True)) == {"sms"}


def test_patient_without_email_or_phone_gets_no_reminders_and_a_warning_but_is_booked(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday), patient_kwargs={"email": "", "phone": ""})
    assert case.status == "booked"
    assert not Reminder.objects.filter(case=case).exists()
    assert [w["code"] for w in reminder_warnings(case)] == ["no_contact_details"]  # the case booking returned
    case.refresh_from_db()
    assert [w["code"] for w in reminder_warnings(case)] == ["no_contact_details"]


def test_preferred_channel_without_details_falls_back_with_a_warning(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday), patient_kwargs={"reminder_channels": ["sms"], "phone": ""})
    assert set(Reminder.objects.filter(case=case).values_list("channel", flat=True)) == {"email"}
    case.refresh_from_db()
    assert [w["code"] for w in reminder_warnings(case)] == ["preferred_channel_unreachable"]


def test_moving_within_the_day_replans_pending_rows_in_place(world: World) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    case = world.booked(session, at(8, day=monday))
    before = rows(case.pk)
    move_case(case_id=case.pk, session_id=session.pk, start=at(11, day=monday), actor=SYSTEM)
    after = rows(case.pk)
    day_before = after[f"day_before@{monday.isoformat()}/email"]
    assert day_before.pk == before[f"day_before@{monday.isoformat()}/email"].pk
    assert dt.datetime.fromisoformat(day_before.context["arrival"]) == at(10, day=monday)
    assert AuditEntry.objects.filter(action="reminder.replanned", object_id=str(day_before.pk)).exists()
    # The patient is told about the new time.
    assert any(k.startswith("rescheduled@") for k in after)


def test_moving_never_touches_sent_rows_and_plans_new_ones_for_the_new_date(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday), screening_result=WARFARIN)
    old_day = monday.isoformat()
    sent = Reminder.objects.get(case=case, kind=f"anticoagulant_hold:warfarin@{old_day}")
    Reminder.objects.filter(pk=sent.pk).update(status=ReminderStatus.SENT, sent_at=dt.datetime.now(dt.UTC))
    pending_day_before = Reminder.objects.get(case=case, kind=f"day_before@{old_day}")

    later = monday + dt.timedelta(days=7)
    move_case(case_id=case.pk, session_id=world.session_on(later).pk, start=at(8, day=later), actor=SYSTEM)

    sent.refresh_from_db()
    assert sent.status == ReminderStatus.SENT and sent.kind == f"anticoagulant_hold:warfarin@{old_day}"
    fresh_hold = Reminder.objects.get(case=case, kind=f"anticoagulant_hold:warfarin@{later.isoformat()}")
    assert fresh_hold.status == ReminderStatus.PENDING
    assert fresh_hold.context["stop_from"] == (later - dt.timedelta(days=5)).isoformat()
    pending_day_before.refresh_from_db()  # the same pending row, now about the new date
    assert pending_day_before.kind == f"day_before@{later.isoformat()}"
    assert local(pending_day_before.due_at) == at(10, day=later - dt.timedelta(days=1))


def test_switch_from_general_to_local_cancels_pending_fasting_on_replan(world: World) -> None:
    from scheduling.reminders import replan_for_case

    monday = next_monday()
    case = world.booked(world.session_on(monday))
    case.anaesthesia = "local_sedation"
    case.save()
    replan_for_case(case=case, actor=SYSTEM)
    fasting = Reminder.objects.get(case=case, kind=f"fasting@{monday.isoformat()}")
    assert fasting.status == ReminderStatus.CANCELLED
    assert AuditEntry.objects.filter(action="reminder.cancelled", object_id=str(fasting.pk)).exists()


def test_replanning_twice_changes_nothing(world: World) -> None:
    from scheduling.reminders import replan_for_case

    monday = next_monday()
    case = world.booked(world.session_on(monday))
    snapshot = {k: (r.pk, r.due_at, r.status) for k, r in rows(case.pk).items()}
    audits = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    replan_for_case(case=case, actor=SYSTEM)
    assert {k: (r.pk, r.due_at, r.status) for k, r in rows(case.pk).items()} == snapshot
    # Only the plan's own audit line and the staff notice extension; no reminder writes.
    assert not AuditEntry.objects.filter(pk__gt=audits, object_type="scheduling.reminder").exists()


def test_cancelling_cancels_pending_rows_and_queues_a_cancellation_notice(world: World) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday))
    Reminder.objects.filter(case=case, kind="preop_assessment").update(status=ReminderStatus.SENT)
    cancel_case(case_id=case.pk, actor=SYSTEM, reason="patient_request")
    by_kind = rows(case.pk)
    assert by_kind["preop_assessment/email"].status == ReminderStatus.SENT
    assert by_kind[f"day_before@{monday.isoformat()}/email"].status == ReminderStatus.CANCELLED
    notice = by_kind["cancellation/email"]
    assert notice.status == ReminderStatus.PENDING
    assert dt.datetime.fromisoformat(notice.context["start"]) == at(8, day=monday)


def test_cancelling_a_waiting_case_sends_no_notice(world: World) -> None:
    case = world.case()
    cancel_case(case_id=case.pk, actor=SYSTEM, reason="patient_request")
    assert not Reminder.objects.filter(case=case).exists()


def test_day_before_reminder_follows_a_move_across_the_october_clock_change(world: World) -> None:
    """Given a case on the Friday before the clock change (BST), when it moves to the Monday
    after (GMT), then the day-before reminder is due at 10:00 London on the Sunday of the change,
    which is 10:00 UTC; before the move it was 10:00 BST on the Thursday, 09:00 UTC."""
    change = next_october_change()
    friday, monday = change - dt.timedelta(days=2), change + dt.timedelta(days=1)
    case = world.booked(world.session_on(friday), at(9, day=friday))
    row = Reminder.objects.get(case=case, kind__startswith="day_before@")
    assert row.due_at == dt.datetime.combine(friday - dt.timedelta(days=1), dt.time(9, 0), tzinfo=dt.UTC)

    move_case(case_id=case.pk, session_id=world.session_on(monday).pk, start=at(9, day=monday), actor=SYSTEM)
    row.refresh_from_db()
    assert row.kind == f"day_before@{monday.isoformat()}"
    assert row.due_at == dt.datetime.combine(change, dt.time(10, 0), tzinfo=dt.UTC)
    assert local(row.due_at).hour == 10
    assert dt.datetime.fromisoformat(row.context["arrival"]) == at(8, day=monday)  # 08:00 GMT


def test_booking_into_a_published_list_notifies_its_surgeon_and_anaesthetist(world: World) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    world.booked(session, at(8, day=monday))
    world.booked(session, at(10, day=monday))
    notices = StaffNotice.objects.filter(session=session)
    assert {n.staff_id for n in notices} == {world.surgeon.pk, world.anaesthetist.pk}
    # Two bookings, one pending notice each: changes coalesce.
    assert all(len(n.changes) == 2 for n in notices)


def test_booking_into_a_planned_list_notifies_nobody(world: World) -> None:
    monday = next_monday()
    world.booked(world.session_on(monday, status="planned"))
    assert not StaffNotice.objects.exists()


def test_moving_to_another_list_notifies_both_teams(world: World, coordinator_user: User) -> None:
    monday = next_monday()
    first = world.session_on(monday)
    case = world.booked(first)
    other_surgeon, other_anaesthetist = SurgeonFactory(), AnaesthetistFactory()
    other = world.other_session(
        day=monday + dt.timedelta(days=2), surgeon=other_surgeon, anaesthetist=other_anaesthetist, status="locked"
    )
    move_case(
        case_id=case.pk,
        session_id=other.pk,
        start=other.start,
        actor=Actor.of(coordinator_user),
        override=True,
        override_reason="urgent",
    )
    assert {n.staff_id for n in StaffNotice.objects.filter(session=other)} == {
        other_surgeon.pk,
        other_anaesthetist.pk,
    }
    old = StaffNotice.objects.get(session=first, staff=world.surgeon)
    assert [c["change"] for c in old.changes] == ["case_booked", "case_moved_out"]


def test_hold_date_already_past_is_sent_at_once_with_a_warning(world: World) -> None:
    soon = dt.datetime.now(LONDON).date() + dt.timedelta(days=3)
    case = world.booked(world.session_on(soon), at(9, day=soon), screening_result=WARFARIN)
    hold = Reminder.objects.get(case=case, kind=f"anticoagulant_hold:warfarin@{soon.isoformat()}")
    assert hold.context["too_late"] is True
    assert hold.due_at <= dt.datetime.now(dt.UTC)
    case.refresh_from_db()
    assert "anticoagulant_hold_too_late" in [w["code"] for w in reminder_warnings(case)]


def test_a_booking_with_contact_details_plans_and_audits_in_18_queries(
    world: World, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """Given a GA patient on warfarin with an email address and a mobile number (no preference:
    every reminder on both channels), booked into a planned list (no staff notices), the booking
    plans 14 reminder rows and writes 16 audit entries in 18 statements:
    SAVEPOINT; the case FOR UPDATE (with its patient, template and plan); the session FOR UPDATE
    (with its theatre, site and team); theatre and team FOR KEY SHARE; the advisory locks; the
    slot minutes' history; the patient's unavailable days; the occupancy (cases, the surgeon's
    lists, then units with their claims in one); the case UPDATE; its old claims DELETEd; the new unit FOR KEY SHARE;
    the claim INSERT; the plan INSERT (a first plan: so no reminder rows to read); one reminder
    INSERT; one audit INSERT; RELEASE. A later move reads and locks the rows it re-plans."""
    monday = next_monday()
    session = world.session_on(monday, status="planned")
    case = world.case(screening_result=WARFARIN, anaesthesia="general", patient_kwargs={"reminder_channels": []})
    pinned_version(case.procedure_version_id)  # this process has read the version before
    with django_assert_num_queries(18):
        book_case(case_id=case.pk, session_id=session.pk, start=at(9, day=monday), actor=SYSTEM)
    assert Reminder.objects.filter(case=case).count() == 14
    assert AuditEntry.objects.filter(action="reminder.planned").count() == 14
    assert history(case).filter(action__in=["case.booked", "case.reminders_planned"]).count() == 2


def test_a_reminder_row_from_before_the_case_had_a_plan_is_not_left_pending_for_its_old_date(
    world: World,
) -> None:
    """A first plan reads the case's rows only if some exist (asked in the plan's INSERT). Rows
    without a plan (written before the plan table, restored, or by hand) are still found: a
    pending one for another date is cancelled, never sent for a date the case no longer has."""
    monday = next_monday()
    session = world.session_on(monday, status="planned")
    case = world.case(screening_result=WARFARIN, anaesthesia="general", patient_kwargs={"reminder_channels": []})
    old_date = (monday - dt.timedelta(days=14)).isoformat()
    stray = Reminder.objects.create(
        case=case,
        kind=f"day_before@{old_date}",
        channel="email",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    book_case(case_id=case.pk, session_id=session.pk, start=at(9, day=monday), actor=SYSTEM)
    stray.refresh_from_db()
    assert stray.status == ReminderStatus.PENDING and old_date not in stray.kind
    assert not Reminder.objects.filter(case=case, status=ReminderStatus.PENDING, kind__contains=old_date).exists()
    assert local(stray.due_at).date() == monday - dt.timedelta(days=1)
