"""List fill as a service: load the lists and the waiting list, ask the pure fill, book the answer.

`preview_fill` loads everything in a constant number of queries (eight, whatever the number of
lists and cases) and calls `scheduling.fill.fill`; it changes nothing. `commit_fill` books every
placement through `booking.book_case` in one transaction, under booking's own locks, so every
invariant booking guarantees holds for a fill too; a placement the booking refuses (the data
changed underneath) refuses the whole commit with 409 `fill_conflict` naming the case.
`session_candidates` ranks the waiting cases that fit one list's free time (after a cancellation,
say).

The overrun limit (`max_overrun_risk`) becomes a cap in minutes per list for the pure core: the
most the list can take before its probability of overrun (scheduling/forecast.py) passes the
limit, with the added minutes counted as one more case as uncertain as the most uncertain of the
surgeon's waiting cases (one long case spreads wider than several short ones of the same total,
so the cap errs towards filling less). The fill's answer is then checked with the cases it
actually chose; a list that still passes the limit gets a lower cap and the fill runs again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.audit import Actor
from core.errors import DomainError, ErrorCode, InvalidInput
from scheduling import booking
from scheduling.availability import demand_from, earliest_bookable, local_day_range, window_of
from scheduling.fill import (
    Candidate,
    FillList,
    FillProblem,
    FillResult,
    FillScore,
    Placement,
    SolverReport,
    Unplaced,
    fill,
)
from scheduling.fill.problem import priority_weight
from scheduling.forecast import CaseDuration, case_duration, p_overrun
from scheduling.models import OCCUPYING_STATUSES, Case, CaseEquipment, CaseStatus
from scheduling.predictions import Durations
from scheduling.slots import OPEN_SESSION_STATUSES, Interval, Occupancy, earliest_start
from scheduling.unavailability import spans_and_pauses_for
from theatre.models import EquipmentUnit, SessionStatus, TheatreSession

# A fill covers at most this many days: a quarter's lists are the most a coordinator reviews at once.
MAX_RANGE_DAYS = 93
# How many times the fill runs again with lower caps when a list's chosen cases pass the overrun
# limit; after that, cases are taken off such a list, least urgent first.
_OVERRUN_ROUNDS = 4


@dataclass(frozen=True)
class FillRequest:
    """What to fill: the lists starting on the local days [date_from, date_to], narrowed to these
    theatres, surgeons or lists if given. Locked lists take cases only with `override` and a reason."""

    date_from: dt.date
    date_to: dt.date
    theatre_ids: tuple[int, ...] = ()
    surgeon_ids: tuple[int, ...] = ()
    session_ids: tuple[int, ...] = ()
    max_overrun_risk: float | None = None
    override: bool = False
    override_reason: str = ""
    now: dt.datetime | None = None  # the clock; None reads it (tests pin it)
    budget_ms: float | None = None  # the improving search's time budget; None: settings.FILL_BUDGET_MS


@dataclass(frozen=True)
class FillOutcome:
    result: FillResult
    committed: bool
    # What the answer names, for the serializer: the lists and cases by id.
    sessions: Mapping[int, TheatreSession]
    cases: Mapping[int, Case]


@dataclass
class _Loaded:
    problem: FillProblem
    sessions: dict[int, TheatreSession]
    cases: dict[int, Case]
    durations: Durations
    # Per list: its live cases, as the forecast sees them, and the minutes it may run.
    booked: dict[int, list[CaseDuration]]
    available: dict[int, float]


def _check_request(request: FillRequest) -> None:
    if request.date_to < request.date_from:
        raise InvalidInput("date_to", "date_to must be on or after date_from.")
    if (request.date_to - request.date_from).days >= MAX_RANGE_DAYS:
        raise InvalidInput("date_to", f"A fill covers at most {MAX_RANGE_DAYS} days.", ErrorCode.OUT_OF_RANGE)
    if request.max_overrun_risk is not None and not 0 <= request.max_overrun_risk <= 1:
        raise InvalidInput("max_overrun_risk", "Give a probability between 0 and 1.", ErrorCode.OUT_OF_RANGE)
    if request.override and not request.override_reason.strip():
        raise InvalidInput("override_reason", "Filling locked lists needs a reason for the override.")


def _lists(request: FillRequest, not_before: dt.datetime) -> list[TheatreSession]:
    """The lists to fill (1 query): live, not over, in a working theatre led by a working surgeon.
    Locked lists come too, so that a case whose only lists are locked says so."""
    start, end = local_day_range(date_from=request.date_from, date_to=request.date_to)
    lists = TheatreSession.objects.filter(
        start__gte=start,
        start__lt=end,
        end__gt=not_before,
        status__in=[*OPEN_SESSION_STATUSES, SessionStatus.LOCKED],
        theatre__active=True,
        surgeon__active=True,
    ).exclude(anaesthetist__active=False)  # as booking refuses a deactivated team (booking.ensure_active)
    if request.theatre_ids:
        lists = lists.filter(theatre_id__in=request.theatre_ids)
    if request.surgeon_ids:
        lists = lists.filter(surgeon_id__in=request.surgeon_ids)
    if request.session_ids:
        lists = lists.filter(pk__in=request.session_ids)
    return list(lists.select_related("theatre").order_by("start", "pk"))


def _waiting(surgeon_ids: Iterable[int] | None) -> list[Case]:
    """The waiting cases in scope (1 query), eligible or not: the answer says why each waits."""
    waiting = Case.objects.filter(status=CaseStatus.WAITING).select_related("procedure", "procedure_version")
    if surgeon_ids is not None:
        waiting = waiting.filter(surgeon_id__in=set(surgeon_ids))
    return list(waiting.order_by("pk"))


def _minus(gaps: list[Interval], busy: Iterable[Interval]) -> list[Interval]:
    """The gaps with the busy intervals taken out."""
    for b_start, b_end in sorted(busy):
        pieces: list[Interval] = []
        for start, end in gaps:
            if b_end <= start or end <= b_start:
                pieces.append((start, end))
                continue
            if start < b_start:
                pieces.append((start, b_start))
            if b_end < end:
                pieces.append((b_end, end))
        gaps = pieces
    return gaps


def _load(request: FillRequest, *, scope_surgeons: Iterable[int] | None = None) -> _Loaded:
    """Everything the fill decides over, in eight queries whatever the size."""
    not_before = earliest_bookable(request.now or timezone.now())
    lists = _lists(request, not_before)
    if scope_surgeons is None and (request.surgeon_ids or request.theatre_ids or request.session_ids):
        # A narrowed fill answers for the cases that could have gone into the lists it looked at.
        scope_surgeons = request.surgeon_ids or {s.surgeon_id for s in lists}
    waiting = _waiting(scope_surgeons)
    durations = Durations()  # 1 query, on first use
    windows = {s.pk: window_of(s, not_before=not_before) for s in lists}
    candidates = _candidates(waiting, durations)
    problem_holders = _holders(lists=lists, waiting=waiting, candidates=candidates)
    booked: dict[int, list[CaseDuration]] = defaultdict(list)
    fill_lists = []
    for session in lists:
        window = windows[session.pk]
        own = sorted(problem_holders.session_cases.get(session.pk, []), key=lambda c: (c.start, c.pk))
        led_elsewhere = [iv for pk, iv in problem_holders.led.get(session.surgeon_id, []) if pk != session.pk]
        gaps = _minus(
            [(window.first_start, window.end)] if window.first_start < window.end else [],
            [*((c.start, c.end) for c in own if c.start and c.end), *led_elsewhere],
        )
        booked[session.pk] = [
            case_duration(prediction=durations.predict(c), planned_minutes=c.planned_minutes)
            for c in own
            if c.status != CaseStatus.COMPLETED
        ]
        fill_lists.append(FillList(window=window, gaps=tuple(gaps)))
    problem = FillProblem(
        lists=tuple(fill_lists),
        candidates=tuple(candidates),
        units=problem_holders.units,
        surgeons_busy=problem_holders.surgeons,
        anaesthetists_busy=problem_holders.anaesthetists,
        patients_busy=problem_holders.patients,
        allow_locked=request.override,
    )
    return _Loaded(
        problem=problem,
        sessions={s.pk: s for s in lists},
        cases={c.pk: c for c in waiting},
        durations=durations,
        booked=dict(booked),
        available={s.pk: (s.end - windows[s.pk].first_start).total_seconds() / 60 for s in lists},
    )


def _candidates(waiting: Sequence[Case], durations: Durations) -> list[Candidate]:
    """The waiting cases as the fill sees them, kept off their patients' unavailable days and with
    their waits paused as the patients asked (one query for the periods)."""
    periods = spans_and_pauses_for(c.pk for c in waiting)
    found = []
    for case in waiting:
        spans, pauses = periods.get(case.pk, ([], []))
        found.append(
            Candidate(
                case_id=case.pk,
                demand=demand_from(case, minutes=durations.slot_minutes(case), unavailable=spans),
                priority=case.priority,
                referral_date=case.referral_date,
                pauses=tuple(pauses),
            )
        )
    return found


@dataclass
class _Holders:
    session_cases: dict[int, list[Case]]
    led: dict[int, list[tuple[int, Interval]]]
    surgeons: dict[int, tuple[Interval, ...]]
    anaesthetists: dict[int, tuple[Interval, ...]]
    patients: dict[int, tuple[Interval, ...]]
    units: dict[tuple[int, str], dict[int, tuple[Interval, ...]]]


def _holders(*, lists: Sequence[TheatreSession], waiting: Sequence[Case], candidates: Sequence[Candidate]) -> _Holders:
    """Who holds time over the lists' span (4 queries): live cases of the lists, their surgeons and
    anaesthetists and the candidates' patients; the lists the surgeons lead; the active units of
    the kinds wanted at the lists' sites, and their claims."""
    holders = _Holders({}, {}, {}, {}, {}, {})
    if not lists:
        return holders
    span_start, span_end = min(s.start for s in lists), max(s.end for s in lists)
    session_ids = {s.pk for s in lists}
    surgeon_ids = {s.surgeon_id for s in lists}
    anaesthetist_ids = {s.anaesthetist_id for s in lists if s.anaesthetist_id is not None}
    patient_ids = {c.patient_id for c in waiting}
    people = Q(session_id__in=session_ids) | Q(surgeon_id__in=surgeon_ids) | Q(patient_id__in=patient_ids)
    if anaesthetist_ids:
        people |= Q(anaesthetist_id__in=anaesthetist_ids)
    live = Case.objects.filter(people, status__in=OCCUPYING_STATUSES, start__lt=span_end, end__gt=span_start)
    session_cases: dict[int, list[Case]] = defaultdict(list)
    surgeons: dict[int, list[Interval]] = defaultdict(list)
    anaesthetists: dict[int, list[Interval]] = defaultdict(list)
    patients: dict[int, list[Interval]] = defaultdict(list)
    for case in live.select_related("procedure", "procedure_version"):
        assert case.start is not None and case.end is not None  # noqa: S101 - live cases have a slot (DB check)
        interval = (case.start, case.end)
        if case.session_id in session_ids:
            session_cases[case.session_id].append(case)
        if case.surgeon_id in surgeon_ids:
            surgeons[case.surgeon_id].append(interval)
        if case.anaesthetist_id in anaesthetist_ids:
            anaesthetists[case.anaesthetist_id].append(interval)
        if case.patient_id in patient_ids:
            patients[case.patient_id].append(interval)
    led: dict[int, list[tuple[int, Interval]]] = defaultdict(list)
    for pk, surgeon_id, start, end in (
        TheatreSession.objects.filter(surgeon_id__in=surgeon_ids, start__lt=span_end, end__gt=span_start)
        .exclude(status=SessionStatus.CANCELLED)
        .values_list("pk", "surgeon_id", "start", "end")
    ):
        led[surgeon_id].append((pk, (start, end)))
    kinds = {kind for c in candidates for kind in c.demand.equipment}
    units: dict[tuple[int, str], dict[int, list[Interval]]] = defaultdict(dict)
    unit_key: dict[int, tuple[int, str]] = {}
    if kinds:
        for unit_id, site_id, kind in EquipmentUnit.objects.filter(
            site_id__in={s.theatre.site_id for s in lists}, kind__in=kinds, active=True
        ).values_list("pk", "site_id", "kind"):
            units[(site_id, kind)][unit_id] = []
            unit_key[unit_id] = (site_id, kind)
    if unit_key:
        for unit_id, start, end in CaseEquipment.objects.filter(
            unit_id__in=unit_key, start__lt=span_end, end__gt=span_start
        ).values_list("unit_id", "start", "end"):
            units[unit_key[unit_id]][unit_id].append((start, end))
    holders.session_cases = dict(session_cases)
    holders.led = dict(led)
    holders.surgeons = {k: tuple(v) for k, v in surgeons.items()}
    holders.anaesthetists = {k: tuple(v) for k, v in anaesthetists.items()}
    holders.patients = {k: tuple(v) for k, v in patients.items()}
    holders.units = {key: {u: tuple(c) for u, c in by_unit.items()} for key, by_unit in units.items()}
    return holders


