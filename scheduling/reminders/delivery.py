"""Sending reminders and staff notices: each row is handed to the mail server once.

How one row is sent (`_deliver`):

1. BEGIN; claim the row with SELECT … FOR UPDATE SKIP LOCKED (due, pending, not backing off).
   A row another worker is sending is passed over, never waited for; the status is re-checked
   under the lock, so a row sent, failed or cancelled meanwhile is left alone. A patient
   reminder whose moment has passed (scheduling.reminders.staleness: a day-before reminder after
   the start, pre-op advice for a completed or cancelled case, a follow-up for a case that never
   happened) is marked `skipped` with its reason, audited, and never sent: this check is made
   here, under the lock, at the moment of sending, whatever planning did or failed to do.
2. Render its template. A template error is permanent: the row is marked failed.
3. SAVEPOINT; mark the row sent (and audit it); hand the message to SMTP/SMS on a connection
   kept open for the whole sweep. The row lock is held throughout.
4. COMMIT.

If sending raises, the savepoint rolls the "sent" mark back and the failure is recorded in the
same transaction (still under the lock): a transient error (connection refused/reset/timed out,
SMTPServerDisconnected, any 4xx reply) schedules a retry with exponential backoff and jitter,
capped at a few minutes; after REMINDER_MAX_ATTEMPTS, or at once for a permanent error (5xx
refusal), the row is `failed` with the reason, visible in GET /reminders/?case=.

If the worker dies (SIGKILL, power) at any point before COMMIT reaches PostgreSQL, the server
rolls the transaction back and releases the lock, the row is `pending` again, and the next sweep
sends it. An SMTP server only accepts a message when the client sends the final "." of DATA, so a
worker killed before that point leaves nothing behind on the server: no duplicate.

The guarantee, stated exactly: no row is ever sent twice by two workers (the lock), and a row
is retried only when its transaction did not commit. The one window that can still duplicate is
between the server's "250 accepted" and our COMMIT reaching PostgreSQL: the mark is already
written, so this is one socket write, microseconds long. A death inside it makes the next sweep
send again with the SAME Message-ID (`<reminder-<id>@…>`), which mail systems use to drop
duplicates. We prefer that rare duplicate to a lost reminder: a patient told twice to stop
warfarin is safer than one never told. No two-party protocol can close the window entirely
without the receiving side deduplicating.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Literal
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import DatabaseError, models, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.audit import Actor, record, snapshot
from scheduling.models import OCCUPYING_STATUSES, Case, Channel, Reminder, ReminderStatus, StaffNotice
from scheduling.reminders.notices import CHANGE_LABELS
from scheduling.reminders.planning import patient_address, render_context, undated_kind
from scheduling.reminders.sms import SMSBackend, TransientSMSError, get_sms_backend
from scheduling.reminders.staleness import appointment_start, stale_reason
from theatre.models import StaffRole

logger = logging.getLogger(__name__)

Outcome = Literal["sent", "failed", "retrying", "skipped"]

# Named transient errors: worth another try in a minute. ConnectionError covers refused and
# reset connections, TimeoutError a server that stopped answering (socket.timeout is an alias).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
    TransientSMSError,
    SoftTimeLimitExceeded,  # a send that hung until Celery's soft limit: try again later
)


class TemplateFailure(Exception):
    """The message could not be rendered: permanent, a person must fix the template."""


@dataclass(frozen=True)
class Outgoing:
    channel: str
    to: str
    subject: str
    body: str
    message_id: str


# --- Pure rules ------------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Transient: the named network errors and SMTP 4xx replies. Everything else is permanent."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    return False


def retry_delay(attempts: int, *, base: int, cap: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then scaled by 50-100 %.

    The jitter spreads retries so a mail server coming back is not hit by every row at once;
    the cap keeps every countdown within a few minutes (DESIGN: no long ETAs).
    """
    ceiling: int = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling * (0.5 + rand() / 2)  # noqa: S311 - jitter, not security


