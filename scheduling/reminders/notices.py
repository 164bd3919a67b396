"""Staff notices: when a published or locked list changes, its surgeon and anaesthetist are told.

Two sources of change: a case booked into, moved into or out of, or cancelled from the list (the
reminder hooks call `list_changed` inside the booking transaction), and a change to the session
itself (theatre sends `session_changed` after its commit; `on_session_changed` receives it).
Planned lists are still being filled, so their changes are not news to anyone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import Actor, record, snapshot
from scheduling.models import Case, ReminderStatus, StaffNotice
from theatre.models import SessionStatus, StaffMember, StaffRole, TheatreSession

NOTIFY_STATUSES = (SessionStatus.PUBLISHED, SessionStatus.LOCKED)

CHANGE_LABELS = {
    "case_booked": "a case was booked into the list",
    "case_moved_in": "a case was moved into the list",
    "case_moved_out": "a case was moved out of the list",
    "case_moved": "a case was moved to another time on the list",
    "case_updated": "a case on the list was re-timed",
    "case_cancelled": "a case on the list was cancelled",
    "updated": "the list itself was changed",
    "cancelled": "the list was cancelled",
    "locked": "the list was locked",
    "unlocked": "the list was unlocked",
    "time_freed": "a cancellation freed time on the list",
    "case_flagged": "a case on the list was flagged for the coordinator: the estate changed under it",
}

# A cancellation on a list this close is worth a coordinator's attention at once: there is still
# time to call a waiting patient in (DESIGN §5.4, GET /sessions/{id}/candidates/).
FREED_TIME_HORIZON = dt.timedelta(days=14)
_BACKFILLABLE = (SessionStatus.PLANNED, SessionStatus.PUBLISHED, SessionStatus.LOCKED)


def _recipients(session: TheatreSession) -> list[StaffMember]:
    team = [session.surgeon, session.anaesthetist]
    seen: dict[int, StaffMember] = {}
    for member in team:
        if member is not None and member.active and member.email:
            seen.setdefault(member.pk, member)
    return list(seen.values())


def _queue_for(staff: StaffMember, session: TheatreSession, entry: dict[str, Any], actor: Actor) -> StaffNotice:
    """Append to the member's pending notice for this list, or start one. Safe under concurrency:
    the partial unique index allows one pending notice per (staff, list), and a racing insert
    falls back to appending."""
    for _ in range(2):
        notice = (
            StaffNotice.objects.select_for_update()
            .filter(staff=staff, session=session, status=ReminderStatus.PENDING)
            .first()
        )
        if notice is not None:
            before = {"changes": list(notice.changes)}
            notice.changes = [*notice.changes, entry]
            notice.save(update_fields=["changes", "updated_at"])
            record(
                actor=actor,
                action="staff_notice.extended",
                obj=notice,
                before=before,
                after={"changes": notice.changes},
            )
            return notice
        try:
            with transaction.atomic():
                notice = StaffNotice.objects.create(
                    staff=staff, session=session, due_at=timezone.now(), changes=[entry]
                )
        except IntegrityError:
            continue  # another transaction started the pending notice first: append to it
        record(actor=actor, action="staff_notice.queued", obj=notice, after=snapshot(notice))
        return notice
    raise RuntimeError("could not queue a staff notice")  # pragma: no cover - two losses in a row


def list_changed(*, session: TheatreSession, change: str, actor: Actor, case: Case | None = None) -> list[StaffNotice]:
    """Queue one notice per team member of a published or locked list; audited. Call inside the
    transaction that made the change, so a rolled-back change tells nobody."""
    if session.status not in NOTIFY_STATUSES:
        return []
    return _notify_team(session=session, change=change, actor=actor, case=case)


def _notify_team(*, session: TheatreSession, change: str, actor: Actor, case: Case | None) -> list[StaffNotice]:
    entry = {
        "at": timezone.now().isoformat(),
        "change": change,
        "case": case.reference if case else "",
        "by": actor.label,
    }
    return [_queue_for(member, session, entry, actor) for member in _recipients(session)]


def notify_coordinators(
    *, session: TheatreSession, change: str, actor: Actor, case: Case | None = None, detail: str = ""
) -> list[StaffNotice]:
    """Queue a notice to every active coordinator with an email about this list, whatever its status
    (coordinators build planned lists too); audited. Call inside the transaction of the change.
    `detail` says what happened (no patient data: references, places and kit only)."""
    entry = {
        "at": timezone.now().isoformat(),
        "change": change,
        "case": case.reference if case else "",
        "by": actor.label,
        "detail": detail,
    }
    coordinators = StaffMember.objects.filter(role=StaffRole.COORDINATOR, active=True).exclude(email="")
    return [_queue_for(member, session, entry, actor) for member in coordinators.order_by("pk")]


def on_session_changed(sender: Any, *, session_id: int, change: str, actor_label: str, **kwargs: Any) -> None:
    """theatre.signals.session_changed receiver (sent after theatre's commit): notify the team."""
    with transaction.atomic():
        session = TheatreSession.objects.select_related("surgeon", "anaesthetist").filter(pk=session_id).first()
        if session is None:
            return
        # theatre sends the signal only for lists that were published or locked before the
        # change, so a list that is now cancelled or unlocked is still news to its team.
        _notify_team(session=session, change=change, actor=Actor.system(actor_label or "theatre"), case=None)


def time_freed(*, session: TheatreSession, case: Case, actor: Actor, now: dt.datetime) -> list[StaffNotice]:
    """Tell every active coordinator with an email that cancelling `case` freed time on a live list
    that has not ended and starts within two weeks, so they can offer it to the waiting list.
    Call inside the cancellation's transaction; audited like every notice."""
    if session.status not in _BACKFILLABLE or session.end <= now or session.start > now + FREED_TIME_HORIZON:
        return []
    entry = {"at": now.isoformat(), "change": "time_freed", "case": case.reference, "by": actor.label}
    coordinators = StaffMember.objects.filter(role=StaffRole.COORDINATOR, active=True).exclude(email="").order_by("pk")
    return [_queue_for(member, session, entry, actor) for member in coordinators]
