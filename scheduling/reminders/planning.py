"""Reminder planning. The booking services call the two hooks below inside their own
transaction, so a booking and its reminder rows commit or roll back together.

What a booked case gets, from the case and its PINNED template version (every clinical number
comes from the version, never from here):

=====================================  =========================================================
kind                                   due (computed in the site's zone, stored in UTC)
=====================================  =========================================================
preop_assessment                       at once (the next sweep, within a minute)
anticoagulant_hold:<drug>@<date>       10:00 local, HOLD_NOTICE_DAYS before the first day
                                       without the drug (at once if that is already past)
fasting@<date>  (general anaesthesia)  10:00 local, FASTING_NOTICE_DAYS before the procedure
day_before@<date>                      10:00 local on the day before the procedure
follow_up:<code>@<date>                09:00 local, `after_days` after the procedure day
rescheduled@<local start>              at once, when a booked case moves
cancellation                           at once, when a booked case is cancelled
=====================================  =========================================================

`<date>` is the local date of the appointment the row is about. A move within the same day
updates the pending rows in place; a move to another day renames the pending rows to the new
date, and a row already SENT for the old date stays as it was while a new row is planned for the
new date: a patient who was told to stop warfarin for the 4th is told again for the 11th.
Unique (case, kind, channel) therefore means: once per appointment date, per kind, per channel.
The kind without its `@<date>` (`undated_kind`) is what stays the same across a move.

`plan_reminders` is a pure function of an `Appointment` (frozen, loaded by `appointment_of`);
the hooks load the case, plan, and make the rows match the plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.audit import Actor, AuditBatch, audit_batch, snapshot
from core.bulk import insert_all
from core.db import CompiledQuery
from procedures.models import Anaesthesia
from procedures.versions import pinned_version
from scheduling.models import (
    Case,
    CaseCancellation,
    CaseStatus,
    Channel,
    Patient,
    Reminder,
    ReminderPlan,
    ReminderStatus,
)
from scheduling.plans.assembly import anticoagulant_holds
from scheduling.reminders.notices import list_changed
from theatre.models import Theatre, TheatreSession

# Local wall-clock send times: policy of the unit, not clinical numbers. Patients get
# date-bound reminders in the morning, follow-ups just after the clinic opens.
MORNING_SEND_AT = dt.time(10, 0)
FOLLOW_UP_SEND_AT = dt.time(9, 0)
HOLD_NOTICE_DAYS = 2  # the day before the last dose, so there is a day to act on it
FASTING_NOTICE_DAYS = 2

# Rows that tell the patient about a change; re-planning never cancels them as "not applicable".
CHANGE_NOTICE_KINDS = frozenset({"rescheduled", "cancellation"})

NO_CONTACT = "no_contact_details"
PREFERRED_UNREACHABLE = "preferred_channel_unreachable"
HOLD_TOO_LATE = "anticoagulant_hold_too_late"


@dataclass(frozen=True)
class Appointment:
    """A booked case as reminder planning reads it (`appointment_of` loads it): no model instances."""

    reference: str
    procedure: str  # the template's name
    levels: tuple[str, ...]
    anaesthesia: str  # the option's code
    start: dt.datetime
    session_id: int
    theatre: str
    site_name: str
    site_address: str
    site_phone: str
    timezone: str  # the site's: every "10:00 local" is in this zone
    screening_result: Mapping[str, Any]  # as stored; the anticoagulant holds come from it
    # From the pinned version: every clinical number comes from here.
    fasting: Mapping[str, Any]
    follow_up: tuple[Mapping[str, Any], ...]
    recovery: Mapping[str, Any]


@dataclass(frozen=True)
class Planned:
    """One reminder row as the plan wants it."""

    undated_kind: str  # stable across moves: "day_before", "anticoagulant_hold:warfarin"
    kind: str  # plus the appointment it is about: "day_before@2027-01-04"
    channel: str
    due_at: dt.datetime
    context: dict[str, Any]


# --- Pure rules ------------------------------------------------------------------------------


def undated_kind(kind: str) -> str:
    """The kind without the appointment it is about: "day_before@2027-01-04" -> "day_before".

    What a reminder is for, whichever date the case is on: a move re-plans the pending row of
    the same undated kind, and the message template is chosen by it.
    """
    return kind.split("@", 1)[0]


def local_at(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """`at` o'clock local time on `day`, as UTC.

    DST: a wall-clock time is built in the zone and converted, never "UTC date + hours", so
    10:00 stays 10:00 in London on both sides of a clock change. The send times used here
    (09:00, 10:00) are never in the 01:00-02:00 gap or fold.
    """
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)


def reachable_channels(patient: Patient) -> tuple[list[str], list[dict[str, str]]]:
    """The channels to use, in the patient's order of preference, and any warnings.

    The patient's preferences are respected when they can be: one row per preferred channel with
    contact details. No stated preference means every channel we have details for. If none of
    the preferred channels can be reached, the reachable one is used instead, with a warning.
    """
    address = {Channel.EMAIL.value: patient.email.strip(), Channel.SMS.value: patient.phone.strip()}
    preferred = [c for c in (patient.reminder_channels or []) if c in address] or list(address)
    preferred = list(dict.fromkeys(preferred))
    usable = [c for c in preferred if address[c]]
    if usable:
        return usable, []
    fallback = [c for c in address if address[c]]
    if fallback:
        detail = (
            f"The patient prefers {', '.join(preferred)} but has no contact details for it; "
            f"reminders go by {fallback[0]} instead."
        )
        return fallback[:1], [{"code": PREFERRED_UNREACHABLE, "detail": detail}]
    detail = "No reminders will be sent: the patient has no email address and no mobile number."
    return [], [{"code": NO_CONTACT, "detail": detail}]


def _appointment_context(appointment: Appointment, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "reference": appointment.reference,
        "procedure": appointment.procedure,
        "levels": list(appointment.levels),
        "anaesthesia": Anaesthesia(appointment.anaesthesia).label,
        "start": appointment.start.astimezone(dt.UTC).isoformat(),
        "timezone": tz.key,
        "session": appointment.session_id,
        "theatre": appointment.theatre,
        "site_name": appointment.site_name,
        "site_address": appointment.site_address,
        "site_phone": appointment.site_phone,
    }


def plan_reminders(
    *,
    appointment: Appointment,
    channels: Sequence[str],
    now: dt.datetime,
    moved_from: dt.datetime | None,
    arrival_minutes: int,
) -> tuple[list[Planned], list[dict[str, str]]]:
    """The rows a booked case should have, and planning warnings. Pure: no database, no clock
    (`now` is given), no settings (`arrival_minutes` is settings.REMINDER_ARRIVAL_MINUTES)."""
    tz = ZoneInfo(appointment.timezone)
    base = _appointment_context(appointment, tz)
    start = appointment.start
    start_local = start.astimezone(tz)
    day = start_local.date()
    stamp = day.isoformat()
    wanted: list[tuple[str, str, dt.datetime, dict[str, Any]]] = []
    warnings: list[dict[str, str]] = []

    wanted.append(("preop_assessment", "preop_assessment", now, {}))

    for hold in anticoagulant_holds(appointment.screening_result, day):
        stop_from: dt.date = hold["stop_from"]
        due = local_at(stop_from - dt.timedelta(days=HOLD_NOTICE_DAYS), MORNING_SEND_AT, tz)
        if stop_from <= now.astimezone(tz).date():
            warnings.append(
                {
                    "code": HOLD_TOO_LATE,
                    "detail": f"{hold['drug']} should have been stopped from {stop_from:%d %B %Y}; "
                    "the patient is told at once, but the clinical team must review the date.",
                }
            )
        undated = f"anticoagulant_hold:{hold['drug']}"
        context = {
            "too_late": stop_from <= now.astimezone(tz).date(),
            "drug": hold["drug"],
            "stop_days_before": hold["stop_days_before"],
            "last_dose_on": hold["last_dose_on"].isoformat(),
            "stop_from": stop_from.isoformat(),
        }
        wanted.append((undated, f"{undated}@{stamp}", max(due, now), context))

    if appointment.anaesthesia == Anaesthesia.GENERAL:
        # Fasting applies to general anaesthesia only; the hours are the version's (template
        # defaults 6 h food, 2 h clear fluids), counted back from the case start.
        food_hours = int(appointment.fasting.get("food_hours", 0))
        fluid_hours = int(appointment.fasting.get("clear_fluids_hours", 0))
        due = local_at(day - dt.timedelta(days=FASTING_NOTICE_DAYS), MORNING_SEND_AT, tz)
        context = {
            "food_hours": food_hours,
            "clear_fluids_hours": fluid_hours,
            "food_until": (start - dt.timedelta(hours=food_hours)).isoformat(),
            "fluids_until": (start - dt.timedelta(hours=fluid_hours)).isoformat(),
        }
        wanted.append(("fasting", f"fasting@{stamp}", max(due, now), context))

    arrival = start - dt.timedelta(minutes=arrival_minutes)
    due = local_at(day - dt.timedelta(days=1), MORNING_SEND_AT, tz)
    wanted.append(("day_before", f"day_before@{stamp}", max(due, now), {"arrival": arrival.isoformat()}))

    recovery = appointment.recovery or {}
    for follow_up in appointment.follow_up:
        undated = f"follow_up:{follow_up['code']}"
        due = local_at(day + dt.timedelta(days=int(follow_up["after_days"])), FOLLOW_UP_SEND_AT, tz)
        context = {
            "code": follow_up["code"],
            "title": follow_up.get("title", ""),
            "after_days": int(follow_up["after_days"]),
            "advice": list(follow_up.get("advice", [])),
            "rehabilitation": recovery.get("rehabilitation", ""),
            "recovery_advice": list(recovery.get("advice", [])),
        }
        wanted.append((undated, f"{undated}@{stamp}", max(due, now), context))

    if moved_from is not None and moved_from != start:
        context = {"previous_start": moved_from.astimezone(dt.UTC).isoformat()}
        wanted.append(("rescheduled", f"rescheduled@{start_local:%Y-%m-%dT%H%M}", now, context))

    planned = [
        Planned(undated_kind=undated, kind=kind, channel=channel, due_at=due_at, context={**base, **extra})
        for undated, kind, due_at, extra in wanted
        for channel in channels
    ]
    return planned, warnings


# --- Writing the plan ------------------------------------------------------------------------

_PLAN_FIELDS = ("kind", "due_at", "status", "skip_reason", "context", "attempts", "last_error", "next_attempt_at")


def _set_status(row: Reminder, status: str, *, actor: Actor, action: str, reason: str, audit: AuditBatch) -> None:
    before = snapshot(row, _PLAN_FIELDS)
    row.status = status
    row.save(update_fields=["status", "updated_at"])
    audit.record(actor=actor, action=action, obj=row, before=before, after=snapshot(row, _PLAN_FIELDS), reason=reason)


def _replan_row(
    row: Reminder, want: Planned, *, actor: Actor, reopen: bool, now: dt.datetime, audit: AuditBatch
) -> None:
    # A row already due stays due from its original time ("at once" is not a new time), and
    # keeps any backoff it is in: re-planning must not turn into a retry storm.
    due_at = row.due_at if (row.due_at <= now and want.due_at <= now) else want.due_at
    if not reopen and (row.kind, row.due_at, row.context) == (want.kind, due_at, want.context):
        return
    before = snapshot(row, _PLAN_FIELDS)
    if reopen or due_at != row.due_at:
        row.next_attempt_at = None
    row.kind, row.due_at, row.context = want.kind, due_at, want.context
    row.status = ReminderStatus.PENDING
    row.skip_reason = ""
    row.save(update_fields=["kind", "due_at", "context", "status", "skip_reason", "next_attempt_at", "updated_at"])
    audit.record(
        actor=actor,
        action="reminder.replanned",
        obj=row,
        before=before,
        after=snapshot(row, _PLAN_FIELDS),
        reason="case booked or moved",
    )


def _apply_plan(
    case: Case,
    planned: Iterable[Planned],
    existing: list[Reminder],
    *,
    actor: Actor,
    now: dt.datetime,
    audit: AuditBatch,
) -> None:
    """Make the rows match the plan, touching PENDING rows only (and re-opening cancelled ones).
    New rows go in one INSERT: a first booking plans 10 of them, one query each before."""
    by_kind = {(r.kind, r.channel): r for r in existing}
    pending = {(undated_kind(r.kind), r.channel): r for r in existing if r.status == ReminderStatus.PENDING}
    new_rows: list[Reminder] = []
    for want in planned:
        exact = by_kind.get((want.kind, want.channel))
        row = pending.pop((want.undated_kind, want.channel), None)
        if row is not None and (exact is None or exact is row):
            _replan_row(row, want, actor=actor, reopen=False, now=now, audit=audit)
            continue
        if row is not None:
            # A row for this very appointment was already sent (or failed, visibly): the
            # pending one for an older date is superseded, not sent a second time.
            _set_status(
                row,
                ReminderStatus.CANCELLED,
                actor=actor,
                action="reminder.cancelled",
                reason="superseded",
                audit=audit,
            )
        if exact is None:
            created = Reminder(
                case=case, kind=want.kind, channel=want.channel, due_at=want.due_at, context=want.context
            )
            new_rows.append(created)
            # Audited as planned; the batch writes the entry once the INSERT below has given the row its id.
            audit.record(actor=actor, action="reminder.planned", obj=created, after=snapshot(created, _PLAN_FIELDS))
        elif exact.status in (ReminderStatus.CANCELLED, ReminderStatus.SKIPPED):
            # A skip judged the case as it was when the row fell due; re-planned, the row is
            # pending again and the sweep judges it afresh (it skips it again if still stale).
            _replan_row(exact, want, actor=actor, reopen=True, now=now, audit=audit)
        # SENT or FAILED for this appointment: never touched again.
    for (undated, _channel), row in pending.items():
        if undated not in CHANGE_NOTICE_KINDS:
            _set_status(
                row,
                ReminderStatus.CANCELLED,
                actor=actor,
                action="reminder.cancelled",
                reason="no longer applies to the case",
                audit=audit,
            )
    insert_all(new_rows)


# What planning reads besides the case row. The booking services lock the case and its session
# with these (scheduling.booking), so planning a booking reads nothing again; any other caller's
# case is reloaded with them in one query. The pinned version comes from the process cache.
PLANNING_RELATED = (
    "patient",
    "procedure",
    "reminder_plan",
    "session__theatre__site",
    "session__surgeon",
    "session__anaesthetist",
)


def _carries_planning_relations(case: Case) -> bool:
    if not all(rel.is_cached(case) for rel in (Case.patient, Case.procedure, Case.reminder_plan, Case.session)):
        return False
    session = case.session
    if session is None:
        return True
    return all(
        rel.is_cached(session) for rel in (TheatreSession.theatre, TheatreSession.surgeon, TheatreSession.anaesthetist)
    ) and Theatre.site.is_cached(session.theatre)


def _for_planning(case: Case) -> Case:
    """The case with PLANNING_RELATED and its version: as the caller loaded it if it carries them
    all, else reloaded in one query (no version JSON: that comes from the cache)."""
    if not _carries_planning_relations(case):
        case = Case.objects.select_related(*PLANNING_RELATED).get(pk=case.pk)
    if not Case.procedure_version.is_cached(case):
        case.procedure_version = pinned_version(case.procedure_version_id)
    return case


def _procedure_name(case: Case) -> str:
    """The name of the template the case's version belongs to (its own `procedure`, loaded with it)."""
    version = case.procedure_version
    return case.procedure.name if case.procedure_id == version.template_id else version.template.name


