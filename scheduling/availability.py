"""Availability: load what holds time around some sessions, then ask the pure slot search.

`load_occupancy` reads everything in three queries whatever the number of sessions or cases
(cases, the surgeon's other lists, units with their claims); `find_slots` adds the sessions query, and
`availability_for` (GET /availability/) the case or the procedure version it searches for.
Booking uses the same loader and search for the one session it has locked, so "the earliest
fitting time" has a single definition (scheduling/slots.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import FilteredRelation, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from core.db import CompiledQuery, hot_rows
from core.errors import ErrorCode
from procedures.estimates import estimate, estimate_rules_of, validate_levels
from procedures.models import Anaesthesia, ProcedureVersion
from procedures.versions import version_to_pin
from scheduling.models import OCCUPYING_STATUSES, Case
from scheduling.predictions import load_history, predict_new, slot_minutes_of
from scheduling.slots import (
    OPEN_SESSION_STATUSES,
    Demand,
    Interval,
    Occupancy,
    OpenSlot,
    SessionWindow,
    earliest_slots,
)
from scheduling.unavailability import planning_date, unavailable_spans_for
from theatre.models import EquipmentUnit, SessionStatus, TheatreSession

# Raw SQL on the hot path. At 40 lists `availability_for` took p50 15.3 ms against 5.1 ms for its
# own statements replayed through raw psycopg (bench/availability.py, load 3.3), and cProfile put
# about half of the difference in building and compiling the search's four querysets (filters,
# joins and as_sql: ~1 ms each). So on PostgreSQL these four statements are written out once
# here, with arrays for the sets (`= ANY`), each meaning exactly its ORM twin beside it, which
# stays as the definition and runs on `make run`'s SQLite. tests/scheduling/test_slots_index.py
# and test_availability.py exercise the SQL (they run on PostgreSQL).

_OPEN_SESSIONS_SQL = """
SELECT s.id, s.theatre_id, t.site_id, s."start", s."end", s.status, s.surgeon_id, s.anaesthetist_id,
       t.capabilities
FROM theatre_theatresession s
JOIN theatre_staffmember lead ON lead.id = s.surgeon_id
JOIN theatre_theatre t ON t.id = s.theatre_id
LEFT JOIN theatre_staffmember anaesthetist ON anaesthetist.id = s.anaesthetist_id
WHERE s.surgeon_id = %(surgeon)s AND s.status = ANY(%(statuses)s)
  AND s."start" >= %(date_from)s AND s."start" < %(date_to)s AND s."end" > %(not_before)s
  AND t.active AND lead.active AND anaesthetist.active IS NOT FALSE
ORDER BY s."start", s.theatre_id
"""

_OCCUPYING_CASES_SQL = """
SELECT session_id, surgeon_id, anaesthetist_id, patient_id, "start", "end"
FROM scheduling_case
WHERE (session_id = ANY(%(sessions)s) OR surgeon_id = %(surgeon)s OR anaesthetist_id = ANY(%(anaesthetists)s)
       OR patient_id = %(patient)s)
  AND status = ANY(%(statuses)s) AND "start" < %(span_end)s AND "end" > %(span_start)s
  AND id IS DISTINCT FROM %(exclude)s
ORDER BY id
"""

_LED_LISTS_SQL = """
SELECT id, surgeon_id, "start", "end"
FROM theatre_theatresession
WHERE surgeon_id = ANY(%(surgeons)s) AND "start" < %(span_end)s AND "end" > %(span_start)s AND status <> %(cancelled)s
ORDER BY "start", theatre_id
"""

_UNIT_CLAIMS_SQL = """
SELECT u.id, u.site_id, u.kind, claim."start", claim."end"
FROM theatre_equipmentunit u
LEFT JOIN scheduling_caseequipment claim
  ON claim.unit_id = u.id AND claim."start" < %(span_end)s AND claim."end" > %(span_start)s
     AND claim.case_id IS DISTINCT FROM %(exclude)s
