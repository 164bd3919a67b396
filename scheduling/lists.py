"""Lists as the API shows them: each with its ordered cases and how full they make it.

theatre owns lists but knows nothing of cases (DESIGN §1), so the read lives here. The rules
that keep the cases right when theatre changes a list are in scheduling/theatre_rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import models

from core.db import hot_rows
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


# ListedCase's fields, in order (rows are read positionally), as the ORM names them.
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


# The statuses a list shows its cases in, as the written-out SQL binds them.
_LISTED_STATUSES = [str(status) for status in OCCUPYING_STATUSES]

# The cases' query written out for PostgreSQL, in _LISTED_COLUMNS' order: building and compiling
# it through the ORM cost about 1.5 ms of CPU per week list (cProfile, bench/session_list.py),
# as much as reading its 200 rows. Timestamps and jsonb through psycopg's C loaders (core.db).
_LISTED_CASES_SQL = """
SELECT c.id, c.session_id, c.reference, c.status, c.start, c."end", p.slug, c.levels, c.anaesthesia,
       c.surgeon_id, c.estimated_minutes, c.planned_minutes, v.turnover_minutes,
       pt.given_name, pt.family_name, pt.nhs_number
FROM scheduling_case c
JOIN procedures_proceduretemplate p ON p.id = c.procedure_id
JOIN procedures_procedureversion v ON v.id = c.procedure_version_id
JOIN scheduling_patient pt ON pt.id = c.patient_id
WHERE c.session_id = ANY(%(sessions)s) AND c.status = ANY(%(listed)s)
ORDER BY c.start, c.id
"""


def listed_cases(session_ids: Collection[int]) -> dict[int, list[ListedCase]]:
    """The live cases of each list, ordered by start: one query whatever the number of lists
    (none for no lists)."""
    by_session: dict[int, list[ListedCase]] = {pk: [] for pk in session_ids}
    if not by_session:
        return by_session

    def definition() -> models.QuerySet[Case, tuple[Any, ...]]:
        return (
            Case.objects.filter(session_id__in=list(by_session), status__in=OCCUPYING_STATUSES)
            .order_by("start", "pk")
            .values_list(*_LISTED_COLUMNS.values())
        )

    params = {"sessions": list(by_session), "listed": _LISTED_STATUSES}
    for row in hot_rows(_LISTED_CASES_SQL, params, definition=definition):
        case = ListedCase(*row)
        by_session[case.session_id].append(case)
    return by_session


@dataclass(frozen=True, slots=True)
class ListedSession:
    """A list as the API shows it, with its ordered cases: plain values, no model.

    A week's page is 50 lists. As models, with theatre, site and both staff joined (250 objects),
    through the ORM's pure-Python timestamp loader and its query compiler (four correlated
    subqueries for the actual times), reading them took 13.5 ms a request; as these rows, read by
    `listed_sessions`' written-out SQL, 4.5 ms (bench/session_list.py, issue 18).
    """

    id: int
    site_id: int
    theatre_id: int
    theatre_name: str
    timetable_id: int | None
    period: str
    start: dt.datetime
    end: dt.datetime
    surgeon_id: int
    surgeon_name: str
    anaesthetist_id: int | None
    anaesthetist_name: str | None
    status: str
    notes: str
    actual_start: dt.datetime | None  # scheduling/theatre_times.py, list_actual_times
    actual_end: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    listed_cases: list[ListedCase]

    @property
    def minutes(self) -> int:
        """As TheatreSession.minutes."""
        return int((self.end - self.start).total_seconds() // 60)


# ListedSession's fields, in order (rows are read positionally), as sessions_for_lists() names
# them; listed_cases, last, is read apart.
_SESSION_COLUMNS = {
    "id": "id",
    "site_id": "theatre__site_id",
    "theatre_id": "theatre_id",
    "theatre_name": "theatre__name",
    "timetable_id": "timetable_id",
    "period": "period",
    "start": "start",
    "end": "end",
    "surgeon_id": "surgeon_id",
    "surgeon_name": "surgeon__name",
    "anaesthetist_id": "anaesthetist_id",
    "anaesthetist_name": "anaesthetist__name",
    "status": "status",
    "notes": "notes",
    "actual_start": "actual_start",
    "actual_end": "actual_end",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


@dataclass(frozen=True)
class ListFilter:
    """Which lists a request asks for (all the given conditions hold); None or empty: no condition."""

    starts_from: dt.datetime | None = None
    starts_before: dt.datetime | None = None
    theatre_id: int | None = None
    surgeon_id: int | None = None
    site_id: int | None = None
    statuses: tuple[str, ...] = ()

    def apply(self, sessions: models.QuerySet[TheatreSession]) -> models.QuerySet[TheatreSession]:
        """The condition on a TheatreSession queryset: the ORM definition of `listed_sessions`' WHERE."""
        if self.starts_from is not None:
            sessions = sessions.filter(start__gte=self.starts_from)
        if self.starts_before is not None:
            sessions = sessions.filter(start__lt=self.starts_before)
        if self.theatre_id is not None:
            sessions = sessions.filter(theatre_id=self.theatre_id)
        if self.surgeon_id is not None:
            sessions = sessions.filter(surgeon_id=self.surgeon_id)
        if self.site_id is not None:
            sessions = sessions.filter(theatre__site_id=self.site_id)
        if self.statuses:
            sessions = sessions.filter(status__in=self.statuses)
        return sessions

    def where(self) -> tuple[str, dict[str, Any]]:
        """The same condition as SQL over `theatre_theatresession s JOIN theatre_theatre th`."""
        conditions = ["TRUE"]
        for value, condition in (
            (self.starts_from, "s.start >= %(starts_from)s"),
            (self.starts_before, "s.start < %(starts_before)s"),
            (self.theatre_id, "s.theatre_id = %(theatre_id)s"),
            (self.surgeon_id, "s.surgeon_id = %(surgeon_id)s"),
            (self.site_id, "th.site_id = %(site_id)s"),
        ):
            if value is not None:
                conditions.append(condition)
        if self.statuses:  # an empty array would have no type to PostgreSQL
            conditions.append("s.status = ANY(%(statuses)s)")
        params = {
            "starts_from": self.starts_from,
            "starts_before": self.starts_before,
            "theatre_id": self.theatre_id,
            "surgeon_id": self.surgeon_id,
            "site_id": self.site_id,
            "statuses": list(self.statuses),
        }
        return " AND ".join(conditions), params


