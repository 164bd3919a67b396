"""The slot search: where and when a case fits. Pure functions over loaded data (no database,
no clock), so `book` without a start and `/availability/` share one answer to "earliest
fitting time", and the rules can be tested in microseconds.

All intervals are half-open [start, end) in UTC, like the exclusion constraints: a case may
start the minute the previous one ends.

`earliest_slots` searches many lists against one `Occupancy`: it indexes the occupancy once
(`OccupancyIndex`: each stream sorted by start, found by bisection) and searches each list against
only the intervals that overlap it, so a search costs O(lists x log intervals) and not
O(lists x intervals x candidate starts). At 400 lists the full scan took 21-22 ms of a 57-62 ms
availability call, growing faster than the lists (issue 18).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from core.errors import ErrorCode

Interval = tuple[dt.datetime, dt.datetime]

# Session statuses a case may be placed in without an override (6-4-2: a locked list changes
# only by a coordinator's audited override; a cancelled list never takes cases).
OPEN_SESSION_STATUSES = frozenset({"planned", "published"})


@dataclass(frozen=True)
class SessionWindow:
    """One list as the search sees it."""

    id: int
    theatre_id: int
    site_id: int
    start: dt.datetime
    end: dt.datetime
    status: str
    surgeon_id: int
    anaesthetist_id: int | None
    capabilities: frozenset[str]
    # Nothing may start before this (now, for a list already under way): a coordinator must not be
    # able to book a patient into time that has passed. None: no bound (retrospective records).
    not_before: dt.datetime | None = None
    # The list's local day in the planning zone, for the patient's unavailable days (None: not
    # checked, for callers that do not know it).
    local_date: dt.date | None = None

    @property
    def first_start(self) -> dt.datetime:
        """The earliest start the list still offers."""
        return self.start if self.not_before is None else max(self.start, self.not_before)


@dataclass(frozen=True)
class Demand:
    """What the case needs: its minutes, people and kit."""

    minutes: int
    surgeon_id: int
    patient_id: int | None
    capabilities: frozenset[str]
    equipment: tuple[str, ...]
    eligible: bool = True
    # General anaesthesia: the list must have an anaesthetist (local with sedation need not).
    needs_anaesthetist: bool = False
    # Local days (first, last, inclusive) the patient is unavailable (scheduling/unavailability.py).
    unavailable: tuple[tuple[dt.date, dt.date], ...] = ()


@dataclass
class Occupancy:
    """Everything already holding time near the sessions searched (the case itself excluded)."""

    # session id -> intervals of the live cases in that session
    session_cases: dict[int, list[Interval]] = field(default_factory=dict)
    # the demand's surgeon: their own cases anywhere ...
    surgeon_cases: list[Interval] = field(default_factory=list)
    # ... and the live lists they lead, as (session id, interval): leading a list elsewhere is busy
    surgeon_sessions: list[tuple[int, Interval]] = field(default_factory=list)
    # anaesthetist id -> intervals of their cases
    anaesthetist_cases: dict[int, list[Interval]] = field(default_factory=dict)
    patient_cases: list[Interval] = field(default_factory=list)
    # (site id, equipment kind) -> unit id -> claimed intervals; a unit with no claims maps to []
    units: dict[tuple[int, str], dict[int, list[Interval]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Fit:
    """The outcome of a search in one session: a start and the units to claim, or the binding rule."""

    start: dt.datetime | None = None
    units: Mapping[str, int] = field(default_factory=dict)
    code: ErrorCode | None = None

    @property
    def ok(self) -> bool:
        return self.start is not None


@dataclass(frozen=True)
class OpenSlot:
    """The earliest time a case fits in one open list, as availability offers it (book it with
    `{session, start}`). Not a hold: another booking may take it first."""

    session_id: int
    theatre_id: int
    start: dt.datetime
    end: dt.datetime


def _overlaps(intervals: Iterable[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    # A loop, not any() over a generator: the search's innermost call (half the time of any()).
    for a, b in intervals:  # noqa: SIM110
        if a < end and start < b:
            return True
    return False


def session_violation(*, window: SessionWindow, demand: Demand, allow_locked: bool = False) -> ErrorCode | None:
    """The rule, if any, that rules out the whole session whatever the time."""
    if not demand.eligible:
        return ErrorCode.NOT_ELIGIBLE
    if window.local_date is not None and any(a <= window.local_date <= b for a, b in demand.unavailable):
        return ErrorCode.PATIENT_UNAVAILABLE
    if window.status not in OPEN_SESSION_STATUSES and not (allow_locked and window.status == "locked"):
        return ErrorCode.SESSION_LOCKED
    if not demand.capabilities <= window.capabilities:
        return ErrorCode.CAPABILITY_MISSING
    if demand.needs_anaesthetist and window.anaesthetist_id is None:
        return ErrorCode.ANAESTHETIST_REQUIRED
    return None


def pick_units(
    *, window: SessionWindow, demand: Demand, occupancy: Occupancy, start: dt.datetime, end: dt.datetime
) -> dict[str, int] | None:
    """One free active unit of each required kind at the session's site (lowest id), or None."""
    chosen: dict[str, int] = {}
    for kind in demand.equipment:
        units = occupancy.units.get((window.site_id, kind), {})
        free = next((unit_id for unit_id, claims in sorted(units.items()) if not _overlaps(claims, start, end)), None)
        if free is None:
            return None
        chosen[kind] = free
    return chosen


