"""Screening answers that pass every rule, seeded or built here: the one copy the suite keeps."""

from __future__ import annotations

import copy
from typing import Any

# Every question in procedures.screening.QUESTIONS answered, none of them a blocker or a warning:
# a fit patient with a painful, unhealed fracture, normal bloods, no anticoagulant, seen at the MDT.
_ELIGIBLE: dict[str, Any] = {
    "fracture_painful": True,
    "fracture_unhealed_on_imaging": True,
    "conservative_care_tried": True,
    "fragment_or_tumour_in_canal": False,
    "active_infection": False,
    "bleeding_disorder": False,
    "inr": 1.1,
    "platelets": 210,
    "cement_allergy": False,
    "anticoagulants": [],
    "creatinine_clearance": 90,
    "can_lie_prone": True,
    "radicular_pain_dominant": False,
    "vertebra_plana": False,
    "mdt_discussed": True,
}


def eligible_answers(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the eligible answers with `changes` applied (a test may mutate it freely)."""
    return {**copy.deepcopy(_ELIGIBLE), **changes}