def describe_failure(exc: BaseException, *, address: str) -> str:
    """The reason shown on a failed row, without the patient's address in it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = f"{exc.smtp_code} {error.decode(errors='replace') if isinstance(error, bytes) else error}"
    else:
        text = str(exc)
    if address:
        text = text.replace(address, "<recipient>")
    return f"{type(exc).__name__}: {text}"[:500]


def mail_domain() -> str:
    """Our own domain, from DEFAULT_FROM_EMAIL: the right-hand side of every id we mint for the
    world outside (Message-IDs here, iCalendar UIDs in scheduling.staff_calendar), so the ids
    are globally unique and stable across sends."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "theatre.invalid"


# --- Rendering -------------------------------------------------------------------------------


def _render(template_base: str, context: dict[str, Any], *, channel: str, zone: ZoneInfo) -> tuple[str, str]:
    """(subject, body) from reminders/<base>.subject.txt + <base>.txt, or <base>.sms.txt.

    Rendered with the site's zone active, so every time shows in Europe/London.
    """
    try:
        with timezone.override(zone):
            if channel == Channel.SMS:
                return "", render_to_string(f"reminders/{template_base}.sms.txt", context).strip()
            subject = " ".join(render_to_string(f"reminders/{template_base}.subject.txt", context).split())
            body = render_to_string(f"reminders/{template_base}.txt", context).strip() + "\n"
            return subject, body
    except Exception as exc:  # a broken template can raise nearly anything; all of it is permanent
        raise TemplateFailure(f"template error in reminders/{template_base}: {type(exc).__name__}: {exc}") from exc


def render_reminder(row: Reminder) -> Outgoing:
    patient = row.case.patient  # joined to the claim (REMINDERS.related)
    context = {**render_context(row.context), "patient_name": patient.given_name, "channel": row.channel}
    # The zone the row was planned in (the site's, kept in its context when it was planned).
    zone = ZoneInfo(str(row.context.get("timezone") or settings.TIME_ZONE))
    subject, body = _render(undated_kind(row.kind).split(":", 1)[0], context, channel=row.channel, zone=zone)
    return Outgoing(
        channel=row.channel,
        to=patient_address(patient, row.channel),
        subject=subject,
        body=body,
        message_id=f"<reminder-{row.pk}@{mail_domain()}>",
    )


def render_notice(row: StaffNotice) -> Outgoing:
    session = row.session
    cases = (
        Case.objects.filter(session=session, status__in=OCCUPYING_STATUSES)
        .select_related("procedure_version__template")
        .order_by("start")
    )
    context = {
        "staff_name": row.staff.name,
        "session": session,
        "theatre": session.theatre.name,
        "site_name": session.theatre.site.name,
        "changes": [
            {
                **c,
                "at": dt.datetime.fromisoformat(c["at"]) if c.get("at") else None,
                "label": CHANGE_LABELS.get(c.get("change", ""), c.get("change", "")),
            }
            for c in row.changes
        ],
        "cases": [
            {
                "reference": c.reference,
                "procedure": c.procedure_version.template.name,
                "levels": c.levels,
                "start": c.start,
                "end": c.end,
            }
            for c in cases
        ],
    }
    if any(c.get("change") == "time_freed" for c in row.changes):
        # Where the waiting cases that fit the freed time are listed (ids only, no patient data).
        context["candidates_path"] = reverse("session-candidates", kwargs={"pk": session.pk})
    # Coordinators are told about lists they do not work on: "the list", not "your list".
    context["for_coordinator"] = row.staff.role == StaffRole.COORDINATOR
    subject, body = _render("staff_notice", context, channel=Channel.EMAIL, zone=session.theatre.site.zone)
    return Outgoing(
        channel=Channel.EMAIL,
        to=row.staff.email,
        subject=subject,
        body=body,
        message_id=f"<staff-notice-{row.pk}@{mail_domain()}>",
    )


# --- Channels --------------------------------------------------------------------------------


