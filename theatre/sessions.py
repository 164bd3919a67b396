"""Theatre sessions (lists): create, change, cancel and lock them.

A theatre, a surgeon and an anaesthetist are never in two live lists at once. The services check
first so that the caller gets a precise 409 code; PostgreSQL's exclusion constraints
(theatre/migrations/0002) hold the line when two requests race past the check together, and
`domain_error_for` turns the constraint that fired into the same code.

6-4-2: a list locks two weeks ahead (`lock_due_sessions`, run hourly by beat). From then on a
change needs a coordinator's explicit override with a reason, and the override is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, models, transaction
from django.db.models import Count, Max, Min, Prefetch, Q
from django.utils import timezone

from core.audit import Actor, record, snapshot
from core.db import constraint_name
from core.errors import DomainError, ErrorCode, InvalidInput
from core.roles import Role, has_role
from core.time import ensure_aware
from theatre.models import SessionStatus, StaffMember, StaffRole, Theatre, TheatreSession
from theatre.signals import session_changed

logger = logging.getLogger(__name__)

# 6-4-2 scheduling: lists are fixed two weeks before the day.
LOCK_AHEAD = dt.timedelta(days=14)

# Cases that hold time in a list. This mirrors scheduling.models.OCCUPYING_STATUSES: theatre
# sits below scheduling in the import order, so it reads cases only through `session.cases`.
LISTED_CASE_STATUSES = ("booked", "confirmed", "in_theatre", "completed")
UPCOMING_CASE_STATUSES = ("booked", "confirmed")

# Statuses a coordinator may set directly; `cancelled` goes through cancel_session.
SETTABLE_STATUSES = (SessionStatus.PLANNED, SessionStatus.PUBLISHED, SessionStatus.LOCKED)

# Which 409 a database constraint means (theatre/migrations/0002 and models.py).
_CONSTRAINT_CODES = {
    "session_no_theatre_overlap": ErrorCode.SLOT_TAKEN,
    "session_unique_theatre_start": ErrorCode.SLOT_TAKEN,
    "session_no_surgeon_overlap": ErrorCode.SURGEON_BUSY,
    "session_no_anaesthetist_overlap": ErrorCode.ANAESTHETIST_BUSY,
}

_CONSTRAINT_DETAILS = {
    ErrorCode.SLOT_TAKEN: "The theatre already has a list at that time.",
    ErrorCode.SURGEON_BUSY: "The surgeon already has a list at that time.",
    ErrorCode.ANAESTHETIST_BUSY: "The anaesthetist already has a list at that time.",
}


def domain_error_for(exc: IntegrityError) -> DomainError | None:
    """The 409 that an IntegrityError from a session constraint stands for, or None if another."""
    code = _CONSTRAINT_CODES.get(constraint_name(exc) or "")
    if code is None:
        return None
    return DomainError(code, _CONSTRAINT_DETAILS[code])


def save_sessions(sessions: list[TheatreSession]) -> None:
    """Insert or update rows in a savepoint, translating a constraint race into its 409."""
    try:
        with transaction.atomic():
            for session in sessions:
                session.save()
    except IntegrityError as exc:
        error = domain_error_for(exc)
        if error is None:
            raise
        raise error from exc


# --- Rules (pure) -------------------------------------------------------------------------------


# A list is a day's work at most; a typo such as year 9999 must not block a surgeon for ever.
MAX_SESSION_LENGTH = dt.timedelta(hours=24)
PLANNING_YEARS = range(2000, 2101)


def ensure_interval(*, start: dt.datetime, end: dt.datetime) -> None:
    ensure_aware(start, field="start")
    ensure_aware(end, field="end")
    if start.year not in PLANNING_YEARS:
        raise InvalidInput("start", f"Lists are planned between {PLANNING_YEARS[0]} and {PLANNING_YEARS[-1]}.")
    if end <= start:
        raise InvalidInput("end", "The end must be after the start.")
    if end - start > MAX_SESSION_LENGTH:
        raise InvalidInput("end", "A list lasts at most 24 hours.")


def ensure_staff_roles(*, surgeon: StaffMember, anaesthetist: StaffMember | None) -> None:
    """A list is led by an active surgeon; its anaesthetist, if any, is an active anaesthetist."""
    if surgeon.role != StaffRole.SURGEON:
        raise InvalidInput("surgeon", f"Staff member {surgeon.pk} is a {surgeon.role}, not a surgeon.")
    if not surgeon.active:
        raise InvalidInput("surgeon", f"Staff member {surgeon.pk} is not active.")
    if anaesthetist is not None:
        if anaesthetist.role != StaffRole.ANAESTHETIST:
            raise InvalidInput(
                "anaesthetist", f"Staff member {anaesthetist.pk} is a {anaesthetist.role}, not an anaesthetist."
            )
        if not anaesthetist.active:
            raise InvalidInput("anaesthetist", f"Staff member {anaesthetist.pk} is not active.")


@dataclass(frozen=True)
class Slot:
    """What a list would occupy: used to find clashes before touching the database."""

    theatre_id: int
    surgeon_id: int
    anaesthetist_id: int | None
    start: dt.datetime
    end: dt.datetime


def find_clash(slot: Slot, others: Iterable[TheatreSession], zone: ZoneInfo) -> DomainError | None:
    """The 409 for the first live list in `others` that overlaps `slot` on a shared resource.

    Intervals are half-open [start, end), as in the exclusion constraints, so an AM list that
    ends at 13:00 and a PM list that starts at 13:00 do not clash.
    """
    for other in others:
        if other.status == SessionStatus.CANCELLED or not (other.start < slot.end and slot.start < other.end):
            continue
        when = f"{other.start.astimezone(zone):%a %d %b %Y %H:%M}–{other.end.astimezone(zone):%H:%M}"
        if other.theatre_id == slot.theatre_id:
            return DomainError(ErrorCode.SLOT_TAKEN, f"The theatre already has list {other.pk} on {when}.")
        if other.surgeon_id == slot.surgeon_id:
            return DomainError(ErrorCode.SURGEON_BUSY, f"The surgeon already leads list {other.pk} on {when}.")
        if slot.anaesthetist_id is not None and other.anaesthetist_id == slot.anaesthetist_id:
            return DomainError(
                ErrorCode.ANAESTHETIST_BUSY, f"The anaesthetist is already on list {other.pk} on {when}."
            )
    return None


def clash_candidates(slots: list[Slot], *, exclude_ids: Iterable[int] = ()) -> list[TheatreSession]:
    """One query: every live list that shares a theatre or staff member with `slots` in their span."""
    if not slots:
        return []
    resources = Q(theatre_id__in={s.theatre_id for s in slots}) | Q(surgeon_id__in={s.surgeon_id for s in slots})
    anaesthetists = {s.anaesthetist_id for s in slots if s.anaesthetist_id is not None}
    if anaesthetists:
        resources |= Q(anaesthetist_id__in=anaesthetists)
    return list(
        TheatreSession.objects.exclude(status=SessionStatus.CANCELLED)
        .exclude(pk__in=list(exclude_ids))
        .filter(resources, start__lt=max(s.end for s in slots), end__gt=min(s.start for s in slots))
        .order_by("start")
    )


def ensure_no_clash(slot: Slot, *, zone: ZoneInfo, exclude_id: int | None = None) -> None:
    """Raise 409 slot_taken / surgeon_busy / anaesthetist_busy if a live list overlaps `slot`,
    or if the surgeon is operating on another list (a shared list) at that time."""
    error = find_clash(slot, clash_candidates([slot], exclude_ids=[exclude_id] if exclude_id else []), zone)
    if error is None:
        error = find_case_clash([slot], zone=zone, exclude_session_id=exclude_id)
    if error is not None:
        raise error


def find_case_clash(slots: list[Slot], *, zone: ZoneInfo, exclude_session_id: int | None = None) -> DomainError | None:
    """409 surgeon_busy if a slot's surgeon has a case on another list at that time.

    Booking refuses a case whose surgeon leads a list elsewhere; this is the same rule from the
    other side. The cases are reached through the reverse relation, so theatre still does not
    import scheduling. One query.
    """
    if not slots:
        return None
    case_model: Any = TheatreSession._meta.get_field("cases").related_model
    busy = case_model._default_manager.filter(
        surgeon_id__in={s.surgeon_id for s in slots},
        status__in=LISTED_CASE_STATUSES,
        start__lt=max(s.end for s in slots),
        end__gt=min(s.start for s in slots),
    )
    if exclude_session_id is not None:
        busy = busy.exclude(session_id=exclude_session_id)
    for surgeon_id, start, end, session_id in busy.order_by("start").values_list(
        "surgeon_id", "start", "end", "session_id"
    ):
        for slot in slots:
            if surgeon_id == slot.surgeon_id and start < slot.end and slot.start < end:
                when = f"{start.astimezone(zone):%a %d %b %Y %H:%M}–{end.astimezone(zone):%H:%M}"
                return DomainError(ErrorCode.SURGEON_BUSY, f"The surgeon is operating on list {session_id} on {when}.")
    return None


def zone_of(theatre: Theatre) -> ZoneInfo:
    return ZoneInfo(theatre.site.timezone)


# --- Locking and the open-for-changes rule ------------------------------------------------------


def check_open_for_changes(
    *, session: TheatreSession, actor: Actor, override: bool = False, reason: str = "", reason_field: str = "reason"
) -> None:
    """Refuse a change to (or a booking into) a cancelled list, or a locked one without an override.

    A locked list (6-4-2) accepts a change only with `override=True`, from a coordinator or admin,
    with a reason; the override itself is audited here, so call this inside the transaction that
    makes the change, with the session row locked (select_for_update). A cancelled list takes no
    changes and no bookings even with an override: it has no theatre time or staff any more.
    `reason_field` names the request field in the 400 for a missing reason (booking: override_reason).
    """
    if session.status == SessionStatus.CANCELLED:
        raise DomainError(ErrorCode.SESSION_LOCKED, f"Session {session.pk} is cancelled; it takes no changes.")
    if session.status != SessionStatus.LOCKED:
        return
    if not override:
        raise DomainError(
            ErrorCode.SESSION_LOCKED,
            f"Session {session.pk} is locked (lists lock two weeks ahead); "
            "a coordinator can override with override=true and a reason.",
        )
    if actor.user is None or not has_role(actor.user, Role.COORDINATOR):
        raise DomainError(ErrorCode.SESSION_LOCKED, "Only a coordinator can override a locked session.")
    if not reason.strip():
        raise InvalidInput(reason_field, "Overriding a locked session needs a reason.")
    record(actor=actor, action="session.lock_overridden", obj=session, reason=reason)


def _announce(*, session_id: int, change: str, actor: Actor) -> None:
    """Send session_changed once the transaction has committed (never for a rolled-back change)."""

    def send() -> None:
        for receiver, result in session_changed.send_robust(
            sender=TheatreSession, session_id=session_id, change=change, actor_label=actor.label
        ):
            if isinstance(result, Exception):
                # The change is committed; a failing receiver must not turn it into a 500.
                logger.error("session_changed receiver %r failed for session %s: %r", receiver, session_id, result)

    transaction.on_commit(send)


def _is_announced(status: str) -> bool:
    """Staff may already rely on a published or locked list, so its changes are announced."""
    return status in (SessionStatus.PUBLISHED, SessionStatus.LOCKED)


def lock_due_sessions(*, now: dt.datetime, actor: Actor) -> list[int]:
    """Lock every planned or published list that has not ended and starts within two weeks.

    Idempotent, and safe with two workers at once: rows are claimed with SKIP LOCKED and the
    update re-checks the status, so a list is locked (and audited, and announced) exactly once.
    A list that a coordinator is editing right now is skipped and locked on the next run.
    """
    open_statuses = [SessionStatus.PLANNED, SessionStatus.PUBLISHED]
    with transaction.atomic():
        due = list(
            TheatreSession.objects.select_for_update(skip_locked=True)
            .filter(status__in=open_statuses, end__gt=now, start__lt=now + LOCK_AHEAD)
            .order_by("start")
            .values_list("pk", "status")
        )
        if not due:
            return []
        ids = [pk for pk, _ in due]
        TheatreSession.objects.filter(pk__in=ids, status__in=open_statuses).update(
            status=SessionStatus.LOCKED, updated_at=timezone.now()
        )
        for pk, status in due:
            stub = TheatreSession(pk=pk)
            record(
                actor=actor,
                action="session.locked",
                obj=stub,
                before={"status": status},
                after={"status": SessionStatus.LOCKED},
                reason="6-4-2: lists lock two weeks ahead",
            )
            if _is_announced(status):
                _announce(session_id=pk, change="locked", actor=actor)
    return ids


# --- Writes -------------------------------------------------------------------------------------


def create_session(
    *,
    theatre: Theatre,
    start: dt.datetime,
    end: dt.datetime,
    surgeon: StaffMember,
    anaesthetist: StaffMember | None,
    actor: Actor,
    status: str = SessionStatus.PLANNED,
    period: str = "",
    notes: str = "",
) -> TheatreSession:
    """Create a list whose theatre, surgeon and anaesthetist are free for its whole time; audited."""
    ensure_interval(start=start, end=end)
    ensure_staff_roles(surgeon=surgeon, anaesthetist=anaesthetist)
    if not theatre.active:
        raise InvalidInput("theatre", f"Theatre {theatre.pk} is not active.")
    if status not in (SessionStatus.PLANNED, SessionStatus.PUBLISHED):
        raise InvalidInput("status", "A new session is planned or published.")
    session = TheatreSession(
        theatre=theatre,
        start=start,
        end=end,
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        status=status,
        period=period,
        notes=notes,
    )
    with transaction.atomic():
        ensure_no_clash(slot_of(session), zone=zone_of(theatre))
        save_sessions([session])
        record(actor=actor, action="session.created", obj=session, after=snapshot(session))
    return session


def slot_of(session: TheatreSession) -> Slot:
    """The clash check's view of a list."""
    return Slot(
        theatre_id=session.theatre_id,
        surgeon_id=session.surgeon_id,
        anaesthetist_id=session.anaesthetist_id,
        start=session.start,
        end=session.end,
    )