def time_violation(
    *, window: SessionWindow, demand: Demand, occupancy: Occupancy, start: dt.datetime
) -> ErrorCode | None:
    """The first rule that `start` breaks in this session, in DESIGN §2 order, or None."""
    end = start + dt.timedelta(minutes=demand.minutes)
    if start < window.first_start or end > window.end:
        return ErrorCode.OUTSIDE_SESSION
    if _overlaps(occupancy.session_cases.get(window.id, ()), start, end):
        return ErrorCode.SLOT_TAKEN
    led_elsewhere = (iv for session_id, iv in occupancy.surgeon_sessions if session_id != window.id)
    if _overlaps(occupancy.surgeon_cases, start, end) or _overlaps(led_elsewhere, start, end):
        return ErrorCode.SURGEON_BUSY
    if window.anaesthetist_id is not None and _overlaps(
        occupancy.anaesthetist_cases.get(window.anaesthetist_id, ()), start, end
    ):
        return ErrorCode.ANAESTHETIST_BUSY
    if demand.patient_id is not None and _overlaps(occupancy.patient_cases, start, end):
        return ErrorCode.PATIENT_BUSY
    if pick_units(window=window, demand=demand, occupancy=occupancy, start=start, end=end) is None:
        return ErrorCode.EQUIPMENT_UNAVAILABLE
    return None


def units_free(
    *,
    window: SessionWindow,
    demand: Demand,
    occupancy: Occupancy,
    start: dt.datetime,
    end: dt.datetime,
    units: Mapping[str, int],
) -> bool:
    """Whether these units (equipment kind -> unit id) are exactly one active unit of each kind the
    case needs, at the session's site, each free over [start, end)."""
    if set(units) != set(demand.equipment):
        return False
    for kind, unit_id in units.items():
        claims = occupancy.units.get((window.site_id, kind), {}).get(unit_id)
        if claims is None or _overlaps(claims, start, end):
            return False
    return True


def check_start(
    *,
    window: SessionWindow,
    demand: Demand,
    occupancy: Occupancy,
    start: dt.datetime,
    allow_locked: bool = False,
    units: Mapping[str, int] | None = None,
) -> Fit:
    """Whether the case can start exactly at `start`: the units to claim, or the rule it breaks.

    With `units` (a list fill's choice) the case must take exactly those: a fill assigns units
    across theatres jointly, and the lowest free unit of each kind could be one it gave another case.
    """
    code = session_violation(window=window, demand=demand, allow_locked=allow_locked) or time_violation(
        window=window, demand=demand, occupancy=occupancy, start=start
    )
    if code is not None:
        return Fit(code=code)
    end = start + dt.timedelta(minutes=demand.minutes)
    if units is not None:
        if not units_free(window=window, demand=demand, occupancy=occupancy, start=start, end=end, units=units):
            return Fit(code=ErrorCode.EQUIPMENT_UNAVAILABLE)
        return Fit(start=start, units=dict(units))
    chosen = pick_units(window=window, demand=demand, occupancy=occupancy, start=start, end=end)
    return Fit(start=start, units=chosen or {})


