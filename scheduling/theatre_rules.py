"""Scheduling's rules on theatre's changes: the receivers of theatre's hooks (theatre/hooks.py).

theatre owns the estate and the lists but knows nothing of cases (DESIGN §1). It sends its
hooks while it changes a list or a unit, and SchedulingConfig.ready() connects the receivers
below, so that a change never strands a booked case. A DomainError raised here reaches
theatre's caller unchanged and rolls the change back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from core.audit import Actor, record
from core.db import constraint_errors
from core.errors import DomainError, ErrorCode, InvalidInput
from procedures.models import Anaesthesia
from scheduling.models import OCCUPYING_STATUSES, Case, CaseEquipment, CaseStatus
from theatre.clashes import ListFootprint, span_label
from theatre.hooks import SessionChange
from theatre.models import EquipmentUnit, Site, TheatreSession

# Cases still to come: they follow their list's anaesthetist, and a change may still move them.
UPCOMING_STATUSES = (CaseStatus.BOOKED, CaseStatus.CONFIRMED)


# --- Lists --------------------------------------------------------------------------------------


def find_case_clash(
    footprints: list[ListFootprint], *, zone: ZoneInfo, exclude_session_id: int | None = None
) -> DomainError | None:
    """409 surgeon_busy if a list's surgeon has a case on another list at that time. One query.

    Booking refuses a case whose surgeon leads a list elsewhere; this is the same rule from the
    other side.
    """
    if not footprints:
        return None
    busy = Case.objects.filter(
        surgeon_id__in={f.surgeon_id for f in footprints},
        status__in=OCCUPYING_STATUSES,
        start__lt=max(f.end for f in footprints),
        end__gt=min(f.start for f in footprints),
    )
    if exclude_session_id is not None:
        busy = busy.exclude(session_id=exclude_session_id)
    # The start/end filters above leave out every case without a time.
    rows = cast(
        "Iterable[tuple[int, dt.datetime, dt.datetime, int]]",
        busy.order_by("start").values_list("surgeon_id", "start", "end", "session_id"),
    )
    for surgeon_id, start, end, session_id in rows:
        for footprint in footprints:
            if surgeon_id == footprint.surgeon_id and start < footprint.end and footprint.start < end:
                when = span_label(start, end, zone)
                return DomainError(ErrorCode.SURGEON_BUSY, f"The surgeon is operating on list {session_id} on {when}.")
    return None


def refuse_surgeon_operating_elsewhere(
    sender: Any, *, footprints: list[ListFootprint], zone: ZoneInfo, exclude_session_id: int | None, **kwargs: Any
) -> None:
    """hooks.pre_session_placement: a surgeon who is operating on a shared list gets no list elsewhere then."""
    error = find_case_clash(footprints, zone=zone, exclude_session_id=exclude_session_id)
    if error is not None:
        raise error


def refuse_change_that_strands_cases(sender: Any, *, change: SessionChange, **kwargs: Any) -> None:
    """hooks.pre_session_change: a list keeps its booked cases inside it and a team they can use."""
    session = change.session
    if change.moved:
        _ensure_cases_still_fit(session, theatre_changed=change.changed("theatre"))
    if (
        change.before["anaesthetist"] is not None
        and change.after["anaesthetist"] is None
        and session.cases.filter(status__in=UPCOMING_STATUSES, anaesthesia=Anaesthesia.GENERAL).exists()
    ):
        raise DomainError(
            ErrorCode.ANAESTHETIST_REQUIRED,
            "The list has cases under general anaesthesia; it cannot lose its anaesthetist. Move them first.",
        )
    if change.changed("anaesthetist") and session.cases.filter(status=CaseStatus.IN_THEATRE).exists():
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            "A case on this list is in theatre; change the anaesthetist once it has finished.",
        )


def _ensure_cases_still_fit(session: TheatreSession, *, theatre_changed: bool) -> None:
    """A list cannot shrink past, or move away from, the cases booked into it."""
    booked = session.cases.filter(status__in=OCCUPYING_STATUSES).aggregate(
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


# The exclusion constraint (scheduling migration 0002) that a new anaesthetist can break.
_NEW_ANAESTHETIST_CONSTRAINTS = {
    "case_no_anaesthetist_overlap": (
        ErrorCode.ANAESTHETIST_BUSY,
        "The new anaesthetist has a case elsewhere during this list.",
    ),
}


def hand_cases_to_new_anaesthetist(
    sender: Any, *, change: SessionChange, actor: Actor, reason: str, **kwargs: Any
) -> None:
    """hooks.post_session_change: copy the list's new anaesthetist onto its upcoming cases, each audited.

    A booked case carries its list's anaesthetist so that the database can keep one anaesthetist
    out of two overlapping cases. Completed cases keep the anaesthetist who was there: that is the
    clinical record. (The case-plan fingerprint includes the anaesthetist, so an approval given
    for the old team is no longer current.)
    """
    if not change.changed("anaesthetist"):
        return
    session = change.session
    with constraint_errors(_NEW_ANAESTHETIST_CONSTRAINTS), transaction.atomic():
        for case in session.cases.filter(status__in=UPCOMING_STATUSES).select_for_update():
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


def refuse_cancelling_a_list_with_cases(sender: Any, *, session: TheatreSession, **kwargs: Any) -> None:
    """hooks.pre_session_cancel: a list is cancelled only once its cases are moved or cancelled."""
    booked = session.cases.filter(status__in=OCCUPYING_STATUSES).count()
    if booked:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Session {session.pk} still has {booked} booked case(s); move or cancel them first.",
        )


# --- Equipment ----------------------------------------------------------------------------------


def refuse_moving_a_claimed_unit(sender: Any, *, unit: EquipmentUnit, site: Site, **kwargs: Any) -> None:
    """hooks.pre_unit_move: a unit claimed by upcoming cases stays at their site until released."""
    if CaseEquipment.objects.filter(unit=unit, end__gt=timezone.now()).exists():
        raise InvalidInput("site", "This unit is claimed by upcoming cases at its site; release them before moving it.")