class Outbox:
    """The channel connections for one sweep: one SMTP connection reused for every email.

    Reusing it matters for exactly-once as well as speed: with a fresh connection per message
    Django would send QUIT after the message and wait for the reply, widening the window
    between "accepted" and our COMMIT by a round trip.
    """

    def __init__(self) -> None:
        self._email: BaseEmailBackend | None = None
        self._sms: SMSBackend | None = None

    def send(self, message: Outgoing) -> None:
        if message.channel == Channel.SMS:
            if self._sms is None:
                self._sms = get_sms_backend()
            self._sms.send(message.to, message.body, message_id=message.message_id)
            return
        if self._email is None:
            self._email = get_connection(fail_silently=False)
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
            headers={"Message-ID": message.message_id},
            connection=self._email,
        )
        try:
            self._email.open()
            sent = self._email.send_messages([email])
        except BaseException:
            self._drop_email()  # a broken connection is not reused for the next row
            raise
        if not sent:
            raise smtplib.SMTPServerDisconnected("the email backend sent nothing")
        if not isinstance(self._email, SMTPBackend):
            self._drop_email()  # the file backend writes one file per connection: one per message

    def _drop_email(self) -> None:
        if self._email is not None:
            with contextlib.suppress(Exception):  # closing an already broken connection
                self._email.close()
            self._email = None

    def close(self) -> None:
        self._drop_email()


# --- Delivering one row ----------------------------------------------------------------------

_FIELDS = ("status", "sent_at", "attempts", "last_error", "next_attempt_at")


def reminder_stale_reason(row: Reminder, *, now: dt.datetime) -> str | None:
    """Why this patient reminder must not go out now (its case as it stands), or None. Reads
    `row.case`: load it with the row (select_related), in the statement that locks the row."""
    status, case_start = row.case.status, row.case.start
    # The appointment the row is about; its context has it (a row outlives a move only as
    # superseded), the case's own start is the fallback for rows planned without one.
    start = appointment_start(row.context or {}) or case_start
    after_days = (row.context or {}).get("after_days")
    return stale_reason(
        kind=row.kind,
        case_status=status,
        start=start,
        due_at=row.due_at,
        now=now,
        after_days=after_days if isinstance(after_days, int) else None,
    )


@dataclass(frozen=True)
class _RowType:
    model: type[Reminder] | type[StaffNotice]
    label: str  # audit action prefix
    render: Callable[[Any], Outgoing]
    retry_task: str  # the Celery task name that retries one row
    stale: Callable[..., str | None] | None = None  # (row, now=) -> skip reason; None: never stale
    related: tuple[str, ...] = ()  # what `stale` and `render` read, joined to the claim


REMINDERS = _RowType(
    Reminder,
    "reminder",
    render_reminder,
    "scheduling.tasks.send_reminder",
    stale=reminder_stale_reason,
    related=("case__patient",),
)
NOTICES = _RowType(
    StaffNotice,
    "staff_notice",
    render_notice,
    "scheduling.tasks.send_staff_notice",
    related=("session__theatre__site", "staff"),
)


def _due(now: dt.datetime) -> Q:
    return Q(status=ReminderStatus.PENDING, due_at__lte=now) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _save(row: models.Model, *, actor: Actor, action: str, before: dict[str, Any], reason: str = "") -> None:
    row.save(update_fields=[*_FIELDS, "updated_at"])
    record(actor=actor, action=action, obj=row, before=before, after=snapshot(row, _FIELDS), reason=reason)


def _queue_retry(task_name: str, row_id: int, countdown: float) -> None:
    from config.celery import app

    try:
        app.send_task(task_name, args=(row_id,), countdown=countdown)
    except Exception:  # the sweep picks the row up after next_attempt_at anyway
        logger.warning("could not queue retry %s(%s); the sweep will retry it", task_name, row_id, exc_info=True)


def _skip(row: Reminder, *, reason: str, actor: Actor) -> Outcome:
    """Mark the locked row `skipped` with its reason, audited: terminal, never sent."""
    fields = ("status", "skip_reason", "next_attempt_at")
    before = snapshot(row, fields)
    row.status = ReminderStatus.SKIPPED
    row.skip_reason = reason
    row.next_attempt_at = None
    row.save(update_fields=[*fields, "updated_at"])
    record(actor=actor, action="reminder.skipped", obj=row, before=before, after=snapshot(row, fields), reason=reason)
    return "skipped"