def _candidate_starts(*, window: SessionWindow, occupancy: Occupancy, latest: dt.datetime) -> list[dt.datetime]:
    """The session start and every busy interval's end inside the window.

    A start is blocked by a busy [a, b) exactly when it lies in (a - minutes, b), so the
    earliest free start is always the session start or the end of something busy.
    """
    first = window.first_start
    ends: set[dt.datetime] = {first}
    streams: list[Iterable[Interval]] = [
        occupancy.session_cases.get(window.id, ()),
        occupancy.surgeon_cases,
        (iv for _, iv in occupancy.surgeon_sessions),
        occupancy.patient_cases,
    ]
    if window.anaesthetist_id is not None:
        streams.append(occupancy.anaesthetist_cases.get(window.anaesthetist_id, ()))
    for kind_units in occupancy.units.values():
        streams.extend(kind_units.values())
    for stream in streams:
        ends.update(b for _, b in stream if first < b <= latest)
    return sorted(ends)


# Codes that only say "the session itself has no room here"; if every candidate fails on
# one of these the answer is session_full, otherwise the first other rule that bound.
_ROOM_CODES = frozenset({ErrorCode.OUTSIDE_SESSION, ErrorCode.SLOT_TAKEN})


def earliest_start(*, window: SessionWindow, demand: Demand, occupancy: Occupancy, allow_locked: bool = False) -> Fit:
    """The earliest start in this session that satisfies every invariant, or the binding rule's code."""
    code = session_violation(window=window, demand=demand, allow_locked=allow_locked)
    if code is not None:
        return Fit(code=code)
    if window.first_start >= window.end:
        return Fit(code=ErrorCode.OUTSIDE_SESSION)  # the list is over
    latest = window.end - dt.timedelta(minutes=demand.minutes)
    if latest < window.first_start:
        return Fit(code=ErrorCode.SESSION_FULL)
    binding: ErrorCode | None = None
    own = occupancy.session_cases.get(window.id, ())
    minutes = dt.timedelta(minutes=demand.minutes)
    taken_until = window.first_start
    for start in _candidate_starts(window=window, occupancy=occupancy, latest=latest):
        # A start inside the list's own case is slot_taken, and so is every later one until that
        # case ends (a room code, never the binding one): skip them without the other rules.
        if start < taken_until:
            continue
        end = start + minutes
        for a, b in own:
            if a < end and start < b:
                taken_until = b
                break
        if start < taken_until:
            continue
        code = time_violation(window=window, demand=demand, occupancy=occupancy, start=start)
        if code is None:
            return check_start(
                window=window, demand=demand, occupancy=occupancy, start=start, allow_locked=allow_locked
            )
        if binding is None and code not in _ROOM_CODES:
            binding = code
    return Fit(code=binding or ErrorCode.SESSION_FULL)


class _Stream:
    """Intervals sorted by start, with the longest one's length: those overlapping [lo, hi) are the
    ones starting in (lo - longest, hi) whose end is after lo, found by two bisections."""

    __slots__ = ("intervals", "longest", "starts")

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = sorted(intervals)
        self.starts = [a for a, _ in self.intervals]
        self.longest = max((b - a for a, b in self.intervals), default=dt.timedelta(0))

    def overlapping(self, lo: dt.datetime, hi: dt.datetime) -> list[Interval]:
        first = bisect_right(self.starts, lo - self.longest)
        last = bisect_left(self.starts, hi, lo=first)
        return [iv for iv in self.intervals[first:last] if iv[1] > lo]


