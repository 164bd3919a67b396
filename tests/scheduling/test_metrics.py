"""The theatre metrics core (scheduling/metrics.py) on small hand-made lists: every definition of
DESIGN §5.2, to the minute and to 0.1 percentage points. No database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from scheduling.metrics import (
    CaseFacts,
    CaseKind,
    Figures,
    Group,
    GroupBy,
    ListFacts,
    Thresholds,
    list_figures,
    report,
    union_minutes,
)
from tests.factories import london

pytestmark = pytest.mark.pure

NOW = london(2026, 12, 2, 12)
THRESHOLDS = Thresholds()
T1, T2 = Group("1", "Northgate / Theatre 1"), Group("2", "Northgate / Theatre 2")
SHAH, OKAFOR = Group("10", "Miss Priya Shah"), Group("11", "Mr Tom Okafor")
SITE = Group("1", "Northgate")


def a_list(
    day: dt.date,
    start: tuple[int, int] = (8, 0),
    end: tuple[int, int] = (13, 0),
    *,
    cases: tuple[CaseFacts, ...] = (),
    theatre: Group = T1,
    surgeon: Group = SHAH,
    **extra: object,
) -> ListFacts:
    return ListFacts(
        start=london(day.year, day.month, day.day, *start),
        end=london(day.year, day.month, day.day, *end),
        local_date=day,
        theatre=theatre,
        surgeon=surgeon,
        site=SITE,
        cases=cases,
        **extra,  # type: ignore[arg-type]
    )


def operated(day: dt.date, start: tuple[int, int], end: tuple[int, int]) -> CaseFacts:
    return CaseFacts(
        CaseKind.OPERATED, (london(day.year, day.month, day.day, *start), london(day.year, day.month, day.day, *end))
    )


MON = dt.date(2026, 11, 2)


def figures(facts: ListFacts) -> Figures:
    return list_figures(facts, thresholds=THRESHOLDS, now=NOW)


def test_a_list_that_started_late_and_overran() -> None:
    lst = a_list(MON, cases=(operated(MON, (8, 40), (10, 30)), operated(MON, (10, 45), (13, 25))))
    got = figures(lst)
    assert (got.planned_minutes, got.touch_minutes, got.capped_touch_minutes) == (300, 270, 245)
    assert (got.capped_utilisation, got.uncapped_utilisation) == (81.7, 90.0)
    assert (got.late_starts.count, got.late_starts.minutes) == (1, 40)
    assert (got.overruns.count, got.overruns.minutes) == (1, 25)
    assert got.early_finishes.count == 0 and got.cases == 2


@pytest.mark.parametrize(
    ("first_in", "late"),
    [((8, 15), 0), ((8, 16), 1)],  # "more than 15 minutes": 15 is on time, 16 is late
)
def test_a_late_start_is_more_than_the_threshold(first_in: tuple[int, int], late: int) -> None:
    assert figures(a_list(MON, cases=(operated(MON, first_in, (12, 50)),))).late_starts.count == late


@pytest.mark.parametrize(("last_out", "early", "overrun"), [((12, 30), 0, 0), ((12, 29), 1, 0), ((13, 11), 0, 1)])
def test_early_finish_and_overrun_thresholds(last_out: tuple[int, int], early: int, overrun: int) -> None:
    got = figures(a_list(MON, cases=(operated(MON, (8, 0), last_out),)))
    assert (got.early_finishes.count, got.overruns.count) == (early, overrun)


def test_thresholds_are_parameters() -> None:
    lst = a_list(MON, cases=(operated(MON, (8, 10), (12, 50)),))
    strict = Thresholds(late_start_minutes=5, early_finish_minutes=5, overrun_minutes=0)
    got = list_figures(lst, thresholds=strict, now=NOW)
    assert (got.late_starts.as_dict(), got.early_finishes.as_dict()) == (
        {"count": 1, "minutes": 10},
        {"count": 1, "minutes": 10},
    )


def test_parallel_induction_is_counted_once() -> None:
    """The next patient's anaesthetic starts while the previous one is still in theatre."""
    lst = a_list(MON, cases=(operated(MON, (8, 5), (10, 0)), operated(MON, (9, 50), (11, 20))))
    got = figures(lst)
    assert got.touch_minutes == 195  # 08:05-11:20, not 115 + 90
    assert (got.early_finishes.count, got.early_finishes.minutes) == (1, 100)


def test_an_abandoned_case_uses_the_theatre_but_is_not_a_case() -> None:
    abandoned = CaseFacts(CaseKind.ABANDONED, (london(2026, 11, 4, 8, 10), london(2026, 11, 4, 8, 50)))
    wed = dt.date(2026, 11, 4)
    got = figures(a_list(wed, cases=(abandoned, operated(wed, (9, 10), (11, 0))), cancellations=("clinical",)))
    assert (got.touch_minutes, got.cases) == (150, 1)
    assert got.on_the_day_cancellations.as_dict() == {"count": 1, "clinical": 1, "non_clinical": 0, "patient": 0}