# --- the overrun limit ------------------------------------------------------------------------


def _widest(loaded: _Loaded) -> dict[int, CaseDuration]:
    """Per surgeon, the most uncertain of their waiting cases: the shape the cap gives added minutes."""
    widest: dict[int, CaseDuration] = {}
    for case in loaded.cases.values():
        duration = case_duration(prediction=loaded.durations.predict(case), planned_minutes=case.planned_minutes)
        current = widest.get(case.surgeon_id)
        if current is None or duration.log_sigma > current.log_sigma:
            widest[case.surgeon_id] = duration
    return widest


def _risk_with(loaded: _Loaded, session_id: int, added: Sequence[CaseDuration]) -> float:
    return p_overrun(available_minutes=loaded.available[session_id], cases=[*loaded.booked[session_id], *added])


def _cap(loaded: _Loaded, fill_list: FillList, shape: CaseDuration | None, limit: float) -> int:
    """The most minutes the list may take before its chance of overrun passes `limit`."""
    session_id = fill_list.window.id
    room = int(sum((end - start).total_seconds() for start, end in fill_list.gaps) // 60)
    if _risk_with(loaded, session_id, []) > limit:
        return 0
    if shape is None or room == 0:
        return room

    def risk(minutes: int) -> float:
        added = dataclasses.replace(shape, median_minutes=max(minutes - shape.turnover_minutes, 1))
        return _risk_with(loaded, session_id, [added])

    low, high = 0, room  # risk(low) <= limit; find the largest such minutes by bisection
    if risk(high) <= limit:
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if risk(middle) <= limit else (low, middle)
    return low


def _placed_risks(loaded: _Loaded, result: FillResult) -> dict[int, float]:
    added: dict[int, list[CaseDuration]] = defaultdict(list)
    for p in result.placements:
        case = loaded.cases[p.case_id]
        added[p.session_id].append(
            case_duration(prediction=loaded.durations.predict(case), planned_minutes=case.planned_minutes)
        )
    return {session_id: _risk_with(loaded, session_id, durations) for session_id, durations in added.items()}


def _solve(loaded: _Loaded, request: FillRequest) -> FillResult:
    started = time.perf_counter()
    result = _solve_within_limit(loaded, request)
    # The answer reports the whole search, every round of the overrun limit included.
    solver = dataclasses.replace(result.solver, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
    return dataclasses.replace(result, solver=solver)


def _solve_within_limit(loaded: _Loaded, request: FillRequest) -> FillResult:
    limit = request.max_overrun_risk
    budget = request.budget_ms if request.budget_ms is not None else settings.FILL_BUDGET_MS
    problem = loaded.problem
    if limit is None:
        return fill(problem, budget_ms=budget)
    widest = _widest(loaded)
    lists = tuple(
        dataclasses.replace(fl, max_added_minutes=_cap(loaded, fl, widest.get(fl.window.surgeon_id), limit))
        for fl in problem.lists
    )
    for round_no in range(_OVERRUN_ROUNDS):
        problem = dataclasses.replace(problem, lists=lists)
        # A re-run only lowers a few caps: a quarter of the budget keeps the request short.
        result = fill(problem, budget_ms=budget if round_no == 0 else budget / 4)
        over = {sid for sid, risk in _placed_risks(loaded, result).items() if risk > limit}
        if not over:
            return result
        added: dict[int, int] = defaultdict(int)
        for p in result.placements:
            added[p.session_id] += int((p.end - p.start).total_seconds() // 60)
        lists = tuple(
            dataclasses.replace(fl, max_added_minutes=added[fl.window.id] - 1) if fl.window.id in over else fl
            for fl in lists
        )
    return _trim(loaded, result, limit)


def _trim(loaded: _Loaded, result: FillResult, limit: float) -> FillResult:
    """Last resort after the rounds: take cases off lists past the limit, least urgent first."""
    rank = {c.case_id: (priority_weight(c.priority), -c.case_id) for c in loaded.problem.candidates}
    kept = list(result.placements)
    while True:
        risks = _placed_risks(loaded, dataclasses.replace(result, placements=tuple(kept)))
        over = [sid for sid, risk in risks.items() if risk > limit]
        if not over:
            break
        victim = min((p for p in kept if p.session_id == over[0]), key=lambda p: rank[p.case_id])
        kept.remove(victim)
    removed = [p for p in result.placements if p not in kept]
    if not removed:
        return result
    freed = sum(int((p.end - p.start).total_seconds() // 60) for p in removed)
    booked = result.score.booked_minutes - freed
    offered = result.score.booked_minutes + result.score.free_minutes
    weights = {c.case_id: priority_weight(c.priority) for c in loaded.problem.candidates}
    placed = sum(weights[p.case_id] for p in kept)
    score = dataclasses.replace(
        result.score,
        booked_minutes=booked,
        free_minutes=offered - booked,
        utilisation=round(booked / offered, 4) if offered else 0.0,
        priority_score=round(placed / sum(weights.values()), 4) if weights else 1.0,
    )
    unplaced = (*result.unplaced, *(Unplaced(case_id=p.case_id, code=ErrorCode.OVERRUN_RISK) for p in removed))
    return dataclasses.replace(result, placements=tuple(kept), unplaced=unplaced, score=score)


# --- the services -----------------------------------------------------------------------------


def preview_fill(*, request: FillRequest) -> FillOutcome:
    """The fill of the requested lists, changing nothing: placements, reasons and a score."""
    _check_request(request)
    loaded = _load(request)
    result = _solve(loaded, request)
    return FillOutcome(result=result, committed=False, sessions=loaded.sessions, cases=loaded.cases)


@dataclass(frozen=True)
class ChosenPlacement:
    """A placement the coordinator reviewed in a preview and now commits as it was (with the
    preview's units, or None for the lowest free unit of each kind, as a single booking takes)."""

    case_id: int
    session_id: int
    start: dt.datetime
    units: Mapping[str, int] | None = None


def commit_fill(
    *, request: FillRequest, actor: Actor, placements: Sequence[ChosenPlacement] | None = None
) -> FillOutcome:
    """Book a fill in one transaction: the placements reviewed in a preview if given (exactly
    those), else the fill worked out now. Each goes through `book_case` with booking's locks, taken
    for the whole batch up front; if any is refused, nothing is booked: 409 `fill_conflict`."""
    _check_request(request)
    started = time.perf_counter()
    loaded = _load(request)
    if placements is None:
        result = _solve(loaded, request)
        chosen = [ChosenPlacement(p.case_id, p.session_id, p.start, p.units) for p in result.placements]
    else:
        _check_chosen(loaded, placements)
        chosen = list(placements)

    def work() -> None:
        booking.lock_for_placements((p.case_id, p.session_id) for p in chosen)
        for p in chosen:
            try:
                booking.book_case(
                    case_id=p.case_id,
                    session_id=p.session_id,
                    start=p.start,
                    units=p.units,
                    actor=actor,
                    override=request.override,
                    override_reason=request.override_reason,
                    now=request.now,
                    note="list fill",
                )
            except DomainError as exc:
                raise _conflict(p, exc) from exc

    booking.run_in_transaction(work)
    if placements is not None:
        result = _as_reviewed(loaded, placements, elapsed_ms=(time.perf_counter() - started) * 1000)
    return FillOutcome(result=result, committed=True, sessions=loaded.sessions, cases=loaded.cases)


# The 409 codes a commit can answer (for the API's schema): a placement that no longer books, and
# a booking constraint that a concurrent change won first.
COMMIT_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.FILL_CONFLICT, *booking.CONSTRAINT_REFUSALS)


def _conflict(placement: ChosenPlacement, exc: DomainError) -> DomainError:
    return DomainError(
        ErrorCode.FILL_CONFLICT,
        f"Case {placement.case_id} can no longer be booked into list {placement.session_id} as the fill "
        f"proposed ({exc.code}: {exc.detail}) Nothing was booked; preview the fill again.",
        case=placement.case_id,
        session=placement.session_id,
        rule=exc.code,
    )


def _check_chosen(loaded: _Loaded, placements: Sequence[ChosenPlacement]) -> None:
    """Reviewed placements must name waiting cases and lists of this fill, each case once."""
    seen: set[int] = set()
    for index, p in enumerate(placements):
        if p.case_id in seen:
            raise InvalidInput(f"placements[{index}].case", "A case appears twice in the placements.")
        seen.add(p.case_id)
        if p.session_id not in loaded.sessions:
            raise InvalidInput(f"placements[{index}].session", "That list is not one of the lists this fill covers.")
        if p.case_id not in loaded.cases:
            # Not a bad request: the case may have been booked or cancelled since the preview.
            raise _conflict(p, DomainError(ErrorCode.INVALID_TRANSITION, "The case is no longer waiting."))


def _as_reviewed(loaded: _Loaded, placements: Sequence[ChosenPlacement], *, elapsed_ms: float) -> FillResult:
    """The answer for a commit of reviewed placements: what was booked (read back) and its score
    over the lists' free time before it; the reasons for the cases left waiting are the preview's."""
    booked = {
        c.pk: c
        for c in Case.objects.filter(pk__in=[p.case_id for p in placements]).prefetch_related("equipment_claims__unit")
    }
    result_placements = []
    for p in placements:
        case = booked[p.case_id]
        assert case.start is not None and case.end is not None  # noqa: S101 - just booked
        units = {claim.unit.kind: claim.unit_id for claim in case.equipment_claims.all()}
        result_placements.append(Placement(p.case_id, p.session_id, case.start, case.end, units))
    minutes = sum(int((p.end - p.start).total_seconds() // 60) for p in result_placements)
    offered = sum(int((end - start).total_seconds() // 60) for fl in loaded.problem.lists for start, end in fl.gaps)
    weights = {c.case_id: priority_weight(c.priority) for c in loaded.problem.candidates}
    placed = sum(weights.get(p.case_id, 0) for p in placements)
    score = FillScore(
        booked_minutes=minutes,
        free_minutes=max(offered - minutes, 0),
        utilisation=round(minutes / offered, 4) if offered else 0.0,
        priority_score=round(placed / sum(weights.values()), 4) if weights else 1.0,
    )
    return FillResult(
        placements=tuple(result_placements),
        unplaced=(),
        score=score,
        solver=SolverReport(method="as_reviewed", elapsed_ms=round(elapsed_ms, 1)),
    )


# --- candidates for one list ------------------------------------------------------------------


@dataclass(frozen=True)
class ListCandidate:
    """A waiting case that fits the list's free time now: its earliest start there, its slot minutes."""

    case: Case
    start: dt.datetime
    end: dt.datetime
    minutes: int
    treat_by: dt.date | None


def session_candidates(*, session_id: int, now: dt.datetime | None = None, limit: int = 50) -> list[ListCandidate]:
    """The eligible waiting cases of the list's surgeon that fit its free gaps, most urgent first
    (priority, then treat-by date, then referral date), each at its earliest start in the list.
    A constant number of queries whatever the number of waiting cases."""
    session = TheatreSession.objects.select_related("theatre").get(pk=session_id)
    not_before = earliest_bookable(now or timezone.now())
    window = window_of(session, not_before=not_before)
    # A locked list is offered too: freed time inside 6-4-2 is the usual case, and a coordinator
    # books it with an override (the answer says the list is locked).
    if session.status not in {*OPEN_SESSION_STATUSES, SessionStatus.LOCKED} or window.first_start >= window.end:
        return []
    waiting = [c for c in _waiting([session.surgeon_id]) if (c.screening_result or {}).get("result") == "eligible"]
    candidates = {c.case_id: c for c in _candidates(waiting, Durations())}
    holders = _holders(lists=[session], waiting=waiting, candidates=list(candidates.values()))
    base = Occupancy(
        session_cases={
            session.pk: [(c.start, c.end) for c in holders.session_cases.get(session.pk, []) if c.start and c.end]
        },
        surgeon_cases=list(holders.surgeons.get(session.surgeon_id, ())),
        surgeon_sessions=list(holders.led.get(session.surgeon_id, [])),
        anaesthetist_cases={k: list(v) for k, v in holders.anaesthetists.items()},
        units={key: {u: list(c) for u, c in by_unit.items()} for key, by_unit in holders.units.items()},
    )
    found: list[ListCandidate] = []
    for case in waiting:
        demand = candidates[case.pk].demand
        occupancy = dataclasses.replace(base, patient_cases=list(holders.patients.get(case.patient_id, ())))
        fit = earliest_start(window=window, demand=demand, occupancy=occupancy, allow_locked=True)
        if fit.start is None:
            continue
        found.append(
            ListCandidate(
                case=case,
                start=fit.start,
                end=fit.start + dt.timedelta(minutes=demand.minutes),
                minutes=demand.minutes,
                treat_by=candidates[case.pk].treat_by,
            )
        )
    found.sort(key=lambda c: (c.case.priority, c.treat_by or dt.date.max, c.case.referral_date, c.case.pk))
    return found[:limit]


def fill_answer(outcome: FillOutcome) -> dict[str, Any]:
    """The answer of POST /fill/ (DESIGN §5.4), ids only: no patient data."""
    result = outcome.result
    return {
        "placements": [
            {"case": p.case_id, "session": p.session_id, "start": p.start, "end": p.end, "units": dict(p.units)}
            for p in result.placements
        ],
        "unplaced": [{"case": u.case_id, "code": str(u.code)} for u in result.unplaced],
        "score": dataclasses.asdict(result.score),
        "solver": dataclasses.asdict(result.solver),
        "committed": outcome.committed,
    }
