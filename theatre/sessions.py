"""Theatre sessions (lists): create, change and cancel them, each change audited.

The rules a change must keep live beside it: no clash with another list (theatre/clashes.py),
the 6-4-2 lock (theatre/locking.py), and whatever apps above theatre add through the hooks in
theatre/hooks.py, which these services send inside their transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from core.audit import Actor, record, snapshot
from core.errors import InvalidInput
from core.time import ensure_aware
from theatre import hooks
from theatre.clashes import ensure_no_clash, footprint_of, save_sessions
from theatre.locking import check_open_for_changes
from theatre.models import SessionStatus, StaffMember, StaffRole, Theatre, TheatreSession
from theatre.signals import announce, is_announced

# Statuses a coordinator may set directly; `cancelled` goes through cancel_session.
SETTABLE_STATUSES = (SessionStatus.PLANNED, SessionStatus.PUBLISHED, SessionStatus.LOCKED)


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
        ensure_no_clash(footprint_of(session), zone=theatre.site.zone)
        save_sessions([session])
        record(actor=actor, action="session.created", obj=session, after=snapshot(session))
    return session


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
    """Change a list, keeping its staff in one place at a time and the hooks' rules; audited.

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
        change = hooks.SessionChange(session=session, before=before, after=snapshot(session, _AUDITED))
        if change.after == before:
            return session
        _validate_change(change)
        hooks.pre_session_change.send(sender=TheatreSession, change=change)
        save_sessions([session])
        hooks.post_session_change.send(sender=TheatreSession, change=change, actor=actor, reason=reason)
        record(actor=actor, action="session.updated", obj=session, before=before, after=change.after, reason=reason)
        if is_announced(before["status"]) or is_announced(change.after["status"]):
            announce(session_id=session.pk, change=_change_kind(before["status"], change.after["status"]), actor=actor)
    return session


def _change_kind(before: str, after: str) -> str:
    if before == SessionStatus.LOCKED and after != SessionStatus.LOCKED:
        return "unlocked"
    if after == SessionStatus.LOCKED and before != SessionStatus.LOCKED:
        return "locked"
    return "updated"


def _validate_change(change: hooks.SessionChange) -> None:
    session = change.session
    if change.moved:
        ensure_interval(start=session.start, end=session.end)
    if change.restaffed:
        ensure_staff_roles(surgeon=session.surgeon, anaesthetist=session.anaesthetist)
    if change.changed("theatre") and not session.theatre.active:
        raise InvalidInput("theatre", f"Theatre {session.theatre_id} is not active.")
    if change.moved or change.restaffed:
        ensure_no_clash(footprint_of(session), zone=session.theatre.site.zone, exclude_id=session.pk)


def cancel_session(*, session: TheatreSession, actor: Actor, reason: str, override: bool = False) -> TheatreSession:
    """Cancel a list that the hooks let go, freeing its theatre and staff; audited.

    Cancelling twice is a no-op. A locked list needs a coordinator's override.
    """
    if not reason.strip():
        raise InvalidInput("reason", "Say why the list is cancelled.")
    with transaction.atomic():
        session = TheatreSession.objects.select_for_update().get(pk=session.pk)
        if session.status == SessionStatus.CANCELLED:
            return session
        check_open_for_changes(session=session, actor=actor, override=override, reason=reason)
        hooks.pre_session_cancel.send(sender=TheatreSession, session=session)
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
        if is_announced(before_status):
            announce(session_id=session.pk, change="cancelled", actor=actor)
    return session
