"""The sweep sends due reminders through a real SMTP server (aiosmtpd), once, and records failures."""

from __future__ import annotations

import datetime as dt
import smtplib
import threading
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import connection
from pytest_django import Settings

from core.audit import Actor
from core.models import AuditEntry
from scheduling.booking import move_case
from scheduling.models import Case, CaseStatus, Reminder, ReminderStatus, StaffNotice
from scheduling.reminders import delivery
from scheduling.reminders.sms import MemorySMSBackend, TransientSMSError
from tests.builders.world import (
    SYSTEM,
    World,
    at,
    build_reminder_world,
    make_due_reminders,
    next_monday,
    next_october_change,
)
from tests.factories import LONDON
from tests.scheduling.conftest import SMTPSink

TASK = Actor.system("task:scheduling.send_due_reminders")
WARFARIN = {"result": "eligible", "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]}


@pytest.fixture
def world(db: None) -> World:
    return build_reminder_world()


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    return delivery.sweep(actor=TASK, now=now).as_dict()


@pytest.mark.django_db
def test_due_reminder_is_sent_once_with_a_stable_message_id(world: World, smtp_server: SMTPSink) -> None:
    case = world.booked(world.session_on(next_monday(), status="planned"))
    invitation = Reminder.objects.get(case=case, kind="preop_assessment")

    assert sweep()["sent"] == 1  # only the invitation is due today
    assert sweep()["sent"] == 0

    [message] = smtp_server.messages
    assert message.to == (case.patient.email,)
    assert message.message_id == f"<reminder-{invitation.pk}@localhost>"
    assert case.reference in message.body
    invitation.refresh_from_db()
    assert invitation.status == ReminderStatus.SENT and invitation.sent_at is not None
    entry: Any = AuditEntry.objects.get(
        object_type="scheduling.reminder", object_id=str(invitation.pk), action="reminder.sent"
    )
    assert entry.actor_label == "task:scheduling.send_due_reminders"
    assert entry.before["status"] == "pending" and entry.after["status"] == "sent"


@pytest.mark.django_db
def test_patient_texts_are_plain_english_in_london_time_from_the_template(world: World, smtp_server: SMTPSink) -> None:
    monday = next_monday()
    case = world.booked(world.session_on(monday, status="planned"), at(9, day=monday), screening_result=WARFARIN)
    # Each message at its own moment: a reminder whose moment has passed is skipped, not sent
    # (test_reminders_staleness), and the follow-ups go only after the operation happened.
    sweep(now=at(12, day=monday - dt.timedelta(days=1)))
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.COMPLETED)
    sweep(now=at(12, day=monday + dt.timedelta(days=14)))
    sweep(now=at(12, day=monday + dt.timedelta(days=42)))

    by_subject = {m.subject: m for m in smtp_server.messages}
    assert len(by_subject) == 6
    bodies = {s.split(":")[0]: m.body for s, m in by_subject.items()}
    day_before = next(m.body for m in smtp_server.messages if "tomorrow" in m.subject)
    assert "Please arrive at 08:00 at:" in day_before
    assert world.site.address in day_before
    hold = next(m.body for m in smtp_server.messages if "warfarin" in m.subject)
    last_dose = monday - dt.timedelta(days=6)
    assert f"Take your last dose of warfarin on {last_dose:%A} {last_dose.day} {last_dose:%B %Y}" in hold
    fasting = next(m.body for m in smtp_server.messages if "Eating and drinking" in m.subject)
    assert "Do not eat anything after 03:00" in fasting and "until 07:00" in fasting
    six_weeks = next(m.body for m in smtp_server.messages if m.subject == "Six-week review")
    assert "Avoid strenuous activity and heavy lifting for 6 weeks" in six_weeks
    assert "Build up walking gently each day" in six_weeks
    for body in bodies.values():
        assert case.patient.family_name not in body  # greeting by given name only
        assert "&amp;" not in body and "&#x27;" not in body  # plain text, not HTML-escaped


