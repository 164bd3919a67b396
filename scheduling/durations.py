"""How long a case will take, learned from what happened: a Bayesian lognormal estimator.

Pure: frozen inputs, no database, no clock, no models (like scheduling/slots.py). The services
load completed cases' touch times, call `learn` once over them, then `predict` for each case.

The method (Dexter & Ledolter 2005, Bayesian lognormal "even for procedures with few or no
historic data"; the conjugate algebra is Gelman et al., Bayesian Data Analysis 3rd ed. §3.3):

1. Screening. A case abandoned after sign in is not an operation, and a touch time more than
   `outlier_factor` (4) times the reference median, or less than a quarter of it, is a recording
   error (a wrong date, an a.m./p.m. slip), not a slow case. Both are left out with a reason in
   `Excluded`; nothing is dropped silently.
2. Each kept case becomes y = ln(touch minutes ÷ the template's touch estimate for that case):
   its log-duration relative to the template. In ratios, cases with other levels, anaesthesia or
   template versions speak to one another (a surgeon 20% slower than the template on one level is
   also slower on three), and the template is the natural prior centre, y = 0.
3. Fallback. The case is predicted from the most specific group with at least `min_n` kept cases:
   surgeon×procedure×levels×anaesthesia → surgeon×procedure×levels → surgeon×procedure →
   procedure×levels×anaesthesia → procedure×levels → the template alone (n = 0). In ratios, the
   surgeon's own cases of the procedure at other levels say more about their next one than the
   unit's cases at these levels, so surgeon×procedure comes before the unit-wide groups. 79–88% of
   cases have little surgeon×procedure history, so the fallback carries most predictions in a
   young unit.
4. Within the group, y ~ Normal(μ, σ²) with the conjugate normal-inverse-gamma prior:
   μ | σ² ~ N(0, σ²/κ0) (the template estimate is the prior median) and σ² ~ scaled-Inv-χ²(ν0, s0²).
   The prior spreads come from the procedure's pooled history, each blended with a template
   default worth `prior_weight` cases: s0², one case around its surgeon's median (default
   `template_cv`), and τ², a surgeon's median around the template (default `template_error_cv`);
   κ0 = s0²/τ² is what the template is worth in cases, ν0 = `prior_weight`. As n grows the
   posterior centre moves from the template to the group's mean log-duration (weight n/(κ0 + n)).
   Both are estimated per level from that level's groups, so a coarser group's case spread holds
   what the ratio does not explain (levels, anaesthesia, and in a unit-wide group the spread
   between surgeons: it predicts one surgeon's case from everyone's).
5. A new case's log-duration is then Student t with ν0 + n degrees of freedom around that centre,
   scale sn·√(1 + 1/κn): the parameters' uncertainty widens p80 when n is small. p50 is the
   template × e^centre (with n = 0 exactly the template), p80 the 80th percentile. The part of
   that spread that is uncertainty about the surgeon's median is kept apart
   (`shared_log_variance`): a session forecast must not let it average out over their cases.

The slot a booking occupies is p50, rounded up to whole minutes, plus the template's turnover, so
with no history a case is booked exactly as before (`estimated_minutes`).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# The standard normal's 80th percentile: p80 is the centre plus this many (t-corrected) scales.
Z80 = statistics.NormalDist().inv_cdf(0.8)

# Float noise must not add a minute when a p50 is a whole number of minutes (79.00000000001).
_WHOLE_MINUTE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class DurationSettings:
    """The estimator's knobs; the defaults are the unit's settings until a coordinator changes them."""

    # Kept cases a group needs before it is used; below this the prediction falls back a level.
    min_n: int = 5
    # A touch time further than this factor from the reference median is a recording error.
    outlier_factor: float = 4.0
    # Coefficient of variation of one case's touch time around its median, assumed until the
    # procedure's history says otherwise (it outweighs this once it holds `prior_weight` cases).
    template_cv: float = 0.25
    # Default spread of a surgeon's median around the template, as a coefficient of variation.
    template_error_cv: float = 0.25
    # What a prior is worth in cases: the template defaults against the procedure's pooled history,
    # and the pooled spread against one group's own spread.
    prior_weight: float = 8.0

    def __post_init__(self) -> None:
        if self.min_n < 1:
            raise ValueError("min_n must be at least 1")
        if self.outlier_factor <= 1:
            raise ValueError("outlier_factor must be above 1")
        if self.template_cv <= 0 or self.template_error_cv <= 0:
            raise ValueError("the template's coefficients of variation must be positive")
        # The t quantile below is an expansion in 1/df, accurate from about 4 degrees of freedom.
        if self.prior_weight < 4:
            raise ValueError("prior_weight must be at least 4")


DEFAULT_SETTINGS = DurationSettings()


@dataclass(frozen=True)
class CaseKey:
    """What the prediction is for: the surgeon, the procedure (template slug), levels, anaesthesia."""

    surgeon_id: int
    procedure: str
    levels: int
    anaesthesia: str


@dataclass(frozen=True)
class TemplateEstimate:
    """The template's estimate for the case, split into touch time (the prior median) and turnover."""

    touch_minutes: int
    turnover_minutes: int

    @property
    def total_minutes(self) -> int:
        """What the template books: procedures.estimates.estimate(...).total_minutes."""
        return self.touch_minutes + self.turnover_minutes


