"""The pure rules of theatre milestones (scheduling/milestones.py): order, plausibility, sign out, touch."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling.milestones import (
    AFTER_SIGN_OUT,
    IN_THE_FUTURE,
    MILESTONES,
    OUT_OF_ORDER,
    OUTSIDE_LIST,
    Plausibility,
    Times,
    minutes_between,
    order_problems,
    recording_problems,
    sign_out_problems,
    to_minute,
    touch_interval,
)
from tests.factories import london

pytestmark = pytest.mark.pure

DAY = (2026, 11, 2)
TOLERANCE = dt.timedelta(minutes=5)


def at(hour: int, minute: int = 0) -> dt.datetime:
    return london(*DAY, hour, minute)


def rules(*, now: dt.datetime | None = None, signed_out_at: dt.datetime | None = None) -> Plausibility:
    """An 08:00-13:00 list; times may be 2 h early and 12 h late; now is 18:00 that day."""
    return Plausibility(
        now=now or at(18),
        future_tolerance=TOLERANCE,
        window_start=at(6),
        window_end=at(23, 59) + dt.timedelta(minutes=1),
        signed_out_at=signed_out_at,
    )


def full_day() -> dict[str, dt.datetime | None]:
    return {
        "anaesthesia_start": at(8, 5),
        "in_theatre": at(8, 15),
        "knife_to_skin": at(8, 30),
        "closure": at(9, 20),
        "out_of_theatre": at(9, 30),
        "in_recovery": at(9, 35),
    }


def test_the_milestones_are_the_contract_names_in_order() -> None:
    assert MILESTONES == (
        "anaesthesia_start",
        "in_theatre",
        "knife_to_skin",
        "closure",
        "out_of_theatre",
        "in_recovery",
    )


def test_times_in_order_have_no_problem_and_equal_neighbours_are_allowed() -> None:
    times = full_day() | {"in_theatre": at(8, 5)}  # sedation starts as the patient is wheeled in
    assert order_problems(times) == []


def test_out_of_order_names_both_milestones_even_across_a_gap() -> None:
    times: Times = {"knife_to_skin": at(10), "out_of_theatre": at(9, 50)}
    [problem] = order_problems(times)
    assert problem.code == OUT_OF_ORDER
    assert problem.fields == ("knife_to_skin", "out_of_theatre")
    assert "out_of_theatre" in problem.detail and "knife_to_skin" in problem.detail


def test_every_broken_pair_is_reported() -> None:
    times = full_day() | {"anaesthesia_start": at(9, 25)}  # after in_theatre, knife and closure
    pairs = [p.fields for p in order_problems(times)]
    assert pairs == [
        ("anaesthesia_start", "in_theatre"),
        ("anaesthesia_start", "knife_to_skin"),
        ("anaesthesia_start", "closure"),
    ]


def test_a_time_slightly_ahead_of_the_server_is_a_clock_difference() -> None:
    now = at(9, 0)
    times: Times = {"anaesthesia_start": now + TOLERANCE}
    assert recording_problems(times, changed={"anaesthesia_start"}, rules=rules(now=now)) == []


def test_a_time_beyond_the_tolerance_is_in_the_future() -> None:
    now = at(9, 0)
    times: Times = {"anaesthesia_start": at(8, 50), "in_theatre": now + TOLERANCE + dt.timedelta(minutes=1)}
    [problem] = recording_problems(times, changed={"in_theatre"}, rules=rules(now=now))
    assert (problem.code, problem.fields) == (IN_THE_FUTURE, ("in_theatre",))
    assert "5 minutes" in problem.detail


def test_a_time_outside_the_lists_day_is_refused_as_a_wrong_date() -> None:
    times: Times = {"in_theatre": at(8) - dt.timedelta(days=1)}
    [problem] = recording_problems(times, changed={"in_theatre"}, rules=rules())
    assert (problem.code, problem.fields) == (OUTSIDE_LIST, ("in_theatre",))


def test_plausibility_is_judged_only_for_the_values_being_written() -> None:
    """A stored value is not re-judged by a later, unrelated recording (it was judged when written)."""
    times: Times = {"anaesthesia_start": at(5), "in_theatre": at(8, 15)}
    assert recording_problems(times, changed={"in_theatre"}, rules=rules()) == []


def test_after_sign_out_the_operation_cannot_start_later() -> None:
    signed_out = at(9, 25)
    later = {"knife_to_skin": at(9, 40), "closure": at(9, 45), "out_of_theatre": at(9, 50), "in_recovery": at(10)}
    times = full_day() | later
    problems = recording_problems(times, changed={"knife_to_skin"}, rules=rules(signed_out_at=signed_out))
    assert [(p.code, p.fields) for p in problems] == [(AFTER_SIGN_OUT, ("knife_to_skin",))]


def test_closure_and_leaving_theatre_may_follow_the_sign_out() -> None:
    """WHO sign out happens before the patient leaves theatre, often while the wound is closed."""
    times = full_day()
    assert sign_out_problems(times, signed_out_at=at(9, 15), tolerance=TOLERANCE) == []


def test_sign_out_is_refused_by_times_out_of_order() -> None:
    times = full_day() | {"out_of_theatre": at(8, 20)}
    codes = {p.code for p in sign_out_problems(times, signed_out_at=at(10), tolerance=TOLERANCE)}
    assert codes == {OUT_OF_ORDER}


def test_touch_runs_from_anaesthesia_else_in_theatre_to_out_of_theatre() -> None:
    assert touch_interval(full_day()) == (at(8, 5), at(9, 30))
    assert touch_interval(full_day() | {"anaesthesia_start": None}) == (at(8, 15), at(9, 30))
    assert touch_interval(full_day() | {"out_of_theatre": None}) is None
    assert touch_interval({"knife_to_skin": at(9), "out_of_theatre": at(10)}) is None


def test_times_are_kept_to_the_minute_in_utc() -> None:
    value = dt.datetime(2026, 7, 1, 9, 14, 59, 999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert to_minute(value) == dt.datetime(2026, 7, 1, 8, 14, tzinfo=dt.UTC)


@pytest.mark.parametrize("day", [dt.date(2026, 3, 29), dt.date(2026, 10, 25)])
def test_minutes_are_elapsed_time_on_the_days_the_clocks_change(day: dt.date) -> None:
    start, end = london(day.year, day.month, day.day, 0), london(day.year, day.month, day.day, 12)
    expected = 11 * 60 if day.month == 3 else 13 * 60  # the spring day is 23 h long, the autumn one 25 h
    assert minutes_between(start, end) == expected
    assert minutes_between(london(day.year, day.month, day.day, 8), london(day.year, day.month, day.day, 13)) == 300


def test_order_is_judged_in_elapsed_time_across_the_autumn_clock_change() -> None:
    """01:30 BST comes before 01:10 GMT on 25 October 2026, though its wall clock reads later."""
    bst = dt.datetime(2026, 10, 25, 1, 30, tzinfo=london(2026, 10, 25).tzinfo)
    gmt = dt.datetime(2026, 10, 25, 1, 10, tzinfo=london(2026, 10, 25).tzinfo, fold=1)
    assert order_problems({"in_theatre": bst, "knife_to_skin": gmt}) == []
    assert order_problems({"in_theatre": gmt, "knife_to_skin": bst})[0].code == OUT_OF_ORDER
    assert minutes_between(bst, gmt) == 40
