"""The duration estimator: a pure Bayesian lognormal over past touch times, no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
import statistics
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.durations import (
    CaseKey,
    DurationSettings,
    ExclusionReason,
    Level,
    PastCase,
    TemplateEstimate,
    learn,
    predict,
    predict_case,
    screen,
    slot_minutes,
    t_quantile,
)

pytestmark = pytest.mark.pure

KEY = CaseKey(surgeon_id=1, procedure="kyphoplasty", levels=1, anaesthesia="general")
# The seeded kyphoplasty, one level under general anaesthesia: 94 minutes booked, 15 of them turnover.
TEMPLATE = TemplateEstimate(touch_minutes=79, turnover_minutes=15)
START = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


def past(
    touch: float | None,
    *,
    surgeon_id: int = 1,
    procedure: str = "kyphoplasty",
    levels: int = 1,
    anaesthesia: str = "general",
    template_minutes: int = 79,
    abandoned: bool = False,
) -> PastCase:
    case_id = next(_ids)
    return PastCase(
        case_id=case_id,
        surgeon_id=surgeon_id,
        procedure=procedure,
        levels=levels,
        anaesthesia=anaesthesia,
        touch_minutes=touch,
        template_minutes=template_minutes,
        abandoned=abandoned,
        at=START + dt.timedelta(days=case_id),
    )


def spread_around(median: float, count: int, **kwargs: Any) -> list[PastCase]:
    """`count` cases each of median × 0.8, median, median ÷ 0.8: median and geometric mean are `median`."""
    return [past(median * f, **kwargs) for f in (0.8, 1.0, 1.25) for _ in range(count)]


# --- No history: the template -----------------------------------------------------------------


def test_with_no_history_the_prediction_is_the_template() -> None:
    prediction = predict_case(rows=[], key=KEY, template=TEMPLATE)
    assert (prediction.touch_p50, prediction.n, prediction.level) == (79, 0, Level.TEMPLATE)
    assert prediction.as_dict()["p50"] == TEMPLATE.total_minutes == 94
    assert prediction.p80 > prediction.p50


@given(touch=st.integers(1, 600), turnover=st.integers(0, 60))
def test_with_n_0_p50_is_estimated_minutes_exactly(touch: int, turnover: int) -> None:
    template = TemplateEstimate(touch_minutes=touch, turnover_minutes=turnover)
    prediction = predict_case(rows=[], key=KEY, template=template)
    assert prediction.p50 == template.total_minutes
    assert slot_minutes(prediction=prediction) == template.total_minutes


def test_other_procedures_and_other_surgeons_other_levels_leave_the_template_alone() -> None:
    rows = [
        *spread_around(120, 10, procedure="vertebroplasty"),
        *spread_around(140, 10, surgeon_id=2, levels=3, template_minutes=119),
    ]
    prediction = predict_case(rows=rows, key=KEY, template=TEMPLATE)
    assert (prediction.touch_p50, prediction.n, prediction.level) == (79, 0, Level.TEMPLATE)


# --- History: shrinkage toward it -------------------------------------------------------------


def test_many_cases_converge_to_the_history_median() -> None:
    prediction = predict_case(rows=spread_around(50, 300), key=KEY, template=TEMPLATE)
    assert prediction.n == 900
    assert prediction.touch_p50 == pytest.approx(50, rel=0.005)


def test_the_prediction_moves_from_the_template_toward_the_history_as_cases_accumulate() -> None:
    p50s = [predict_case(rows=spread_around(50, count), key=KEY, template=TEMPLATE).touch_p50 for count in (2, 4, 10)]
    assert 79 > p50s[0] > p50s[1] > p50s[2] > 50


def test_a_lognormal_history_gives_its_sample_median() -> None:
    rng = random.Random(7)
    touches = [rng.lognormvariate(math.log(62), 0.25) for _ in range(2000)]
    prediction = predict_case(rows=[past(t) for t in touches], key=KEY, template=TEMPLATE)
    assert prediction.touch_p50 == pytest.approx(statistics.median(touches), rel=0.02)
    # ... and its 80th percentile: 80% of such cases fit in p80.
    assert prediction.touch_p80 == pytest.approx(statistics.quantiles(touches, n=5)[-1], rel=0.02)


def test_p80_is_wider_while_the_history_is_thin() -> None:
    thin = predict_case(rows=spread_around(79, 2), key=KEY, template=TEMPLATE)
    rich = predict_case(rows=spread_around(79, 100), key=KEY, template=TEMPLATE)
    assert thin.touch_p80 / thin.touch_p50 > rich.touch_p80 / rich.touch_p50


touch_minutes = st.floats(min_value=5, max_value=400, allow_nan=False)


@settings(max_examples=60)
@given(touches=st.lists(touch_minutes, max_size=30), template_touch=st.integers(5, 300))
def test_p80_is_above_p50_and_p50_between_template_and_history(touches: list[float], template_touch: int) -> None:
    template = TemplateEstimate(touch_minutes=template_touch, turnover_minutes=15)
    rows = [past(t, template_minutes=template_touch) for t in touches]
    prediction = predict_case(rows=rows, key=KEY, template=template)
    assert prediction.touch_p80 > prediction.touch_p50 > 0
    assert prediction.p80 >= prediction.p50
    kept, _ = screen(rows)
    if prediction.n:
        geometric_mean = math.exp(statistics.fmean(math.log(row.touch_minutes or 0) for row in kept))
        low, high = sorted((float(template_touch), geometric_mean))
        assert low * (1 - 1e-9) <= prediction.touch_p50 <= high * (1 + 1e-9)


def test_cases_on_other_anaesthesia_teach_the_surgeons_speed_as_a_ratio() -> None:
    """A surgeon 25% slower than the template under local anaesthesia with sedation is predicted
    25% slower (less a little shrinkage) under general, whose template is 10 minutes longer."""
    rows = spread_around(69 * 1.25, 20, anaesthesia="local_sedation", template_minutes=69)
    prediction = predict_case(rows=rows, key=KEY, template=TEMPLATE)
    assert prediction.level is Level.SURGEON_PROCEDURE_LEVELS
    assert 79 < prediction.touch_p50 < 79 * 1.25
    assert prediction.touch_p50 == pytest.approx(79 * 1.25, rel=0.02)


# --- The fallback -----------------------------------------------------------------------------


OTHER = 2  # another surgeon


@pytest.mark.parametrize(
    ("rows", "level", "n"),
    [
        pytest.param(
            [*spread_around(60, 2), *spread_around(70, 5, anaesthesia="local_sedation", template_minutes=69)],
            Level.SURGEON_PROCEDURE_LEVELS_ANAESTHESIA,
            6,
            id="own-cases-exactly-like-it",
        ),
        pytest.param(
            [past(60), *spread_around(60, 2, anaesthesia="local_sedation", template_minutes=69)],
            Level.SURGEON_PROCEDURE_LEVELS,
            7,
            id="own-cases-of-these-levels-either-anaesthesia",
        ),
        pytest.param(
            [past(60), *spread_around(60, 2, levels=2, template_minutes=99)],
            Level.SURGEON_PROCEDURE,
            7,
            id="own-cases-of-the-procedure",
        ),
        pytest.param(
            [past(60), *spread_around(60, 3, surgeon_id=OTHER)],
            Level.PROCEDURE_LEVELS_ANAESTHESIA,
            10,
            id="the-units-cases-like-it",
        ),
        pytest.param(
            [past(60), *spread_around(60, 3, surgeon_id=OTHER, anaesthesia="local_sedation", template_minutes=69)],
            Level.PROCEDURE_LEVELS,
            10,
            id="the-units-cases-of-these-levels",
        ),
        pytest.param(
            [past(60), past(61), *spread_around(60, 3, surgeon_id=OTHER, levels=2, template_minutes=99)],
            Level.TEMPLATE,
            0,
            id="too-few-anywhere",
        ),
    ],
)
def test_the_fallback_takes_the_most_specific_group_with_enough_cases(
    rows: list[PastCase], level: Level, n: int
) -> None:
    prediction = predict_case(rows=rows, key=KEY, template=TEMPLATE, settings=DurationSettings(min_n=5))
    assert (prediction.level, prediction.n) == (level, n)


def test_a_unit_wide_group_is_wider_for_one_surgeon_than_their_own_history() -> None:
    """Two surgeons' cases predict each one's next case more narrowly than a third surgeon's:
    where the third stands among them is unknown."""
    rows = [*spread_around(60, 10, surgeon_id=OTHER), *spread_around(80, 10, surgeon_id=3)]
    own = predict_case(rows=rows, key=dataclasses.replace(KEY, surgeon_id=OTHER), template=TEMPLATE)
    someone = predict_case(rows=rows, key=KEY, template=TEMPLATE)
    assert (own.level, someone.level) == (
        Level.SURGEON_PROCEDURE_LEVELS_ANAESTHESIA,
        Level.PROCEDURE_LEVELS_ANAESTHESIA,
    )
    assert 60 < own.touch_p50 < someone.touch_p50 < 80
    assert someone.touch_p80 / someone.touch_p50 > own.touch_p80 / own.touch_p50
    # ... and that unknown offset is this surgeon's alone, shared by their cases, not the unit's
    assert someone.shared_log_variance > own.shared_log_variance
    assert own.shared_fraction < someone.shared_fraction < 1
    assert someone.shared_by == (*someone.group, KEY.surgeon_id)
    assert own.shared_by == own.group


def test_uncertainty_about_the_median_shrinks_as_cases_accumulate() -> None:
    fractions = [
        predict_case(rows=spread_around(60, count), key=KEY, template=TEMPLATE).shared_fraction
        for count in (0, 2, 10, 100)
    ]
    assert fractions[0] == pytest.approx(0.5)  # the template is worth one case by default
    assert fractions == sorted(fractions, reverse=True)
    assert fractions[-1] < 0.01


def test_min_n_is_the_cases_a_group_needs() -> None:
    rows = spread_around(60, 1)  # three cases
    assert predict_case(rows=rows, key=KEY, template=TEMPLATE, settings=DurationSettings(min_n=3)).n == 3
    assert predict_case(rows=rows, key=KEY, template=TEMPLATE, settings=DurationSettings(min_n=4)).n == 0


# --- Outliers ---------------------------------------------------------------------------------


def test_outliers_are_left_out_with_their_reasons() -> None:
    usual = spread_around(60, 3)
    abandoned = past(25, abandoned=True)
    missing = past(None)
    zero = past(0)
    too_long = past(60 * 4.5)  # a day's slip: 4.5× the reference median of 60
    too_short = past(60 / 4.5)
    rows = [*usual, abandoned, missing, zero, too_long, too_short]

    prediction = predict_case(rows=rows, key=KEY, template=TEMPLATE)

    assert prediction.n == len(usual)
    assert prediction.touch_p50 == predict_case(rows=usual, key=KEY, template=TEMPLATE).touch_p50
    assert [(e.case, e.reason) for e in prediction.excluded] == [
        (abandoned, ExclusionReason.ABANDONED),
        (missing, ExclusionReason.NOT_RECORDED),
        (zero, ExclusionReason.NOT_POSITIVE),
        (too_long, ExclusionReason.TOO_LONG),
        (too_short, ExclusionReason.TOO_SHORT),
    ]
    assert "more than 4× the reference median of 60" in prediction.excluded[3].detail


def test_a_surgeon_twice_the_template_is_slow_not_an_error() -> None:
    """The reference median follows the unit's history, so a template wrong for everyone does not
    turn honest times into exclusions; 4× beyond that history still is one."""
    rows = spread_around(79 * 2.5, 3)
    kept, excluded = screen([*rows, past(79 * 2.5 * 4.2)])
    assert kept == rows
    assert [e.reason for e in excluded] == [ExclusionReason.TOO_LONG]


def test_excluded_cases_show_even_when_the_template_is_used() -> None:
    abandoned = past(20, abandoned=True)
    prediction = predict_case(rows=[past(60), abandoned], key=KEY, template=TEMPLATE)
    assert prediction.level is Level.TEMPLATE
    assert [e.case for e in prediction.excluded] == [abandoned]


@given(
    touches=st.lists(st.one_of(st.none(), st.floats(min_value=-5, max_value=5000, allow_nan=False)), max_size=20),
    abandoned=st.lists(st.booleans(), max_size=20),
)
def test_every_past_case_is_either_kept_or_excluded_with_a_reason(
    touches: list[float | None], abandoned: list[bool]
) -> None:
    rows = [past(t, abandoned=a) for t, a in zip(touches, abandoned, strict=False)]
    kept, excluded = screen(rows)
    assert sorted([*(r.case_id for r in kept), *(e.case.case_id for e in excluded)]) == [r.case_id for r in rows]
    assert all(e.detail for e in excluded)


# --- Slots, settings, the t quantile ----------------------------------------------------------


def test_the_slot_is_p50_rounded_up_plus_turnover_unless_a_person_planned_it() -> None:
    prediction = predict_case(rows=spread_around(60.2, 200), key=KEY, template=TEMPLATE)
    assert 60 < prediction.touch_p50 < 61
    assert slot_minutes(prediction=prediction) == 61 + 15
    assert slot_minutes(prediction=prediction, planned_minutes=120) == 120


def test_learning_once_predicts_like_learning_per_case() -> None:
    rows = [*spread_around(60, 3), *spread_around(90, 3, surgeon_id=OTHER)]
    history = learn(rows)
    for surgeon_id in (1, OTHER, 3):
        key = CaseKey(surgeon_id, "kyphoplasty", 1, "general")
        assert predict(history=history, key=key, template=TEMPLATE) == predict_case(
            rows=rows, key=key, template=TEMPLATE
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"min_n": 0},
        {"outlier_factor": 1.0},
        {"template_cv": 0.0},
        {"template_error_cv": -0.1},
        {"prior_weight": 2.0},
    ],
)
def test_settings_refuse_values_that_break_the_method(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DurationSettings(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("df", "exact"),
    # Student t's 80th percentiles (scipy.stats.t.ppf(0.8, df)).
    [(4, 0.9409646), (8, 0.8888895), (10, 0.8790578), (30, 0.8537673), (1000, 0.8419808)],
)
def test_t_quantile_matches_the_tables(df: float, exact: float) -> None:
    assert t_quantile(0.8, df) == pytest.approx(exact, abs=1e-4)


# --- One posterior per key ------------------------------------------------------------------------


def _reference_prediction(history: Any, key: CaseKey, template: TemplateEstimate) -> tuple[float, float, float]:
    """The posterior worked out from scratch for one case, as `predict` did before it kept each
    key's posterior (issue 18): touch p50, touch p80 and the shared fraction."""
    from scheduling.durations import GROUP_LEVELS, UNIT_LEVELS, _chosen_group, _spread_at

    level, stats = _chosen_group(history, key)
    n, mean, squares = (stats.n, stats.mean, stats.sum_of_squares) if stats else (0, 0.0, 0.0)
    spread = _spread_at(history, key.procedure, level)
    own = _spread_at(history, key.procedure, GROUP_LEVELS[0]).case_variance
    surgeons = max(spread.case_variance - own, 0.0) if level in UNIT_LEVELS else 0.0
    kappa0 = spread.case_variance / spread.template_variance
    nu0 = history.settings.prior_weight
    kappa = kappa0 + n
    nu = nu0 + n
    variance = (nu0 * spread.case_variance + squares + kappa0 * n * mean * mean / kappa) / nu
    predictive = variance * (1 + 1 / kappa)
    p50 = template.touch_minutes * math.exp(n * mean / kappa)
    p80 = p50 * math.exp(t_quantile(0.8, nu) * math.sqrt(predictive))
    return p50, p80, (variance / kappa + variance * surgeons / spread.case_variance) / predictive