@dataclass(frozen=True)
class PastCase:
    """One case that went to theatre, as the estimator reads it."""

    case_id: int
    surgeon_id: int
    procedure: str
    levels: int
    anaesthesia: str
    # Anaesthesia start (or into theatre) to out of theatre; None when they were not recorded.
    touch_minutes: float | None
    # The template's touch estimate for this case (its estimate less turnover) from the version
    # it was booked on: the ratio touch ÷ template is what the estimator learns.
    template_minutes: int
    abandoned: bool  # cancelled after WHO sign in
    at: dt.datetime  # when it happened (the touch time's start)

    @property
    def key(self) -> CaseKey:
        return CaseKey(self.surgeon_id, self.procedure, self.levels, self.anaesthesia)


class ExclusionReason(StrEnum):
    ABANDONED = "abandoned_after_sign_in"
    NOT_RECORDED = "touch_time_not_recorded"
    NOT_POSITIVE = "touch_time_not_positive"
    TOO_LONG = "implausibly_long"
    TOO_SHORT = "implausibly_short"


@dataclass(frozen=True)
class Excluded:
    """A past case left out of the estimate, and why."""

    case: PastCase
    reason: ExclusionReason
    detail: str


class Level(StrEnum):
    """The groups of the fallback, most specific first."""

    SURGEON_PROCEDURE_LEVELS_ANAESTHESIA = "surgeon_procedure_levels_anaesthesia"
    SURGEON_PROCEDURE_LEVELS = "surgeon_procedure_levels"
    SURGEON_PROCEDURE = "surgeon_procedure"
    PROCEDURE_LEVELS_ANAESTHESIA = "procedure_levels_anaesthesia"
    PROCEDURE_LEVELS = "procedure_levels"
    TEMPLATE = "template"


FALLBACK: tuple[Level, ...] = tuple(Level)
# The levels learned from history; below them is the template alone.
GROUP_LEVELS: tuple[Level, ...] = FALLBACK[:-1]
# Levels whose groups pool every surgeon: the case is one surgeon's, not the unit's average.
UNIT_LEVELS = frozenset({Level.PROCEDURE_LEVELS_ANAESTHESIA, Level.PROCEDURE_LEVELS})

GroupKey = tuple[str | int, ...]