# sessions_for_lists() written out for PostgreSQL, in _SESSION_COLUMNS' order. The actual times
# are list_actual_times' rule (the earliest touch start and the last out of theatre over the
# list's cases and the cases abandoned in it), as two aggregates per list: PostgreSQL's LEAST and
# GREATEST skip NULLs, which the ORM's portable form spells out with COALESCEs and so compiled to
# eight correlated subqueries (5.5 ms to plan). Timestamps through psycopg's C loader (core.db).
_LISTED_SESSIONS_SQL = """
SELECT s.id, th.site_id, s.theatre_id, th.name, s.timetable_id, s.period, s.start, s."end",
       s.surgeon_id, su.name, s.anaesthetist_id, an.name, s.status, s.notes,
       LEAST(listed.first_touch, abandoned.first_touch), GREATEST(listed.last_out, abandoned.last_out),
       s.created_at, s.updated_at
FROM theatre_theatresession s
JOIN theatre_theatre th ON th.id = s.theatre_id
JOIN theatre_staffmember su ON su.id = s.surgeon_id
LEFT JOIN theatre_staffmember an ON an.id = s.anaesthetist_id
CROSS JOIN LATERAL (
    SELECT MIN(COALESCE(t.anaesthesia_start, t.in_theatre)) AS first_touch, MAX(t.out_of_theatre) AS last_out
    FROM scheduling_case c JOIN scheduling_casetimes t ON t.case_id = c.id
    WHERE c.session_id = s.id AND c.status = ANY(%(listed)s)
) listed
CROSS JOIN LATERAL (
    SELECT MIN(COALESCE(t.anaesthesia_start, t.in_theatre)) AS first_touch, MAX(t.out_of_theatre) AS last_out
    FROM scheduling_casecancellation a JOIN scheduling_casetimes t ON t.case_id = a.case_id
    WHERE a.session_id = s.id AND a.from_status = %(in_theatre)s
) abandoned
WHERE {where}
ORDER BY s.start, s.theatre_id, s.id
LIMIT %(limit)s OFFSET %(offset)s
"""