def test_a_keys_posterior_is_kept_and_every_template_gets_the_same_numbers_to_the_bit() -> None:
    """Given a history with surgeon groups, unit-wide fallbacks and keys with no history at all;
    when each key is predicted for several templates, in one order and then in another on a fresh
    history; then every prediction equals the posterior worked out from scratch, exactly (==, not
    approx): keeping a key's posterior changes how often the algebra runs, not its result."""
    rows = [
        *spread_around(80, 4, surgeon_id=1),
        *spread_around(100, 2, surgeon_id=2, levels=2),
        *spread_around(60, 3, surgeon_id=3, procedure="vertebroplasty", anaesthesia="local_sedation"),
    ]
    keys = [
        CaseKey(s, p, lv, a)
        for s in (1, 2, 3, 9)
        for p in ("kyphoplasty", "vertebroplasty", "unheard_of")
        for lv in (1, 2)
        for a in ("general", "local_sedation")
    ]
    templates = [TemplateEstimate(m, 15) for m in (45, 79, 120)]
    first, second = learn(rows), learn(rows)
    forwards = {(k, t): predict(history=first, key=k, template=t) for k in keys for t in templates}
    backwards = {(k, t): predict(history=second, key=k, template=t) for t in reversed(templates) for k in keys}
    assert forwards == backwards
    for (key, template), prediction in forwards.items():
        expected = _reference_prediction(first, key, template)
        assert (prediction.touch_p50, prediction.touch_p80, prediction.shared_fraction) == expected
