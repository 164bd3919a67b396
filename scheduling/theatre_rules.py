"""Scheduling's rules on theatre's changes: the receivers of theatre's hooks (theatre/hooks.py).

theatre owns the estate and the lists but knows nothing of cases (DESIGN §1). It sends its
hooks while it changes a list or a unit, and SchedulingConfig.ready() connects the receivers
below, so that a change never strands a booked case. A DomainError raised here reaches
theatre's caller unchanged and rolls the change back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from core.audit import Actor, record
from core.db import constraint_errors
from core.errors import DomainError, ErrorCode, InvalidInput
from procedures.models import Anaesthesia
from scheduling.case_warnings import raise_warning
from scheduling.models import OCCUPYING_STATUSES, Case, CaseEquipment, CaseStatus, CaseWarningKind
from scheduling.reminders.notices import notify_coordinators
from theatre.clashes import ListFootprint, span_label
from theatre.hooks import EstateChange, SessionChange
from theatre.models import EquipmentKind, EquipmentUnit, Site, StaffMember, Theatre, TheatreSession

# Cases still to come: they follow their list's anaesthetist, and a change may still move them.
UPCOMING_STATUSES = (CaseStatus.BOOKED, CaseStatus.CONFIRMED)

# The 409 codes the session receivers below can answer (for the API's schema): a list's surgeon
# operating elsewhere (placement), a change that strands booked cases, a cancel with cases on it.
SESSION_PLACEMENT_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.SURGEON_BUSY,)
SESSION_CHANGE_REFUSALS: tuple[ErrorCode, ...] = (
    ErrorCode.ANAESTHETIST_REQUIRED,
    ErrorCode.INVALID_TRANSITION,
    ErrorCode.OUTSIDE_SESSION,
    ErrorCode.ANAESTHETIST_BUSY,
)
SESSION_CANCEL_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.INVALID_TRANSITION,)
# An estate change that strands booked cases (refuse_estate_change_that_strands_cases).
ESTATE_CHANGE_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.AFFECTS_BOOKED_CASES,)


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


# --- The estate ---------------------------------------------------------------------------------

# Cases an estate change can strand: still to happen, or happening now.
AHEAD_STATUSES = (CaseStatus.BOOKED, CaseStatus.CONFIRMED, CaseStatus.IN_THEATRE)


@dataclass(frozen=True)
class Affected:
    """A case an estate change would leave where it cannot be held, and why (no patient data)."""

    case: Case
    kind: CaseWarningKind
    reason: str

    def as_dict(self) -> dict[str, Any]:
        assert self.case.start is not None  # noqa: S101 - cases ahead are booked (DB check)
        return {
            "id": self.case.pk,
            "reference": self.case.reference,
            "start": self.case.start.isoformat(),
            "session": self.case.session_id,
            "reason": self.reason,
        }


def _ahead(now: dt.datetime) -> QuerySet[Case]:
    return (
        Case.objects.filter(status__in=AHEAD_STATUSES, end__gt=now)
        .select_related("procedure_version", "session")
        .order_by("start", "id")
    )


def _theatre_impact(theatre: Theatre, change: EstateChange, now: dt.datetime) -> list[Affected]:
    cases = _ahead(now).filter(session__theatre=theatre)
    if change.deactivated:
        reason = f"theatre {theatre.name} deactivated"
        return [Affected(case, CaseWarningKind.THEATRE_DEACTIVATED, reason) for case in cases]
    removed = set(change.before.get("capabilities") or ()) - set(change.after.get("capabilities") or ())
    if not removed:
        return []
    affected = []
    for case in cases:
        lost = sorted(removed & set(case.procedure_version.required_capabilities or ()))
        if lost:
            reason = f"needs {', '.join(lost)}, removed from theatre {theatre.name}"
            affected.append(Affected(case, CaseWarningKind.CAPABILITY_REMOVED, reason))
    return affected


def _staff_impact(staff: StaffMember, change: EstateChange, now: dt.datetime) -> list[Affected]:
    if not change.deactivated:
        return []
    cases = _ahead(now).filter(
        Q(surgeon=staff) | Q(anaesthetist=staff) | Q(session__surgeon=staff) | Q(session__anaesthetist=staff)
    )
    affected = []
    for case in cases:
        role = (
            "surgeon"
            if case.surgeon_id == staff.pk
            else "anaesthetist"
            if staff.pk in (case.anaesthetist_id, case.session.anaesthetist_id if case.session else None)
            else "list's surgeon"
        )
        affected.append(Affected(case, CaseWarningKind.STAFF_DEACTIVATED, f"its {role} {staff.name} deactivated"))
    return affected


def _unit_impact(unit: EquipmentUnit, change: EstateChange, now: dt.datetime) -> list[Affected]:
    if change.deactivated:
        kind, reason = CaseWarningKind.UNIT_DEACTIVATED, f"claims {unit.name} ({unit.serial}), deactivated"
    elif change.changed("kind"):
        old = EquipmentKind(change.before["kind"]).label if change.before["kind"] in EquipmentKind.values else ""
        kind, reason = CaseWarningKind.UNIT_KIND_CHANGED, f"claims {unit.name} ({unit.serial}) as a {old or 'unit'}"
        reason += f", now a {EquipmentKind(unit.kind).label if unit.kind in EquipmentKind.values else unit.kind}"
    else:
        return []
    claiming = CaseEquipment.objects.filter(unit=unit, end__gt=now).values("case_id")
    return [Affected(case, kind, reason) for case in _ahead(now).filter(pk__in=claiming)]


def estate_change_impact(sender: Any, change: EstateChange, *, now: dt.datetime | None = None) -> list[Affected]:
    """The cases still ahead that the change would strand: in a theatre losing a capability they
    need or deactivated; with a surgeon or anaesthetist (theirs or their list's) deactivated; holding
    a unit deactivated or turned into another kind. A fixed number of queries."""
    now = now or timezone.now()
    if sender is Theatre:
        return _theatre_impact(change.instance, change, now)
    if sender is StaffMember:
        return _staff_impact(change.instance, change, now)
    if sender is EquipmentUnit:
        return _unit_impact(change.instance, change, now)
    return []


def refuse_estate_change_that_strands_cases(
    sender: Any, *, change: EstateChange, override: bool, **kwargs: Any
) -> None:
    """hooks.pre_estate_change: 409 naming the booked cases the change would strand, unless overridden."""
    if override:
        return
    affected = estate_change_impact(sender, change)
    if not affected:
        return
    what = sender._meta.verbose_name
    listed = "; ".join(f"{a.case.reference} ({a.reason})" for a in affected[:10])
    more = f" and {len(affected) - 10} more" if len(affected) > 10 else ""
    raise DomainError(
        ErrorCode.AFFECTS_BOOKED_CASES,
        f"This change to the {what} leaves {len(affected)} future booked case(s) where they cannot be held: "
        f"{listed}{more}. Move them first, or repeat with override=true and an override_reason to make the "
        "change and flag them for the coordinators.",
        cases=[a.as_dict() for a in affected],
    )


def flag_cases_stranded_by_estate_change(
    sender: Any, *, change: EstateChange, actor: Actor, override_reason: str, **kwargs: Any
) -> None:
    """hooks.post_estate_change: each case the overridden change strands gets a warning for the
    coordinator (audited), and the coordinators a staff notice per list."""
    affected = estate_change_impact(sender, change)
    for item in affected:
        detail = f"{item.reason} (override: {override_reason})" if override_reason else item.reason
        raise_warning(case=item.case, kind=item.kind, detail=detail, actor=actor)
        if item.case.session is not None:
            notify_coordinators(
                session=item.case.session, change="case_flagged", case=item.case, detail=item.reason, actor=actor
            )
