"""Lists as the API shows them: each with its ordered cases and how full they make it.

theatre owns lists but knows nothing of cases (DESIGN §1), so the read lives here. The rules
that keep the cases right when theatre changes a list are in scheduling/theatre_rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models

from core.db import value_rows
from scheduling.durations import CaseKey, TemplateEstimate
from scheduling.forecast import Forecast, case_duration, forecast
from scheduling.models import OCCUPYING_STATUSES, Case, CaseStatus
from scheduling.predictions import Durations
from scheduling.theatre_times import list_actual_times
from theatre.models import SessionStatus, TheatreSession


def sessions_for_lists() -> models.QuerySet[TheatreSession]:
    """Lists with what the API shows of them, cases aside (`sessions_with_cases` adds those): one
    query, with theatre, site and staff joined and their actual start and end as subqueries
    (scheduling/theatre_times.py)."""
    return TheatreSession.objects.select_related("theatre__site", "surgeon", "anaesthetist").annotate(
        **list_actual_times()
    )


@dataclass(frozen=True, slots=True)
class ListedCase:
    """A case as a list shows it, and what its forecast reads: plain values, no model.

    A list endpoint reads a week of cases at once. As model instances, with patient, procedure and
    version joined, 200 cases were 800 objects and ~4,000 JSON values to decode (a version row is
    ~8 KB of JSON): reading only these columns took the week list's CPU time per request from
    167 ms to 105 ms on a loaded machine (bench/session_list.py), and rows rather than models
    took it further, with the rendering changes in scheduling/api/sessions.py, to 74 ms.
    """

    id: int
    session_id: int
    reference: str
    status: str
    start: dt.datetime  # a listed case always has its slot (a database check)
    end: dt.datetime
    procedure: str  # the template's slug
    levels: list[str]
    anaesthesia: str
    surgeon_id: int
    estimated_minutes: int
    planned_minutes: int | None
    turnover_minutes: int  # the pinned version's
    patient_given_name: str
    patient_family_name: str
    patient_nhs_number: str

    @property
    def key(self) -> CaseKey:
        return CaseKey(self.surgeon_id, self.procedure, len(self.levels or ()), self.anaesthesia)

    @property
    def template(self) -> TemplateEstimate:
        """As scheduling.predictions.template_of splits a Case's estimate."""
        return TemplateEstimate(
            touch_minutes=self.estimated_minutes - self.turnover_minutes, turnover_minutes=self.turnover_minutes
        )


_LISTED_COLUMNS = {
    "id": "id",
    "session_id": "session_id",
    "reference": "reference",
    "status": "status",
    "start": "start",
    "end": "end",
    "procedure": "procedure__slug",
    "levels": "levels",
    "anaesthesia": "anaesthesia",
    "surgeon_id": "surgeon_id",
    "estimated_minutes": "estimated_minutes",
    "planned_minutes": "planned_minutes",
    "turnover_minutes": "procedure_version__turnover_minutes",
    "patient_given_name": "patient__given_name",
    "patient_family_name": "patient__family_name",
    "patient_nhs_number": "patient__nhs_number",
}


def listed_cases(session_ids: Collection[int]) -> dict[int, list[ListedCase]]:
    """The live cases of each list, ordered by start: one query whatever the number of lists."""
    by_session: dict[int, list[ListedCase]] = {pk: [] for pk in session_ids}
    # Timestamps parsed in C (core.db.value_rows), as the history's: 400 stamps per week list.
    rows = value_rows(
        Case.objects.filter(session_id__in=list(by_session), status__in=OCCUPYING_STATUSES)
        .order_by("start", "pk")
        .values_list(*_LISTED_COLUMNS.values())
    )
    for row in rows:
        case = ListedCase(**dict(zip(_LISTED_COLUMNS, row, strict=True)))
        by_session[case.session_id].append(case)
    return by_session


def sessions_with_cases(sessions: Iterable[TheatreSession]) -> list[TheatreSession]:
    """The sessions, each given its `listed_cases` as the API shows them (one query for all)."""
    sessions = list(sessions)
    cases = listed_cases([session.pk for session in sessions])
    for session in sessions:
        session.listed_cases = cases[session.pk]  # type: ignore[attr-defined]
    return sessions


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


def session_forecast(*, session: TheatreSession, cases: Sequence[ListedCase], durations: Durations) -> Forecast | None:
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
    last_out: dt.datetime | None = getattr(session, "actual_end", None)
    if last_out is not None and len(to_run) < len(cases):
        first_start = max(first_start, last_out)
    return forecast(
        first_start=first_start,
        end=session.end,
        cases=[
            case_duration(
                prediction=durations.predict_for(key=c.key, template=c.template), planned_minutes=c.planned_minutes
            )
            for c in to_run
        ],
    )
