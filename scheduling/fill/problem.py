"""What the fill reads and what it answers: frozen dataclasses, no database, no clock.

A list is a `SessionWindow` (scheduling/slots.py) with the free time it still offers; a case is a
`Demand` with its priority and referral date. Every interval is half-open [start, end) in UTC, as
in the slot search and the exclusion constraints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ErrorCode
from scheduling.slots import Demand, Interval, SessionWindow
from scheduling.waiting import DateSpan
from scheduling.waiting import treat_by as waiting_treat_by

# NHS surgical prioritisation (FSSA), most urgent first.
PRIORITIES = ("P1", "P2", "P3", "P4")

# How much one placed case of each class weighs in `priority_score`: one P1 counts as two P2s.
_PRIORITY_WEIGHT = {"P1": 8, "P2": 4, "P3": 2, "P4": 1}


def treat_by(*, priority: str, referral_date: dt.date, pauses: tuple[DateSpan, ...] = ()) -> dt.date | None:
    """The date by which a case of this class should be treated (None for P4: no limit), moved
    later by the patient-initiated pauses (scheduling/waiting.py holds the rule)."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    return waiting_treat_by(priority=priority, referral_date=referral_date, pauses=pauses)


def priority_weight(priority: str) -> int:
    return _PRIORITY_WEIGHT[priority]


@dataclass(frozen=True)
class FillList:
    """One list the fill may add cases to.

    `gaps` is the list's own free time: the session less its live cases, less time already past
    (`window.not_before`), and less the time its surgeon leads another list (booking counts that
    as busy, and it is a fact about this list alone). `max_added_minutes` caps the minutes the
    fill adds (the slot minutes the list can take before its chance of overrunning passes
    `max_overrun_risk`); None: no cap.
    """

    window: SessionWindow
    gaps: tuple[Interval, ...]
    max_added_minutes: int | None = None


@dataclass(frozen=True)
class Candidate:
    """A waiting case: `demand.minutes` is its slot minutes, `demand.surgeon_id` the only surgeon
    whose lists it may go into."""

    case_id: int
    demand: Demand
    priority: str
    referral_date: dt.date
    # Patient-initiated pauses of the wait (local days, inclusive): they move the treat-by date.
    pauses: tuple[DateSpan, ...] = ()

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise ValueError(f"unknown priority {self.priority!r}")
        if self.demand.minutes <= 0:
            raise ValueError("a case needs a positive number of minutes")

    @property
    def treat_by(self) -> dt.date | None:
        return treat_by(priority=self.priority, referral_date=self.referral_date, pauses=self.pauses)


@dataclass(frozen=True)
class FillProblem:
    """Everything the fill decides over.

    Besides the lists and the cases, the time already held by what the fill does not move: the
    live cases of the lists' surgeons and anaesthetists and of the candidates' patients, and
    the claims on every active equipment unit at the lists' sites, keyed like `Occupancy.units`
    ((site id, kind) -> unit id -> claimed intervals; a unit with no claims maps to ()). The
    fill never puts two cases on one unit, one person or one patient at overlapping times,
    whatever list they are in, nor on one already held.
    """

    lists: tuple[FillList, ...]
    candidates: tuple[Candidate, ...]
    units: Mapping[tuple[int, str], Mapping[int, tuple[Interval, ...]]] = field(default_factory=dict)
    surgeons_busy: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    anaesthetists_busy: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    patients_busy: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    # 6-4-2: locked lists take cases only under a coordinator's override.
    allow_locked: bool = False


@dataclass(frozen=True)
class Placement:
    """A case the fill puts in a list: book it with `{session, start}` and these units."""

    case_id: int
    session_id: int
    start: dt.datetime
    end: dt.datetime
    units: Mapping[str, int] = field(default_factory=dict)  # equipment kind -> unit id


@dataclass(frozen=True)
class Unplaced:
    """A case left waiting, with the rule that kept it out (see `fill` for the codes)."""

    case_id: int
    code: ErrorCode


@dataclass(frozen=True)
class FillScore:
    """`booked_minutes`: slot minutes the fill places; `free_minutes`: gap minutes still free after
    it; `utilisation`: the share of the offered gap minutes booked; `priority_score`: the share of
    the candidates' urgency placed, each case weighted 8/4/2/1 for P1-P4."""

    booked_minutes: int
    free_minutes: int
    utilisation: float
    priority_score: float


@dataclass(frozen=True)
class SolverReport:
    method: str
    elapsed_ms: float


@dataclass(frozen=True)
class FillResult:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
    score: FillScore
    solver: SolverReport
