"""The theatre utilisation report (DESIGN §5.2): the facts of every list in a date range, loaded in
three queries however many lists there are, handed to the pure metrics (scheduling/metrics.py).

1. the lists, with their theatre, site and surgeon;
2. their booked, confirmed, in-theatre and completed cases, with the three times touch needs;
3. the on-the-day cancellations made against them, with the times of any case abandoned in theatre.

Dates are the lists' local dates at their own site. The queries take a UTC span wide enough for
every zone, and the rows are then kept by local date, so a list at 00:30 BST on 1 June belongs
to 1 June, not to 31 May as its UTC start would say.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from scheduling.metrics import CaseFacts, CaseKind, Group, GroupBy, ListFacts, Report, Thresholds, report
from scheduling.milestones import touch_interval
from scheduling.models import Case, CaseCancellation, CaseStatus
from theatre.models import SessionStatus, TheatreSession

# A year of lists (a leap year's worth) at most per request: the report stays a few hundred ms.
MAX_DAYS = 366
DEFAULT_DAYS = 28

# Zones are at most 14 hours either side of UTC: this margin covers every site's local day.
_ZONE_MARGIN = dt.timedelta(hours=14)
_TOUCH_FIELDS = ("anaesthesia_start", "in_theatre", "out_of_theatre")
_KINDS: dict[str, CaseKind] = {
    CaseStatus.BOOKED: CaseKind.NOT_STARTED,
    CaseStatus.CONFIRMED: CaseKind.NOT_STARTED,
    CaseStatus.IN_THEATRE: CaseKind.OPERATED,
    CaseStatus.COMPLETED: CaseKind.OPERATED,
}


def thresholds() -> Thresholds:
    """The Model Hospital thresholds as configured (THEATRE_* settings; DESIGN §5.2 defaults)."""
    return Thresholds(
        late_start_minutes=settings.THEATRE_LATE_START_MINUTES,
        early_finish_minutes=settings.THEATRE_EARLY_FINISH_MINUTES,
        overrun_minutes=settings.THEATRE_OVERRUN_MINUTES,
    )


def default_range(*, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last four weeks up to today (local), when the request names no dates."""
    today = today or timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


def _touch(values: dict[str, Any], prefix: str = "") -> tuple[dt.datetime, dt.datetime] | None:
    return touch_interval({name: values[f"{prefix}{name}"] for name in _TOUCH_FIELDS})


def load_lists(*, date_from: dt.date, date_to: dt.date) -> list[ListFacts]:
    """Every list whose local date is in [date_from, date_to], with its cases and on-the-day
    cancellations, as metrics input. Three queries."""
    zone = ZoneInfo(settings.TIME_ZONE)
    low = dt.datetime.combine(date_from, dt.time(0), tzinfo=zone) - _ZONE_MARGIN
    high = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone) + _ZONE_MARGIN
    sessions = list(
        TheatreSession.objects.filter(start__gte=low, start__lt=high)
        .order_by("start", "id")
        .values(
            "id",
            "start",
            "end",
            "status",
            "theatre_id",
            "theatre__name",
            "theatre__site_id",
            "theatre__site__name",
            "theatre__site__timezone",
            "surgeon_id",
            "surgeon__name",
        )
    )
    in_range = {"session__start__gte": low, "session__start__lt": high}
    cases: dict[int, list[CaseFacts]] = defaultdict(list)
    times = [f"times__{name}" for name in _TOUCH_FIELDS]
    for row in (
        Case.objects.filter(status__in=list(_KINDS), **in_range).order_by().values("session_id", "status", *times)
    ):
        cases[row["session_id"]].append(CaseFacts(kind=_KINDS[row["status"]], touch=_touch(row, "times__")))
    cancellations: dict[int, list[str]] = defaultdict(list)
    case_times = [f"case__times__{name}" for name in _TOUCH_FIELDS]
    for row in CaseCancellation.objects.filter(on_the_day=True, **in_range).values(
        "session_id", "category", "from_status", *case_times
    ):
        cancellations[row["session_id"]].append(row["category"])
        if row["from_status"] == CaseStatus.IN_THEATRE:
            cases[row["session_id"]].append(CaseFacts(kind=CaseKind.ABANDONED, touch=_touch(row, "case__times__")))

    lists = []
    for row in sessions:
        local_date = row["start"].astimezone(ZoneInfo(row["theatre__site__timezone"])).date()
        if not date_from <= local_date <= date_to:
            continue
        site = Group(key=str(row["theatre__site_id"]), label=row["theatre__site__name"])
        lists.append(
            ListFacts(
                start=row["start"],
                end=row["end"],
                local_date=local_date,
                theatre=Group(key=str(row["theatre_id"]), label=f"{site.label} / {row['theatre__name']}"),
                surgeon=Group(key=str(row["surgeon_id"]), label=row["surgeon__name"]),
                site=site,
                cancelled=row["status"] == SessionStatus.CANCELLED,
                cases=tuple(cases.get(row["id"], ())),
                cancellations=tuple(cancellations.get(row["id"], ())),
            )
        )
    return lists


def theatre_utilisation(
    *, date_from: dt.date, date_to: dt.date, group_by: GroupBy = GroupBy.THEATRE, now: dt.datetime | None = None
) -> Report:
    """The report for lists dated date_from to date_to (inclusive, local), grouped; three queries."""
    lists = load_lists(date_from=date_from, date_to=date_to)
    return report(lists, group_by=group_by, thresholds=thresholds(), now=now or timezone.now())