def test_a_list_with_unrecorded_times_is_missing_and_left_out_of_utilisation() -> None:
    for cases in (
        (CaseFacts(CaseKind.OPERATED, None),),
        (operated(MON, (8, 0), (9, 0)), CaseFacts(CaseKind.NOT_STARTED)),  # still booked on a past list
    ):
        got = figures(a_list(MON, cases=cases, cancellations=("patient",)))
        assert got == Figures(lists_missing_times=1, on_the_day_cancellations=got.on_the_day_cancellations)
        assert got.on_the_day_cancellations.patient == 1


def test_an_empty_past_list_counts_with_zero_touch() -> None:
    got = figures(a_list(MON, (13, 30), (18, 0)))
    assert (got.lists, got.planned_minutes, got.touch_minutes, got.capped_utilisation) == (1, 270, 0, 0.0)
    assert got.late_starts.count == got.early_finishes.count == got.overruns.count == 0


def test_a_cancelled_list_has_no_planned_minutes() -> None:
    got = figures(a_list(MON, cancelled=True, cases=(operated(MON, (8, 0), (9, 0)),)))
    assert got == Figures(cancelled_lists=1)


def test_a_list_not_yet_over_counts_only_its_cancellations() -> None:
    today = NOW.date()
    got = figures(a_list(today, (8, 0), (13, 0), cancellations=("non_clinical",)))
    assert got.lists == 0 and got.planned_minutes == 0
    assert got.on_the_day_cancellations.non_clinical == 1


def test_utilisation_is_weighted_by_minutes_not_a_mean_of_lists() -> None:
    """A 600-minute list 90% used and a 270-minute list 50% used: 675 / 870 = 77.6%, not 70%."""
    tue, wed = dt.date(2026, 11, 10), dt.date(2026, 11, 11)
    lists = [
        a_list(tue, (8, 0), (18, 0), cases=(operated(tue, (8, 0), (17, 0)),)),
        a_list(wed, (13, 30), (18, 0), cases=(operated(wed, (13, 30), (15, 45)),)),
    ]
    result = report(lists, group_by=GroupBy.THEATRE, thresholds=THRESHOLDS, now=NOW)
    assert [figures(lst).capped_utilisation for lst in lists] == [90.0, 50.0]
    assert result.totals.capped_utilisation == 77.6
    assert result.totals.planned_minutes == 870 and result.totals.capped_touch_minutes == 675


@pytest.mark.parametrize("day", [dt.date(2026, 3, 29), dt.date(2026, 10, 25)])
def test_a_list_on_a_clock_change_day_reports_its_true_minutes(day: dt.date) -> None:
    lst = a_list(day, cases=(operated(day, (8, 0), (12, 0)),))
    got = figures(lst)
    assert (got.planned_minutes, got.touch_minutes, got.capped_utilisation) == (300, 240, 80.0)


def test_an_overnight_list_across_the_autumn_change_is_ten_hours_not_nine() -> None:
    """22:00 on 24 October to 07:00 on 25 October 2026: the clocks go back, so 10 hours pass."""
    lst = dataclasses.replace(
        a_list(dt.date(2026, 10, 24)), start=london(2026, 10, 24, 22), end=london(2026, 10, 25, 7)
    )
    assert figures(lst).planned_minutes == 600


def test_rows_group_and_sort_and_totals_add_up() -> None:
    mon, tue = MON, dt.date(2026, 11, 10)
    lists = [
        a_list(mon, cases=(operated(mon, (8, 0), (12, 0)),)),
        a_list(tue, theatre=T2, surgeon=OKAFOR, cases=(operated(tue, (8, 30), (13, 0)),)),
        a_list(tue, (13, 30), (18, 0), surgeon=OKAFOR),
    ]
    by_week = report(lists, group_by=GroupBy.WEEK, thresholds=THRESHOLDS, now=NOW)
    assert [(row.group.key, row.group.label) for row in by_week.rows] == [
        ("2026-W45", "Week of 2026-11-02"),
        ("2026-W46", "Week of 2026-11-09"),
    ]
    by_surgeon = report(lists, group_by=GroupBy.SURGEON, thresholds=THRESHOLDS, now=NOW)
    assert [row.group.label for row in by_surgeon.rows] == ["Miss Priya Shah", "Mr Tom Okafor"]
    assert [row.figures.lists for row in by_surgeon.rows] == [1, 2]
    assert by_surgeon.totals == by_week.totals == sum((row.figures for row in by_week.rows), Figures())
    assert by_surgeon.totals.planned_minutes == 300 + 300 + 270


def test_union_minutes_clips_and_merges() -> None:
    day = MON
    spans = [operated(day, a, b).touch for a, b in [((7, 30), (8, 30)), ((8, 15), (9, 0)), ((12, 0), (14, 0))]]
    intervals = [span for span in spans if span is not None]
    assert union_minutes(intervals) == 90 + 120
    assert union_minutes(intervals, clip=(london(2026, 11, 2, 8), london(2026, 11, 2, 13))) == 60 + 60