WHERE u.site_id = ANY(%(sites)s) AND u.kind = ANY(%(kinds)s) AND u.active
"""

# An availability answer lists at most this many slots (one per session, earliest first).
MAX_SLOTS = 100


# Offered and booked start times fall on this grid, so "now" never becomes a 21:58:13 start.
START_GRID_MINUTES = 5


def earliest_bookable(now: dt.datetime) -> dt.datetime:
    """`now` rounded up to the start grid: the first moment a new booking may start."""
    grid = dt.timedelta(minutes=START_GRID_MINUTES)
    floor = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=now.minute % START_GRID_MINUTES)
    return floor if floor == now else floor + grid


def window_of(session: TheatreSession, *, not_before: dt.datetime | None = None) -> SessionWindow:
    """The search's view of a session; `session.theatre` should be select_related."""
    return window_from(
        (
            session.pk,
            session.theatre_id,
            session.theatre.site_id,
            session.start,
            session.end,
            session.status,
            session.surgeon_id,
            session.anaesthetist_id,
            session.theatre.capabilities,
        ),
        not_before=not_before,
    )


# A session's columns as `window_from` takes them, for `values_list`.
WINDOW_FIELDS = (
    "pk",
    "theatre_id",
    "theatre__site_id",
    "start",
    "end",
    "status",
    "surgeon_id",
    "anaesthetist_id",
    "theatre__capabilities",
)


def window_from(row: Sequence[Any], *, not_before: dt.datetime | None = None) -> SessionWindow:
    """The search's view of a session from its WINDOW_FIELDS."""
    pk, theatre_id, site_id, start, end, status, surgeon_id, anaesthetist_id, capabilities = row
    return SessionWindow(
        id=pk,
        theatre_id=theatre_id,
        site_id=site_id,
        start=start,
        end=end,
        status=status,
        surgeon_id=surgeon_id,
        anaesthetist_id=anaesthetist_id,
        capabilities=frozenset(capabilities or ()),
        not_before=not_before,
        local_date=planning_date(start),
    )


def demand_of(case: Case) -> Demand:
    """The search's view of a case, occupying its slot minutes (planned, else learned: one query
    for its procedure's history, scheduling/predictions.py) and kept off its patient's unavailable
    days (one query); `case.procedure` and `case.procedure_version` should be select_related."""
    return demand_from(
        case,
        minutes=slot_minutes_of(case),
        unavailable=unavailable_spans_for([case.pk]).get(case.pk, ()),
    )


# What `demand_of` reads of a case, for `only()`: the case with its template and version in full
# is about 80 columns with a dozen JSON documents and Decimals to decode, 1.7 ms of CPU per search
# at 40 lists (bench/availability.py, issue 18). Reading a field left out would cost a query, and
# the query-count pins (tests/scheduling/test_availability.py) would show it.
_DEMAND_FIELDS = (
    "surgeon",
    "patient",
    "procedure",
    "procedure_version",
    "levels",
    "anaesthesia",
    "estimated_minutes",
    "planned_minutes",
    "screening_result",
    "procedure__slug",
    "procedure_version__turnover_minutes",
    "procedure_version__required_capabilities",
    "procedure_version__required_equipment",
)


def demand_from(case: Case, *, minutes: int, unavailable: Sequence[tuple[dt.date, dt.date]] = ()) -> Demand:
    """`demand_of` with the slot minutes and unavailable days already loaded (no query): list fill
    loads them for every waiting case at once. `case.procedure_version` should be select_related."""
    version = case.procedure_version
    return Demand(
        unavailable=tuple(unavailable),
        minutes=minutes,
        surgeon_id=case.surgeon_id,
        patient_id=case.patient_id,
        capabilities=frozenset(version.required_capabilities or ()),
        equipment=tuple(dict.fromkeys(version.required_equipment or ())),
        eligible=(case.screening_result or {}).get("result") == "eligible",
        needs_anaesthetist=case.anaesthesia == Anaesthesia.GENERAL,
    )


