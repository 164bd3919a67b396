"""Seed version 2 of the kyphoplasty and vertebroplasty templates: dabigatran's renal hold, and a
source for every number.

What changes from version 1 (issue 16, part B):
- `anticoagulant_renal_holds`: dabigatran is held 4 days (not 2) when creatinine clearance is
  30–50 mL/min, because dabigatran is about 80% cleared by the kidney and accumulates as kidney
  function falls.
- Two screening rules read the new `creatinine_clearance` answer: `renal_function_unknown` (a
  warning: a dabigatran patient whose kidney function is unknown may get too short a hold) and
  `anticoagulant_renal_plan_needed` (a blocker: a clearance below 30 mL/min, where the template
  has no hold and dabigatran is not indicated, needs a clinician's plan).
- `parameter_sources`: every number of the version, by path, with its source.

Version 1 is never edited (versions are immutable). The new version is laid over the latest one;
on a database where a clinician has already published past version 1, a number that differs from
the seed keeps no source here (it shows in the API's `unsourced_parameters`), because the seed's
source would not be the source of the clinician's number. Idempotent: a template that already has
a version with dabigatran renal bands is left alone.
"""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

from django.db import migrations

V1 = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")

RESEARCH = "Research summary shared/research/clinical-standards.md (2026-11-23)"
SIR_2019 = (
    "SIR 2019 consensus guidelines for periprocedural management of thrombotic and bleeding risk "
    "(Patel IJ et al., J Vasc Interv Radiol 2019;30(8):1168-1184), high bleeding risk procedures"
)
EHRA_2021 = (
    "EHRA 2021 practical guide on NOACs (Steffel J et al., Europace 2021;23(10):1612-1676), last intake "
    "before elective surgery: dabigatran, high bleeding risk, CrCl 30-49 mL/min: >=96 h (4 days)"
)

SOURCES_ADDED = [
    SIR_2019,
    EHRA_2021,
    "AAGBI safety guideline: pre-operative assessment and patient preparation (2010): "
    "6 h food, 2 h clear fluids before general anaesthesia",
]

RENAL_HOLDS = {"dabigatran": [{"crcl_min": 30, "crcl_max": 50, "stop_days_before": 4}]}

RENAL_RULES = [
    {
        "code": "anticoagulant_renal_plan_needed",
        "severity": "blocker",
        "message": "Creatinine clearance is below the template's renal hold bands for this anticoagulant "
        "(dabigatran is not indicated below 30 mL/min): a clinician must set a stopping plan before booking.",
        "any": [{"answer": "anticoagulants", "without_renal_hold": True}],
    },
    {
        "code": "renal_function_unknown",
        "severity": "warning",
        "message": "Kidney function is unknown for an anticoagulant whose hold depends on it: the ordinary hold "
        "is planned and may be too short (dabigatran: 4 days, not 2, at creatinine clearance 30-50 mL/min). "
        "Record the creatinine clearance.",
        "any": [{"answer": "anticoagulants", "renal_function_unknown": True}],
    },
]