_EDITABLE = ("theatre", "start", "end", "surgeon", "anaesthetist", "status", "period", "notes")
_AUDITED = ("theatre", "start", "end", "surgeon", "anaesthetist", "status", "period", "notes")


def update_session(
    *,
    session: TheatreSession,
    changes: Mapping[str, Any],
    actor: Actor,
    override: bool = False,
    reason: str = "",
) -> TheatreSession:
    """Change a list, keeping staff in one place and its booked cases inside it; audited.

    A locked list needs a coordinator's override with a reason (check_open_for_changes).
    """
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "This field cannot be changed.")
    if "status" in changes and changes["status"] not in SETTABLE_STATUSES:
        raise InvalidInput("status", "Set planned, published or locked; cancel a list with cancel.")
    with transaction.atomic():
        session = (
            TheatreSession.objects.select_for_update(of=("self",)).select_related("theatre__site").get(pk=session.pk)
        )
        check_open_for_changes(session=session, actor=actor, override=override, reason=reason)
        before = snapshot(session, _AUDITED)
        for name, value in changes.items():
            setattr(session, name, value)
        after = snapshot(session, _AUDITED)
        if after == before:
            return session
        _validate_changed(session, before=before, after=after)
        save_sessions([session])
        if before["anaesthetist"] != after["anaesthetist"]:
            try:
                with transaction.atomic():
                    _hand_cases_to_anaesthetist(session, actor=actor, reason=reason)
            except IntegrityError as exc:  # the new anaesthetist has a case elsewhere at that time
                raise DomainError(
                    ErrorCode.ANAESTHETIST_BUSY, "The new anaesthetist has a case elsewhere during this list."
                ) from exc
        record(actor=actor, action="session.updated", obj=session, before=before, after=after, reason=reason)
        if _is_announced(before["status"]) or _is_announced(after["status"]):
            _announce(session_id=session.pk, change=_change_kind(before["status"], after["status"]), actor=actor)
    return session


