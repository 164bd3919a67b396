"""How long a case takes, from its pinned template version: a pure function with its breakdown.

minutes = fixed steps + per-level steps × levels + the chosen anaesthesia option's induction
and recovery + the version's turnover. Every number comes from the version (a clinician edits
them by publishing a new version); this module only adds them up.

No database access: the functions take `EstimateRules`, a frozen copy of what they read from a
version, built once by `estimate_rules_of(version)` (steps prefetched). Booking, availability and
the case plan can then call them in loops without extra queries, and the tests need no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput
from procedures.models import StepKind

if TYPE_CHECKING:
    from procedures.models import ProcedureVersion

# Every vertebra a level code may name, cranial → caudal. Which of them a procedure may treat
# is the version's `allowed_levels` (seeded T5–L5: what fluoroscopy shows reliably).
VERTEBRAE: tuple[str, ...] = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
    "S1",
)
_POSITION = {code: i for i, code in enumerate(VERTEBRAE)}


def vertebra_position(code: str) -> int:
    """0 for C1 … 24 for S1; KeyError for anything that is not a vertebra code."""
    return _POSITION[code]


@dataclass(frozen=True)
class StepSpec:
    """One step of the version, as the estimate reads it."""

    kind: str  # a StepKind
    name: str
    minutes: int
    per_level: bool


@dataclass(frozen=True)
class AnaesthesiaOption:
    """One anaesthesia option the version offers, with its own induction and recovery time."""

    code: str
    label: str
    induction_minutes: int
    recovery_minutes: int


@dataclass(frozen=True)
class EstimateRules:
    """What the estimate and the level check read from a version: its levels, options, steps, turnover."""

    allowed_levels: tuple[str, ...]
    max_levels: int
    levels_contiguous: bool
    anaesthesia_options: tuple[AnaesthesiaOption, ...]
    steps: tuple[StepSpec, ...]  # in theatre order
    turnover_minutes: int


def _option_of(option: dict[str, Any]) -> AnaesthesiaOption:
    code = str(option.get("code", ""))
    return AnaesthesiaOption(
        code=code,
        label=str(option.get("label") or code.replace("_", " ").capitalize()),
        induction_minutes=int(option.get("induction_minutes", 0)),
        recovery_minutes=int(option.get("recovery_minutes", 0)),
    )


def anaesthesia_options_of(version: ProcedureVersion) -> tuple[AnaesthesiaOption, ...]:
    """The anaesthesia options a version offers, in its order (no query): what the estimate counts
    and what the case plan shows."""
    return tuple(_option_of(option) for option in version.anaesthesia_options)


def estimate_rules_of(version: ProcedureVersion) -> EstimateRules:
    """The estimate's view of a version. No query when the caller prefetched "steps"."""
    return EstimateRules(
        allowed_levels=tuple(version.allowed_levels),
        max_levels=version.max_levels,
        levels_contiguous=version.levels_contiguous,
        anaesthesia_options=anaesthesia_options_of(version),
        steps=tuple(
            StepSpec(kind=step.kind, name=step.name, minutes=step.minutes, per_level=step.per_level)
            for step in sorted(version.steps.all(), key=lambda step: step.order)
        ),
        turnover_minutes=version.turnover_minutes,
    )


@dataclass(frozen=True)
class EstimateLine:
    """One row of the breakdown shown to the user."""

    kind: str  # "step" | "anaesthesia" | "turnover"
    label: str
    minutes: int


@dataclass(frozen=True)
class Estimate:
    total_minutes: int
    lines: tuple[EstimateLine, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_minutes": self.total_minutes,
            "lines": [{"kind": line.kind, "label": line.label, "minutes": line.minutes} for line in self.lines],
        }


def _level_range(codes: Sequence[str]) -> str:
    return f"{codes[0]}–{codes[-1]}" if codes else "none"


def validate_levels(*, rules: EstimateRules, levels: Sequence[str]) -> list[str]:
    """The levels ordered cranial → caudal, or InvalidInput("levels", …) saying what is wrong."""
    if isinstance(levels, str) or not isinstance(levels, Sequence):
        raise InvalidInput("levels", 'Levels must be a list of vertebra codes such as ["T12", "L1"].')
    if not levels:
        raise InvalidInput("levels", "At least one vertebral level is required.")
    unknown = [str(code) for code in levels if not isinstance(code, str) or code not in _POSITION]
    if unknown:
        raise InvalidInput(
            "levels",
            f"Unknown vertebra code(s): {', '.join(unknown)}. Use C1–C7, T1–T12, L1–L5 or S1.",
        )
    duplicates = sorted({code for code in levels if levels.count(code) > 1}, key=vertebra_position)
    if duplicates:
        raise InvalidInput("levels", f"Each level may be listed once; repeated: {', '.join(duplicates)}.")
    allowed = set(rules.allowed_levels)
    outside = [code for code in levels if code not in allowed]
    if outside:
        raise InvalidInput(
            "levels",
            f"{', '.join(outside)} outside the levels this procedure allows ({_level_range(rules.allowed_levels)}).",
        )
    if len(levels) > rules.max_levels:
        raise InvalidInput(
            "levels",
            f"{len(levels)} levels requested; this procedure allows at most {rules.max_levels} in one case.",
        )
    ordered = sorted(levels, key=vertebra_position)
    if rules.levels_contiguous:
        positions = [vertebra_position(code) for code in ordered]
        if positions[-1] - positions[0] != len(positions) - 1:
            raise InvalidInput("levels", f"This procedure treats adjacent levels only; {', '.join(ordered)} has gaps.")
    return ordered


def anaesthesia_option(*, options: Sequence[AnaesthesiaOption], anaesthesia: str) -> AnaesthesiaOption:
    """The version's option for `anaesthesia`, or InvalidInput("anaesthesia", …) if it is not offered."""
    for option in options:
        if option.code == anaesthesia:
            return option
    offered = ", ".join(option.code for option in options) or "none"
    raise InvalidInput("anaesthesia", f"{anaesthesia!r} is not offered for this procedure (offered: {offered}).")


def estimate(*, rules: EstimateRules, levels: Sequence[str], anaesthesia: str) -> Estimate:
    """Minutes for a case and the breakdown behind them; never a negative or partial sum."""
    ordered = validate_levels(rules=rules, levels=levels)
    option = anaesthesia_option(options=rules.anaesthesia_options, anaesthesia=anaesthesia)
    count = len(ordered)
    induction = EstimateLine("anaesthesia", f"{option.label}: induction", option.induction_minutes)
    lines: list[EstimateLine] = []
    placed_induction = False
    for step in rules.steps:
        if step.kind == StepKind.ANAESTHESIA and not placed_induction:
            # The induction time belongs to the chosen option (GA and local with sedation differ
            # here and in recovery, nowhere else); the step row fixes where it shows. The seeded
            # step has 0 minutes of its own, so nothing is counted twice.
            lines.append(induction)
            placed_induction = True
            if step.minutes == 0:
                continue
        if step.per_level:
            unit = "level" if count == 1 else "levels"
            lines.append(EstimateLine("step", f"{step.name} × {count} {unit}", step.minutes * count))
        else:
            lines.append(EstimateLine("step", step.name, step.minutes))
    if not placed_induction:
        lines.insert(0, induction)
    lines.append(EstimateLine("anaesthesia", f"{option.label}: recovery", option.recovery_minutes))
    lines.append(EstimateLine("turnover", "Turnover", rules.turnover_minutes))
    return Estimate(total_minutes=sum(line.minutes for line in lines), lines=tuple(lines))