# parameter path → source (a path covers every number beneath it; procedures/versions.py).
COMMON_PARAMETER_SOURCES: dict[str, str] = {
    "anaesthesia_options": "Local estimate of the unit (version 1 change note): induction and recovery minutes "
    "per anaesthesia option; no national figure in the research summary. NICE IPG166: local or general anaesthesia.",
    "max_levels": f"{RESEARCH}: no guideline cap; 3 levels per session common (uncertain); 3 or more levels "
    "raise the cement embolism risk (OR 2.4).",
    "turnover_minutes": "Local estimate of the unit (version 1 default): turnover between cases; no national "
    "figure in the research summary.",
    "cement_mixing_minutes": f"{RESEARCH}, cement timings per product: liquid phase 5.1 min at 22 °C; "
    "MHRA MDA/2003/021 and MDA/2007/088: mix per the manufacturer's instructions.",
    "cement_working_minutes": f"{RESEARCH}, cement timings per product: handling about 8.5 min at 22 °C.",
    "cement_setting_minutes": f"{RESEARCH}, cement timings per product: hardens in about 11 min at 37 °C.",
    "cement_max_ml_per_level": f"{RESEARCH}: pulmonary cement embolism 0.11% at 3.5-7 mL per level, 0.9% above 7 mL.",
    "inr_max": f"{SIR_2019}: INR at most 1.5-1.8; the template takes the stricter 1.5 ({RESEARCH}).",
    "platelets_min": f"{SIR_2019}: platelets above 50×10⁹/L ({RESEARCH}).",
    "anticoagulant_hold_days.warfarin": f"{RESEARCH}: warfarin held 5 days ({SIR_2019}).",
    "anticoagulant_hold_days.apixaban": f"{RESEARCH}: apixaban held 2 days ({SIR_2019}).",
    "anticoagulant_hold_days.rivaroxaban": f"{RESEARCH}: rivaroxaban held 2 days ({SIR_2019}).",
    "anticoagulant_hold_days.edoxaban": f"{RESEARCH}: edoxaban held 2 days ({SIR_2019}).",
    "anticoagulant_hold_days.dabigatran": f"{RESEARCH}: dabigatran held 2 days with creatinine clearance above "
    f"50 mL/min ({SIR_2019}).",
    "anticoagulant_hold_days.clopidogrel": f"{RESEARCH}: clopidogrel held 5 days ({SIR_2019}).",
    "anticoagulant_renal_holds.dabigatran": f"{RESEARCH}: dabigatran held 4 days if CrCl 30-50 mL/min "
    f"({SIR_2019}); the same 4 days as the {EHRA_2021}.",
    "fasting": f"{RESEARCH}: fasting for general anaesthesia 6 h food, 2 h clear fluids (AAGBI safety guideline, "
    "pre-operative assessment and patient preparation, 2010).",
    "recovery": f"Seed patient leaflet and {RESEARCH}: bed rest 1-2 h; discharge 4-5 h after the procedure.",
    "follow_up.review_2_weeks.after_days": f"{RESEARCH}: a 2-week review is local practice (uncertain).",
    "follow_up.review_6_weeks.after_days": f"{RESEARCH}: pain review at 6 weeks; avoid strenuous activity and "
    "heavy lifting for 6 weeks.",
}

KP_PARAMETER_SOURCES: dict[str, str] = {
    **COMMON_PARAMETER_SOURCES,
    "cement_ml_per_level": f"{RESEARCH}: kyphoplasty about 4.9 mL per level bipedicular (the default approach).",
    "cement_ml_by_approach": f"{RESEARCH}: kyphoplasty about 4.1 mL unipedicular, 4.9 mL bipedicular.",
    "steps": "Local estimates of the unit (version 1 change note): per-step minutes around about 30 min per "
    f"level for kyphoplasty ({RESEARCH}: about 30 min per level KP); cement hardening 11 min at 37 °C "
    f"({RESEARCH}); the anaesthesia step is 0 because the anaesthesia option times it.",
}

VP_PARAMETER_SOURCES: dict[str, str] = {
    **COMMON_PARAMETER_SOURCES,
    "cement_ml_per_level": f"Local default (uncertain; version 1 change note): 3.5 mL, the edge of the band "
    f"below which no pulmonary cement embolism was reported ({RESEARCH}: 0% below 3.5 mL, 0.11% 3.5-7 mL, "
    "0.9% above 7 mL).",
    "steps": "Local estimates of the unit (version 1 change note): per-step minutes for about 1 hour in total "
    f"({RESEARCH}: VP about 1 h total); cement hardening 11 min at 37 °C ({RESEARCH}); the anaesthesia step "
    "is 0 because the anaesthesia option times it.",
}

FIELDS = (
    "anaesthesia_options",
    "default_anaesthesia",
    "positioning",
    "imaging",
    "required_capabilities",
    "required_equipment",
    "allowed_levels",
    "max_levels",
    "levels_contiguous",
    "turnover_minutes",
    "cement_product",
    "cement_mixing_minutes",
    "cement_working_minutes",
    "cement_setting_minutes",
    "cement_ml_per_level",
    "cement_ml_by_approach",
    "cement_max_ml_per_level",
    "contraindications",
    "inr_max",
    "platelets_min",
    "anticoagulant_hold_days",
    "fasting",
    "risks",
    "recovery",
    "follow_up",
    "patient_information",
    "sources",
)