def _change_kind(before: str, after: str) -> str:
    if before == SessionStatus.LOCKED and after != SessionStatus.LOCKED:
        return "unlocked"
    if after == SessionStatus.LOCKED and before != SessionStatus.LOCKED:
        return "locked"
    return "updated"


def _validate_changed(session: TheatreSession, *, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    moved = any(before[f] != after[f] for f in ("theatre", "start", "end"))
    restaffed = any(before[f] != after[f] for f in ("surgeon", "anaesthetist"))
    if moved:
        ensure_interval(start=session.start, end=session.end)
    if restaffed:
        ensure_staff_roles(surgeon=session.surgeon, anaesthetist=session.anaesthetist)
    if before["theatre"] != after["theatre"] and not session.theatre.active:
        raise InvalidInput("theatre", f"Theatre {session.theatre_id} is not active.")
    if moved or restaffed:
        ensure_no_clash(slot_of(session), zone=zone_of(session.theatre), exclude_id=session.pk)
    if moved:
        _ensure_cases_still_fit(session, theatre_changed=before["theatre"] != after["theatre"])
    if (
        before["anaesthetist"] is not None
        and after["anaesthetist"] is None
        and session.cases.filter(status__in=UPCOMING_CASE_STATUSES, anaesthesia="general").exists()
    ):
        raise DomainError(
            ErrorCode.ANAESTHETIST_REQUIRED,
            "The list has cases under general anaesthesia; it cannot lose its anaesthetist. Move them first.",
        )
    if before["anaesthetist"] != after["anaesthetist"] and session.cases.filter(status="in_theatre").exists():
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            "A case on this list is in theatre; change the anaesthetist once it has finished.",
        )