def appointment_of(case: Case) -> Appointment:
    """The Appointment of a booked case loaded with its session, site and version (no query)."""
    assert case.session is not None and case.start is not None  # noqa: S101 - booked cases only
    site = case.session.theatre.site
    version = case.procedure_version
    return Appointment(
        reference=case.reference,
        procedure=_procedure_name(case),
        levels=tuple(case.levels),
        anaesthesia=case.anaesthesia,
        start=case.start,
        session_id=case.session.pk,
        theatre=case.session.theatre.name,
        site_name=site.name,
        site_address=site.address,
        site_phone=site.phone,
        timezone=site.zone.key,
        screening_result=case.screening_result or {},
        fasting=version.fasting,
        follow_up=tuple(version.follow_up or []),
        recovery=version.recovery or {},
    )


def _insert_first_plan(case: Case, *, warnings: list[dict[str, str]]) -> tuple[ReminderPlan | None, bool]:
    """Insert the case's plan row as planned now, or None if another transaction made one since the
    case was read (one query; the row is ours, locked, until we commit); and whether the case has
    any reminder rows, asked in the same statement.

    get_or_create took four queries (SELECT … FOR UPDATE, SAVEPOINT, INSERT, RELEASE) and an
    UPDATE once planned. ON CONFLICT DO NOTHING waits for a racing insert to commit, then yields
    nothing, and the caller locks the winner's row instead: the same serialisation.
    """
    plan = ReminderPlan(case=case, session=case.session, start=case.start, warnings=warnings)
    fields = [field for field in ReminderPlan._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(plan, add=True), connection) for field in fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ReminderPlan._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608 - names from the model
            "ON CONFLICT (case_id) DO NOTHING RETURNING id, "
            f"EXISTS (SELECT 1 FROM {Reminder._meta.db_table} WHERE case_id = %s)",  # noqa: S608 - names from the model
            [*values, case.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return None, True  # planned before: the caller reads the rows
    plan.pk = row[0]
    plan._state.adding = False
    return plan, bool(row[1])


def replan_for_case(*, case: Case, actor: Actor, audit: AuditBatch | None = None) -> None:
    """(Re)plan the case's reminder rows after it was booked or moved. Idempotent.

    Call inside the booking transaction with the case row saved (and locked). Pending rows are
    updated in place; sent rows are never touched; rows that no longer apply are cancelled.
    A patient without email or phone gets no rows and a warning on the case, and the booking
    still goes ahead. Staff of the old and new lists get a notice if those lists are published
    or locked. `audit`: the caller's batch, so its own entry and these go in one INSERT (flushed
    here, before staff are told).
    """
    batch = audit if audit is not None else AuditBatch()
    case = _for_planning(case)
    if case.session is None or case.start is None:
        batch.flush()
        return
    now = timezone.now()
    channels, warnings = reachable_channels(case.patient)
    appointment = appointment_of(case)

    def plan_for(moved_from: dt.datetime | None) -> tuple[list[Planned], list[dict[str, str]]]:
        planned, plan_warnings = plan_reminders(
            appointment=appointment,
            channels=channels,
            now=now,
            moved_from=moved_from,
            arrival_minutes=settings.REMINDER_ARRIVAL_MINUTES,
        )
        return planned, warnings + plan_warnings

    # The plan row is locked before the reminder rows are read, so two re-plans of one case take
    # turns, and the second reads the rows the first wrote.
    planned, all_warnings = plan_for(None)
    plan, has_rows = _insert_first_plan(case, warnings=all_warnings) if _had_no_plan(case) else (None, True)
    inserted = plan is not None
    if plan is not None:
        moved = False
        before: dict[str, Any] = {"session": None, "start": None, "warnings": []}
    else:
        plan = ReminderPlan.objects.select_for_update().get(case=case)
        moved = plan.start is not None and (plan.start != case.start or plan.session_id != case.session_id)
        if moved:
            planned, all_warnings = plan_for(plan.start)
        before = {"session": plan.session_id, "start": plan.start, "warnings": plan.warnings}
    # A case planned for the first time has no reminder rows (planning makes them after the plan
    # row, which is never deleted), so the plan's INSERT asks, and the rows are read and locked only
    # if some exist after all (rows from before the plan table, a restore, hand-written SQL): a row
    # left unread would stay pending for its old date and be sent. One query of a first booking's 19.
    existing = _LOCKED_REMINDERS.all(case.pk) if has_rows else []
    _apply_plan(case, planned, existing, actor=actor, now=now, audit=batch)

    old_session = plan.session if moved and plan.session_id != case.session_id else None
    if not inserted:  # an inserted plan was written as planned
        plan.session, plan.start, plan.warnings = case.session, case.start, all_warnings
        plan.save()
    case.reminder_plan = plan  # the case in hand shows the plan as it now is (reminder_warnings)
    batch.record(
        actor=actor,
        action="case.reminders_planned",
        obj=case,
        before=before,
        after={"session": plan.session_id, "start": plan.start, "warnings": plan.warnings},
        reason="; ".join(w["code"] for w in plan.warnings),
    )
    batch.flush()
    if old_session is not None:
        list_changed(session=old_session, change="case_moved_out", case=case, actor=actor)
    if moved:
        change = "case_moved_in" if old_session is not None else "case_moved"
    else:
        change = "case_booked" if before["start"] is None else "case_updated"
    list_changed(session=case.session, change=change, case=case, actor=actor)


# A case's reminder rows, locked: read on every booking and move (core.db.CompiledQuery, issue 18).
_LOCKED_REMINDERS = CompiledQuery(
    lambda case_id: Reminder.objects.select_for_update().filter(case_id=case_id).order_by("id")
)


def _had_no_plan(case: Case) -> bool:
    """The case had no plan row when it was read (PLANNING_RELATED joins it, unlocked)."""
    try:
        case.reminder_plan  # noqa: B018 - the cached reverse relation: no query
    except ReminderPlan.DoesNotExist:
        return True
    return False


def _queue_cancellation_notices(
    *, case: Case, plan: ReminderPlan, actor: Actor, reason: str, audit: AuditBatch
) -> None:
    """One cancellation notice per reachable channel, unless the case was abandoned in theatre."""
    assert plan.session is not None and plan.start is not None  # noqa: S101 - a planned appointment
    abandoned = CaseCancellation.objects.filter(case=case, from_status=CaseStatus.IN_THEATRE).exists()
    channels, _ = ([], []) if abandoned else reachable_channels(case.patient)
    session = plan.session
    tz = session.theatre.site.zone
    context = {
        "reference": case.reference,
        "procedure": _procedure_name(case),
        "levels": list(case.levels),
        "start": plan.start.astimezone(dt.UTC).isoformat(),
        "timezone": tz.key,
        "session": session.pk,
        "site_name": session.theatre.site.name,
        "site_phone": session.theatre.site.phone,
    }
    now = timezone.now()
    for channel in channels:
        notice, created = Reminder.objects.get_or_create(
            case=case, kind="cancellation", channel=channel, defaults={"due_at": now, "context": context}
        )
        if created:
            audit.record(
                actor=actor, action="reminder.planned", obj=notice, after=snapshot(notice, _PLAN_FIELDS), reason=reason
            )


def cancel_for_case(*, case: Case, actor: Actor, reason: str) -> None:
    """Cancel the case's pending reminders and queue the patient's cancellation notice.

    Call inside the cancel transaction. Only a case that was booked (its reminders planned) gets
    a notice: a waiting-list entry had no appointment to cancel, and a patient whose case was
    abandoned in theatre is with the team, not waiting for a letter.
    """
    case = _for_planning(case)
    plan = (
        ReminderPlan.objects.select_for_update(of=("self",))
        .select_related("session__theatre__site")
        .filter(case=case)
        .first()
    )
    rows = list(Reminder.objects.select_for_update().filter(case=case, status=ReminderStatus.PENDING).order_by("id"))
    with audit_batch() as audit:
        for row in rows:
            _set_status(
                row, ReminderStatus.CANCELLED, actor=actor, action="reminder.cancelled", reason=reason, audit=audit
            )
        if plan is None or plan.session is None or plan.start is None:
            return
        session = plan.session
        _queue_cancellation_notices(case=case, plan=plan, actor=actor, reason=reason, audit=audit)
        before = {"session": plan.session_id, "start": plan.start}
        plan.session, plan.start = None, None
        plan.save()
        audit.record(actor=actor, action="case.reminders_cancelled", obj=case, before=before, after=None, reason=reason)
    list_changed(session=session, change="case_cancelled", case=case, actor=actor)


def retire_for_case(*, case: Case, actor: Actor, reason: str) -> int:
    """Cancel every pending reminder of a case whose appointment is already over, telling nobody:
    history recorded after the fact (the demo's past weeks) must never reach a patient. Audited;
    call inside the transaction that recorded the case, so no sweep ever sees the rows pending."""
    rows = list(Reminder.objects.select_for_update().filter(case=case, status=ReminderStatus.PENDING).order_by("id"))
    with audit_batch() as audit:
        for row in rows:
            _set_status(
                row, ReminderStatus.CANCELLED, actor=actor, action="reminder.cancelled", reason=reason, audit=audit
            )
    return len(rows)


# --- Reads -----------------------------------------------------------------------------------


def reminder_warnings(case: Case) -> list[dict[str, str]]:
    """The planning warnings to show on the case, e.g. no contact details (no query if the case
    was loaded with select_related("reminder_plan"))."""
    try:
        plan = case.reminder_plan
    except ReminderPlan.DoesNotExist:
        return []
    return list(plan.warnings or [])


def patient_address(patient: Patient, channel: str) -> str:
    """Where a reminder on `channel` goes: the email address or the mobile number."""
    return patient.email if channel == Channel.EMAIL else patient.phone


def render_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A row's stored context with its ISO dates turned back into dates for the templates."""
    out = dict(context)
    for key in ("start", "arrival", "food_until", "fluids_until", "previous_start"):
        if isinstance(out.get(key), str):
            out[key] = dt.datetime.fromisoformat(out[key])
    for key in ("last_dose_on", "stop_from"):
        if isinstance(out.get(key), str):
            out[key] = dt.date.fromisoformat(out[key])
    return out