CHANGE_NOTE = (
    "Version 2 (issue 16): dabigatran held 4 days, not 2, at creatinine clearance 30-50 mL/min (research "
    "summary; SIR 2019; EHRA 2021), with the new creatinine_clearance answer; a warning when kidney function "
    "is unknown for dabigatran and a blocker below 30 mL/min; a source for every number (parameter_sources)."
)


def _numbers(value: Any, path: str, found: dict[str, Decimal]) -> None:
    """Every number under `value` by path (the same paths as procedures.versions.numeric_parameters,
    kept here so this migration never changes with the app's code)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float | Decimal):
        found[path] = Decimal(str(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _numbers(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            name = item.get("code") if isinstance(item, dict) else None
            _numbers(item, f"{path}.{name if isinstance(name, str) else index}", found)


def _seeded_numbers(version_data: dict[str, Any]) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for name in FIELDS:
        value = version_data[name]
        if isinstance(value, str) and name.startswith(("cement_", "inr_")) and name != "cement_product":
            value = Decimal(value)
        _numbers(value, name, found)
    for order, step in enumerate(version_data["steps"], start=1):
        found[f"steps.{order}.minutes"] = Decimal(step[2])
    return found


def seed(apps: Any, schema_editor: Any) -> None:
    Template = apps.get_model("procedures", "ProcedureTemplate")
    Version = apps.get_model("procedures", "ProcedureVersion")
    Step = apps.get_model("procedures", "ProcedureStep")
    for data, parameter_sources in ((V1.KYPHOPLASTY, KP_PARAMETER_SOURCES), (V1.VERTEBROPLASTY, VP_PARAMETER_SOURCES)):
        template = Template.objects.filter(slug=data["slug"]).first()
        if template is None:
            continue
        versions = Version.objects.filter(template=template)
        if versions.filter(anticoagulant_renal_holds__has_key="dabigatran").exists():
            continue
        latest = versions.order_by("-number").first()
        if latest is None:
            continue
        fields = {name: getattr(latest, name) for name in FIELDS}
        steps = list(Step.objects.filter(version=latest).order_by("order"))
        fields["contraindications"] = [
            *[rule for rule in fields["contraindications"] if rule["code"] not in {r["code"] for r in RENAL_RULES}],
            *RENAL_RULES,
        ]
        fields["sources"] = [*fields["sources"], *[s for s in SOURCES_ADDED if s not in fields["sources"]]]
        fields["anticoagulant_renal_holds"] = RENAL_HOLDS

        # A number a clinician changed after the seed keeps no seeded source (see the docstring).
        current: dict[str, Decimal] = {}
        for name in FIELDS:
            _numbers(fields[name], name, current)
        _numbers(RENAL_HOLDS, "anticoagulant_renal_holds", current)
        for order, step in enumerate(steps, start=1):
            current[f"steps.{order}.minutes"] = Decimal(step.minutes)
        seeded = _seeded_numbers(data["version"])
        seeded.update({p: v for p, v in current.items() if p.startswith("anticoagulant_renal_holds.")})
        changed = {p for p in current.keys() | seeded.keys() if current.get(p) != seeded.get(p)}
        fields["parameter_sources"] = {
            key: source
            for key, source in parameter_sources.items()
            if not any(p == key or p.startswith(f"{key}.") for p in changed)
        }

        version = Version.objects.create(template=template, number=latest.number + 1, change_note=CHANGE_NOTE, **fields)
        Step.objects.bulk_create(
            Step(
                version=version,
                order=step.order,
                kind=step.kind,
                name=step.name,
                minutes=step.minutes,
                per_level=step.per_level,
                description=step.description,
            )
            for step in steps
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    Version = apps.get_model("procedures", "ProcedureVersion")
    Version.objects.filter(
        template__slug__in=[V1.KYPHOPLASTY["slug"], V1.VERTEBROPLASTY["slug"]], change_note=CHANGE_NOTE
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("procedures", "0004_version_renal_holds_and_parameter_sources")]

    operations = [migrations.RunPython(seed, unseed)]
