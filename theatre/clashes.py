"""Clashes: a theatre, a surgeon and an anaesthetist are never in two live lists at once.

The services check first, so the caller gets a precise 409 naming the list in the way;
PostgreSQL's exclusion constraints (theatre/migrations/0002) hold the line when two requests
race past the check together, and `SESSION_CONSTRAINTS` turns the one that fired into the same
code. Apps above theatre add their own reasons a list's staff are taken through
hooks.pre_session_placement, which `ensure_not_taken_elsewhere` sends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from core.db import constraint_errors
from core.errors import DomainError, ErrorCode
from theatre import hooks
from theatre.models import SessionStatus, TheatreSession

# Which 409 each database constraint stands for (theatre/migrations/0002 and models.py).
SESSION_CONSTRAINTS: dict[str, tuple[ErrorCode, str]] = {
    "session_no_theatre_overlap": (ErrorCode.SLOT_TAKEN, "The theatre already has a list at that time."),
    "session_unique_theatre_start": (ErrorCode.SLOT_TAKEN, "The theatre already has a list at that time."),
    "session_no_surgeon_overlap": (ErrorCode.SURGEON_BUSY, "The surgeon already has a list at that time."),
    "session_no_anaesthetist_overlap": (
        ErrorCode.ANAESTHETIST_BUSY,
        "The anaesthetist already has a list at that time.",
    ),
}


# The 409 codes a new or changed list can answer for its clashes (for the API's schema).
CLASH_REFUSALS: tuple[ErrorCode, ...] = tuple(sorted({code for code, _ in SESSION_CONSTRAINTS.values()}))


@dataclass(frozen=True)
class ListFootprint:
    """What a list would occupy: its theatre and staff for its time. Compared before any write."""

    theatre_id: int
    surgeon_id: int
    anaesthetist_id: int | None
    start: dt.datetime
    end: dt.datetime


def footprint_of(session: TheatreSession) -> ListFootprint:
    return ListFootprint(
        theatre_id=session.theatre_id,
        surgeon_id=session.surgeon_id,
        anaesthetist_id=session.anaesthetist_id,
        start=session.start,
        end=session.end,
    )


def span_label(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    """The time of whatever stands in the way, as a 409 names it: "Mon 01 Mar 2027 08:00–13:00", local."""
    return f"{start.astimezone(zone):%a %d %b %Y %H:%M}–{end.astimezone(zone):%H:%M}"


def find_clash(footprint: ListFootprint, others: Iterable[TheatreSession], zone: ZoneInfo) -> DomainError | None:
    """The 409 for the first live list in `others` that overlaps `footprint` on a shared resource.

    Intervals are half-open [start, end), as in the exclusion constraints, so an AM list that
    ends at 13:00 and a PM list that starts at 13:00 do not clash.
    """
    for other in others:
        if other.status == SessionStatus.CANCELLED or not (other.start < footprint.end and footprint.start < other.end):
            continue
        when = span_label(other.start, other.end, zone)
        if other.theatre_id == footprint.theatre_id:
            return DomainError(ErrorCode.SLOT_TAKEN, f"The theatre already has list {other.pk} on {when}.")
        if other.surgeon_id == footprint.surgeon_id:
            return DomainError(ErrorCode.SURGEON_BUSY, f"The surgeon already leads list {other.pk} on {when}.")
        if footprint.anaesthetist_id is not None and other.anaesthetist_id == footprint.anaesthetist_id:
            return DomainError(
                ErrorCode.ANAESTHETIST_BUSY, f"The anaesthetist is already on list {other.pk} on {when}."
            )
    return None


def clash_candidates(footprints: list[ListFootprint], *, exclude_ids: Iterable[int] = ()) -> list[TheatreSession]:
    """One query: every live list that shares a theatre or staff member with `footprints` in their span."""
    if not footprints:
        return []
    resources = Q(theatre_id__in={f.theatre_id for f in footprints})
    resources |= Q(surgeon_id__in={f.surgeon_id for f in footprints})
    anaesthetists = {f.anaesthetist_id for f in footprints if f.anaesthetist_id is not None}
    if anaesthetists:
        resources |= Q(anaesthetist_id__in=anaesthetists)
    return list(
        TheatreSession.objects.exclude(status=SessionStatus.CANCELLED)
        .exclude(pk__in=list(exclude_ids))
        .filter(resources, start__lt=max(f.end for f in footprints), end__gt=min(f.start for f in footprints))
        .order_by("start")
    )


def ensure_not_taken_elsewhere(
    footprints: list[ListFootprint], *, zone: ZoneInfo, exclude_session_id: int | None = None
) -> None:
    """Raise the 409 of any app whose work holds a list's staff at that time (pre_session_placement)."""
    if footprints:
        hooks.pre_session_placement.send(
            sender=TheatreSession, footprints=footprints, zone=zone, exclude_session_id=exclude_session_id
        )


def ensure_no_clash(footprint: ListFootprint, *, zone: ZoneInfo, exclude_id: int | None = None) -> None:
    """Raise 409 slot_taken / surgeon_busy / anaesthetist_busy if a live list overlaps `footprint`,
    or if its staff are taken elsewhere at that time (ensure_not_taken_elsewhere)."""
    error = find_clash(footprint, clash_candidates([footprint], exclude_ids=[exclude_id] if exclude_id else []), zone)
    if error is not None:
        raise error
    ensure_not_taken_elsewhere([footprint], zone=zone, exclude_session_id=exclude_id)


def save_sessions(sessions: list[TheatreSession]) -> None:
    """Insert or update rows in a savepoint, translating a constraint race into its 409."""
    with constraint_errors(SESSION_CONSTRAINTS), transaction.atomic():
        for session in sessions:
            session.save()
