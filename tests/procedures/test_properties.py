"""Hypothesis properties of the pure rules, over versions the publishing service would accept."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from procedures.estimates import VERTEBRAE, EstimateRules, estimate
from procedures.models import StepKind
from procedures.screening import QUESTIONS, ScreeningRules, screen
from procedures.versions import validate_version
from tests.builders.versions import estimate_rules, screening_rules

pytestmark = pytest.mark.pure

SEED = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")
KP = SEED.KYPHOPLASTY["version"]

minutes = st.integers(min_value=0, max_value=120)
step_kinds = st.sampled_from([k for k in StepKind.values if k != StepKind.ANAESTHESIA])


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, str, int, bool]]:
    fixed = draw(st.lists(st.tuples(step_kinds, minutes), max_size=6))
    # A valid version has at least one per-level step that takes time (versions._check_steps).
    per_level = draw(
        st.lists(st.tuples(step_kinds, minutes), min_size=1, max_size=5).filter(lambda s: any(m for _, m in s))
    )
    rows = [(kind, f"Fixed {i}", m, False) for i, (kind, m) in enumerate(fixed)]
    rows += [(kind, f"Per level {i}", m, True) for i, (kind, m) in enumerate(per_level)]
    ordered = draw(st.permutations(rows))
    if draw(st.booleans()):
        ordered.insert(draw(st.integers(0, len(ordered))), ("anaesthesia", "Induction", draw(minutes), False))
    return ordered


@st.composite
def options(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {"code": "general", "induction_minutes": draw(minutes), "recovery_minutes": draw(minutes)},
        {"code": "local_sedation", "induction_minutes": draw(minutes), "recovery_minutes": draw(minutes)},
    ]


@st.composite
def level_runs(draw: st.DrawFn, min_size: int = 1) -> list[str]:
    start = draw(st.integers(0, len(VERTEBRAE) - min_size))
    end = draw(st.integers(start + min_size - 1, min(len(VERTEBRAE) - 1, start + 12)))
    return list(VERTEBRAE[start : end + 1])


def build(
    step_rows: list[tuple[str, str, int, bool]], anaesthesia: list[dict[str, Any]], allowed: list[str], turnover: int
) -> tuple[dict[str, Any], EstimateRules]:
    """The full data the service would validate, and what the estimate reads from such a version."""
    fields = {k: v for k, v in KP.items() if k not in ("steps", "change_note")}
    fields.update(
        anaesthesia_options=anaesthesia,
        allowed_levels=allowed,
        max_levels=len(allowed),
        turnover_minutes=turnover,
    )
    data = {
        **fields,
        "steps": [{"kind": k, "name": n, "minutes": m, "per_level": p} for k, n, m, p in step_rows],
    }
    for name in ("cement_mixing_minutes", "cement_working_minutes", "cement_setting_minutes"):
        fields[name] = Decimal(fields[name])
    for name in ("cement_ml_per_level", "cement_max_ml_per_level", "inr_max"):
        fields[name] = Decimal(fields[name])
    return data, estimate_rules(steps=step_rows, **fields)


@settings(max_examples=200, deadline=None)
@given(steps(), options(), level_runs(min_size=2), minutes, st.data())
def test_estimates_grow_strictly_with_levels(
    step_rows: Any, anaesthesia: Any, allowed: list[str], turnover: int, data: st.DataObject
) -> None:
    _, v = build(step_rows, anaesthesia, allowed, turnover)
    chosen = data.draw(st.lists(st.sampled_from(allowed), min_size=2, unique=True))
    option = data.draw(st.sampled_from(["general", "local_sedation"]))
    totals = [estimate(rules=v, levels=chosen[:n], anaesthesia=option).total_minutes for n in range(1, len(chosen) + 1)]
    assert totals == sorted(set(totals)), totals  # strictly increasing


@settings(max_examples=200, deadline=None)
@given(steps(), options(), level_runs(), minutes, st.data())
def test_estimate_is_exactly_the_documented_formula(
    step_rows: Any, anaesthesia: Any, allowed: list[str], turnover: int, data: st.DataObject
) -> None:
    _, v = build(step_rows, anaesthesia, allowed, turnover)
    chosen = data.draw(st.lists(st.sampled_from(allowed), min_size=1, unique=True))
    option = data.draw(st.sampled_from(anaesthesia))
    result = estimate(rules=v, levels=chosen, anaesthesia=option["code"])
    fixed = sum(m for _, _, m, per in step_rows if not per)
    per_level = sum(m for _, _, m, per in step_rows if per)
    expected = fixed + per_level * len(chosen) + option["induction_minutes"] + option["recovery_minutes"] + turnover
    assert result.total_minutes == expected == sum(line.minutes for line in result.lines)


@settings(max_examples=300, deadline=None)
@given(steps(), options(), level_runs(), minutes, st.data())
def test_ga_never_shorter_than_local_sedation_in_any_version_the_service_accepts(
    step_rows: Any, anaesthesia: Any, allowed: list[str], turnover: int, data: st.DataObject
) -> None:
    """What the property really claims: the anaesthesia option changes only its own induction and
    recovery lines, so GA ≥ sedation for every level choice exactly when the version times it so,
    and publishing refuses any version that does not."""
    full, v = build(step_rows, anaesthesia, allowed, turnover)
    chosen = data.draw(st.lists(st.sampled_from(allowed), min_size=1, unique=True))
    ga = estimate(rules=v, levels=chosen, anaesthesia="general").total_minutes
    la = estimate(rules=v, levels=chosen, anaesthesia="local_sedation").total_minutes
    general, local = (o["induction_minutes"] + o["recovery_minutes"] for o in anaesthesia)
    assert ga - la == general - local  # independent of steps, levels and turnover
    try:
        validate_version(full)
    except InvalidInput as exc:
        assert exc.field == "anaesthesia_options" and general < local  # refused for exactly this reason
    else:
        assert ga >= la


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([SEED.KYPHOPLASTY, SEED.VERTEBROPLASTY]), st.data())
def test_seeded_ga_never_shorter_than_local_sedation(template: dict[str, Any], data: st.DataObject) -> None:
    raw = template["version"]
    v = estimate_rules(
        steps=[(k, n, m, p) for k, n, m, p, _ in raw["steps"]],
        anaesthesia_options=raw["anaesthesia_options"],
        allowed_levels=raw["allowed_levels"],
        max_levels=raw["max_levels"],
        turnover_minutes=raw["turnover_minutes"],
    )
    chosen = data.draw(
        st.lists(st.sampled_from(raw["allowed_levels"]), min_size=1, max_size=raw["max_levels"], unique=True)
    )
    ga = estimate(rules=v, levels=chosen, anaesthesia="general").total_minutes
    la = estimate(rules=v, levels=chosen, anaesthesia="local_sedation").total_minutes
    assert ga >= la


# --- Screening --------------------------------------------------------------------------------

drug_codes = st.sampled_from(
    ["warfarin", "apixaban", "rivaroxaban", "edoxaban", "dabigatran", "clopidogrel", "phenindione", "acenocoumarol"]
)
VALUES = {
    "bool": st.booleans(),
    "number": st.one_of(st.integers(0, 1000), st.floats(0, 10, allow_nan=False)),
    "drug_list": st.lists(drug_codes, max_size=3),
}


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in QUESTIONS:
        choice = draw(st.sampled_from(["value", "value", "value", "missing", "null"]))
        if choice == "value":
            answers[q.code] = draw(VALUES[q.type])
        elif choice == "null":
            answers[q.code] = None
    return answers


def any_blocker_answer(answers: dict[str, Any], v: ScreeningRules) -> bool:
    """Written out independently of the rule engine, from the seed leaflet and DESIGN §2."""
    a = answers.get
    return (
        a("fracture_painful") is False
        or a("fracture_unhealed_on_imaging") is False
        or a("fragment_or_tumour_in_canal") is True
        or a("active_infection") is True
        or a("bleeding_disorder") is True
        or (a("inr") is not None and Decimal(str(a("inr"))) > v.inr_max)
        or (a("platelets") is not None and Decimal(str(a("platelets"))) < v.platelets_min)
        or a("cement_allergy") is True
        or a("conservative_care_tried") is False
        or any(d not in v.anticoagulant_hold_days for d in (a("anticoagulants") or []))
    )


@settings(max_examples=500, deadline=None)
@given(
    answer_sets(),
    st.decimals(min_value=Decimal("1.0"), max_value=Decimal("3.0"), places=1),
    st.integers(min_value=0, max_value=200),
)
def test_screening_is_never_eligible_when_any_blocker_answer_is_true(
    answers: dict[str, Any], inr_max: Decimal, platelets_min: int
) -> None:
    v = screening_rules(
        contraindications=SEED.CONTRAINDICATIONS,
        inr_max=inr_max,
        platelets_min=platelets_min,
        anticoagulant_hold_days=SEED.ANTICOAGULANT_HOLD_DAYS,
    )
    outcome = screen(rules=v, answers=answers)
    if any_blocker_answer(answers, v):
        assert outcome.result == "ineligible" and outcome.blockers
    else:
        assert not outcome.blockers
        assert outcome.result == ("incomplete" if outcome.missing else "eligible")
    if outcome.result == "eligible":
        assert not outcome.missing and not outcome.blockers
