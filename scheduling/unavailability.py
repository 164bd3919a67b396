"""Patient not ready: the days a case's patient cannot come in, recorded with a reason.

- Availability never offers those days and booking refuses them with 409 `patient_unavailable`
  (`unavailable_spans_for` feeds the slot search's Demand; scheduling/slots.py decides).
- A case already booked inside a period added later is flagged: the add answers
  `booked_inside: true`, and the case shows `unavailable_on_booked_date: true` until it is moved,
  cancelled or the period removed. The booking is not moved by itself: the coordinator decides.
- A patient-initiated period pauses the treat-by date (scheduling/waiting.py, NHS RTT rules).

Days are local days in the planning zone (TIME_ZONE, Europe/London), as availability's date range
draws them. Adding and removing are audited on the case, in the same transaction, with the case
row locked, so a booking of the same case waits for the period (or the period for the booking).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.http import Http404

from core.audit import Actor, record, snapshot
from core.db import hot_rows
from core.errors import DomainError, ErrorCode, InvalidInput
from scheduling.models import Case, CaseStatus, CaseUnavailability, UnavailabilityReason
from scheduling.waiting import DateSpan, booked_inside, pauses_the_wait, treat_by

# A period longer than this is almost certainly a typing slip (a year typed wrong); a patient
# unavailable for longer should come off the list, which is a clinical decision.
MAX_PERIOD_DAYS = 366

# Periods are recorded while the case still waits or is booked; after that they change nothing.
OPEN_STATUSES = (CaseStatus.WAITING, CaseStatus.BOOKED, CaseStatus.CONFIRMED)
BOOKED_STATUSES = (CaseStatus.BOOKED, CaseStatus.CONFIRMED)


def planning_date(moment: dt.datetime) -> dt.date:
    """The local day of `moment` in the planning zone."""
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def booked_days(case: Case) -> DateSpan | None:
    """The local days a booked case occupies (None unless booked or confirmed)."""
    if case.status not in BOOKED_STATUSES or case.start is None or case.end is None:
        return None
    return planning_date(case.start), planning_date(case.end - dt.timedelta(microseconds=1))


# --- Reads ---------------------------------------------------------------------------------------


def unavailable_spans_for(case_ids: Iterable[int]) -> dict[int, list[DateSpan]]:
    """Every case's unavailable days as (first, last) inclusive, earliest first, in one query.
    Cases with none are absent. For the slot search, booking and list fill."""
    spans: dict[int, list[DateSpan]] = defaultdict(list)
    ids = list(case_ids)
    # Written out on PostgreSQL: building and compiling the queryset was 0.5 ms of CPU of every
    # availability search (about 4 ms at 40 lists, bench/availability.py, issue 18).
    rows = hot_rows(
        "SELECT case_id, start_date, end_date FROM scheduling_caseunavailability"
        " WHERE case_id = ANY(%s) ORDER BY case_id, start_date, id",
        [ids],
        definition=lambda: (
            CaseUnavailability.objects.filter(case_id__in=ids)
            .order_by("case_id", "start_date", "id")
            .values_list("case_id", "start_date", "end_date")
        ),
    )
    for case_id, start, end in rows:
        spans[case_id].append((start, end))
    return dict(spans)


def _periods(case: Case) -> list[CaseUnavailability]:
    """The case's periods: the prefetched ones (`prefetch_related("unavailability")`) if present."""
    return list(case.unavailability.all())


def treat_by_of(case: Case) -> dt.date | None:
    """The case's treat-by date with its patient-initiated pauses (prefetch `unavailability`)."""
    pauses = [
        (p.start_date, p.end_date)
        for p in _periods(case)
        if pauses_the_wait(reason=p.reason, patient_initiated=p.patient_initiated)
    ]
    return treat_by(priority=case.priority, referral_date=case.referral_date, pauses=pauses)


def unavailable_on_booked_date(case: Case) -> bool:
    """Whether the case is booked on a day its patient is unavailable (prefetch `unavailability`)."""
    return booked_inside(booked_days=booked_days(case), spans=[(p.start_date, p.end_date) for p in _periods(case)])


# --- Writes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    period: CaseUnavailability
    booked_inside: bool  # the case is already booked on one of these days: the coordinator must act


def _lock_open_case(case_id: int) -> Case:
    case = Case.objects.select_for_update(of=("self",)).get(pk=case_id)
    if case.status not in OPEN_STATUSES:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Unavailable periods are recorded for waiting or booked cases; this one is {case.status}.",
        )
    return case


def add_unavailability(
    *,
    actor: Actor,
    case_id: int,
    start_date: dt.date,
    end_date: dt.date,
    reason: str,
    note: str = "",
    patient_initiated: bool = False,
) -> Added:
    """Record that the case's patient is unavailable on the local days [start_date, end_date],
    audited; says whether the case is already booked inside them."""
    if reason not in UnavailabilityReason.values:
        raise InvalidInput("reason", f"Choose one of: {', '.join(UnavailabilityReason.values)}.")
    if end_date < start_date:
        raise InvalidInput("end_date", "The period cannot end before it starts.")
    if (end_date - start_date).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput("end_date", f"A period lasts at most {MAX_PERIOD_DAYS} days.")
    if patient_initiated and not pauses_the_wait(reason=reason, patient_initiated=True):
        raise InvalidInput(
            "patient_initiated",
            "A clinical reason (unfit) is never patient-initiated: the wait does not pause for it (NHS RTT rules).",
        )
    if reason == UnavailabilityReason.OTHER and not note.strip():
        raise InvalidInput("note", "Say why when the reason is 'other'.")

    with transaction.atomic():
        case = _lock_open_case(case_id)
        period = CaseUnavailability.objects.create(
            case=case,
            start_date=start_date,
            end_date=end_date,
            reason=reason,
            note=note.strip(),
            patient_initiated=patient_initiated,
            created_by=actor.user,
        )
        inside = booked_inside(booked_days=booked_days(case), spans=[(start_date, end_date)])
        record(
            actor=actor,
            action="case.unavailability_added",
            obj=case,
            after={**snapshot(period), "booked_inside": inside},
            reason=reason,
        )
    return Added(period=period, booked_inside=inside)


def remove_unavailability(*, actor: Actor, case_id: int, unavailability_id: int) -> None:
    """Remove one of the case's periods (404 if it is not this case's), audited."""
    with transaction.atomic():
        case = _lock_open_case(case_id)
        period = CaseUnavailability.objects.filter(case=case, pk=unavailability_id).first()
        if period is None:
            raise Http404("No such unavailable period on this case.")
        before = snapshot(period)
        period.delete()
        record(actor=actor, action="case.unavailability_removed", obj=case, before=before, reason="removed")


def spans_and_pauses_for(case_ids: Iterable[int]) -> dict[int, tuple[list[DateSpan], list[DateSpan]]]:
    """Per case, its unavailable days and those of them that pause its wait (patient-initiated),
    in one query, for list fill. Cases with none are absent."""
    found: dict[int, tuple[list[DateSpan], list[DateSpan]]] = {}
    rows = CaseUnavailability.objects.filter(case_id__in=list(case_ids)).order_by("case_id", "start_date", "id")
    for case_id, start, end, reason, patient_initiated in rows.values_list(
        "case_id", "start_date", "end_date", "reason", "patient_initiated"
    ):
        spans, pauses = found.setdefault(case_id, ([], []))
        spans.append((start, end))
        if pauses_the_wait(reason=reason, patient_initiated=patient_initiated):
            pauses.append((start, end))
    return found