def group_key(level: Level, key: CaseKey) -> GroupKey:
    """The group of `key` at `level`. The template level has no history of its own: its group is
    the case's most specific one, whose median the template stands in for."""
    if level is Level.SURGEON_PROCEDURE_LEVELS:
        return (level.value, key.surgeon_id, key.procedure, key.levels)
    if level is Level.SURGEON_PROCEDURE:
        return (level.value, key.surgeon_id, key.procedure)
    if level is Level.PROCEDURE_LEVELS_ANAESTHESIA:
        return (level.value, key.procedure, key.levels, key.anaesthesia)
    if level is Level.PROCEDURE_LEVELS:
        return (level.value, key.procedure, key.levels)
    finest = Level.SURGEON_PROCEDURE_LEVELS_ANAESTHESIA
    return (finest.value, key.surgeon_id, key.procedure, key.levels, key.anaesthesia)


@dataclass
class _Sums:
    """Running n, Σy, Σy² of log-ratios: all a normal-inverse-gamma update needs."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, y: float) -> None:
        self.n += 1
        self.total += y
        self.squares += y * y

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def sum_of_squares(self) -> float:
        """Σ(y - ȳ)², never negative from rounding."""
        return max(0.0, self.squares - self.total * self.total / self.n) if self.n else 0.0


@dataclass(frozen=True)
class GroupStats:
    """One group's kept cases, summed."""

    n: int
    mean: float  # ȳ, the mean log-ratio to the template
    sum_of_squares: float  # Σ(y - ȳ)²


@dataclass(frozen=True)
class Spread:
    """The prior spreads of one procedure's groups at one level, on the log scale."""

    case_variance: float  # s0²: one case around its group's median
    template_variance: float  # τ²: a group's median around the template


@dataclass(frozen=True)
class _Posterior:
    """What `predict` works out for a key from the history, whatever the template's minutes."""

    level: Level
    n: int
    growth: float  # e^centre: touch p50 ÷ the template's touch minutes
    p80_factor: float  # touch p80 ÷ touch p50
    shared_fraction: float
    group: GroupKey
    excluded: tuple[Excluded, ...]


