"""Procedure versions for tests: unsaved ones for the pure functions, saved ones for the rest.

Unsaved (no database): `version(...)` returns a ProcedureVersion whose steps sit in the prefetch
cache, which is exactly how a view or a service holds a version after `prefetch_related("steps")`.
`estimate_rules(...)` and `screening_rules(...)` pass it through the same loaders the services use
(`estimate_rules_of`, `screening_rules_of`) to get the pure functions' frozen input.

Saved: `kp_version(...)` is the kyphoplasty-like version of the clinic tests (plan, checklist,
permissions); `reminder_version()` carries the recovery and follow-up that reminders are sent for.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from procedures.estimates import EstimateRules, estimate_rules_of
from procedures.models import ProcedureStep, ProcedureVersion
from procedures.screening import ScreeningRules, screening_rules_of
from tests.factories import ProcedureTemplateFactory, ProcedureVersionFactory

Steps = list[tuple[str, str, int, bool]]  # (kind, name, minutes, per_level), in order

T5_L5 = ["T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]

RULES: list[dict[str, Any]] = [
    {
        "code": "stable_painless_fracture",
        "severity": "blocker",
        "message": "Stable, painless or healed fracture.",
        "any": [
            {"answer": "fracture_painful", "is": False},
            {"answer": "fracture_unhealed_on_imaging", "is": False},
        ],
    },
    {
        "code": "fragment_or_tumour_in_canal",
        "severity": "blocker",
        "message": "Fragment or tumour in the canal.",
        "any": [{"answer": "fragment_or_tumour_in_canal", "is": True}],
    },
    {
        "code": "active_infection",
        "severity": "blocker",
        "message": "Active infection.",
        "any": [{"answer": "active_infection", "is": True}],
    },
    {
        "code": "bleeding_disorder",
        "severity": "blocker",
        "message": "Bleeding risk.",
        "any": [
            {"answer": "bleeding_disorder", "is": True},
            {"answer": "inr", "above": "inr_max"},
            {"answer": "platelets", "below": "platelets_min"},
        ],
    },
    {
        "code": "cement_allergy",
        "severity": "blocker",
        "message": "Cement or contrast allergy.",
        "any": [{"answer": "cement_allergy", "is": True}],
    },
    {
        "code": "conservative_care_not_tried",
        "severity": "blocker",
        "message": "Conservative care not tried.",
        "any": [{"answer": "conservative_care_tried", "is": False}],
    },
    {
        "code": "anticoagulant_plan_needed",
        "severity": "blocker",
        "message": "Set a plan for this anticoagulant.",
        "any": [{"answer": "anticoagulants", "without_hold": True}],
    },
    {
        "code": "cannot_lie_prone",
        "severity": "warning",
        "message": "Cannot lie prone.",
        "any": [{"answer": "can_lie_prone", "is": False}],
    },
    {
        "code": "radicular_pain_dominant",
        "severity": "warning",
        "message": "Radicular pain dominant.",
        "any": [{"answer": "radicular_pain_dominant", "is": True}],
    },
]

# GA 20 + 10 minutes, local with sedation 10 + 5.
ANAESTHESIA_OPTIONS: list[dict[str, Any]] = [
    {"code": "general", "label": "General anaesthesia", "induction_minutes": 20, "recovery_minutes": 10},
    {"code": "local_sedation", "label": "Local with sedation", "induction_minutes": 10, "recovery_minutes": 5},
]

DEFAULT_STEPS: Steps = [
    ("sign_in", "Sign in", 5, False),
    ("anaesthesia", "Induction", 0, False),
    ("trocar_access", "Trocar access", 10, True),
    ("balloon_inflation", "Balloon inflation", 8, True),
    ("cement_injection", "Cement fill", 6, True),
    ("closure", "Closure", 5, False),
]

_next_pk = [10_000]


def version(*, steps: Steps | None = None, pk: int | None = None, **fields: Any) -> ProcedureVersion:
    """An unsaved version (RULES, ANAESTHESIA_OPTIONS, DEFAULT_STEPS unless `fields` say otherwise)."""
    values: dict[str, Any] = {
        "number": 1,
        "anaesthesia_options": copy.deepcopy(ANAESTHESIA_OPTIONS),
        "default_anaesthesia": "general",
        "allowed_levels": list(T5_L5),
        "max_levels": 3,
        "turnover_minutes": 15,
        "cement_mixing_minutes": Decimal("1.0"),
        "cement_working_minutes": Decimal("8.5"),
        "cement_setting_minutes": Decimal("11.0"),
        "cement_ml_per_level": Decimal("4.9"),
        "cement_max_ml_per_level": Decimal("7.0"),
        "contraindications": RULES,
        "inr_max": Decimal("1.5"),
        "platelets_min": 50,
        "anticoagulant_hold_days": {"warfarin": 5, "apixaban": 2, "rivaroxaban": 2, "clopidogrel": 5},
    }
    values.update(fields)
    if pk is None:
        _next_pk[0] += 1
        pk = _next_pk[0]
    v = ProcedureVersion(pk=pk, **values)
    v._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "steps": [
            ProcedureStep(version=v, order=i, kind=kind, name=name, minutes=minutes, per_level=per_level)
            for i, (kind, name, minutes, per_level) in enumerate(steps or DEFAULT_STEPS, start=1)
        ]
    }
    return v


def estimate_rules(*, steps: Steps | None = None, **fields: Any) -> EstimateRules:
    """What estimates.py reads from `version(steps=…, **fields)`."""
    return estimate_rules_of(version(steps=steps, **fields))


def screening_rules(**fields: Any) -> ScreeningRules:
    """What screening.py reads from `version(**fields)`."""
    return screening_rules_of(version(**fields))


# --- Saved versions ------------------------------------------------------------------------------

KP_STEPS: Steps = [
    ("sign_in", "WHO sign in", 5, False),
    ("anaesthesia", "Anaesthesia", 0, False),
    ("positioning", "Prone positioning", 10, False),
    ("level_confirmation", "Level confirmation on fluoroscopy", 5, False),
    ("time_out", "WHO time out", 5, False),
    ("trocar_access", "Transpedicular trocar access", 10, True),
    ("balloon_inflation", "Balloon inflation", 8, True),
    ("cement_injection", "Cement injection under lateral fluoroscopy", 6, True),
    ("closure", "Closure", 5, False),
    ("sign_out", "WHO sign out", 5, False),
]


def kp_version(**fields: Any) -> ProcedureVersion:
    """A kyphoplasty-like version: GA 20 + 10 min, 45 fixed minutes, 24 per level, turnover 15."""
    values: dict[str, Any] = {
        "anaesthesia_options": copy.deepcopy(ANAESTHESIA_OPTIONS),
        "imaging": {"intra_op": ["fluoroscopy"], "intra_op_options": ["fluoroscopy"], "post_op": ["xray"]},
        "cement_product": "PMMA bone cement (high viscosity)",
        "cement_ml_per_level": Decimal("4.1"),
        "cement_max_ml_per_level": Decimal("7.0"),
        "cement_ml_by_approach": {"unipedicular": 4.1, "bipedicular": 4.9},
        "risks": [
            {"code": "cement_leakage", "name": "Cement leakage", "frequency": "about 1 in 5 (KP)"},
            {"code": "infection", "name": "Infection", "frequency": "superficial 2-4%, deep <1%"},
        ],
        "recovery": {"stay": "day case or overnight", "bed_rest_hours": 1, "discharge_hours": 4, "advice": []},
        "follow_up": [
            {"code": "review_2_weeks", "after_days": 14, "title": "Two-week review", "advice": []},
            {
                "code": "review_6_weeks",
                "after_days": 42,
                "title": "Six-week pain review",
                "advice": ["Avoid strenuous activity and heavy lifting for 6 weeks"],
            },
        ],
        "sources": ["NICE TA279"],
        "steps": KP_STEPS,
    }
    values.update(fields)
    return ProcedureVersionFactory(**values)


def estimated_minutes(levels: int, *, anaesthesia: str = "general") -> int:
    """KP_STEPS: 35 fixed + 24 per level, plus induction and recovery, plus 15 turnover."""
    induction_recovery = 30 if anaesthesia == "general" else 15
    return 35 + 24 * levels + induction_recovery + 15


# The seeded kyphoplasty content's shapes (SHAPES.md); a clinician's numbers, set per version.
RECOVERY = {
    "stay": "day case or overnight",
    "bed_rest_hours": 1,
    "discharge_hours": 4,
    "advice": ["Keep the small wounds dry for 48 hours"],
    "rehabilitation": "Build up walking gently each day; physiotherapy will guide your return to activity.",
}
FOLLOW_UP = [
    {"code": "review_2_weeks", "after_days": 14, "title": "Two-week review", "advice": ["Check your wounds"]},
    {
        "code": "review_6_weeks",
        "after_days": 42,
        "title": "Six-week review",
        "advice": ["Avoid strenuous activity and heavy lifting for 6 weeks", "Keep taking your bone medicine"],
    },
]


def reminder_version() -> ProcedureVersion:
    """A balloon kyphoplasty version (on the factory's timings) with the recovery, follow-up and
    fasting that the reminders are planned from."""
    return ProcedureVersionFactory(
        template=ProcedureTemplateFactory(slug="kyphoplasty-test", name="Balloon kyphoplasty"),
        required_equipment=["c_arm"],
        recovery=RECOVERY,
        follow_up=FOLLOW_UP,
        fasting={"food_hours": 6, "clear_fluids_hours": 2},
    )