@pytest.mark.django_db
def test_sms_reminders_go_through_the_sms_backend(world: World, smtp_server: SMTPSink) -> None:
    case = world.booked(
        world.session_on(next_monday(), status="planned"), patient_kwargs={"reminder_channels": ["sms"]}
    )
    assert sweep()["sent"] == 1
    [text] = MemorySMSBackend.outbox
    assert text.to == case.patient.phone
    assert case.reference in text.body
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_broken_template_fails_only_its_row_with_the_reason(
    world: World, smtp_server: SMTPSink, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "reminders").mkdir()
    (tmp_path / "reminders" / "day_before.txt").write_text("{% if %}broken{% endif %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    ids = make_due_reminders(world, 3)
    invitation_case = world.booked(world.session_on(next_monday(), status="planned"))

    result = sweep()

    assert result == {"sent": 1, "failed": 3, "retrying": 0, "skipped": 0}
    for row in Reminder.objects.filter(pk__in=ids):
        assert row.status == ReminderStatus.FAILED
        assert row.last_error.startswith("template error in reminders/day_before")
    assert Reminder.objects.get(case=invitation_case, kind="preop_assessment").status == ReminderStatus.SENT
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_smtp_refusal_fails_the_row_at_once_and_others_still_go(world: World, smtp_server: SMTPSink) -> None:
    refused, accepted = make_due_reminders(world, 2)
    address = Reminder.objects.get(pk=refused).case.patient.email
    smtp_server.refuse[address] = "550 5.1.1 <" + address + ">: mailbox unavailable"

    assert sweep() == {"sent": 1, "failed": 1, "retrying": 0, "skipped": 0}

    row = Reminder.objects.get(pk=refused)
    assert row.status == ReminderStatus.FAILED and row.attempts == 1
    assert "550" in row.last_error and address not in row.last_error
    assert AuditEntry.objects.filter(object_id=str(refused), action="reminder.failed").exists()
    assert Reminder.objects.get(pk=accepted).status == ReminderStatus.SENT
    assert [m.message_id for m in smtp_server.messages] == [f"<reminder-{accepted}@localhost>"]


@pytest.mark.django_db
def test_temporary_refusal_retries_with_backoff_then_fails(
    world: World, smtp_server: SMTPSink, settings: Settings
) -> None:
    settings.REMINDER_MAX_ATTEMPTS = 3
    [row_id] = make_due_reminders(world, 1)
    address = Reminder.objects.get(pk=row_id).case.patient.email
    smtp_server.refuse[address] = "451 4.3.0 Try again later"

    before = dt.datetime.now(dt.UTC)
    assert sweep()["retrying"] == 1
    row = Reminder.objects.get(pk=row_id)
    assert row.status == ReminderStatus.PENDING and row.attempts == 1
    assert "451" in row.last_error
    # base 30 s with 50-100 % jitter: within 15-30 s, never the long ETA of a lost broker message
    assert (
        before + dt.timedelta(seconds=15) <= cast(dt.datetime, row.next_attempt_at) <= before + dt.timedelta(seconds=31)
    )
    assert sweep()["retrying"] == 0  # backing off: the next sweep leaves it alone

    assert sweep(now=cast(dt.datetime, row.next_attempt_at) + dt.timedelta(seconds=1))["retrying"] == 1
    row.refresh_from_db()
    assert row.attempts == 2
    assert sweep(now=cast(dt.datetime, row.next_attempt_at) + dt.timedelta(seconds=1))["failed"] == 1
    row.refresh_from_db()
    assert row.status == ReminderStatus.FAILED and row.attempts == 3 and "451" in row.last_error
    assert smtp_server.messages == []
    actions = list(
        AuditEntry.objects.filter(object_id=str(row_id), object_type="scheduling.reminder").values_list(
            "action", flat=True
        )
    )
    assert actions == ["reminder.retry_scheduled", "reminder.retry_scheduled", "reminder.failed"]


@pytest.mark.django_db
def test_mail_server_down_is_transient(world: World, settings: Settings) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    [row_id] = make_due_reminders(world, 1)
    assert sweep()["retrying"] == 1
    row = Reminder.objects.get(pk=row_id)
    assert row.status == ReminderStatus.PENDING and "ConnectionRefusedError" in row.last_error


@pytest.mark.django_db
def test_transient_sms_error_retries(world: World) -> None:
    world.booked(world.session_on(next_monday(), status="planned"), patient_kwargs={"reminder_channels": ["sms"]})
    MemorySMSBackend.fail_with = TransientSMSError("gateway timed out")
    assert sweep()["retrying"] == 1


@pytest.mark.pure
def test_failures_are_classified_by_name_and_reply_code() -> None:
    assert delivery.is_transient(smtplib.SMTPServerDisconnected("gone"))
    assert delivery.is_transient(ConnectionRefusedError())
    assert delivery.is_transient(TimeoutError())
    assert delivery.is_transient(smtplib.SMTPDataError(421, b"closing"))
    assert not delivery.is_transient(smtplib.SMTPDataError(554, b"rejected"))
    assert delivery.is_transient(smtplib.SMTPRecipientsRefused({"a@b": (450, b"busy")}))
    assert not delivery.is_transient(smtplib.SMTPRecipientsRefused({"a@b": (550, b"no")}))
    assert not delivery.is_transient(ValueError("bug"))


@pytest.mark.pure
def test_backoff_grows_with_jitter_and_is_capped() -> None:
    low = [delivery.retry_delay(n, base=30, cap=240, rand=lambda: 0.0) for n in range(1, 7)]
    high = [delivery.retry_delay(n, base=30, cap=240, rand=lambda: 0.999999) for n in range(1, 7)]
    assert low == [15, 30, 60, 120, 120, 120]
    assert [round(h) for h in high] == [30, 60, 120, 240, 240, 240]


@pytest.mark.django_db
def test_cancelled_reminder_is_never_sent(world: World, smtp_server: SMTPSink) -> None:
    ids = make_due_reminders(world, 2)
    Reminder.objects.filter(pk=ids[0]).update(status=ReminderStatus.CANCELLED)
    assert sweep()["sent"] == 1
    assert [m.message_id for m in smtp_server.messages] == [f"<reminder-{ids[1]}@localhost>"]


@pytest.mark.django_db
def test_day_before_reminder_fires_at_10_london_after_a_move_across_the_clock_change(
    world: World, smtp_server: SMTPSink
) -> None:
    """Given a case moved from the Friday before the October clock change to the Monday after,
    the day-before reminder is not sent at 09:59 London on the Sunday of the change and is sent
    at 10:00 London (10:00 UTC, whereas 10:00 on the Thursday before was 09:00 UTC)."""
    change = next_october_change()
    friday, monday = change - dt.timedelta(days=2), change + dt.timedelta(days=1)
    case = world.booked(world.session_on(friday, status="planned"), at(9, day=friday))
    case = move_case(
        case_id=case.pk, session_id=world.session_on(monday, status="planned").pk, start=at(9, day=monday), actor=SYSTEM
    )
    sweep()  # what is due now: the invitation and the move notice
    smtp_server.messages.clear()

    ten = dt.datetime.combine(change, dt.time(10, 0), tzinfo=LONDON)
    assert ten.utcoffset() == dt.timedelta(0)
    assert sweep(now=ten - dt.timedelta(minutes=1))["sent"] == 1  # the fasting notice, two days ahead
    assert not [m for m in smtp_server.messages if "tomorrow" in m.subject]
    assert sweep(now=ten)["sent"] == 1
    [reminder] = [m for m in smtp_server.messages if "tomorrow" in m.subject]
    assert "arrive at 08:00" in reminder.subject
    row = Reminder.objects.get(case=case, kind=f"day_before@{monday.isoformat()}")
    assert row.status == ReminderStatus.SENT and row.due_at == ten


@pytest.mark.django_db
def test_staff_notice_is_emailed_with_references_only(world: World, smtp_server: SMTPSink) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    first = world.booked(session, at(8, day=monday), patient_kwargs={"email": "", "phone": ""})
    world.booked(session, at(10, day=monday), patient_kwargs={"email": "", "phone": ""})
    assert sweep()["sent"] == 2
    to_surgeon = next(m for m in smtp_server.messages if m.to == (world.surgeon.email,))
    assert first.reference in to_surgeon.body and "08:00-09:00" in to_surgeon.body
    assert first.patient.family_name not in to_surgeon.body
    assert to_surgeon.body.count("a case was booked into the list") == 2
    assert StaffNotice.objects.filter(status=ReminderStatus.SENT).count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_sweeps_send_every_row_exactly_once(smtp_server: SMTPSink) -> None:
    world = build_reminder_world()
    ids = make_due_reminders(world, 60)
    results: list[dict[str, int]] = []

    def run() -> None:
        try:
            results.append(sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(r["sent"] for r in results) == 60
    message_ids = [m.message_id for m in smtp_server.messages]
    assert len(message_ids) == len(set(message_ids)) == 60
    assert set(message_ids) == {f"<reminder-{i}@localhost>" for i in ids}
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 60


def test_a_sweep_sends_its_share_first_then_every_other_due_row(world: World, smtp_server: SMTPSink) -> None:
    """Sweeps side by side each take their share of the due rows first (id modulo the number of
    sweeps), so they do not all try the same rows; a share is an order of work, never a limit:
    the sweep then sends the rows of the shares whose sweeps died or fell behind."""
    ids = make_due_reminders(world, 12)
    result = delivery.sweep(actor=TASK, share=delivery.Share(index=1, of=3)).as_dict()
    assert result["sent"] == 12
    sent_ids = [int(m.message_id.removeprefix("<reminder-").partition("@")[0]) for m in smtp_server.messages]
    ours = [pk for pk in ids if pk % 3 == 1]
    assert sorted(sent_ids[: len(ours)]) == sorted(ours)
    assert sorted(sent_ids) == sorted(ids)


def test_a_backlog_is_spread_over_sweeps_with_a_share_each(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduling.reminders import tasks

    settings.REMINDER_SWEEP_PARALLEL = 4
    make_due_reminders(world, 2 * tasks.ROWS_PER_SWEEP)
    queued: list[dict[str, Any]] = []
    shares: list[delivery.Share | None] = []

    def sweep_here(**kwargs: Any) -> delivery.SweepResult:
        shares.append(kwargs["share"])
        return delivery.SweepResult()

    monkeypatch.setattr(tasks.send_due_reminders, "delay", lambda **kwargs: queued.append(kwargs))
    monkeypatch.setattr(delivery, "sweep", sweep_here)
    tasks.send_due_reminders()
    # 500 due rows: two helpers beside this sweep, three shares of three.
    assert queued == [{"spread": False, "share": [1, 3]}, {"spread": False, "share": [2, 3]}]
    assert shares == [delivery.Share(0, 3)]
