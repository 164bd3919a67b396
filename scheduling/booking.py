"""Booking, moving and cancelling cases: every invariant of DESIGN §2, all or nothing.

How a booking stays correct under concurrency:
1. One transaction. Locks are taken in one fixed order so two bookings can never wait on each
   other in a cycle: the case row, the target session row (FOR UPDATE), then pretix-style
   transaction advisory locks per (resource, UTC hour of the list), sorted: the case's surgeon, the
   session's anaesthetist, the patient, and each required equipment kind at the site. Bookings
   into lists that do not overlap in time run in parallel; two that could collide queue.
2. With the locks held, the service loads the current occupancy and asks the pure slot search
   (scheduling/slots.py) whether the start fits, or for the earliest start that does, so the
   409 names the exact rule.
3. On PostgreSQL, exclusion constraints hold the line whatever the application does; should one
   fire anyway it becomes the same 409, and a lock timeout or deadlock becomes 409 `busy`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models import TextChoices
from django.utils import timezone

from core.audit import Actor, AuditBatch, audit_batch, record, snapshot
from core.bulk import insert_all, update_fields
from core.db import CompiledQuery, constraint_errors, is_lock_contention
from core.errors import DomainError, ErrorCode, InvalidInput
from core.time import ensure_aware
from procedures.versions import pinned_version
from scheduling import plans, reminders
from scheduling.availability import demand_of, earliest_bookable, load_occupancy, window_of
from scheduling.cancellations import record_cancellation
from scheduling.models import CancelCategory, Case, CaseEquipment, CaseStatus
from scheduling.reminders.notices import time_freed
from scheduling.slots import check_start, earliest_start
from theatre.locking import check_open_for_changes
from theatre.models import EquipmentUnit, SessionStatus, StaffMember, Theatre, TheatreSession

T = TypeVar("T")


class CancelReason(TextChoices):
    PATIENT_REQUEST = "patient_request", "Patient request"
    CLINICAL = "clinical", "Clinical reason (e.g. unfit, screening changed)"
    LIST_OVERRUN = "list_overrun", "List overran"
    EQUIPMENT = "equipment", "Equipment unavailable"
    STAFF_UNAVAILABLE = "staff_unavailable", "Staff unavailable"
    ADMINISTRATIVE = "administrative", "Administrative (duplicate, entered in error)"
    OTHER = "other", "Other"
    # The reasons UK theatres return for cancellations on the day (NHS England's cancelled
    # elective operations collection; Model Hospital on-the-day cancellations by category).
    NO_BED = "no_bed", "No bed (ward or critical care)"
    EQUIPMENT_FAILURE = "equipment_failure", "Equipment failure (e.g. C-arm fault)"
    THEATRE_UNAVAILABLE = "theatre_unavailable", "Theatre unavailable (e.g. ventilation fault)"
    EMERGENCY_PRIORITY = "emergency_priority", "List time taken by an emergency"
    RESULTS_UNAVAILABLE = "results_unavailable", "Results or imaging not available"
    PATIENT_UNFIT = "patient_unfit", "Patient unfit on the day (e.g. infection, INR out of range)"
    NOT_REQUIRED = "not_required", "Procedure no longer required (clinical review)"
    PATIENT_DID_NOT_ATTEND = "patient_did_not_attend", "Patient did not attend"
    PATIENT_DECLINED = "patient_declined", "Patient declined on the day"
    NOT_FASTED = "not_fasted", "Patient not fasted"
    # Only for a case already in theatre: signed in, then stopped (e.g. anaesthetic complication).
    ABANDONED_IN_THEATRE = "abandoned_in_theatre", "Abandoned after WHO sign in"


# Every reason belongs to one category (DESIGN §5.1); the metrics count on-the-day cancellations
# by it. `other` and `administrative` are the hospital's own: non-clinical.
REASON_CATEGORY: dict[str, CancelCategory] = {
    CancelReason.PATIENT_REQUEST: CancelCategory.PATIENT,
    CancelReason.CLINICAL: CancelCategory.CLINICAL,
    CancelReason.LIST_OVERRUN: CancelCategory.NON_CLINICAL,
    CancelReason.EQUIPMENT: CancelCategory.NON_CLINICAL,
    CancelReason.STAFF_UNAVAILABLE: CancelCategory.NON_CLINICAL,
    CancelReason.ADMINISTRATIVE: CancelCategory.NON_CLINICAL,
    CancelReason.OTHER: CancelCategory.NON_CLINICAL,
    CancelReason.NO_BED: CancelCategory.NON_CLINICAL,
    CancelReason.EQUIPMENT_FAILURE: CancelCategory.NON_CLINICAL,
    CancelReason.THEATRE_UNAVAILABLE: CancelCategory.NON_CLINICAL,
    CancelReason.EMERGENCY_PRIORITY: CancelCategory.NON_CLINICAL,
    CancelReason.RESULTS_UNAVAILABLE: CancelCategory.NON_CLINICAL,
    CancelReason.PATIENT_UNFIT: CancelCategory.CLINICAL,
    CancelReason.NOT_REQUIRED: CancelCategory.CLINICAL,
    CancelReason.PATIENT_DID_NOT_ATTEND: CancelCategory.PATIENT,
    CancelReason.PATIENT_DECLINED: CancelCategory.PATIENT,
    CancelReason.NOT_FASTED: CancelCategory.PATIENT,
    CancelReason.ABANDONED_IN_THEATRE: CancelCategory.CLINICAL,
}
# Reasons that need a note saying what happened.
NOTE_REQUIRED = frozenset({CancelReason.OTHER, CancelReason.ABANDONED_IN_THEATRE})

CANCELLABLE = (CaseStatus.WAITING, CaseStatus.BOOKED, CaseStatus.CONFIRMED)
MOVABLE = (CaseStatus.BOOKED, CaseStatus.CONFIRMED)

DETAILS: dict[ErrorCode, str] = {
    ErrorCode.NOT_ELIGIBLE: "The case's screening is not eligible; it cannot be booked.",
    ErrorCode.OUTSIDE_SESSION: "The case does not fit inside the session at that start.",
    ErrorCode.SLOT_TAKEN: "Another case already holds that time in the session.",
    ErrorCode.SESSION_FULL: "No gap in the session is long enough for the case.",
    ErrorCode.SURGEON_BUSY: "The case's surgeon is busy elsewhere at that time.",
    ErrorCode.ANAESTHETIST_BUSY: "The session's anaesthetist is busy elsewhere at that time.",
    ErrorCode.ANAESTHETIST_REQUIRED: "A general anaesthetic needs an anaesthetist, and this list has none.",
    ErrorCode.PATIENT_BUSY: "The patient has another case at that time.",
    ErrorCode.PATIENT_UNAVAILABLE: "The patient is unavailable on that day (see the case's unavailable periods).",
    ErrorCode.EQUIPMENT_UNAVAILABLE: "No unit of a required equipment kind is free at the site for that time.",
    ErrorCode.CAPABILITY_MISSING: "The theatre lacks a capability the procedure requires.",
    ErrorCode.SESSION_LOCKED: "The session is locked or cancelled.",
    ErrorCode.BUSY: "The schedule is busy with another change; try again.",
}

# Exclusion constraints (scheduling migration 0002) → the rule each one holds.
CONSTRAINT_RULES: dict[str, tuple[ErrorCode, str]] = {
    name: (code, DETAILS[code])
    for name, code in {
        "case_no_session_overlap": ErrorCode.SLOT_TAKEN,
        "case_no_surgeon_overlap": ErrorCode.SURGEON_BUSY,
        "case_no_anaesthetist_overlap": ErrorCode.ANAESTHETIST_BUSY,
        "case_no_patient_overlap": ErrorCode.PATIENT_BUSY,
        "caseequipment_no_unit_overlap": ErrorCode.EQUIPMENT_UNAVAILABLE,
    }.items()
}


# The 409 codes a booking, a move or a re-fit can answer, for the API's schema
# (core/api/error_codes.py): the slot rules above; the database constraints behind them.
SLOT_REFUSALS: tuple[ErrorCode, ...] = tuple(DETAILS)
CONSTRAINT_REFUSALS: tuple[ErrorCode, ...] = tuple(sorted({code for code, _ in CONSTRAINT_RULES.values()}))
# A placement adds the team and theatre being active (ensure_active), and the case's status.
PLACEMENT_REFUSALS: tuple[ErrorCode, ...] = (
    *SLOT_REFUSALS,
    ErrorCode.THEATRE_INACTIVE,
    ErrorCode.STAFF_INACTIVE,
    ErrorCode.INVALID_TRANSITION,
)


def rule_broken(code: ErrorCode) -> DomainError:
    return DomainError(code, DETAILS[code])


def run_in_transaction(work: Callable[[], T]) -> T:
    """Run `work` in one transaction; constraint hits and lock failures become clean 409s."""
    try:
        with constraint_errors(CONSTRAINT_RULES), transaction.atomic():
            return work()
    except OperationalError as exc:
        if is_lock_contention(exc):
            raise rule_broken(ErrorCode.BUSY) from exc
        raise


def _lock_case(case_id: int) -> Case:
    """The case row locked FOR UPDATE, with its patient, template and reminder plan (not locked):
    what the slot search and reminder planning read (reminders.PLANNING_RELATED, with the session
    `_place` sets). Its version comes from the process cache: 14 KB of JSON that cannot change is
    not read again on every booking."""
    case = _LOCKED_CASE.get(case_id)
    case.procedure_version = pinned_version(case.procedure_version_id)
    return case


# Compiled once (core.db.CompiledQuery): building these two joins' SQL again took more of a booking's
# CPU than any other statement's (bench/booking.py, issue 18).
_LOCKED_CASE = CompiledQuery(
    lambda pk: (
        Case.objects.select_for_update(of=("self",))
        .select_related("patient", "procedure", "reminder_plan")
        .filter(pk=pk)
    )
)
_LOCKED_SESSION = CompiledQuery(
    lambda pk: (
        TheatreSession.objects.select_for_update(of=("self",))
        .select_related("theatre__site", "surgeon", "anaesthetist")
        .filter(pk=pk)
    )
)


def _lock_session(session_id: int) -> TheatreSession:
    """The session row locked FOR UPDATE, with its theatre, site and team (not locked): what the
    slot search, the advisory lock keys, reminder planning and the team's notices read."""
    return _LOCKED_SESSION.get(session_id)