def skip_stale_for_case(*, case_id: int, actor: Actor, now: dt.datetime | None = None) -> int:
    """Mark `skipped` (audited) every pending reminder of the case whose moment its new state has
    made meaningless, by the sweep's own rule, so the case shows it at once rather than when the
    row falls due. Call inside the transaction that changed the case (e.g. the WHO sign out)."""
    moment = now or timezone.now()
    skipped = 0
    rows = Reminder.objects.select_for_update(of=("self",)).select_related("case")
    for row in rows.filter(case_id=case_id, status=ReminderStatus.PENDING):
        reason = reminder_stale_reason(row, now=moment)
        if reason is not None:
            _skip(row, reason=reason, actor=actor)
            skipped += 1
    return skipped


def _record_failure(row: Any, spec: _RowType, exc: BaseException, *, address: str, actor: Actor) -> Outcome:
    before = snapshot(row, _FIELDS)
    reason = exc.args[0] if isinstance(exc, TemplateFailure) else describe_failure(exc, address=address)
    row.attempts += 1
    row.last_error = reason
    if is_transient(exc) and row.attempts < settings.REMINDER_MAX_ATTEMPTS:
        delay = retry_delay(
            row.attempts, base=settings.REMINDER_RETRY_BASE_SECONDS, cap=settings.REMINDER_RETRY_MAX_SECONDS
        )
        row.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
        _save(row, actor=actor, action=f"{spec.label}.retry_scheduled", before=before, reason=reason)
        row_id = row.pk
        transaction.on_commit(lambda: _queue_retry(spec.retry_task, row_id, delay))
        return "retrying"
    row.status = ReminderStatus.FAILED
    row.next_attempt_at = None
    _save(row, actor=actor, action=f"{spec.label}.failed", before=before, reason=reason)
    return "failed"


def _deliver(
    spec: _RowType, *, where: Q, outbox: Outbox, actor: Actor, now: dt.datetime | None = None
) -> Outcome | None:
    """Claim one matching row, send it (or skip it if its moment has passed, as of `now`, by
    default the clock at the claim), record the outcome. None when there is nothing to claim."""
    with transaction.atomic():
        # By primary key, without ORDER BY. What the staleness check and the message read (the
        # case and its patient) is joined in, locked neither (OF self: a booking is never held
        # up by a send), read as it stands in this statement, after the candidates were read:
        # one statement rather than three, 8 to 6 per row sent (bench/reminders.py).
        claim = spec.model.objects.select_for_update(skip_locked=True, of=("self",)).select_related(*spec.related)
        row: Any = next(iter(claim.filter(where)[:1]), None)
        if row is None:
            return None
        if row.status != ReminderStatus.PENDING:  # re-checked under the lock
            return None
        stale = spec.stale(row, now=now or timezone.now()) if spec.stale is not None else None
        if stale is not None:
            return _skip(row, reason=stale, actor=actor)
        address = ""
        try:
            message = spec.render(row)
            address = message.to
            if not address:
                raise TemplateFailure("no address on file for this channel any more")
            # A savepoint undoes the mark if the send fails. It is deliberately not released
            # after a successful send: RELEASE would be one more round trip between the
            # server's "250 accepted" and our COMMIT, the one window that can duplicate.
            savepoint = transaction.savepoint()
            before = snapshot(row, _FIELDS)
            row.status = ReminderStatus.SENT
            row.sent_at = timezone.now()
            row.attempts += 1
            row.last_error = ""
            row.next_attempt_at = None
            _save(row, actor=actor, action=f"{spec.label}.sent", before=before)
            try:
                outbox.send(message)
            except BaseException:
                transaction.savepoint_rollback(savepoint)
                raise
        except DatabaseError:
            raise
        except Exception as exc:
            row = spec.model.objects.get(pk=row.pk)  # as the database has it after the rollback
            return _record_failure(row, spec, exc, address=address, actor=actor)
    return "sent"


