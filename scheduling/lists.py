"""Lists as the API shows them: each with its ordered cases and how full they make it.

theatre owns lists but knows nothing of cases (DESIGN §1), so the read lives here. The rules
that keep the cases right when theatre changes a list are in scheduling/theatre_rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Prefetch

from scheduling.models import OCCUPYING_STATUSES, Case
from scheduling.theatre_times import list_actual_times
from theatre.models import TheatreSession


def sessions_with_cases() -> models.QuerySet[TheatreSession]:
    """Lists with everything the API shows, in a fixed number of queries however many there are.

    One query for the lists (theatre, site and staff joined; their actual start and end as
    subqueries, scheduling/theatre_times.py) and one for all their listed cases (patient and
    procedure joined), ordered by start, in `session.listed_cases`.
    """
    cases = (
        Case.objects.filter(status__in=OCCUPYING_STATUSES)
        .select_related("patient", "procedure")
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