def load_occupancy(
    *, windows: Sequence[SessionWindow], demand: Demand, exclude_case_id: int | None = None
) -> Occupancy:
    """Everything that holds time over the windows' span, bucketed for the slot search (3 queries).

    The rows are read by `core.db.value_rows` (timestamps parsed in C): at 400 lists these are
    about 3,100 timestamps, 14.5 ms through Django's loader (issue 18).
    """
    occupancy = Occupancy()
    if not windows:
        return occupancy
    span_start = min(w.start for w in windows)
    span_end = max(w.end for w in windows)
    session_ids = {w.id for w in windows}
    anaesthetist_ids = {w.anaesthetist_id for w in windows if w.anaesthetist_id is not None}
    site_ids = {w.site_id for w in windows}

    # 1. Every live case that shares a session, the surgeon, an anaesthetist or the patient.
    session_cases: dict[int, list[Interval]] = defaultdict(list)
    anaesthetist_cases: dict[int, list[Interval]] = defaultdict(list)
    for session_id, surgeon_id, anaesthetist_id, patient_id, start, end in _occupying_cases(
        session_ids=session_ids,
        anaesthetist_ids=anaesthetist_ids,
        demand=demand,
        span_start=span_start,
        span_end=span_end,
        exclude_case_id=exclude_case_id,
    ):
        assert start is not None and end is not None  # noqa: S101 - occupying cases always have a slot (DB check)
        interval = (start, end)
        if session_id in session_ids:
            session_cases[session_id].append(interval)
        if surgeon_id == demand.surgeon_id:
            occupancy.surgeon_cases.append(interval)
        if anaesthetist_id in anaesthetist_ids:
            anaesthetist_cases[anaesthetist_id].append(interval)
        if demand.patient_id is not None and patient_id == demand.patient_id:
            occupancy.patient_cases.append(interval)
    occupancy.session_cases = dict(session_cases)
    occupancy.anaesthetist_cases = dict(anaesthetist_cases)

    # 2. The live lists the surgeon leads: leading one list keeps them out of every other theatre.
    occupancy.surgeon_sessions = led_lists(
        surgeon_ids={demand.surgeon_id}, span_start=span_start, span_end=span_end
    ).get(demand.surgeon_id, [])

    # 3. Active units of the required kinds at the sites, with their claims over the span.
    if demand.equipment:
        occupancy.units = unit_claims(
            site_ids=site_ids,
            kinds=set(demand.equipment),
            span_start=span_start,
            span_end=span_end,
            exclude_case_id=exclude_case_id,
        )
    return occupancy


def _occupying_cases(
    *,
    session_ids: Collection[int],
    anaesthetist_ids: Collection[int],
    demand: Demand,
    span_start: dt.datetime,
    span_end: dt.datetime,
    exclude_case_id: int | None,
) -> list[tuple[Any, ...]]:
    """(session, surgeon, anaesthetist, patient, start, end) of every occupying case over the span
    that shares a session, the surgeon, an anaesthetist or the patient, by id (one query)."""

    def definition() -> QuerySet[Case, tuple[Any, ...]]:
        people = Q(session_id__in=session_ids) | Q(surgeon_id=demand.surgeon_id)
        if anaesthetist_ids:
            people |= Q(anaesthetist_id__in=anaesthetist_ids)
        if demand.patient_id is not None:
            people |= Q(patient_id=demand.patient_id)
        cases = Case.objects.filter(people, status__in=OCCUPYING_STATUSES, start__lt=span_end, end__gt=span_start)
        if exclude_case_id is not None:
            cases = cases.exclude(pk=exclude_case_id)
        return cases.values_list("session_id", "surgeon_id", "anaesthetist_id", "patient_id", "start", "end")

    return hot_rows(
        _OCCUPYING_CASES_SQL,
        {
            "sessions": list(session_ids),
            "surgeon": demand.surgeon_id,
            "anaesthetists": list(anaesthetist_ids),
            "patient": demand.patient_id,
            "statuses": [str(s) for s in OCCUPYING_STATUSES],
            "span_start": span_start,
            "span_end": span_end,
            "exclude": exclude_case_id,
        },
        definition=definition,
    )


