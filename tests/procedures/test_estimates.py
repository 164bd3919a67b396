"""The duration estimate: pure arithmetic over the pinned version, with a readable breakdown."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import InvalidInput
from procedures.estimates import VERTEBRAE, AnaesthesiaOption, StepSpec, estimate, estimate_rules_of, validate_levels
from tests.builders.versions import T5_L5, estimate_rules, version

pytestmark = pytest.mark.pure


def test_estimate_adds_fixed_per_level_anaesthesia_and_turnover() -> None:
    v = estimate_rules()  # fixed 5+5, per level 10+8+6, GA 20+10, turnover 15
    result = estimate(rules=v, levels=["L1", "T12"], anaesthesia="general")

    assert result.total_minutes == 5 + 5 + (10 + 8 + 6) * 2 + 20 + 10 + 15
    assert sum(line.minutes for line in result.lines) == result.total_minutes
    labels = [line.label for line in result.lines]
    assert labels == [
        "Sign in",
        "General anaesthesia: induction",
        "Trocar access × 2 levels",
        "Balloon inflation × 2 levels",
        "Cement fill × 2 levels",
        "Closure",
        "General anaesthesia: recovery",
        "Turnover",
    ]
    assert [line.kind for line in result.lines] == ["step", "anaesthesia"] + ["step"] * 4 + ["anaesthesia", "turnover"]


def test_estimate_uses_the_chosen_anaesthesia_option_minutes() -> None:
    v = estimate_rules()
    ga = estimate(rules=v, levels=["L1"], anaesthesia="general")
    la = estimate(rules=v, levels=["L1"], anaesthesia="local_sedation")
    assert ga.total_minutes - la.total_minutes == (20 + 10) - (10 + 5)


def test_estimate_as_dict_matches_the_shared_shape() -> None:
    data = estimate(rules=estimate_rules(), levels=["L1"], anaesthesia="general").as_dict()
    assert set(data) == {"total_minutes", "lines"}
    assert set(data["lines"][0]) == {"kind", "label", "minutes"}
    assert data["lines"][2] == {"kind": "step", "label": "Trocar access × 1 level", "minutes": 10}


def test_an_anaesthesia_step_with_its_own_minutes_counts_them_as_well() -> None:
    v = estimate_rules(steps=[("anaesthesia", "Block", 4, False), ("cement_injection", "Cement", 10, True)])
    result = estimate(rules=v, levels=["L1"], anaesthesia="general")
    assert result.total_minutes == 20 + 4 + 10 + 10 + 15
    assert [line.label for line in result.lines][:2] == ["General anaesthesia: induction", "Block"]


def test_without_an_anaesthesia_step_induction_comes_first() -> None:
    v = estimate_rules(steps=[("cement_injection", "Cement", 10, True)])
    result = estimate(rules=v, levels=["L1"], anaesthesia="local_sedation")
    assert result.lines[0].label == "Local with sedation: induction"
    assert result.total_minutes == 10 + 10 + 5 + 15


def test_validate_levels_orders_cranial_to_caudal() -> None:
    assert validate_levels(rules=estimate_rules(), levels=["L2", "T11", "L1"]) == ["T11", "L1", "L2"]


@pytest.mark.parametrize(
    ("levels", "fragment"),
    [
        (["L9"], "Unknown vertebra code(s): L9"),
        (["X1"], "Unknown vertebra code(s): X1"),
        (["T12", "garbage"], "garbage"),
        ([""], "Unknown vertebra code"),
        ([12], "Unknown vertebra code(s): 12"),
        ([], "At least one"),
        ("L1", "must be a list"),
        (["L1", "L1"], "repeated: L1"),
        (["C5"], "C5 outside the levels this procedure allows (T5–L5)"),
        (["S1"], "S1 outside"),
        (["T10", "T11", "T12", "L1"], "at most 3"),
    ],
)
def test_validate_levels_rejects_bad_levels_with_a_clear_message(levels: object, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_levels(rules=estimate_rules(), levels=levels)  # type: ignore[arg-type]
    assert exc.value.field == "levels"
    assert fragment in exc.value.detail


def test_contiguous_only_version_refuses_gaps() -> None:
    v = estimate_rules(levels_contiguous=True)
    assert validate_levels(rules=v, levels=["L1", "T12"]) == ["T12", "L1"]
    with pytest.raises(InvalidInput, match="adjacent levels only"):
        validate_levels(rules=v, levels=["T10", "L1"])


def test_non_adjacent_levels_are_fine_by_default() -> None:
    assert validate_levels(rules=estimate_rules(), levels=["T8", "L2"]) == ["T8", "L2"]


def test_estimate_rejects_an_anaesthesia_option_the_version_does_not_offer() -> None:
    v = estimate_rules(anaesthesia_options=[{"code": "general", "induction_minutes": 20, "recovery_minutes": 10}])
    with pytest.raises(InvalidInput) as exc:
        estimate(rules=v, levels=["L1"], anaesthesia="local_sedation")
    assert exc.value.field == "anaesthesia"
    assert "offered: general" in exc.value.detail


def test_estimate_rejects_bad_levels_before_anything_else() -> None:
    with pytest.raises(InvalidInput) as exc:
        estimate(rules=estimate_rules(), levels=["L9"], anaesthesia="spinal")
    assert exc.value.field == "levels"


def test_vertebrae_run_c1_to_s1() -> None:
    assert len(VERTEBRAE) == 7 + 12 + 5 + 1
    assert VERTEBRAE[0] == "C1" and VERTEBRAE[-1] == "S1" and VERTEBRAE.index("T12") + 1 == VERTEBRAE.index("L1")


def test_the_rules_are_read_from_the_version_with_steps_in_theatre_order() -> None:
    v = version(
        steps=[("sign_in", "Sign in", 5, False), ("cement_injection", "Cement", 10, True)],
        anaesthesia_options=[{"code": "local_sedation", "induction_minutes": 10, "recovery_minutes": 5}],
        turnover_minutes=20,
    )
    v._prefetched_objects_cache["steps"].reverse()  # type: ignore[attr-defined]
    rules = estimate_rules_of(v)
    assert rules.steps == (StepSpec("sign_in", "Sign in", 5, False), StepSpec("cement_injection", "Cement", 10, True))
    # An option without a label is named after its code, as the breakdown shows it.
    assert rules.anaesthesia_options == (AnaesthesiaOption("local_sedation", "Local sedation", 10, 5),)
    assert (rules.allowed_levels, rules.max_levels, rules.levels_contiguous) == (tuple(T5_L5), 3, False)
    assert rules.turnover_minutes == 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.turnover_minutes = 0  # type: ignore[misc]
