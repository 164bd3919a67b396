"""Theatre milestones: the times a theatre records for a case, and the rules they obey (DESIGN §5.1).

Pure functions over plain values (no database, no clock: `now` is passed in), like
scheduling/slots.py, so the services, the WHO sign out and the metrics share one reading of
"in order", "touch time" and "plausible".

The names, in the order they must happen. Equal neighbours are allowed: times are kept to the
minute, and under local anaesthesia with sedation the sedation may start the minute the patient
is wheeled in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from core.errors import ErrorCode

MILESTONES: tuple[str, ...] = (
    "anaesthesia_start",
    "in_theatre",
    "knife_to_skin",
    "closure",
    "out_of_theatre",
    "in_recovery",
)

# These must have happened by the WHO sign out: it is done "before the patient leaves the
# operating room" (WHO 2009), so the operation has begun. Closure is not among them: the team
# often signs out while the wound is being closed; leaving theatre and recovery come after it.
STARTED_BY_SIGN_OUT: tuple[str, ...] = ("anaesthesia_start", "in_theatre", "knife_to_skin")

# Problem codes: machine-readable, in the 400 (recording) or 409 (sign out) body.
OUT_OF_ORDER = ErrorCode.OUT_OF_ORDER
IN_THE_FUTURE = ErrorCode.TIME_IN_FUTURE
OUTSIDE_LIST = ErrorCode.OUTSIDE_LIST_WINDOW
AFTER_SIGN_OUT = ErrorCode.AFTER_SIGN_OUT

# Every 400 code recording theatre times can answer (scheduling/theatre_times.py): the problems
# above, an unknown milestone name, and a correction without its reason.
RECORDING_REFUSALS: tuple[ErrorCode, ...] = (
    OUT_OF_ORDER,
    IN_THE_FUTURE,
    OUTSIDE_LIST,
    AFTER_SIGN_OUT,
    ErrorCode.UNKNOWN_MILESTONE,
    ErrorCode.REASON_REQUIRED,
)

Times = Mapping[str, dt.datetime | None]


@dataclass(frozen=True)
class Problem:
    """One broken rule, naming the milestones involved."""

    code: ErrorCode
    fields: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Plausibility:
    """What a recorded time is checked against, besides the order.

    - `now` and `future_tolerance`: a theatre's wall clock, the anaesthetic machine and the
      tablet disagree by a minute or two, so a time slightly ahead of the server is a clock
      difference, not a prediction; beyond the tolerance it is a typo or a guess.
    - `window_start`, `window_end`: the list's start less the allowed early start, its end plus
      the allowed overrun. A time outside them is almost always the wrong date or an a.m./p.m.
      slip, which would otherwise show as a 20-hour late start in the metrics.
    - `signed_out_at`: the WHO sign out, once recorded.
    """

    now: dt.datetime
    future_tolerance: dt.timedelta
    window_start: dt.datetime
    window_end: dt.datetime
    signed_out_at: dt.datetime | None = None


def to_minute(value: dt.datetime) -> dt.datetime:
    """The time in UTC, to the minute: theatre registers record minutes, so every figure built on
    them is whole minutes and a re-sent time with other seconds is not a correction."""
    return value.astimezone(dt.UTC).replace(second=0, microsecond=0)


def in_utc(times: Times) -> dict[str, dt.datetime | None]:
    """The times in UTC. Python compares and subtracts two datetimes of the same zone on their wall
    clocks, which is wrong across a clock change (01:30 BST and 01:10 GMT on 25 October): in UTC
    it is always elapsed time."""
    return {name: at.astimezone(dt.UTC) if at is not None else None for name, at in times.items()}


def _hhmm(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def order_problems(times: Times) -> list[Problem]:
    """Every recorded pair that is the wrong way round, e.g. closure before knife_to_skin."""
    times = in_utc(times)
    recorded = [(name, times[name]) for name in MILESTONES if times.get(name) is not None]
    problems = []
    for i, (earlier, at_earlier) in enumerate(recorded):
        for later, at_later in recorded[i + 1 :]:
            assert at_earlier is not None and at_later is not None  # noqa: S101 - filtered above
            if at_later < at_earlier:
                problems.append(
                    Problem(
                        OUT_OF_ORDER,
                        (earlier, later),
                        f"{later} ({_hhmm(at_later)}) is before {earlier} ({_hhmm(at_earlier)}); "
                        f"the order is {', '.join(MILESTONES)}.",
                    )
                )
    return problems


def sign_out_problems(times: Times, *, signed_out_at: dt.datetime, tolerance: dt.timedelta) -> list[Problem]:
    """What in the recorded times contradicts a sign out at `signed_out_at`: times out of order,
    or the operation starting after the patient was signed out (beyond the clock tolerance)."""
    times = in_utc(times)
    late = [
        name for name in STARTED_BY_SIGN_OUT if (at := times.get(name)) is not None and at > signed_out_at + tolerance
    ]
    problems = order_problems(times)
    if late:
        problems.append(
            Problem(
                AFTER_SIGN_OUT,
                tuple(late),
                f"{', '.join(late)} cannot be after the WHO sign out ({_hhmm(signed_out_at)}): "
                "the sign out is done before the patient leaves theatre.",
            )
        )
    return problems


def recording_problems(times: Times, *, changed: Collection[str], rules: Plausibility) -> list[Problem]:
    """What is wrong with the times as they would be after this recording: the order over all of
    them, and the plausibility of the values being written now (`changed`)."""
    times = in_utc(times)
    problems = (
        sign_out_problems(times, signed_out_at=rules.signed_out_at, tolerance=rules.future_tolerance)
        if rules.signed_out_at is not None
        else order_problems(times)
    )
    new = {name: at for name in MILESTONES if name in changed and (at := times.get(name)) is not None}
    ahead = tuple(name for name, at in new.items() if at > rules.now + rules.future_tolerance)
    if ahead:
        minutes = int(rules.future_tolerance.total_seconds() // 60)
        problems.append(
            Problem(
                IN_THE_FUTURE,
                ahead,
                f"{', '.join(ahead)} is more than {minutes} minutes in the future; record a time once it has happened.",
            )
        )
    outside = tuple(
        name for name, at in new.items() if name not in ahead and not rules.window_start <= at <= rules.window_end
    )
    if outside:
        problems.append(
            Problem(
                OUTSIDE_LIST,
                outside,
                f"{', '.join(outside)} is outside this list's day ({_hhmm(rules.window_start)} to "
                f"{_hhmm(rules.window_end)}); check the date.",
            )
        )
    return problems


def touch_interval(times: Times) -> tuple[dt.datetime, dt.datetime] | None:
    """The case's touch time (DESIGN §5.1): from anaesthesia_start, else in_theatre, to
    out_of_theatre. None while either end is unrecorded (Model Hospital's priority scale of
    start fields: anaesthetic start first, then into theatre)."""
    times = in_utc(times)
    return touch_bounds(times.get("anaesthesia_start"), times.get("in_theatre"), times.get("out_of_theatre"))


Moment = TypeVar("Moment", dt.datetime, int)


def touch_bounds(
    anaesthesia_start: Moment | None, in_theatre: Moment | None, out_of_theatre: Moment | None
) -> tuple[Moment, Moment] | None:
    """touch_interval's rule on bare values: UTC datetimes, or epoch seconds straight from the
    database (the report reads a year of cases this way without building a datetime for each)."""
    start = anaesthesia_start if anaesthesia_start is not None else in_theatre
    if start is None or out_of_theatre is None or out_of_theatre < start:
        return None
    return start, out_of_theatre


def minutes_between(start: dt.datetime, end: dt.datetime) -> int:
    """Whole minutes from start to end, in UTC: true elapsed time, whatever the clocks did."""
    return int((end.astimezone(dt.UTC) - start.astimezone(dt.UTC)).total_seconds() // 60)