def led_lists(
    *, surgeon_ids: Collection[int], span_start: dt.datetime, span_end: dt.datetime
) -> dict[int, list[tuple[int, Interval]]]:
    """Surgeon id -> (session id, interval) of the live (not cancelled) lists they lead over the
    span, in one query (availability, booking and list fill)."""
    led: dict[int, list[tuple[int, Interval]]] = defaultdict(list)
    rows = hot_rows(
        _LED_LISTS_SQL,
        {
            "surgeons": list(surgeon_ids),
            "span_start": span_start,
            "span_end": span_end,
            "cancelled": str(SessionStatus.CANCELLED),
        },
        definition=lambda: (
            TheatreSession.objects.filter(surgeon_id__in=surgeon_ids, start__lt=span_end, end__gt=span_start)
            .exclude(status=SessionStatus.CANCELLED)
            .values_list("pk", "surgeon_id", "start", "end")
        ),
    )
    for pk, surgeon_id, start, end in rows:
        led[surgeon_id].append((pk, (start, end)))
    return dict(led)


def unit_claims(
    *,
    site_ids: Collection[int],
    kinds: Collection[str],
    span_start: dt.datetime,
    span_end: dt.datetime,
    exclude_case_id: int | None = None,
) -> dict[tuple[int, str], dict[int, list[Interval]]]:
    """(site id, kind) -> unit id -> claimed intervals over the span, for every active unit of the
    kinds at the sites (a unit with no claim maps to []), in one query (availability, booking and
    list fill). Claims of `exclude_case_id` are left out (the case being moved or searched for)."""

    def definition() -> QuerySet[EquipmentUnit, tuple[Any, ...]]:
        over_span = Q(claims__start__lt=span_end, claims__end__gt=span_start)
        if exclude_case_id is not None:
            over_span &= ~Q(claims__case_id=exclude_case_id)
        return (
            EquipmentUnit.objects.filter(site_id__in=site_ids, kind__in=kinds, active=True)
            .annotate(claim=FilteredRelation("claims", condition=over_span))
            .values_list("pk", "site_id", "kind", "claim__start", "claim__end")
            .order_by()  # the search takes units by id and intervals in any order
        )

    rows = hot_rows(
        _UNIT_CLAIMS_SQL,
        {
            "sites": list(site_ids),
            "kinds": list(kinds),
            "span_start": span_start,
            "span_end": span_end,
            "exclude": exclude_case_id,
        },
        definition=definition,
    )
    units: dict[tuple[int, str], dict[int, list[Interval]]] = defaultdict(dict)
    for unit_id, site_id, kind, start, end in rows:
        claims = units[(site_id, kind)].setdefault(unit_id, [])
        if start is not None:  # a unit with no claim comes once, with none
            claims.append((start, end))
    return dict(units)


@dataclass(frozen=True)
class AvailabilityQuery:
    demand: Demand
    date_from: dt.datetime  # aware, inclusive
    date_to: dt.datetime  # aware, exclusive
    exclude_case_id: int | None = None
    limit: int = 20
    now: dt.datetime | None = None  # the clock; None reads it (tests pin it)


def find_slots(*, query: AvailabilityQuery) -> list[OpenSlot]:
    """The earliest future slot in each of the surgeon's open sessions in the range, earliest first (4 queries)."""
    not_before = earliest_bookable(query.now or timezone.now())
    rows = hot_rows(
        _OPEN_SESSIONS_SQL,
        {
            "surgeon": query.demand.surgeon_id,
            "statuses": sorted(OPEN_SESSION_STATUSES),
            "date_from": query.date_from,
            "date_to": query.date_to,
            "not_before": not_before,
        },
        definition=lambda: _open_sessions(query=query, not_before=not_before).values_list(*WINDOW_FIELDS),
    )
    windows = [window_from(row, not_before=not_before) for row in rows]
    occupancy = load_occupancy(windows=windows, demand=query.demand, exclude_case_id=query.exclude_case_id)
    return earliest_slots(windows=windows, demand=query.demand, occupancy=occupancy, limit=min(query.limit, MAX_SLOTS))


