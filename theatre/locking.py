"""6-4-2: a list locks two weeks ahead, and from then on takes changes only by override.

`lock_due_sessions` (run hourly by beat) locks the lists that are due. A change to a locked
list, or new work in it, needs a coordinator's explicit override with a reason, and the
override is audited (`check_open_for_changes`). A cancelled list takes nothing at all.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.roles import Role, has_role
from theatre.models import SessionStatus, TheatreSession
from theatre.signals import announce, is_announced

# 6-4-2 planning: lists are fixed two weeks before the day.
LOCK_AHEAD = dt.timedelta(days=14)


# The 409 code a change to a locked or cancelled list answers (for the API's schema).
LOCK_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.SESSION_LOCKED,)


def check_open_for_changes(
    *, session: TheatreSession, actor: Actor, override: bool = False, reason: str = "", reason_field: str = "reason"
) -> None:
    """Refuse a change to (or new work in) a cancelled list, or a locked one without an override.

    A locked list (6-4-2) accepts a change only with `override=True`, from a coordinator or admin,
    with a reason; the override itself is audited here, so call this inside the transaction that
    makes the change, with the session row locked (select_for_update). A cancelled list takes no
    changes even with an override: it has no theatre time or staff any more.
    `reason_field` names the request field in the 400 for a missing reason (e.g. override_reason).
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
            if is_announced(status):
                announce(session_id=pk, change="locked", actor=actor)
    return ids
