"""Treat-by dates (scheduling/waiting.py): the priority limits, and the pauses the NHS RTT rules allow."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling.fill.problem import treat_by as fill_treat_by
from scheduling.waiting import booked_inside, merged, pauses_the_wait, treat_by

pytestmark = pytest.mark.pure

D = dt.date


@pytest.mark.parametrize(
    ("priority", "referral", "expected"),
    [
        ("P1", D(2027, 1, 4), D(2027, 1, 7)),  # 72 hours
        ("P2", D(2027, 1, 31), D(2027, 2, 28)),  # one calendar month, clamped to the month's end
        ("P3", D(2027, 11, 30), D(2028, 2, 29)),  # three months, into a leap February
        ("P4", D(2027, 1, 4), None),  # no limit
    ],
)
def test_treat_by_without_pauses_is_referral_plus_the_class_limit(
    priority: str, referral: dt.date, expected: dt.date | None
) -> None:
    assert treat_by(priority=priority, referral_date=referral, pauses=()) == expected


def test_without_pauses_it_agrees_with_the_fill_cores_rule_on_every_day_of_two_years() -> None:
    day = D(2027, 1, 1)
    while day < D(2029, 1, 1):
        for priority in ("P1", "P2", "P3", "P4"):
            assert treat_by(priority=priority, referral_date=day) == fill_treat_by(priority=priority, referral_date=day)
        day += dt.timedelta(days=1)


def test_an_unknown_priority_is_refused() -> None:
    with pytest.raises(ValueError, match="P9"):
        treat_by(priority="P9", referral_date=D(2027, 1, 1))


def test_a_pause_inside_the_wait_moves_the_date_by_its_days() -> None:
    # P2 from 4 January: 4 February; a 14-day holiday (both ends inclusive) → 18 February.
    assert treat_by(priority="P2", referral_date=D(2027, 1, 4), pauses=[(D(2027, 1, 20), D(2027, 2, 2))]) == D(
        2027, 2, 18
    )


def test_overlapping_pauses_count_each_day_once() -> None:
    pauses = [(D(2027, 1, 10), D(2027, 1, 19)), (D(2027, 1, 15), D(2027, 1, 24)), (D(2027, 1, 25), D(2027, 1, 25))]
    assert merged(pauses) == [(D(2027, 1, 10), D(2027, 1, 25))]
    assert treat_by(priority="P2", referral_date=D(2027, 1, 4), pauses=pauses) == D(2027, 2, 4) + dt.timedelta(16)


def test_days_before_the_referral_are_not_waiting_and_do_not_pause() -> None:
    pause = (D(2026, 12, 20), D(2027, 1, 5))  # 4 and 5 January count
    assert treat_by(priority="P1", referral_date=D(2027, 1, 4), pauses=[pause]) == D(2027, 1, 9)


def test_a_pause_after_the_limit_has_passed_does_not_unbreach_it() -> None:
    assert treat_by(priority="P1", referral_date=D(2027, 1, 4), pauses=[(D(2027, 1, 8), D(2027, 1, 20))]) == D(
        2027, 1, 7
    )


def test_a_pause_that_starts_on_the_limit_day_counts() -> None:
    assert treat_by(priority="P1", referral_date=D(2027, 1, 4), pauses=[(D(2027, 1, 7), D(2027, 1, 8))]) == D(
        2027, 1, 9
    )


def test_a_second_pause_counts_when_the_first_moved_the_limit_past_its_start() -> None:
    # P1: 7 January; the first pause (6-7) moves it to 9 January; the second starts on the 9th.
    pauses = [(D(2027, 1, 6), D(2027, 1, 7)), (D(2027, 1, 9), D(2027, 1, 10))]
    assert treat_by(priority="P1", referral_date=D(2027, 1, 4), pauses=pauses) == D(2027, 1, 11)


def test_p4_has_no_limit_to_pause() -> None:
    assert treat_by(priority="P4", referral_date=D(2027, 1, 4), pauses=[(D(2027, 1, 5), D(2027, 1, 9))]) is None


@pytest.mark.parametrize(
    ("reason", "patient_initiated", "pauses"),
    [
        ("holiday", True, True),
        ("patient_choice", True, True),
        ("other", True, True),
        ("holiday", False, False),  # recorded, but not a pause the rules allow (no offers declined)
        ("unfit", True, False),  # clinical: the wait never pauses (RTT rules)
        ("unfit", False, False),
    ],
)
def test_only_a_patient_initiated_non_clinical_period_pauses(
    reason: str, patient_initiated: bool, pauses: bool
) -> None:
    assert pauses_the_wait(reason=reason, patient_initiated=patient_initiated) is pauses


def test_booked_inside_compares_local_days_inclusively() -> None:
    spans = [(D(2027, 1, 10), D(2027, 1, 12))]
    assert booked_inside(booked_days=(D(2027, 1, 12), D(2027, 1, 12)), spans=spans)
    assert booked_inside(booked_days=(D(2027, 1, 10), D(2027, 1, 10)), spans=spans)
    assert not booked_inside(booked_days=(D(2027, 1, 13), D(2027, 1, 13)), spans=spans)
    assert not booked_inside(booked_days=None, spans=spans)
