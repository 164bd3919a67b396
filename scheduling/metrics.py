"""Theatre metrics with the Model Hospital's definitions (DESIGN §5.2). Pure: frozen inputs, no
database, no clock (`now` is passed in), like scheduling/slots.py; scheduling/reports.py loads
the facts and calls `report`.

Sources (research/theatre-metrics-and-scheduling.md):
- Model Health System, theatres webinar Q&A (March 2022, feedback.model.nhs.uk article
  1989754): capped utilisation is touch time inside the planned start and finish divided by the
  planned duration (the touch-time clock stops at the planned end); uncapped counts all touch
  time, overrun included; touch time starts at the first of a priority scale of fields
  (anaesthetic start, then into theatre).
- Zhang, Dunstan & Pandit (2024) on the Model Hospital's aggregation: averaging per-list ratios,
  and averaging late starts only over the lists that had one, mislead. So utilisation here is
  always Σ touch ÷ Σ planned minutes (weighted by minutes), and every late start, early finish
  and overrun is reported as a count AND its minutes over all lists.

Definitions, per list:
- Only lists that have ended count (their facts are in); a list still to come or under way
  contributes only the on-the-day cancellations already made against it.
- A cancelled list counts in `cancelled_lists` and nowhere else (no planned minutes).
- A list with cases that went to theatre or were due to but whose touch time is not recorded
  (a case without anaesthesia_start/in_theatre or out_of_theatre, or one still booked on a list
  that has passed) counts in `lists_missing_times` and is left out of utilisation. A list with no
  cases at all counts with zero touch time.
- A list's touch time is the union of its cases' touch intervals: parallel induction in the
  anaesthetic room overlaps the previous patient's time in theatre, and counting those minutes
  twice would put a full list above 100%. Capped touch is that union clipped to the list.
- A late start is a first touch start more than the threshold after the list's start; its
  minutes are the whole delay. An early finish is a last out_of_theatre more than its threshold
  before the end, an overrun more than its threshold after it; the minutes are the whole gap.
- `cases` counts operations done (completed, or still in theatre on a list that has ended); a
  case abandoned after sign in is not one, but its touch time is the theatre's, and it is an
  on-the-day cancellation like any other.

All minutes are whole minutes of elapsed (UTC) time, so a list on a clock-change day reports its
true length. Totals and every group are sums of per-list integers, so the totals row is exactly
the sum of the rows; percentages are computed from those sums and rounded half up to 0.1.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

Interval = tuple[dt.datetime, dt.datetime]


class CaseKind(StrEnum):
    OPERATED = "operated"  # completed, or in theatre on a list that has ended
    ABANDONED = "abandoned"  # cancelled after WHO sign in
    NOT_STARTED = "not_started"  # booked or confirmed: never went in


class GroupBy(StrEnum):
    THEATRE = "theatre"
    SURGEON = "surgeon"
    SITE = "site"
    WEEK = "week"
    DAY = "day"


CATEGORIES = ("clinical", "non_clinical", "patient")


@dataclass(frozen=True)
class Group:
    """What a row is about: `key` sorts and identifies it (an id, an ISO week, a date)."""

    key: str
    label: str


@dataclass(frozen=True)
class CaseFacts:
    kind: CaseKind
    touch: Interval | None = None  # None: not recorded (or not complete)


@dataclass(frozen=True)
class ListFacts:
    """One list as the metrics see it. `local_date` is the list's date in its site's zone."""

    start: dt.datetime
    end: dt.datetime
    local_date: dt.date
    theatre: Group
    surgeon: Group
    site: Group
    cancelled: bool = False
    cases: tuple[CaseFacts, ...] = ()
    # the categories of the cancellations made on the list's day against it
    cancellations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    late_start_minutes: int = 15
    early_finish_minutes: int = 30
    overrun_minutes: int = 10

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Tally:
    count: int = 0
    minutes: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, self.minutes + other.minutes)

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "minutes": self.minutes}


@dataclass(frozen=True)
class Cancellations:
    clinical: int = 0
    non_clinical: int = 0
    patient: int = 0

    @property
    def count(self) -> int:
        return self.clinical + self.non_clinical + self.patient

    def __add__(self, other: Cancellations) -> Cancellations:
        return Cancellations(
            self.clinical + other.clinical, self.non_clinical + other.non_clinical, self.patient + other.patient
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "count": self.count,
            "clinical": self.clinical,
            "non_clinical": self.non_clinical,
            "patient": self.patient,
        }


def _percent(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return float((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Figures:
    """One row of the report, or its totals: sums, and the ratios computed from them."""

    lists: int = 0
    planned_minutes: int = 0
    touch_minutes: int = 0
    capped_touch_minutes: int = 0
    late_starts: Tally = field(default_factory=Tally)
    early_finishes: Tally = field(default_factory=Tally)
    overruns: Tally = field(default_factory=Tally)
    cases: int = 0
    on_the_day_cancellations: Cancellations = field(default_factory=Cancellations)
    lists_missing_times: int = 0
    cancelled_lists: int = 0

    @property
    def capped_utilisation(self) -> float | None:
        return _percent(self.capped_touch_minutes, self.planned_minutes)

    @property
    def uncapped_utilisation(self) -> float | None:
        return _percent(self.touch_minutes, self.planned_minutes)

    @property
    def cases_per_list(self) -> float | None:
        if self.lists == 0:
            return None
        return float((Decimal(self.cases) / Decimal(self.lists)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    def __add__(self, other: Figures) -> Figures:
        # Spelled out rather than looped over fields(): the report adds thousands of these.
        return Figures(
            lists=self.lists + other.lists,
            planned_minutes=self.planned_minutes + other.planned_minutes,
            touch_minutes=self.touch_minutes + other.touch_minutes,
            capped_touch_minutes=self.capped_touch_minutes + other.capped_touch_minutes,
            late_starts=self.late_starts + other.late_starts,
            early_finishes=self.early_finishes + other.early_finishes,
            overruns=self.overruns + other.overruns,
            cases=self.cases + other.cases,
            on_the_day_cancellations=self.on_the_day_cancellations + other.on_the_day_cancellations,
            lists_missing_times=self.lists_missing_times + other.lists_missing_times,
            cancelled_lists=self.cancelled_lists + other.cancelled_lists,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "lists": self.lists,
            "planned_minutes": self.planned_minutes,
            "touch_minutes": self.touch_minutes,
            "capped_touch_minutes": self.capped_touch_minutes,
            "capped_utilisation": self.capped_utilisation,
            "uncapped_utilisation": self.uncapped_utilisation,
            "late_starts": self.late_starts.as_dict(),
            "early_finishes": self.early_finishes.as_dict(),
            "overruns": self.overruns.as_dict(),
            "cases": self.cases,
            "cases_per_list": self.cases_per_list,
            "on_the_day_cancellations": self.on_the_day_cancellations.as_dict(),
            "lists_missing_times": self.lists_missing_times,
            "cancelled_lists": self.cancelled_lists,
        }


@dataclass(frozen=True)
class Row:
    group: Group
    figures: Figures


@dataclass(frozen=True)
class Report:
    group_by: GroupBy
    rows: tuple[Row, ...]
    totals: Figures


def _seconds(interval: Interval) -> tuple[float, float]:
    # POSIX timestamps are elapsed time whatever the zone: two datetimes in the same zone would
    # subtract on their wall clocks, which is wrong across a clock change.
    return interval[0].timestamp(), interval[1].timestamp()


def _covered(spans: list[tuple[float, float]], low: float, high: float) -> tuple[float, float]:
    """Seconds covered by at least one span (sorted by start): in all, and inside [low, high]."""
    total = inside = 0.0
    island: tuple[float, float] | None = None
    for start, end in spans:
        if island is not None and start <= island[1]:
            if end > island[1]:
                island = (island[0], end)
            continue
        if island is not None:
            total += island[1] - island[0]
            inside += max(0.0, min(island[1], high) - max(island[0], low))
        island = (start, end)
    if island is not None:
        total += island[1] - island[0]
        inside += max(0.0, min(island[1], high) - max(island[0], low))
    return total, inside


def union_minutes(intervals: Iterable[Interval], *, clip: Interval | None = None) -> int:
    """Whole minutes covered by at least one interval (optionally clipped to `clip`)."""
    spans = sorted(_seconds(interval) for interval in intervals)
    low, high = _seconds(clip) if clip is not None else (-math.inf, math.inf)
    total, inside = _covered(spans, low, high)
    return int((inside if clip is not None else total) // 60)


def _beyond(gap_seconds: float, threshold_minutes: int) -> tuple[int, int]:
    """A late start, early finish or overrun as (count, minutes): counted when the gap is more than the threshold."""
    if gap_seconds > threshold_minutes * 60:
        return 1, int(gap_seconds // 60)
    return 0, 0


# A list's figures as a flat vector, in this order: the report sums thousands of them.
# lists, planned, touch, capped, late (count, minutes), early (…), overrun (…), cases,
# cancellations (clinical, non-clinical, patient), lists missing times, cancelled lists.
_WIDTH = 16


def _list_vector(facts: ListFacts, thresholds: Thresholds, now: float) -> tuple[int, ...]:
    """One list's contribution to every row it falls in (see the module docstring)."""
    categories = facts.cancellations
    cancelled = (categories.count("clinical"), categories.count("non_clinical"), categories.count("patient"))
    if facts.cancelled:
        return (0,) * 11 + cancelled + (0, 1)
    start, end = facts.start.timestamp(), facts.end.timestamp()
    if end > now:
        return (0,) * 11 + cancelled + (0, 0)
    planned = int((end - start) // 60)
    cases = 0
    spans = []
    for case in facts.cases:
        if case.kind == CaseKind.NOT_STARTED or case.touch is None:
            # Still booked on a list that has ended, or not recorded: the list's times are missing.
            return (0,) * 11 + cancelled + (1, 0)
        if case.kind == CaseKind.OPERATED:
            cases += 1
        spans.append((case.touch[0].timestamp(), case.touch[1].timestamp()))
    if not spans:
        # An empty list: zero touch time, and no start or finish to judge.
        return (1, planned) + (0,) * 8 + (cases, *cancelled, 0, 0)
    spans.sort()
    touch, capped = _covered(spans, start, end)
    last_out = max(out for _, out in spans)
    return (
        1,
        planned,
        int(touch // 60),
        int(capped // 60),
        *_beyond(spans[0][0] - start, thresholds.late_start_minutes),
        *_beyond(end - last_out, thresholds.early_finish_minutes),
        *_beyond(last_out - end, thresholds.overrun_minutes),
        cases,
        *cancelled,
        0,
        0,
    )


def _figures(v: Sequence[int]) -> Figures:
    return Figures(
        lists=v[0],
        planned_minutes=v[1],
        touch_minutes=v[2],
        capped_touch_minutes=v[3],
        late_starts=Tally(v[4], v[5]),
        early_finishes=Tally(v[6], v[7]),
        overruns=Tally(v[8], v[9]),
        cases=v[10],
        on_the_day_cancellations=Cancellations(v[11], v[12], v[13]),
        lists_missing_times=v[14],
        cancelled_lists=v[15],
    )


def list_figures(facts: ListFacts, *, thresholds: Thresholds, now: dt.datetime) -> Figures:
    """One list's figures (see the module docstring for every definition)."""
    return _figures(_list_vector(facts, thresholds, now.timestamp()))


@functools.lru_cache(maxsize=1024)
def _week(day: dt.date) -> Group:
    year, week, _ = day.isocalendar()
    monday = day - dt.timedelta(days=day.weekday())
    return Group(key=f"{year}-W{week:02d}", label=f"Week of {monday.isoformat()}")


@functools.lru_cache(maxsize=1024)
def _day(day: dt.date) -> Group:
    return Group(key=day.isoformat(), label=day.strftime("%a %d %b %Y"))


GROUPERS: dict[GroupBy, Callable[[ListFacts], Group]] = {
    GroupBy.THEATRE: lambda facts: facts.theatre,
    GroupBy.SURGEON: lambda facts: facts.surgeon,
    GroupBy.SITE: lambda facts: facts.site,
    GroupBy.WEEK: lambda facts: _week(facts.local_date),
    GroupBy.DAY: lambda facts: _day(facts.local_date),
}


def _sort_key(group_by: GroupBy, group: Group) -> tuple[Any, ...]:
    # Weeks and days sort by date; theatres, surgeons and sites by name, then id.
    if group_by in (GroupBy.WEEK, GroupBy.DAY):
        return (group.key,)
    return (group.label, int(group.key) if group.key.isdigit() else 0, group.key)


def report(lists: Sequence[ListFacts], *, group_by: GroupBy, thresholds: Thresholds, now: dt.datetime) -> Report:
    """The figures per group and in total. Every figure is a sum of per-list integers (ratios are
    worked out from the sums), and each list falls in exactly one group, so the totals are the sum
    of the rows by construction."""
    sums: dict[Group, list[int]] = {}
    grouper = GROUPERS[group_by]
    now_seconds = now.timestamp()
    for facts in lists:
        vector = _list_vector(facts, thresholds, now_seconds)
        group = grouper(facts)
        running = sums.get(group)
        if running is None:
            sums[group] = list(vector)
        else:
            for i, value in enumerate(vector):
                running[i] += value
    order = sorted(sums, key=lambda g: _sort_key(group_by, g))
    totals = [sum(column) for column in zip(*sums.values(), strict=True)] if sums else [0] * _WIDTH
    return Report(
        group_by=group_by,
        rows=tuple(Row(group, _figures(sums[group])) for group in order),
        totals=_figures(totals),
    )
