"""A session's forecast: expected end and probability of overrun over its booked cases, no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.durations import CaseKey, TemplateEstimate, predict_case
from scheduling.forecast import CaseDuration, SharedUncertainty, case_duration, forecast, p_overrun

pytestmark = pytest.mark.pure

START = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=4)


def monte_carlo(*, available_minutes: float, cases: list[CaseDuration], draws: int = 40_000) -> float:
    """The brute force: draw each group's shared term and every case's own, run the list, count
    the overruns."""
    rng = random.Random(20270104)
    room = available_minutes - sum(case.turnover_minutes for case in cases[:-1])
    shared = {case.shared for case in cases if case.shared is not None}
    overruns = 0
    for _ in range(draws):
        offsets = {s: rng.gauss(0, math.sqrt(s.log_variance)) for s in shared}
        total = 0.0
        for case in cases:
            v = case.shared.log_variance if case.shared else 0.0
            offset = offsets[case.shared] if case.shared else 0.0
            total += case.median_minutes * math.exp(offset + rng.gauss(0, math.sqrt(case.log_sigma**2 - v)))
        overruns += total > room
    return overruns / draws


def kypho(median: float, sigma: float = 0.25, shared: SharedUncertainty | None = None) -> CaseDuration:
    return CaseDuration(median_minutes=median, log_sigma=sigma, turnover_minutes=15, shared=shared)


# A surgeon with no history: the template's median, uncertain by τ² = 0.126 of 0.17 in all.
NEW_SURGEON = SharedUncertainty(
    group=("surgeon_procedure_levels_anaesthesia", 9, "kyphoplasty", 1, "general"), log_variance=0.126
)
SETTLED = SharedUncertainty(
    group=("surgeon_procedure_levels_anaesthesia", 1, "kyphoplasty", 1, "general"), log_variance=0.002
)


# Lists a spinal day unit books: half-day and all-day lists, 1-8 cases, steady and variable
# surgeons mixed, from comfortably short to overbooked.
EXAMPLES = {
    "one-case": (240, [kypho(180, 0.3)]),
    "half-day-comfortable": (240, [kypho(55), kypho(60), kypho(50)]),
    "half-day-full": (240, [kypho(75, 0.2), kypho(80, 0.35), kypho(60, 0.15)]),
    "half-day-overbooked": (240, [kypho(90), kypho(85), kypho(80)]),
    "all-day-mixed-spread": (480, [kypho(m, s) for m, s in [(60, 0.1), (95, 0.5), (70, 0.2), (110, 0.4), (55, 0.15)]]),
    "all-day-eight-short": (480, [kypho(45, 0.3) for _ in range(8)]),
    "very-variable": (300, [kypho(80, 0.6), kypho(70, 0.6), kypho(60, 0.05)]),
    "new-surgeon": (330, [kypho(79, 0.41, NEW_SURGEON) for _ in range(3)]),
    "new-and-settled": (
        420,
        [kypho(79, 0.41, NEW_SURGEON), kypho(65, 0.2, SETTLED), kypho(79, 0.41, NEW_SURGEON), kypho(65, 0.2, SETTLED)],
    ),
}


@pytest.mark.parametrize(("available", "cases"), EXAMPLES.values(), ids=EXAMPLES.keys())
def test_p_overrun_matches_a_brute_force_monte_carlo_within_2_points(
    available: float, cases: list[CaseDuration]
) -> None:
    assert p_overrun(available_minutes=available, cases=cases) == pytest.approx(
        monte_carlo(available_minutes=available, cases=cases), abs=0.02
    )


def test_the_examples_cover_likely_and_unlikely_overruns() -> None:
    chances = sorted(p_overrun(available_minutes=a, cases=c) for a, c in EXAMPLES.values())
    assert chances[0] < 0.1 and chances[-1] > 0.9 and any(0.3 < p < 0.7 for p in chances)


def test_cases_sharing_an_uncertain_median_overrun_together() -> None:
    """Three cases of a surgeon with no history on a list with 2 hours to spare: if the template is
    wrong for them, it is wrong three times. Taken as independent, the list would look twice as safe."""
    together = [kypho(79, 0.41, NEW_SURGEON) for _ in range(3)]
    apart = [kypho(79, 0.41) for _ in range(3)]
    assert p_overrun(available_minutes=400, cases=together) > 2 * p_overrun(available_minutes=400, cases=apart)
    assert p_overrun(available_minutes=400, cases=together) == pytest.approx(
        monte_carlo(available_minutes=400, cases=together), abs=0.02
    )


def test_a_shared_part_larger_than_the_whole_spread_is_refused() -> None:
    with pytest.raises(ValueError):
        kypho(79, 0.2, NEW_SURGEON)


def test_one_case_is_exactly_its_lognormal() -> None:
    case = kypho(180, 0.3)
    exact = 1 - statistics.NormalDist().cdf(math.log(240 / 180) / 0.3)
    assert p_overrun(available_minutes=240, cases=[case]) == pytest.approx(exact, abs=1e-9)


def test_an_empty_list_cannot_overrun() -> None:
    assert p_overrun(available_minutes=240, cases=[]) == 0
    assert forecast(first_start=START, end=END, cases=[]).as_dict() == {"expected_end": None, "p_overrun": 0.0}


def test_turnovers_between_cases_leave_less_room() -> None:
    """Three 60-minute cases and two turnovers (none after the last) need 210 minutes."""
    certain = [CaseDuration(median_minutes=60, log_sigma=0, turnover_minutes=15)] * 3
    assert p_overrun(available_minutes=210, cases=certain) == 0
    assert p_overrun(available_minutes=209, cases=certain) == 1
    assert p_overrun(available_minutes=25, cases=certain) == 1  # not even the turnovers fit


def test_expected_end_is_the_first_start_plus_mean_times_and_turnovers_between() -> None:
    cases = [kypho(60, 0.2), kypho(80, 0.3)]
    mean = 60 * math.exp(0.02) + 80 * math.exp(0.045)
    result = forecast(first_start=START, end=END, cases=cases)
    assert result.expected_end == START + dt.timedelta(minutes=round(mean + 15))
    assert result.p_overrun == p_overrun(available_minutes=240, cases=cases)


def test_a_later_first_start_leaves_less_of_the_session() -> None:
    cases = [kypho(70), kypho(80)]
    on_time = forecast(first_start=START, end=END, cases=cases).p_overrun
    late = forecast(first_start=START + dt.timedelta(minutes=40), end=END, cases=cases).p_overrun
    assert late > on_time


def test_the_forecast_reads_the_prediction_and_a_planned_override() -> None:
    template = TemplateEstimate(touch_minutes=79, turnover_minutes=15)
    prediction = predict_case(rows=[], key=CaseKey(1, "kyphoplasty", 1, "general"), template=template)
    case = case_duration(prediction=prediction)
    assert case.median_minutes == 79 and case.turnover_minutes == 15
    # n = 0: by default the template is worth one case (κ0 = 1), so half the spread is uncertainty
    # about this surgeon's median, and belongs to the group
    assert case.shared == SharedUncertainty(prediction.group, prediction.shared_log_variance)
    assert prediction.shared_log_variance == pytest.approx(case.log_sigma**2 / 2)
    # the lognormal has the prediction's p80
    p80 = case.median_minutes * math.exp(statistics.NormalDist().inv_cdf(0.8) * case.log_sigma)
    assert p80 == pytest.approx(prediction.touch_p80)
    assert case_duration(prediction=prediction, planned_minutes=135).median_minutes == 120


# --- Monotone in booked minutes ---------------------------------------------------------------

# The approximation is not a true distribution function of the booked minutes, so it could in
# principle dip as a case is added where the overrun is nearly certain or nearly impossible; a
# million random lists found no dip above 5e-5 (log-spreads up to 1), far below what a
# coordinator sees. The properties allow that much.
TAIL = 1e-4


@st.composite
def durations(draw: st.DrawFn) -> CaseDuration:
    sigma = draw(st.floats(min_value=0.01, max_value=0.8))
    shared = draw(
        st.one_of(
            st.none(),
            st.builds(SharedUncertainty, group=st.tuples(st.integers(1, 3)), log_variance=st.just(sigma**2 / 2)),
        )
    )
    return CaseDuration(
        median_minutes=draw(st.floats(min_value=5, max_value=240)),
        log_sigma=sigma,
        turnover_minutes=draw(st.integers(0, 30)),
        shared=shared,
    )


lists = st.lists(durations(), max_size=8)
available = st.floats(min_value=0, max_value=720)


@settings(max_examples=100)
@given(cases=lists, extra=durations(), where=st.integers(0, 8), room=available)
def test_booking_another_case_never_lowers_p_overrun(
    cases: list[CaseDuration], extra: CaseDuration, where: int, room: float
) -> None:
    before = p_overrun(available_minutes=room, cases=cases)
    after = p_overrun(available_minutes=room, cases=[*cases[:where], extra, *cases[where:]])
    assert 0 <= before <= 1 and 0 <= after <= 1
    assert after >= before - TAIL


@settings(max_examples=100)
@given(cases=lists.filter(bool), which=st.integers(0, 7), factor=st.floats(1, 2), room=available)
def test_a_longer_case_never_lowers_p_overrun(
    cases: list[CaseDuration], which: int, factor: float, room: float
) -> None:
    i = which % len(cases)
    longer = dataclasses.replace(cases[i], median_minutes=cases[i].median_minutes * factor)
    before = p_overrun(available_minutes=room, cases=cases)
    assert p_overrun(available_minutes=room, cases=[*cases[:i], longer, *cases[i + 1 :]]) >= before - TAIL


@settings(max_examples=100)
@given(cases=lists, room=available, less=st.floats(0, 240))
def test_less_room_never_lowers_p_overrun(cases: list[CaseDuration], room: float, less: float) -> None:
    assert p_overrun(available_minutes=room - less, cases=cases) >= p_overrun(available_minutes=room, cases=cases)