def listed_sessions(*, filters: ListFilter, offset: int = 0, limit: int | None = None) -> list[ListedSession]:
    """The lists `filters` selects in running order (start, then theatre), from `offset`, at most
    `limit` of them, each with its cases: two queries whatever the number of lists."""
    where, params = filters.where()
    params |= {
        "listed": _LISTED_STATUSES,
        "in_theatre": str(CaseStatus.IN_THEATRE),
        "limit": limit,  # LIMIT NULL is no limit
        "offset": offset,
    }

    def definition() -> models.QuerySet[TheatreSession, tuple[Any, ...]]:
        ordered = filters.apply(sessions_for_lists()).order_by("start", "theatre_id", "id")
        rows = ordered.values_list(*_SESSION_COLUMNS.values())
        return rows[offset:] if limit is None else rows[offset : offset + limit]

    rows = hot_rows(_LISTED_SESSIONS_SQL.format(where=where), params, definition=definition)
    cases = listed_cases([row[0] for row in rows])
    return [ListedSession(*(*row, cases[row[0]])) for row in rows]


def count_sessions(*, filters: ListFilter) -> int:
    """How many lists `filters` selects (a page other than the first needs it; one query)."""
    return filters.apply(TheatreSession.objects.all()).count()


def listed_session_of(session: TheatreSession, cases: list[ListedCase]) -> ListedSession:
    """A list read by sessions_for_lists() (a detail, a write's answer), as `listed_sessions` reads it."""
    theatre, anaesthetist = session.theatre, session.anaesthetist
    return ListedSession(
        id=session.pk,
        site_id=theatre.site_id,
        theatre_id=session.theatre_id,
        theatre_name=theatre.name,
        timetable_id=session.timetable_id,
        period=session.period,
        start=session.start,
        end=session.end,
        surgeon_id=session.surgeon_id,
        surgeon_name=session.surgeon.name,
        anaesthetist_id=session.anaesthetist_id,
        anaesthetist_name=anaesthetist.name if anaesthetist is not None else None,
        status=session.status,
        notes=session.notes,
        actual_start=getattr(session, "actual_start", None),
        actual_end=getattr(session, "actual_end", None),
        created_at=session.created_at,
        updated_at=session.updated_at,
        listed_cases=cases,
    )


def sessions_with_cases(sessions: Iterable[TheatreSession]) -> list[ListedSession]:
    """Lists read by sessions_for_lists(), as the API shows them, with their cases (one query for all)."""
    sessions = list(sessions)
    cases = listed_cases([session.pk for session in sessions])
    return [listed_session_of(session, cases[session.pk]) for session in sessions]


class ListTimes(Protocol):
    """What utilisation and the forecast read of a list: a ListedSession or a TheatreSession."""

    @property
    def status(self) -> str: ...
    @property
    def start(self) -> dt.datetime: ...
    @property
    def end(self) -> dt.datetime: ...
    @property
    def minutes(self) -> int: ...


@dataclass(frozen=True)
class Utilisation:
    booked_minutes: int
    session_minutes: int
    percent: float

    def as_dict(self) -> dict[str, Any]:
        return {"booked_minutes": self.booked_minutes, "session_minutes": self.session_minutes, "percent": self.percent}


def utilisation(*, session: ListTimes, intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> Utilisation:
    """How much of the list its listed cases fill, in whole minutes (UTC arithmetic)."""
    booked = sum(int((end - start).total_seconds() // 60) for start, end in intervals)
    total = session.minutes
    percent = round(100 * booked / total, 1) if total else 0.0
    return Utilisation(booked_minutes=booked, session_minutes=total, percent=percent)


def session_forecast(*, session: ListTimes, cases: Sequence[ListedCase], durations: Durations) -> Forecast | None:
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