def _hand_cases_to_anaesthetist(session: TheatreSession, *, actor: Actor, reason: str) -> None:
    """Copy the list's new anaesthetist onto its upcoming cases, each change audited.

    A booked case carries its list's anaesthetist so that the database can keep one anaesthetist
    out of two overlapping cases. Completed cases keep the anaesthetist who was there: that is the
    clinical record. (The case-plan fingerprint includes the anaesthetist, so an approval given
    for the old team is no longer current.)
    """
    for case in session.cases.filter(status__in=UPCOMING_CASE_STATUSES).select_for_update():
        old = case.anaesthetist_id
        case.anaesthetist_id = session.anaesthetist_id
        case.save(update_fields=["anaesthetist", "updated_at"])
        record(
            actor=actor,
            action="case.anaesthetist_changed",
            obj=case,
            before={"anaesthetist": old},
            after={"anaesthetist": case.anaesthetist_id},
            reason=reason or "the list's anaesthetist changed",
        )


def _ensure_cases_still_fit(session: TheatreSession, *, theatre_changed: bool) -> None:
    """A list cannot shrink past, or move away from, the cases booked into it."""
    booked = session.cases.filter(status__in=LISTED_CASE_STATUSES).aggregate(
        n=Count("pk"), first=Min("start"), last=Max("end")
    )
    if not booked["n"]:
        return
    if theatre_changed:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Session {session.pk} has {booked['n']} booked case(s); "
            "move them before moving the list to another theatre.",
        )
    if booked["first"] < session.start or booked["last"] > session.end:
        raise DomainError(
            ErrorCode.OUTSIDE_SESSION,
            f"Session {session.pk} has booked cases from {booked['first'].isoformat()} to "
            f"{booked['last'].isoformat()}; the list must still cover them.",
        )