def _open_sessions(*, query: AvailabilityQuery, not_before: dt.datetime) -> QuerySet[TheatreSession]:
    """The ORM twin of _OPEN_SESSIONS_SQL (SQLite under `make run`)."""
    return (
        TheatreSession.objects.filter(
            surgeon_id=query.demand.surgeon_id,
            status__in=OPEN_SESSION_STATUSES,
            start__gte=query.date_from,
            start__lt=query.date_to,
            end__gt=not_before,
            theatre__active=True,
            # As booking refuses them (booking.ensure_active): a deactivated lead or anaesthetist.
            surgeon__active=True,
        )
        .exclude(anaesthetist__active=False)
        .order_by("start", "theatre_id")
    )


def demand_for_procedure(
    *, version: ProcedureVersion, levels: Sequence[str], anaesthesia: str | None, surgeon_id: int
) -> Demand:
    """A hypothetical case of this version (steps prefetched), with the surgeon's predicted p50 for
    it as its minutes (one query for the procedure's history), its capabilities and kit."""
    rules = estimate_rules_of(version)
    ordered = validate_levels(rules=rules, levels=levels)
    chosen = anaesthesia or version.default_anaesthesia
    minutes = estimate(rules=rules, levels=ordered, anaesthesia=chosen)
    slug = version.template.slug
    prediction = predict_new(
        history=load_history(procedures=[slug]),
        surgeon_id=surgeon_id,
        procedure=slug,
        levels=len(ordered),
        anaesthesia=chosen,
        total_minutes=minutes.total_minutes,
        turnover_minutes=rules.turnover_minutes,
    )
    return Demand(
        needs_anaesthetist=chosen == Anaesthesia.GENERAL,
        minutes=prediction.p50,
        surgeon_id=surgeon_id,
        patient_id=None,
        capabilities=frozenset(version.required_capabilities or ()),
        equipment=tuple(dict.fromkeys(version.required_equipment or ())),
    )


# The searched case, compiled once (core.db.CompiledQuery): compiling its join and only() again cost
# about a tenth of the CPU of GET /availability/ at 400 lists (bench/availability.py, issue 18).
_SEARCHED_CASE = CompiledQuery(
    lambda pk: Case.objects.select_related("procedure", "procedure_version").only(*_DEMAND_FIELDS).filter(pk=pk)
)


def local_day_range(*, date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[date_from 00:00, date_to + 1 day 00:00) in the planning zone, as aware datetimes.

    The planning zone is the unit's (TIME_ZONE, Europe/London): midnight exists on every day
    there, so a clock change never makes a day's boundary ambiguous. Date filters draw days so too.
    """
    zone = ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime.combine(date_from, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def availability_for(
    *,
    date_from: dt.date,
    date_to: dt.date,
    case_id: int | None = None,
    procedure: str | None = None,
    levels: Sequence[str] = (),
    anaesthesia: str | None = None,
    surgeon_id: int | None = None,
    limit: int = 20,
) -> list[OpenSlot]:
    """The earliest open slot in each of the surgeon's lists on the local days [date_from, date_to].

    For `case_id` (404 if unknown, 409 not_eligible unless its screening is eligible, its own
    booking ignored), or else for a hypothetical case of `procedure`'s latest version with these
    levels, anaesthesia (default: the version's) and surgeon (400 naming the field that is wrong).
    """
    exclude_case_id = None
    if case_id is not None:
        try:
            case = _SEARCHED_CASE.get(case_id)
        except Case.DoesNotExist:
            raise Http404("No Case matches the given query.") from None  # as get_object_or_404 says
        demand = demand_of(case)
        if not demand.eligible:
            # Imported here: booking imports this module for the same slot search.
            from scheduling.booking import rule_broken

            raise rule_broken(ErrorCode.NOT_ELIGIBLE)
        exclude_case_id = case.pk
    else:
        if procedure is None or surgeon_id is None:
            raise TypeError("availability_for needs case_id, or procedure and surgeon_id")
        demand = demand_for_procedure(
            version=version_to_pin(slug=procedure), levels=levels, anaesthesia=anaesthesia, surgeon_id=surgeon_id
        )
    start, end = local_day_range(date_from=date_from, date_to=date_to)
    query = AvailabilityQuery(demand=demand, date_from=start, date_to=end, exclude_case_id=exclude_case_id, limit=limit)
    return find_slots(query=query)