def _hours_of(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The UTC clock hours [start, end) touches, e.g. ["2027-01-04T08", …]: the lock buckets.

    Two cases can only collide if their lists overlap in time, and then they share an hour, so
    per-hour locks serialise exactly the bookings that could clash; a morning and an afternoon
    list book in parallel.
    """
    hour = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour.strftime("%Y-%m-%dT%H"))
        hour += dt.timedelta(hours=1)
    return hours


def _lock_keys(*, case: Case, session: TheatreSession) -> set[str]:
    resources = [f"surgeon:{case.surgeon_id}", f"patient:{case.patient_id}"]
    if session.anaesthetist_id is not None:
        resources.append(f"anaesthetist:{session.anaesthetist_id}")
    site_id = session.theatre.site_id
    resources += [f"equipment:{site_id}:{kind}" for kind in case.procedure_version.required_equipment or ()]
    return {f"booking:{r}:{hour}" for r in resources for hour in _hours_of(session.start, session.end)}


def _lock_resources(*, case: Case, session: TheatreSession) -> None:
    """Advisory locks per (resource, UTC hour) of the session, in sorted order (deadlock-free)."""
    _take_advisory_locks(_lock_keys(case=case, session=session))


def _take_advisory_locks(keys: Iterable[str]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite (make run) holds its write lock from BEGIN IMMEDIATE: already serial.
    keys = sorted(set(keys))
    with connection.cursor() as cursor:
        # The ORDER BY in the subquery fixes the order the locks are taken in.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS ordered",
            [keys],
        )


def _not_before(now: dt.datetime | None) -> dt.datetime:
    """No new booking or move starts in the past. `now` is injectable so that tests, and demo data
    recorded for last week's list, can say when "now" is."""
    return earliest_bookable(now or timezone.now())


def _check_override(*, session: TheatreSession, actor: Actor, override: bool, override_reason: str) -> bool:
    """True if the change goes into a locked list by a coordinator's audited override (6-4-2)."""
    if override and session.status == SessionStatus.LOCKED and not override_reason.strip():
        raise InvalidInput("override_reason", "Changing a locked list needs a reason for the override.")
    check_open_for_changes(session=session, actor=actor, override=override, reason=override_reason)
    return session.status == SessionStatus.LOCKED


def ensure_active(*, case: Case, session: TheatreSession) -> None:
    """A new place for a case needs an active theatre, and an active case surgeon and list team
    (one query). Units are chosen among active ones only (availability.load_occupancy), so an
    inactive unit is never claimed: with none active the answer is equipment_unavailable.

    A deactivated theatre or person is one the unit has taken out of use (a ventilation fault, a
    surgeon on long leave): a list still on the books there must not take new work. theatre's
    estate service asks scheduling before deactivating anything with bookings (theatre_rules).
    """
    team = {"the case's surgeon": case.surgeon_id, "the list's surgeon": session.surgeon_id}
    if session.anaesthetist_id is not None:
        team["the list's anaesthetist"] = session.anaesthetist_id
    theatre_active, inactive = _read_active_locked(theatre_id=session.theatre_id, staff_ids=set(team.values()))
    if not theatre_active:
        raise DomainError(
            ErrorCode.THEATRE_INACTIVE,
            f"Theatre {session.theatre.name} is deactivated; it takes no new bookings.",
            theatre=session.theatre_id,
        )
    if inactive:
        who = [label for label, pk in team.items() if pk in inactive]
        raise DomainError(
            ErrorCode.STAFF_INACTIVE,
            f"Deactivated, so taking no new bookings: {' and '.join(who)}.",
            staff=sorted(inactive),
        )


def _read_active_locked(*, theatre_id: int, staff_ids: set[int]) -> tuple[bool, set[int]]:
    """The theatre's `active`, and which of the staff are inactive, read under FOR KEY SHARE (one query).

    The estate service changes these rows under FOR UPDATE, which KEY SHARE waits for (and which
    waits for it): a deactivation and a booking never pass each other. Either the booking reads the
    committed deactivation and is refused, or the deactivation's check sees the committed booking
    (theatre_rules.refuse_estate_change_that_strands_cases). KEY SHARE does not block other
    bookings, so lists in one theatre still book in parallel.

    One statement takes the locks in the order two did: PostgreSQL locks each result row's rows in
    the order the locking clause names the tables, and the rows come sorted by staff id, so the
    theatre row first, then the staff rows by id. `staff_ids` always holds the case's surgeon.
    """
    if connection.vendor != "postgresql":  # SQLite (make run): writes are serial already
        theatre_active = Theatre.objects.filter(pk=theatre_id).values_list("active", flat=True).get()
        rows = StaffMember.objects.filter(pk__in=staff_ids).values_list("pk", "active")
        return theatre_active, {pk for pk, active in rows if not active}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.active, s.id, s.active FROM {Theatre._meta.db_table} AS t, {StaffMember._meta.db_table} AS s "  # noqa: S608 - table names from the models
            "WHERE t.id = %s AND s.id = ANY(%s) ORDER BY s.id FOR KEY SHARE OF t, s",
            [theatre_id, sorted(staff_ids)],
        )
        rows = cursor.fetchall()
    if not rows:
        raise ValueError("a booking always checks at least the case's surgeon")
    return bool(rows[0][0]), {pk for _, pk, active in rows if not active}


