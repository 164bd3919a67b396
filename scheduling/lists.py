"""Lists as the API shows them: each with its ordered cases and how full they make it.

theatre owns lists but knows nothing of cases (DESIGN §1), so the read lives here. The rules
that keep the cases right when theatre changes a list are in scheduling/theatre_rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Prefetch

from scheduling.forecast import Forecast, case_duration, forecast
from scheduling.models import OCCUPYING_STATUSES, Case, CaseStatus
from scheduling.predictions import Durations
from scheduling.theatre_times import list_actual_times
from theatre.models import SessionStatus, TheatreSession


def sessions_with_cases() -> models.QuerySet[TheatreSession]:
    """Lists with everything the API shows, in a fixed number of queries however many there are.

    One query for the lists (theatre, site and staff joined; their actual start and end as
    subqueries, scheduling/theatre_times.py) and one for all their listed cases (patient and
    procedure and version joined), ordered by start, in `session.listed_cases`. The forecast
    adds one query per request, for the learned history (scheduling/predictions.py).
    """
    cases = (
        Case.objects.filter(status__in=OCCUPYING_STATUSES)
        .select_related("patient", "procedure", "procedure_version")
        .order_by("start", "pk")
    )
    return (
        TheatreSession.objects.select_related("theatre__site", "surgeon", "anaesthetist")
        .annotate(**list_actual_times())
        .prefetch_related(Prefetch("cases", queryset=cases, to_attr="listed_cases"))
    )


@dataclass(frozen=True)
class Utilisation:
    booked_minutes: int
    session_minutes: int
    percent: float

    def as_dict(self) -> dict[str, Any]:
        return {"booked_minutes": self.booked_minutes, "session_minutes": self.session_minutes, "percent": self.percent}


def utilisation(*, session: TheatreSession, intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> Utilisation:
    """How much of the list its listed cases fill, in whole minutes (UTC arithmetic)."""
    booked = sum(int((end - start).total_seconds() // 60) for start, end in intervals)
    total = session.minutes
    percent = round(100 * booked / total, 1) if total else 0.0
    return Utilisation(booked_minutes=booked, session_minutes=total, percent=percent)


def session_forecast(*, session: TheatreSession, cases: Sequence[Case], durations: Durations) -> Forecast | None:
    """When the list's cases still to finish will end, and the chance they run past its end.

    - A cancelled list, or one whose cases are all completed, has no forecast (None): what
      happened is its `actual_end`.
    - An empty list: no expected end, and no chance of overrun.
    - Otherwise the cases not yet completed run in booked order, with turnover between, from the
      first one's booked start, or from the last recorded out of theatre if the list is running
      late (a list under way is forecast from where it is, not from where it was planned to be).
    Each case is its prediction, moved to its planned minutes when a person set them.
    """
    if session.status == SessionStatus.CANCELLED:
        return None
    to_run = [case for case in cases if case.status != CaseStatus.COMPLETED]
    if cases and not to_run:
        return None
    if not to_run:
        return forecast(first_start=session.start, end=session.end, cases=[])
    first_start = to_run[0].start
    assert first_start is not None  # noqa: S101 - listed cases always have a slot (DB check)
    last_out: dt.datetime | None = getattr(session, "actual_end", None)
    if last_out is not None and len(to_run) < len(cases):
        first_start = max(first_start, last_out)
    return forecast(
        first_start=first_start,
        end=session.end,
        cases=[case_duration(prediction=durations.predict(c), planned_minutes=c.planned_minutes) for c in to_run],
    )