@dataclass(frozen=True)
class DurationHistory:
    """The screened history, summed per group: built once by `learn`, read by every `predict`."""

    settings: DurationSettings
    groups: Mapping[GroupKey, GroupStats]
    spreads: Mapping[tuple[str, Level], Spread]  # by procedure and level
    excluded: tuple[Excluded, ...]
    excluded_by_group: Mapping[GroupKey, tuple[Excluded, ...]] = field(default_factory=dict)
    # Each key's posterior, worked out on its first `predict`: the history never changes, and a
    # week's list predicts 200 cases of a few dozen keys (a key's cases differ only in their
    # template minutes, which scale the result), so the algebra runs once per key.
    _posteriors: dict[CaseKey, _Posterior] = field(default_factory=dict, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Prediction:
    """A case's predicted minutes: touch time quantiles, and whole-minute slots with turnover."""

    touch_p50: float
    touch_p80: float
    n: int  # kept past cases the prediction learned from (0: the template alone)
    level: Level
    key: CaseKey
    template: TemplateEstimate
    # The group whose median the prediction estimates (at the template level: the most specific).
    group: GroupKey
    # The share of the predictive log-variance that is not this case's own variation but
    # uncertainty about the surgeon's median: the same for all their cases of the group.
    shared_fraction: float
    # Past cases of that group left out, with their reasons.
    excluded: tuple[Excluded, ...] = ()

    @property
    def p50(self) -> int:
        """Booked minutes: touch p50 rounded up to the minute, plus turnover. With n = 0 this is
        the template's estimate exactly."""
        return _whole_minutes(self.touch_p50) + self.template.turnover_minutes

    @property
    def p80(self) -> int:
        """Minutes that 80% of such cases fit in, with turnover, rounded up (≥ p50)."""
        return _whole_minutes(self.touch_p80) + self.template.turnover_minutes

    @property
    def log_sigma(self) -> float:
        """The scale of a lognormal with the same p50 and p80, for the session forecast."""
        return math.log(self.touch_p80 / self.touch_p50) / Z80

    @property
    def shared_log_variance(self) -> float:
        """The part of log_sigma² that is uncertainty about the surgeon's median rather than one
        case's own variation: σ²/κn of σ²(1 + 1/κn), plus the surgeons' spread when the group is
        the unit's. The surgeon's cases of the group share it (if they are slower than estimated,
        all their cases on the list are), so a session's forecast must not let it average out."""
        return self.log_sigma**2 * self.shared_fraction

    @property
    def shared_by(self) -> GroupKey:
        """Whose cases share that uncertainty: the group's, and in a unit-wide group only this surgeon's."""
        return (*self.group, self.key.surgeon_id) if self.level in UNIT_LEVELS else self.group

    def as_dict(self) -> dict[str, int]:
        """The case's read-only `predicted_minutes`."""
        return {"p50": self.p50, "p80": self.p80, "n": self.n}


def _whole_minutes(minutes: float) -> int:
    return math.ceil(minutes - _WHOLE_MINUTE_TOLERANCE)


def slot_minutes(*, prediction: Prediction, planned_minutes: int | None = None) -> int:
    """The minutes booking, availability and fill occupy: a person's planned minutes if set, else p50."""
    return planned_minutes if planned_minutes is not None else prediction.p50


# --- Screening ------------------------------------------------------------------------------------


def _reference_ratios(rows: Iterable[PastCase]) -> dict[str, float]:
    """Per procedure, the median of touch ÷ template over cases that were operated and recorded.

    The reference for a case is its template times this ratio: robust (a median), and it follows
    a template that is wrong for everyone rather than flagging a whole unit's honest times.
    """
    ratios: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if not row.abandoned and row.touch_minutes is not None and row.touch_minutes > 0 and row.template_minutes > 0:
            ratios[row.procedure].append(row.touch_minutes / row.template_minutes)
    return {procedure: statistics.median(values) for procedure, values in ratios.items()}


def _exclusion(row: PastCase, *, reference_ratio: float, factor: float) -> Excluded | None:
    if row.abandoned:
        return Excluded(row, ExclusionReason.ABANDONED, "Abandoned after sign in: the operation was not done.")
    if row.touch_minutes is None:
        return Excluded(row, ExclusionReason.NOT_RECORDED, "The theatre times that give touch time were not recorded.")
    if row.touch_minutes <= 0 or row.template_minutes <= 0:
        return Excluded(
            row,
            ExclusionReason.NOT_POSITIVE,
            f"Touch time {row.touch_minutes:g} minutes against a template of {row.template_minutes}: "
            "a ratio needs both above zero.",
        )
    reference = row.template_minutes * reference_ratio
    if row.touch_minutes > factor * reference:
        return Excluded(
            row,
            ExclusionReason.TOO_LONG,
            f"{row.touch_minutes:g} minutes is more than {factor:g}× the reference median of {reference:.0f}: "
            "taken as a recording error.",
        )
    if row.touch_minutes < reference / factor:
        return Excluded(
            row,
            ExclusionReason.TOO_SHORT,
            f"{row.touch_minutes:g} minutes is less than 1/{factor:g} of the reference median of {reference:.0f}: "
            "taken as a recording error.",
        )
    return None


def _screened(
    rows: Iterable[PastCase], settings: DurationSettings
) -> tuple[list[tuple[PastCase, float]], list[Excluded]]:
    """The kept cases with their log-ratio y = ln(touch ÷ template), and the rest with reasons."""
    rows = list(rows)
    reference = _reference_ratios(rows)
    kept: list[tuple[PastCase, float]] = []
    excluded: list[Excluded] = []
    for row in rows:
        left_out = _exclusion(row, reference_ratio=reference.get(row.procedure, 1.0), factor=settings.outlier_factor)
        if left_out is not None:
            excluded.append(left_out)
        elif row.touch_minutes is not None:  # always, once screened
            kept.append((row, math.log(row.touch_minutes / row.template_minutes)))
    return kept, excluded


def screen(
    rows: Iterable[PastCase], *, settings: DurationSettings = DEFAULT_SETTINGS
) -> tuple[list[PastCase], list[Excluded]]:
    """The cases the estimator may learn from, and every other case with its reason."""
    kept, excluded = _screened(rows, settings)
    return [row for row, _ in kept], excluded


# --- Learning -------------------------------------------------------------------------------------


def _log_variance(cv: float) -> float:
    """σ² of a lognormal with coefficient of variation `cv`."""
    return math.log1p(cv * cv)


def _default_case_variance(unit_wide: bool, settings: DurationSettings) -> float:
    """One case around its group's median, before any history: its own spread, and in a unit-wide
    group also the spread of surgeons' medians (which the template's error stands in for)."""
    own = _log_variance(settings.template_cv)
    return own + _log_variance(settings.template_error_cv) if unit_wide else own


def _spread(groups: Iterable[_Sums], *, unit_wide: bool, settings: DurationSettings) -> Spread:
    """The prior spreads of one procedure's groups at one level, each the template's default
    blended with what the groups show (the default worth `prior_weight` cases, or groups).

    - s0²: the within-group variance pooled over the groups (N - G degrees of freedom). At the
      most specific level that is one case's own variation; at a coarser one it also holds what
      the ratio to the template does not explain (levels, anaesthesia, and at the unit-wide
      levels the spread between surgeons).
    - τ²: a group mean's square around the template less its sampling variance s0²/n (method of
      moments: E[ȳ²] = τ² + σ²/n when the prior centre is the template).
    """
    groups = [group for group in groups if group.n]
    weight = settings.prior_weight
    within = sum(group.sum_of_squares for group in groups)
    df = sum(group.n for group in groups) - len(groups)
    case_variance = (weight * _default_case_variance(unit_wide, settings) + within) / (weight + df)
    excess = sum(group.mean * group.mean - case_variance / group.n for group in groups)
    template_variance = (weight * _log_variance(settings.template_error_cv) + excess) / (weight + len(groups))
    # A unit whose surgeons all match the template would drive τ² to 0 and the prior to a
    # certainty no history could move; keep it at least a 1% spread.
    return Spread(case_variance=case_variance, template_variance=max(template_variance, 1e-4))


def learn(rows: Iterable[PastCase], *, settings: DurationSettings = DEFAULT_SETTINGS) -> DurationHistory:
    """Screen the history and sum it per group of every fallback level; O(cases)."""
    kept, excluded = _screened(rows, settings)
    members: dict[tuple[str, Level], dict[GroupKey, _Sums]] = defaultdict(lambda: defaultdict(_Sums))
    for row, y in kept:
        key = row.key
        for level in GROUP_LEVELS:
            members[row.procedure, level][group_key(level, key)].add(y)
    excluded.sort(key=lambda e: (e.case.at, e.case.case_id))
    left_out: dict[GroupKey, list[Excluded]] = defaultdict(list)
    for item in excluded:
        key = item.case.key
        for level in GROUP_LEVELS:
            left_out[group_key(level, key)].append(item)
    return DurationHistory(
        settings=settings,
        groups={
            gk: GroupStats(group.n, group.mean, group.sum_of_squares)
            for groups in members.values()
            for gk, group in groups.items()
        },
        spreads={
            at: _spread(groups.values(), unit_wide=at[1] in UNIT_LEVELS, settings=settings)
            for at, groups in members.items()
        },
        excluded=tuple(excluded),
        excluded_by_group={gk: tuple(items) for gk, items in left_out.items()},
    )


# --- Predicting -----------------------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """Student t's p-quantile: the Cornish-Fisher expansion about the normal (Abramowitz & Stegun
    26.7.5), within 0.1% of the exact value from 4 degrees of freedom up."""
    z = statistics.NormalDist().inv_cdf(p)
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _chosen_group(history: DurationHistory, key: CaseKey) -> tuple[Level, GroupStats | None]:
    for level in GROUP_LEVELS:
        stats = history.groups.get(group_key(level, key))
        if stats is not None and stats.n >= history.settings.min_n:
            return level, stats
    return Level.TEMPLATE, None


def _spread_at(history: DurationHistory, procedure: str, level: Level) -> Spread:
    """The level's spreads for the procedure; the template level takes the most specific one's,
    as it stands in for an unknown group of that level; no history, the template's defaults."""
    at = GROUP_LEVELS[0] if level is Level.TEMPLATE else level
    spread = history.spreads.get((procedure, at))
    if spread is None:
        settings = history.settings
        return Spread(_default_case_variance(at in UNIT_LEVELS, settings), _log_variance(settings.template_error_cv))
    return spread