def deliver_reminder(*, reminder_id: int, actor: Actor) -> Outcome | None:
    """Send one due reminder if it is still pending and nobody else is sending it (a retry)."""
    outbox = Outbox()
    try:
        return _deliver(
            REMINDERS,
            where=Q(pk=reminder_id) & _due(timezone.now() + dt.timedelta(seconds=1)),
            outbox=outbox,
            actor=actor,
        )
    finally:
        outbox.close()


def deliver_staff_notice(*, notice_id: int, actor: Actor) -> Outcome | None:
    """Send one due staff notice if it is still pending and nobody else is sending it (a retry)."""
    outbox = Outbox()
    try:
        return _deliver(
            NOTICES, where=Q(pk=notice_id) & _due(timezone.now() + dt.timedelta(seconds=1)), outbox=outbox, actor=actor
        )
    finally:
        outbox.close()


# --- The sweep -------------------------------------------------------------------------------


@dataclass
class SweepResult:
    counts: dict[str, int] = field(default_factory=lambda: {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0})

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


def due_count() -> int:
    """How many reminders and notices are due now (to decide how many sweeps to run at once)."""
    now = timezone.now()
    return Reminder.objects.filter(_due(now)).count() + StaffNotice.objects.filter(_due(now)).count()


# Rows a sweep looks at per round. Claiming "the next due row" with ORDER BY … LIMIT 1 FOR UPDATE
# SKIP LOCKED walks the partial index past every row already sent but not yet vacuumed, which
# grows with the backlog (tens of ms per claim at 10,000). So a sweep reads a batch of candidate
# ids with a plain SELECT (no lock: locking them, even briefly, would hide them from the other
# sweeps), shuffles them, and claims each by primary key with FOR UPDATE SKIP LOCKED and the due
# conditions re-checked.
SWEEP_BATCH = 200


@dataclass(frozen=True)
class Share:
    """Sweep `index` of `of` running side by side takes first the rows whose id is `index` modulo
    `of`. Sweeps reading the same candidates each tried every row, and all but one of them found
    it sent already: with 4 sweeps, three wasted claims (a transaction each) for every message
    sent, and 45 messages/s at 10,000 (bench/reminders.py). A share is only an order of work,
    never a promise: its sweep then takes any due row, so the rows of a sweep that died or fell
    behind are sent all the same, and every claim is the same locked, re-checked claim."""

    index: int
    of: int


def _candidates(spec: _RowType, now: dt.datetime, share: Share | None) -> list[int]:
    rows = spec.model.objects.filter(_due(now))
    if share is not None:
        rows = rows.alias(part=F("pk") % share.of).filter(part=share.index)
    ids = list(rows.order_by("due_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    random.shuffle(ids)  # noqa: S311 - spreading work, not security
    return ids


def sweep(
    *, actor: Actor, budget_seconds: float | None = None, now: dt.datetime | None = None, share: Share | None = None
) -> SweepResult:
    """Send every due reminder and staff notice, one row per transaction, until none is left or
    the time budget is spent. Any number of sweeps may run at once: SKIP LOCKED shares the rows,
    and a `share` says which rows this one takes first. `now` pins the clock ("what is due at
    09:59?", and whether a row's moment has passed by then); by default each claim reads the clock."""
    budget = settings.REMINDER_SWEEP_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    result = SweepResult()
    outbox = Outbox()
    try:
        for spec in (REMINDERS, NOTICES):
            for part in (share, None) if share is not None else (None,):
                while time.monotonic() < deadline:
                    claimed = 0
                    for row_id in _candidates(spec, now or timezone.now(), part):
                        if time.monotonic() >= deadline:
                            break
                        where = Q(pk=row_id) & _due(now or timezone.now())
                        outcome = _deliver(spec, where=where, outbox=outbox, actor=actor, now=now)
                        if outcome is not None:  # None: another sweep has it (or just sent it)
                            result.counts[outcome] += 1
                            claimed += 1
                    if not claimed:
                        break  # nothing due, or every due row is in another sweep's hands
    finally:
        outbox.close()
    return result