def cancel_session(*, session: TheatreSession, actor: Actor, reason: str, override: bool = False) -> TheatreSession:
    """Cancel a list that holds no booked cases, freeing its theatre and staff; audited.

    Cancelling twice is a no-op. A locked list needs a coordinator's override.
    """
    if not reason.strip():
        raise InvalidInput("reason", "Say why the list is cancelled.")
    with transaction.atomic():
        session = TheatreSession.objects.select_for_update().get(pk=session.pk)
        if session.status == SessionStatus.CANCELLED:
            return session
        check_open_for_changes(session=session, actor=actor, override=override, reason=reason)
        booked = session.cases.filter(status__in=LISTED_CASE_STATUSES).count()
        if booked:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"Session {session.pk} still has {booked} booked case(s); move or cancel them first.",
            )
        before_status = session.status
        session.status = SessionStatus.CANCELLED
        session.save(update_fields=["status", "updated_at"])
        record(
            actor=actor,
            action="session.cancelled",
            obj=session,
            before={"status": before_status},
            after={"status": SessionStatus.CANCELLED},
            reason=reason,
        )
        if _is_announced(before_status):
            _announce(session_id=session.pk, change="cancelled", actor=actor)
    return session


# --- Reads --------------------------------------------------------------------------------------


def case_model() -> type[models.Model]:
    """scheduling's Case, reached through the reverse relation so theatre never imports scheduling."""
    return TheatreSession._meta.get_field("cases").related_model  # type: ignore[return-value]


def sessions_with_cases() -> models.QuerySet[TheatreSession]:
    """Lists with everything the API shows, in a fixed number of queries however many there are.

    One query for the lists (theatre, site and staff joined) and one for all their listed cases
    (patient and procedure joined), ordered by start, in `session.listed_cases`.
    """
    cases = (
        case_model()
        ._default_manager.filter(status__in=LISTED_CASE_STATUSES)
        .select_related("patient", "procedure")
        .order_by("start", "pk")
    )
    return TheatreSession.objects.select_related("theatre__site", "surgeon", "anaesthetist").prefetch_related(
        Prefetch("cases", queryset=cases, to_attr="listed_cases")
    )


@dataclass(frozen=True)
class Utilisation:
    booked_minutes: int
    session_minutes: int
    percent: float

    def as_dict(self) -> dict[str, Any]:
        return {"booked_minutes": self.booked_minutes, "session_minutes": self.session_minutes, "percent": self.percent}


def utilisation(*, session: TheatreSession, intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> Utilisation:
    """How much of the list its listed cases fill, in whole minutes (UTC arithmetic)."""
    booked = sum(int((end - start).total_seconds() // 60) for start, end in intervals)
    total = session.minutes
    percent = round(100 * booked / total, 1) if total else 0.0
    return Utilisation(booked_minutes=booked, session_minutes=total, percent=percent)