def _posterior(history: DurationHistory, key: CaseKey) -> _Posterior:
    settings = history.settings
    level, stats = _chosen_group(history, key)
    n, mean, squares = (stats.n, stats.mean, stats.sum_of_squares) if stats else (0, 0.0, 0.0)
    spread = _spread_at(history, key.procedure, level)
    case_variance = spread.case_variance
    # A unit-wide group predicts one surgeon's case from everyone's: of its case spread, the part
    # beyond one surgeon's own is how far this surgeon may be from the unit, unknown and the same
    # for all their cases.
    own = _spread_at(history, key.procedure, GROUP_LEVELS[0]).case_variance
    surgeons = max(case_variance - own, 0.0) if level in UNIT_LEVELS else 0.0

    # Normal-inverse-gamma update (BDA3 §3.3) with prior centre 0, the template: μ | σ² ~ N(0, σ²/κ0),
    # so the template's median is uncertain by τ², and σ² ~ scaled-Inv-χ²(ν0, s0²).
    kappa0 = case_variance / spread.template_variance
    nu0 = settings.prior_weight
    kappa = kappa0 + n
    centre = n * mean / kappa
    nu = nu0 + n
    variance = (nu0 * case_variance + squares + kappa0 * n * mean * mean / kappa) / nu
    predictive = variance * (1 + 1 / kappa)
    group = group_key(level, key)
    return _Posterior(
        level=level,
        n=n,
        # exp(0.0) is exactly 1.0, so with n = 0 the p50 is the template's minutes to the bit.
        growth=math.exp(centre),
        p80_factor=math.exp(t_quantile(0.8, nu) * math.sqrt(predictive)),
        # σn² splits into the case's own variation and the surgeons' spread as their priors do.
        shared_fraction=(variance / kappa + variance * surgeons / case_variance) / predictive,
        group=group,
        excluded=history.excluded_by_group.get(group, ()),
    )


def predict(*, history: DurationHistory, key: CaseKey, template: TemplateEstimate) -> Prediction:
    """p50 and p80 of the case's touch time from the most specific group with enough history; O(1)."""
    posterior = history._posteriors.get(key)
    if posterior is None:
        posterior = history._posteriors[key] = _posterior(history, key)
    touch_p50 = template.touch_minutes * posterior.growth
    return Prediction(
        touch_p50=touch_p50,
        touch_p80=touch_p50 * posterior.p80_factor,
        n=posterior.n,
        level=posterior.level,
        key=key,
        template=template,
        group=posterior.group,
        shared_fraction=posterior.shared_fraction,
        excluded=posterior.excluded,
    )


def predict_case(
    *,
    rows: Iterable[PastCase],
    key: CaseKey,
    template: TemplateEstimate,
    settings: DurationSettings = DEFAULT_SETTINGS,
) -> Prediction:
    """`learn` then `predict` for one case (the durations endpoint, tests); loops should learn once."""
    return predict(history=learn(rows, settings=settings), key=key, template=template)
