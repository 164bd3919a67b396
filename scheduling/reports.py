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

import contextlib
import datetime as dt
import gc
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import BigIntegerField, Func
from django.utils import timezone
from django.utils.functional import cached_property

from scheduling.metrics import CaseFacts, CaseKind, Group, GroupBy, Interval, ListFacts, Report, Thresholds, report
from scheduling.milestones import touch_bounds
from scheduling.models import Case, CaseCancellation, CaseStatus
from theatre.models import SessionStatus, Site, TheatreSession

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


class EpochSeconds(Func):
    """A timestamp as whole seconds since 1970 (UTC). A year is tens of thousands of times: the
    database hands over integers, cheaper to read than timestamps by an order of magnitude."""

    output_field = BigIntegerField()

    @cached_property
    def convert_value(self) -> Any:
        # The database already hands over an int; Django's int() on each would cost a tenth of the report.
        return self._convert_value_noop  # type: ignore[attr-defined]

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::bigint", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # '%%%%s' is strftime's %s once the template and then the driver's placeholders have been filled.
        template = "CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def _moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


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


def _touch(anaesthesia_start: int | None, in_theatre: int | None, out_of_theatre: int | None) -> Interval | None:
    bounds = touch_bounds(anaesthesia_start, in_theatre, out_of_theatre)
    return None if bounds is None else (_moment(bounds[0]), _moment(bounds[1]))


def _epochs(prefix: str) -> dict[str, EpochSeconds]:
    return {name: EpochSeconds(f"{prefix}{name}") for name in _TOUCH_FIELDS}


def _cases_by_list(in_range: dict[str, dt.datetime]) -> tuple[dict[int, list[CaseFacts]], dict[int, list[str]]]:
    """Query 2, the cases on the lists; query 3, the on-the-day cancellations made against them."""
    cases: dict[int, list[CaseFacts]] = defaultdict(list)
    rows = (
        Case.objects.filter(status__in=list(_KINDS), **in_range)
        .order_by()
        .annotate(**_epochs("times__"))
        .values_list("session_id", "status", *_TOUCH_FIELDS)
    )
    for session_id, status, anaesthesia_start, in_theatre, out_of_theatre in rows:
        touch = _touch(anaesthesia_start, in_theatre, out_of_theatre)
        cases[session_id].append(CaseFacts(kind=_KINDS[status], touch=touch))
    cancellations: dict[int, list[str]] = defaultdict(list)
    cancelled = (
        CaseCancellation.objects.filter(on_the_day=True, **in_range)
        .annotate(**_epochs("case__times__"))
        .values_list("session_id", "category", "from_status", *_TOUCH_FIELDS)
    )
    for session_id, category, from_status, anaesthesia_start, in_theatre, out_of_theatre in cancelled:
        cancellations[session_id].append(category)
        if from_status == CaseStatus.IN_THEATRE:
            touch = _touch(anaesthesia_start, in_theatre, out_of_theatre)
            cases[session_id].append(CaseFacts(kind=CaseKind.ABANDONED, touch=touch))
    return cases, cancellations


def load_lists(*, date_from: dt.date, date_to: dt.date) -> list[ListFacts]:
    """Every list whose local date is in [date_from, date_to], with its cases and on-the-day
    cancellations, as metrics input. Three queries."""
    zone = ZoneInfo(settings.TIME_ZONE)
    low = dt.datetime.combine(date_from, dt.time(0), tzinfo=zone) - _ZONE_MARGIN
    high = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone) + _ZONE_MARGIN
    sessions = (
        TheatreSession.objects.filter(start__gte=low, start__lt=high)
        .order_by("start", "id")
        .annotate(start_s=EpochSeconds("start"), end_s=EpochSeconds("end"))
        .values_list(
            "id",
            "start_s",
            "end_s",
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
    cases, cancellations = _cases_by_list({"session__start__gte": low, "session__start__lt": high})
    groups: dict[tuple[str, int], Group] = {}
    zones: dict[int, ZoneInfo] = {}
    lists = []
    for pk, start_s, end_s, status, theatre_id, theatre, site_id, site, site_zone, surgeon_id, surgeon in sessions:
        start = _moment(start_s)
        if site_id not in zones:
            zones[site_id] = Site(timezone=site_zone).zone  # the site's own reading of its zone
        local_date = start.astimezone(zones[site_id]).date()
        if not date_from <= local_date <= date_to:
            continue
        if ("theatre", theatre_id) not in groups:
            groups["theatre", theatre_id] = Group(key=str(theatre_id), label=f"{site} / {theatre}")
            groups["site", site_id] = Group(key=str(site_id), label=site)
        if ("surgeon", surgeon_id) not in groups:
            groups["surgeon", surgeon_id] = Group(key=str(surgeon_id), label=surgeon)
        lists.append(
            ListFacts(
                start=start,
                end=_moment(end_s),
                local_date=local_date,
                theatre=groups["theatre", theatre_id],
                surgeon=groups["surgeon", surgeon_id],
                site=groups["site", site_id],
                cancelled=status == SessionStatus.CANCELLED,
                cases=tuple(cases.get(pk, ())),
                cancellations=tuple(cancellations.get(pk, ())),
            )
        )
    return lists


def theatre_utilisation(
    *, date_from: dt.date, date_to: dt.date, group_by: GroupBy = GroupBy.THEATRE, now: dt.datetime | None = None
) -> Report:
    """The report for lists dated date_from to date_to (inclusive, local), grouped; three queries."""
    with _without_cyclic_gc():
        lists = load_lists(date_from=date_from, date_to=date_to)
        return report(lists, group_by=group_by, thresholds=thresholds(), now=now or timezone.now())


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """A year is tens of thousands of small acyclic objects, freed by reference counting; left on,
    the cyclic collector would walk the whole Django heap several times mid-report, which on its
    own costs more than the report (and makes its p99). Restored however the block ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
