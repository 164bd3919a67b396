"""In-memory ProcedureVersions for the pure-function tests (no database).

`version(...)` returns an unsaved ProcedureVersion whose steps sit in the prefetch cache, which is
exactly how a view or a service holds a version after `prefetch_related("steps")`.
`estimate_rules(...)` and `screening_rules(...)` pass it through the same loaders the services use
(`estimate_rules_of`, `screening_rules_of`) to get the pure functions' frozen input.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from procedures.estimates import EstimateRules, estimate_rules_of
from procedures.models import ProcedureStep, ProcedureVersion
from procedures.screening import ScreeningRules, screening_rules_of

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

GOOD_ANSWERS: dict[str, Any] = {
    "fracture_painful": True,
    "fracture_unhealed_on_imaging": True,
    "conservative_care_tried": True,
    "fragment_or_tumour_in_canal": False,
    "active_infection": False,
    "bleeding_disorder": False,
    "inr": 1.1,
    "platelets": 220,
    "cement_allergy": False,
    "anticoagulants": [],
}

DEFAULT_STEPS: list[tuple[str, str, int, bool]] = [
    ("sign_in", "Sign in", 5, False),
    ("anaesthesia", "Induction", 0, False),
    ("trocar_access", "Trocar access", 10, True),
    ("balloon_inflation", "Balloon inflation", 8, True),
    ("cement_injection", "Cement fill", 6, True),
    ("closure", "Closure", 5, False),
]

_next_pk = [10_000]


def version(
    *, steps: list[tuple[str, str, int, bool]] | None = None, pk: int | None = None, **fields: Any
) -> ProcedureVersion:
    values: dict[str, Any] = {
        "number": 1,
        "anaesthesia_options": [
            {"code": "general", "label": "General anaesthesia", "induction_minutes": 20, "recovery_minutes": 10},
            {"code": "local_sedation", "label": "Local with sedation", "induction_minutes": 10, "recovery_minutes": 5},
        ],
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


def estimate_rules(*, steps: list[tuple[str, str, int, bool]] | None = None, **fields: Any) -> EstimateRules:
    """What estimates.py reads from `version(steps=…, **fields)`."""
    return estimate_rules_of(version(steps=steps, **fields))


def screening_rules(**fields: Any) -> ScreeningRules:
    """What screening.py reads from `version(**fields)`."""
    return screening_rules_of(version(**fields))
