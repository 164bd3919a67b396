"""The seeded kyphoplasty and vertebroplasty templates (data migration 0003) hold every element the
seed leaflet and NICE TA279 name, pass their own version rules, and block the leaflet's three
"cannot be performed" situations."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps

from procedures.estimates import estimate, estimate_rules_of
from procedures.models import ProcedureVersion
from procedures.screening import screen, screening_rules_of
from procedures.versions import STEP_FIELDS, VERSION_FIELDS, validate_version, versions_with_steps
from tests.builders.answers import eligible_answers

pytestmark = pytest.mark.django_db

SEED = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # A transactional test elsewhere may have flushed the migration's rows; the seed is idempotent.
    SEED.seed(apps, None)


def seeded(slug: str) -> ProcedureVersion:
    return versions_with_steps().get(template__slug=slug, number=1)


def kinds(version: ProcedureVersion) -> list[str]:
    return [step.kind for step in version.steps.all()]


def per_level(version: ProcedureVersion) -> set[str]:
    return {step.kind for step in version.steps.all() if step.per_level}


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_seeded_version_obeys_its_own_rules(slug: str) -> None:
    version = seeded(slug)
    data = {name: getattr(version, name) for name in VERSION_FIELDS}
    data["steps"] = [{name: getattr(step, name) for name in STEP_FIELDS} for step in version.steps.all()]
    validate_version(data)


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
@pytest.mark.parametrize(
    ("situation", "answers", "blocker"),
    [
        ("stable painless fracture", {"fracture_painful": False}, "stable_painless_fracture"),
        ("healed fracture on imaging", {"fracture_unhealed_on_imaging": False}, "stable_painless_fracture"),
        ("fragment or tumour in the canal", {"fragment_or_tumour_in_canal": True}, "fragment_or_tumour_in_canal"),
        ("bone infection", {"active_infection": True}, "active_infection"),
        ("bleeding disorder", {"bleeding_disorder": True}, "bleeding_disorder"),
        ("INR above the limit", {"inr": 1.6}, "bleeding_disorder"),
        ("platelets below the limit", {"platelets": 49}, "bleeding_disorder"),
        ("cement allergy", {"cement_allergy": True}, "cement_allergy"),
        ("no conservative care", {"conservative_care_tried": False}, "conservative_care_not_tried"),
    ],
)
def test_seeded_rules_block_the_leaflet_situations(
    slug: str, situation: str, answers: dict[str, Any], blocker: str
) -> None:
    outcome = screen(rules=screening_rules_of(seeded(slug)), answers=eligible_answers(**answers))
    assert outcome.result == "ineligible", situation
    assert [f.code for f in outcome.blockers] == [blocker]


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_seeded_rules_pass_a_clean_patient_and_hold_anticoagulants(slug: str) -> None:
    outcome = screen(
        rules=screening_rules_of(seeded(slug)),
        answers=eligible_answers(anticoagulants=["warfarin", "apixaban", "clopidogrel"], mdt_discussed=True),
    )
    assert outcome.result == "eligible"
    assert [(h.drug, h.stop_days_before) for h in outcome.holds] == [
        ("warfarin", 5),
        ("apixaban", 2),
        ("clopidogrel", 5),
    ]


def test_seeded_kyphoplasty_holds_every_listed_element() -> None:
    v = seeded("kyphoplasty")
    assert v.template.name == "Balloon kyphoplasty"
    assert v.default_anaesthesia == "general"
    assert {o["code"] for o in v.anaesthesia_options} == {"general", "local_sedation"}
    assert v.positioning == "prone"
    assert v.imaging["intra_op"] == ["fluoroscopy"]
    assert "biplanar_fluoroscopy" in v.imaging["intra_op_options"]
    assert v.imaging["post_op"] == ["xray"]
    assert v.required_capabilities == ["fluoroscopy"]
    assert v.required_equipment == ["c_arm", "kyphoplasty_system"]
    assert v.allowed_levels[0] == "T5" and v.allowed_levels[-1] == "L5" and v.max_levels == 3
    assert kinds(v) == [
        "sign_in",
        "anaesthesia",
        "positioning",
        "level_confirmation",
        "time_out",
        "trocar_access",
        "drill",
        "balloon_inflation",
        "cavity_creation",
        "cement_mixing",
        "cement_injection",
        "cement_setting",
        "closure",
        "sign_out",
    ]
    assert per_level(v) == {"trocar_access", "drill", "balloon_inflation", "cavity_creation", "cement_injection"}
    assert "PMMA" in v.cement_product
    assert (v.cement_working_minutes, v.cement_setting_minutes) == (Decimal("8.5"), Decimal("11.0"))
    assert v.cement_ml_by_approach == {"unipedicular": 4.1, "bipedicular": 4.9}
    assert v.cement_ml_per_level == Decimal("4.9") and v.cement_max_ml_per_level == Decimal("7.0")
    assert v.recovery["walk_same_day"] is True
    assert (v.recovery["bed_rest_hours"], v.recovery["bed_rest_hours_max"]) == (1, 2)
    assert (v.recovery["discharge_hours"], v.recovery["discharge_hours_max"]) == (4, 5)
    assert "Avoid strenuous activity and heavy lifting for 6 weeks" in v.recovery["advice"]
    assert "rehabilitation" in v.recovery["rehabilitation"]
    assert [(f["code"], f["after_days"]) for f in v.follow_up] == [("review_2_weeks", 14), ("review_6_weeks", 42)]
    assert "Avoid strenuous activity and heavy lifting for 6 weeks" in v.follow_up[1]["advice"]


def test_seeded_vertebroplasty_holds_every_listed_element() -> None:
    v = seeded("vertebroplasty")
    assert {o["code"] for o in v.anaesthesia_options} == {"general", "local_sedation"}
    assert v.positioning == "prone"
    assert v.required_equipment == ["c_arm", "vertebroplasty_kit"]
    assert v.required_capabilities == ["fluoroscopy"]
    assert v.imaging["intra_op"] == ["fluoroscopy"] and v.imaging["post_op"] == ["xray", "ct"]
    steps = {step.kind: step for step in v.steps.all()}
    assert "1/2-inch" in steps["trocar_access"].name and "fluoroscopy" in steps["trocar_access"].name
    assert "under pressure" in steps["cement_injection"].name
    assert "before the cement hardens" in steps["needle_removal"].name
    assert kinds(v).index("needle_removal") < kinds(v).index("cement_setting")
    assert "X-ray or CT" in steps["imaging_check"].name
    assert "teri-strips" in steps["closure"].name
    info = " ".join(v.patient_information)
    for phrase in (
        "general or local anaesthesia",
        "prone",
        "1/2-inch",
        "fluoroscopy",
        "under pressure",
        "withdrawn before the cement hardens",
        "X-ray or CT",
        "steri-strips",
    ):
        assert phrase in info, phrase


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_seeded_consent_risks_sources_and_limits(slug: str) -> None:
    v = seeded(slug)
    codes = {r["code"] for r in v.risks}
    assert {
        "cement_leakage",
        "pulmonary_cement_embolism",
        "infection",
        "new_fractures",
        "nerve_injury",
        "bleeding",
    } <= codes
    assert all(r["frequency"] for r in v.risks)
    assert any("TA279" in src for src in v.sources) and any("leaflet" in src for src in v.sources)
    assert (v.inr_max, v.platelets_min) == (Decimal("1.5"), 50)
    assert v.anticoagulant_hold_days == {
        "warfarin": 5,
        "apixaban": 2,
        "rivaroxaban": 2,
        "edoxaban": 2,
        "dabigatran": 2,
        "clopidogrel": 5,
    }
    assert v.fasting == {"food_hours": 6, "clear_fluids_hours": 2}
    assert {r["code"] for r in v.contraindications if r["severity"] == "blocker"} >= {
        "stable_painless_fracture",
        "fragment_or_tumour_in_canal",
        "active_infection",
        "bleeding_disorder",
        "cement_allergy",
        "conservative_care_not_tried",
    }


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_seeded_ga_takes_at_least_as_long_as_local_with_sedation(slug: str) -> None:
    v = seeded(slug)
    for n in range(1, v.max_levels + 1):
        levels = v.allowed_levels[:n]
        ga = estimate(rules=estimate_rules_of(v), levels=levels, anaesthesia="general").total_minutes
        la = estimate(rules=estimate_rules_of(v), levels=levels, anaesthesia="local_sedation").total_minutes
        assert ga >= la


def test_seeded_estimates_are_in_the_researched_range() -> None:
    kp = estimate(rules=estimate_rules_of(seeded("kyphoplasty")), levels=["L1"], anaesthesia="general")
    vp = estimate(rules=estimate_rules_of(seeded("vertebroplasty")), levels=["L1"], anaesthesia="local_sedation")
    # Research: ~30 min per KP level; VP about an hour in total (before turnover).
    per_level_kp = sum(s.minutes for s in seeded("kyphoplasty").steps.all() if s.per_level)
    assert 15 <= per_level_kp <= 35
    assert 45 <= vp.total_minutes - 15 <= 90
    assert kp.total_minutes > 0
