"""Hypothesis properties of the theatre metrics (scheduling/metrics.py), over any lists at all:
late, early, overlapping, abandoned, unrecorded, cancelled, still to come, across clock changes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.metrics import (
    CATEGORIES,
    CaseFacts,
    CaseKind,
    Figures,
    Group,
    GroupBy,
    ListFacts,
    Report,
    Thresholds,
    report,
)
from tests.factories import LONDON

pytestmark = pytest.mark.pure

NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
THEATRES = [Group(str(n), f"Theatre {n}") for n in range(1, 4)]
SURGEONS = [Group(str(n), f"Surgeon {n}") for n in range(10, 13)]
SITES = [Group("1", "Northgate"), Group("2", "Southgate")]


@st.composite
def cases(draw: st.DrawFn, start: dt.datetime, end: dt.datetime) -> CaseFacts:
    kind = draw(st.sampled_from(list(CaseKind)))
    if kind == CaseKind.NOT_STARTED or draw(st.integers(0, 9)) == 0:
        return CaseFacts(kind, None)
    span = int((end - start).total_seconds() // 60)
    first = start + dt.timedelta(minutes=draw(st.integers(-90, span + 60)))
    length = dt.timedelta(minutes=draw(st.integers(0, 400)))
    return CaseFacts(kind, (first, first + length))


@st.composite
def lists(draw: st.DrawFn) -> ListFacts:
    # Days around both 2026 clock changes, and the weeks up to and after "now".
    day = draw(
        st.sampled_from(
            [dt.date(2026, 3, 29), dt.date(2026, 10, 25)]
            + [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(40)]
        )
    )
    start_minute = draw(st.integers(0, 20 * 60))
    local_start = dt.datetime.combine(day, dt.time(0), tzinfo=LONDON) + dt.timedelta(minutes=start_minute)
    start = local_start.astimezone(dt.UTC)
    end = start + dt.timedelta(minutes=draw(st.integers(30, 14 * 60)))
    return ListFacts(
        start=start,
        end=end,
        local_date=day,
        theatre=draw(st.sampled_from(THEATRES)),
        surgeon=draw(st.sampled_from(SURGEONS)),
        site=draw(st.sampled_from(SITES)),
        cancelled=draw(st.integers(0, 9)) == 0,
        cases=tuple(draw(st.lists(cases(start, end), max_size=6))),
        cancellations=tuple(draw(st.lists(st.sampled_from(CATEGORIES), max_size=3))),
    )


thresholds = st.builds(
    Thresholds,
    late_start_minutes=st.integers(0, 60),
    early_finish_minutes=st.integers(0, 60),
    overrun_minutes=st.integers(0, 60),
)


def counts(figures: Figures) -> list[int]:
    return [
        figures.lists,
        figures.planned_minutes,
        figures.touch_minutes,
        figures.capped_touch_minutes,
        figures.late_starts.count,
        figures.late_starts.minutes,
        figures.early_finishes.count,
        figures.early_finishes.minutes,
        figures.overruns.count,
        figures.overruns.minutes,
        figures.cases,
        figures.on_the_day_cancellations.count,
        figures.on_the_day_cancellations.clinical,
        figures.on_the_day_cancellations.non_clinical,
        figures.on_the_day_cancellations.patient,
        figures.lists_missing_times,
        figures.cancelled_lists,
    ]


def every_row_and_totals(result: Report) -> list[Figures]:
    return [row.figures for row in result.rows] + [result.totals]


@settings(max_examples=120, deadline=None)
@given(st.lists(lists(), max_size=15), st.sampled_from(list(GroupBy)), thresholds)
def test_capped_never_exceeds_uncapped_nor_100_percent(
    facts: list[ListFacts], group_by: GroupBy, limits: Thresholds
) -> None:
    for figures in every_row_and_totals(report(facts, group_by=group_by, thresholds=limits, now=NOW)):
        assert figures.capped_touch_minutes <= figures.touch_minutes
        assert figures.capped_touch_minutes <= figures.planned_minutes
        if figures.planned_minutes:
            assert figures.capped_utilisation is not None and figures.uncapped_utilisation is not None
            assert figures.capped_utilisation <= figures.uncapped_utilisation
            assert 0.0 <= figures.capped_utilisation <= 100.0
        else:
            assert figures.capped_utilisation is None and figures.uncapped_utilisation is None


@settings(max_examples=120, deadline=None)
@given(st.lists(lists(), max_size=15), st.sampled_from(list(GroupBy)), thresholds)
def test_counts_and_minutes_are_never_negative(facts: list[ListFacts], group_by: GroupBy, limits: Thresholds) -> None:
    for figures in every_row_and_totals(report(facts, group_by=group_by, thresholds=limits, now=NOW)):
        assert min(counts(figures), default=0) >= 0
        assert figures.late_starts.count <= figures.lists
        by_category = figures.on_the_day_cancellations
        assert by_category.count == by_category.clinical + by_category.non_clinical + by_category.patient


@settings(max_examples=100, deadline=None)
@given(st.lists(lists(), max_size=15), thresholds)
def test_totals_are_the_sum_of_the_groups_for_every_group_by(facts: list[ListFacts], limits: Thresholds) -> None:
    totals = []
    for group_by in GroupBy:
        result = report(facts, group_by=group_by, thresholds=limits, now=NOW)
        summed = [sum(column) for column in zip(*(counts(row.figures) for row in result.rows), strict=True)]
        assert summed == (counts(result.totals) if result.rows else [])
        assert len({row.group for row in result.rows}) == len(result.rows)
        totals.append(result.totals)
    # However the lists are grouped, the totals are the same.
    assert all(t == totals[0] for t in totals)


@settings(max_examples=100, deadline=None)
@given(st.lists(lists(), max_size=12), thresholds)
def test_the_report_does_not_depend_on_the_order_of_the_lists(facts: list[ListFacts], limits: Thresholds) -> None:
    forward = report(facts, group_by=GroupBy.DAY, thresholds=limits, now=NOW)
    backward = report(list(reversed(facts)), group_by=GroupBy.DAY, thresholds=limits, now=NOW)
    assert forward == backward