def _any_unit_inactive_locked(unit_ids: list[int]) -> bool:
    """Whether any of the units is inactive, read under FOR KEY SHARE on PostgreSQL (one query)."""
    if not unit_ids:
        return False
    if connection.vendor != "postgresql":
        return EquipmentUnit.objects.filter(pk__in=unit_ids, active=False).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, active FROM {EquipmentUnit._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608 - table name from the model
            [unit_ids],
        )
        return any(not active for _, active in cursor.fetchall())


def _booking_snapshot(case: Case, *, units: Iterable[int]) -> dict[str, Any]:
    """The case's place for the audit: its booking fields and the units it claims (`units`: the
    claims just released or made, so nobody reads them back)."""
    data = snapshot(
        case,
        [
            "status",
            "session",
            "start",
            "end",
            "anaesthetist",
            "estimated_minutes",
            "planned_minutes",
            "cancel_reason",
            "cancel_note",
        ],
    )
    data["equipment_units"] = sorted(units)
    return data


def _release_claims(case: Case) -> list[int]:
    """Delete the case's unit claims; returns the units they held (one query).

    DELETE … RETURNING says what the audit's "before" held without reading the claims first and
    again after: two queries of a booking's 48 (bench/booking.py). The case row is locked, and
    only a holder of its lock changes its claims.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {CaseEquipment._meta.db_table} WHERE case_id = %s RETURNING unit_id",  # noqa: S608 - table name from the model
            [case.pk],
        )
        return sorted(unit_id for (unit_id,) in cursor.fetchall())


@dataclasses.dataclass(frozen=True)
class Placement:
    """The units a placement let go of and the units it claimed, for the audit."""

    released: list[int]
    claimed: list[int]


def _place(
    *,
    case: Case,
    session: TheatreSession,
    start: dt.datetime | None,
    allow_locked: bool,
    not_before: dt.datetime | None,
    check_eligible: bool = True,
    units: Mapping[str, int] | None = None,
) -> Placement:
    """Put the locked case at `start` (or the earliest fitting time) in the locked session, with
    units, for its slot minutes (planned, else learned: scheduling/predictions.py)."""
    demand = demand_of(case)
    if not check_eligible:
        # A re-fit keeps the case where it is: a changed screening result, or a period the
        # patient became unavailable after booking (flagged on the case), is for the coordinator
        # to act on, not a reason to refuse the update that triggered the re-fit.
        demand = dataclasses.replace(demand, eligible=True, unavailable=())
    window = window_of(session, not_before=not_before)
    occupancy = load_occupancy(windows=[window], demand=demand, exclude_case_id=case.pk)
    if start is None:
        fit = earliest_start(window=window, demand=demand, occupancy=occupancy, allow_locked=allow_locked)
    else:
        fit = check_start(
            window=window, demand=demand, occupancy=occupancy, start=start, allow_locked=allow_locked, units=units
        )
    if fit.start is None:
        raise rule_broken(fit.code or ErrorCode.SESSION_FULL)
    case.session = session
    case.start = fit.start
    case.end = fit.start + dt.timedelta(minutes=demand.minutes)
    case.anaesthetist_id = session.anaesthetist_id
    update_fields(case, ["session", "start", "end", "anaesthetist", "status", "updated_at"])
    # Old claims go before new ones are inserted: a move within the same day may reuse a unit.
    released = _release_claims(case)
    # The units were chosen from a plain read: read `active` again under FOR KEY SHARE, which waits
    # for a change to a unit in progress (the estate service holds FOR UPDATE), so a unit
    # deactivated while we chose it is never held. (The claims' foreign keys would take the same
    # lock, but Django's are deferred to COMMIT: too late to refuse.)
    claimed = sorted(fit.units.values())
    if _any_unit_inactive_locked(claimed):
        raise rule_broken(ErrorCode.EQUIPMENT_UNAVAILABLE)
    insert_all([CaseEquipment(case=case, unit_id=unit_id, start=case.start, end=case.end) for unit_id in claimed])
    return Placement(released=released, claimed=claimed)


def book_case(
    *,
    case_id: int,
    session_id: int,
    actor: Actor,
    start: dt.datetime | None = None,
    override: bool = False,
    override_reason: str = "",
    now: dt.datetime | None = None,
    units: Mapping[str, int] | None = None,
    note: str = "",
) -> Case:
    """Book a waiting case into a session at `start` (or its earliest fitting time) with one unit of
    each required kind (exactly `units` if given, which needs `start`); every invariant holds or
    nothing changes. `note` says in the audit why it was booked (e.g. by a list fill)."""
    if start is not None:
        ensure_aware(start, field="start")
    if units is not None and start is None:
        raise TypeError("choosing the units needs a start")

    def work() -> Case:
        case = _lock_case(case_id)
        if case.status != CaseStatus.WAITING:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, f"Only a waiting case can be booked; this one is {case.status}."
            )
        session = _lock_session(session_id)
        return _put_case_in_session(
            case=case,
            session=session,
            start=start,
            actor=actor,
            action="case.booked",
            override=override,
            override_reason=override_reason,
            now=now,
            units=units,
            note=note,
        )

    return run_in_transaction(work)


def move_case(
    *,
    case_id: int,
    session_id: int,
    actor: Actor,
    start: dt.datetime | None = None,
    override: bool = False,
    override_reason: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """Move a booked or confirmed case to a new session/start: fully at the new place or still fully
    at the old one. A confirmed case goes back to booked and its plan approval is withdrawn."""
    if start is not None:
        ensure_aware(start, field="start")

    def work() -> Case:
        case = _lock_case(case_id)
        if case.status not in MOVABLE:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, f"Only a booked or confirmed case can move; this one is {case.status}."
            )
        session = _lock_session(session_id)
        # Taking a case out of a locked list changes that list too (6-4-2).
        source = case.session
        overridden_source = source is not None and source.pk != session.pk and source.status == SessionStatus.LOCKED
        if overridden_source and source is not None:
            _check_override(session=source, actor=actor, override=override, override_reason=override_reason)
        return _put_case_in_session(
            case=case,
            session=session,
            start=start,
            actor=actor,
            action="case.moved",
            override=override,
            override_reason=override_reason,
            now=now,
            overridden_source=overridden_source,
        )

    return run_in_transaction(work)


def _put_case_in_session(
    *,
    case: Case,
    session: TheatreSession,
    start: dt.datetime | None,
    actor: Actor,
    action: str,
    override: bool,
    override_reason: str,
    now: dt.datetime | None,
    overridden_source: bool = False,
    units: Mapping[str, int] | None = None,
    note: str = "",
) -> Case:
    """Book or move the locked case into the locked session: the override check, the resource
    locks, the placement, then the approval withdrawn, the audit entry and the reminders re-planned.
    `overridden_source` says the case left a locked list by override (a move), for the audit."""
    overridden = _check_override(session=session, actor=actor, override=override, override_reason=override_reason)
    ensure_active(case=case, session=session)
    _lock_resources(case=case, session=session)
    before = _booking_snapshot(case, units=())
    case.status = CaseStatus.BOOKED
    placement = _place(
        case=case, session=session, start=start, allow_locked=overridden, not_before=_not_before(now), units=units
    )
    before["equipment_units"] = placement.released
    reason = f"locked list override: {override_reason.strip()}" if overridden or overridden_source else ""
    reason = "; ".join(part for part in (note, reason) if part)
    plans.withdraw_approval(case=case, actor=actor, reason=f"{action}: session or start changed")
    with audit_batch() as audit:
        _audit_placement(
            audit, case=case, actor=actor, action=action, before=before, placement=placement, reason=reason
        )
        reminders.replan_for_case(case=case, actor=actor, audit=audit)
    return case


def _audit_placement(
    audit: AuditBatch,
    *,
    case: Case,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    placement: Placement,
    reason: str,
) -> None:
    after = _booking_snapshot(case, units=placement.claimed)
    audit.record(actor=actor, action=action, obj=case, before=before, after=after, reason=reason)


def refit_case(*, case: Case, actor: Actor) -> None:
    """Re-place a booked case at its own start after its estimate changed; call inside the update's
    transaction with the case row locked. Its time and units must still fit, or nothing changes."""
    if case.status not in MOVABLE or case.session_id is None:
        return
    session = _lock_session(case.session_id)
    case.session = session
    case.procedure_version = pinned_version(case.procedure_version_id)
    _lock_resources(case=case, session=session)
    before = _booking_snapshot(case, units=())
    # The list is already this case's: a locked list may absorb a re-estimate, and a changed
    # screening result is the plan review's business, not a reason to refuse the update.
    # The case keeps its own start, even if that has passed: a re-fit is not a new booking.
    placement = _place(
        case=case, session=session, start=case.start, allow_locked=True, not_before=None, check_eligible=False
    )
    before["equipment_units"] = placement.released
    with audit_batch() as audit:
        _audit_placement(
            audit,
            case=case,
            actor=actor,
            action="case.refitted",
            before=before,
            placement=placement,
            reason="estimate changed",
        )
        reminders.replan_for_case(case=case, actor=actor, audit=audit)


def _check_cancellable(case: Case, reason: str) -> None:
    """A waiting, booked or confirmed case is cancelled for any reason but abandonment; a case in
    theatre (after WHO sign in) only as abandoned, so the metrics can tell the two apart."""
    if case.status == CaseStatus.IN_THEATRE:
        if reason != CancelReason.ABANDONED_IN_THEATRE:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"A case in theatre is cancelled only as {CancelReason.ABANDONED_IN_THEATRE.value}, with a note.",
            )
    elif case.status not in CANCELLABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"A {case.status} case cannot be cancelled.")
    elif reason == CancelReason.ABANDONED_IN_THEATRE:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"Only a case in theatre can be abandoned; this one is {case.status}."
        )


def cancel_case(*, case_id: int, actor: Actor, reason: str, note: str = "", now: dt.datetime | None = None) -> Case:
    """Cancel a waiting, booked or confirmed case, or abandon one in theatre: its time and units are
    free the moment this commits, and the cancellation (its list, category, on the day or not) is kept."""
    if reason not in CancelReason.values:
        raise InvalidInput("reason", f"Choose one of: {', '.join(CancelReason.values)}.")
    if reason in NOTE_REQUIRED and not note.strip():
        raise InvalidInput("note", f"Say why when the reason is '{reason}'.")

    def work() -> Case:
        case = _lock_case(case_id)
        _check_cancellable(case, reason)
        before = _booking_snapshot(case, units=())
        session = (
            TheatreSession.objects.select_related("theatre__site").get(pk=case.session_id) if case.session_id else None
        )
        cancellation = record_cancellation(
            case=case,
            session=session,
            from_status=case.status,
            reason=reason,
            category=REASON_CATEGORY[reason],
            cancelled_at=now or timezone.now(),
        )
        before["equipment_units"] = _release_claims(case)
        case.status = CaseStatus.CANCELLED
        case.cancel_reason = reason
        case.cancel_note = note.strip()
        # Where it was booked stays in the audit entry and the cancellation; the row lets go of the list at once.
        case.session = None
        case.start = None
        case.end = None
        case.anaesthetist = None
        case.save(
            update_fields=[
                "status",
                "cancel_reason",
                "cancel_note",
                "session",
                "start",
                "end",
                "anaesthetist",
                "updated_at",
            ]
        )
        record(
            actor=actor,
            action="case.cancelled",
            obj=case,
            before=before,
            after={
                **_booking_snapshot(case, units=()),
                "category": cancellation.category,
                "on_the_day": cancellation.on_the_day,
                "from_status": cancellation.from_status,
            },
            reason=f"{reason}: {case.cancel_note}" if case.cancel_note else reason,
        )
        reminders.cancel_for_case(case=case, actor=actor, reason=reason)
        if session is not None:
            time_freed(session=session, case=case, actor=actor, now=cancellation.cancelled_at)
        return case

    return run_in_transaction(work)


def lock_for_placements(pairs: Iterable[tuple[int, int]]) -> None:
    """Take, up front and in booking's order, every lock that booking these (case id, session id)
    pairs one by one would take: the case rows by id, the session rows by id, then every advisory
    lock, sorted. Booking them afterwards re-enters locks already held (row and transaction
    advisory locks are re-entrant), so a batch can never wait in a cycle with a single booking,
    which takes the same kinds of lock in the same order. Call inside the batch's transaction."""
    pairs = list(pairs)
    case_ids = sorted({case_id for case_id, _ in pairs})
    session_ids = sorted({session_id for _, session_id in pairs})
    cases = {
        c.pk: c
        for c in Case.objects.select_for_update(of=("self",))
        .select_related("procedure_version")
        .filter(pk__in=case_ids)
        .order_by("pk")
    }
    sessions = {
        s.pk: s
        for s in TheatreSession.objects.select_for_update(of=("self",))
        .select_related("theatre")
        .filter(pk__in=session_ids)
        .order_by("pk")
    }
    keys: set[str] = set()
    for case_id, session_id in pairs:
        if case_id in cases and session_id in sessions:
            keys |= _lock_keys(case=cases[case_id], session=sessions[session_id])
    _take_advisory_locks(keys)