class OccupancyIndex:
    """An `Occupancy` indexed once, to hand each session only what overlaps it (`around`).

    The search in one session only ever looks at [first_start, end): a start outside it breaks
    outside_session before any other rule, and every candidate start is the end of an interval
    inside it. So `earliest_start` against `around(window)` gives the same start, units and binding
    rule as against the whole occupancy (tests/scheduling/test_slots_index.py checks it by property).
    """

    def __init__(self, occupancy: Occupancy) -> None:
        self._session_cases = {pk: _Stream(ivs) for pk, ivs in occupancy.session_cases.items()}
        self._surgeon_cases = _Stream(occupancy.surgeon_cases)
        led = sorted(occupancy.surgeon_sessions, key=lambda led: (led[1], led[0]))
        self._led = _Stream(iv for _, iv in led)
        self._led_ids = [pk for pk, _ in led]
        self._anaesthetist_cases = {pk: _Stream(ivs) for pk, ivs in occupancy.anaesthetist_cases.items()}
        self._patient_cases = _Stream(occupancy.patient_cases)
        self._units = {
            key: {unit_id: _Stream(claims) for unit_id, claims in by_unit.items()}
            for key, by_unit in occupancy.units.items()
        }

    def around(self, window: SessionWindow) -> Occupancy:
        """What holds time over [window.first_start, window.end), as an `Occupancy` for this window."""
        lo, hi = window.first_start, window.end
        own = self._session_cases.get(window.id)
        led_first = bisect_right(self._led.starts, lo - self._led.longest)
        led_last = bisect_left(self._led.starts, hi, lo=led_first)
        anaesthetist = (
            self._anaesthetist_cases.get(window.anaesthetist_id) if window.anaesthetist_id is not None else None
        )
        return Occupancy(
            session_cases={window.id: own.overlapping(lo, hi)} if own is not None else {},
            surgeon_cases=self._surgeon_cases.overlapping(lo, hi),
            surgeon_sessions=[
                (self._led_ids[n], self._led.intervals[n])
                for n in range(led_first, led_last)
                if self._led.intervals[n][1] > lo
            ],
            anaesthetist_cases=(
                {window.anaesthetist_id: anaesthetist.overlapping(lo, hi)}
                if window.anaesthetist_id is not None and anaesthetist is not None
                else {}
            ),
            patient_cases=self._patient_cases.overlapping(lo, hi),
            # The list's site only (units elsewhere are never picked), every unit there (one with no
            # claim here is free). Other sites' claims only add candidate starts, and a candidate
            # between two ends of what holds this list's time is blocked by at least what blocks the
            # earlier end, so they never change the start or the binding rule.
            units={
                key: {unit_id: claims.overlapping(lo, hi) for unit_id, claims in by_unit.items()}
                for key, by_unit in self._units.items()
                if key[0] == window.site_id
            },
        )


def earliest_slots(
    *, windows: Sequence[SessionWindow], demand: Demand, occupancy: Occupancy, limit: int
) -> list[OpenSlot]:
    """The earliest fitting time in each open session, earliest first, at most `limit` of them.

    Sessions are searched in order of their first start, and the search stops once `limit` slots
    start before the next session's first start: no slot there could be among the first `limit`
    (at 1,200 lists a 20-slot answer searches about a third of them).
    """
    slots: list[OpenSlot] = []
    index = OccupancyIndex(occupancy)
    starts: list[dt.datetime] = []  # the slots' starts so far, sorted
    for window in sorted(windows, key=lambda w: w.first_start):
        if len(starts) >= limit and window.first_start > starts[limit - 1]:
            break
        fit = earliest_start(window=window, demand=demand, occupancy=index.around(window))
        if fit.start is not None:
            end = fit.start + dt.timedelta(minutes=demand.minutes)
            slots.append(OpenSlot(session_id=window.id, theatre_id=window.theatre_id, start=fit.start, end=end))
            insort(starts, fit.start)
    slots.sort(key=lambda s: (s.start, s.theatre_id, s.session_id))
    return slots[:limit]
