"""Seed version 1 of the kyphoplasty and vertebroplasty templates.

Every number here is a template default from the seed patient leaflet and
shared/research/clinical-standards.md (NICE TA279, IPG12, IPG166; SIR 2019 for bleeding limits).
A clinician changes any of them by publishing version 2 through POST /procedures/{slug}/versions/;
this data is frozen history and must never be edited in place.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

SOURCES_COMMON = [
    "NICE TA279 (2013): percutaneous vertebroplasty and percutaneous balloon kyphoplasty for osteoporotic "
    "vertebral compression fractures",
    "NICE IPG12: percutaneous vertebroplasty",
    "NICE IPG166: balloon kyphoplasty for vertebral compression fractures",
    "MHRA MDA/2003/021 and MDA/2007/088: bone cement mixing per the manufacturer's instructions",
    "SIR 2019 consensus on periprocedural bleeding risk (INR and platelet limits; anticoagulant holds)",
    "Seed patient leaflet: kyphoplasty and vertebroplasty",
]

# Answer codes and rule shape: procedures/screening.py. Limits are named (inr_max, platelets_min),
# never written here, so they stay in the version's own fields.
CONTRAINDICATIONS = [
    {
        "code": "stable_painless_fracture",
        "severity": "blocker",
        "message": "The procedure cannot be performed for a stable, painless or healed fracture: NICE TA279 needs "
        "severe ongoing pain from a recent, unhealed fracture confirmed on imaging (MRI STIR or bone scan).",
        "any": [
            {"answer": "fracture_painful", "is": False},
            {"answer": "fracture_unhealed_on_imaging", "is": False},
        ],
    },
    {
        "code": "fragment_or_tumour_in_canal",
        "severity": "blocker",
        "message": "The procedure cannot be performed when a bone fragment or tumour extends into the spinal canal "
        "(cement could press on the spinal cord); refer for spinal surgical opinion.",
        "any": [{"answer": "fragment_or_tumour_in_canal", "is": True}],
    },
    {
        "code": "active_infection",
        "severity": "blocker",
        "message": "The procedure cannot be performed with an active bone, disc or systemic infection "
        "(osteomyelitis, discitis, sepsis).",
        "any": [{"answer": "active_infection", "is": True}],
    },
    {
        "code": "bleeding_disorder",
        "severity": "blocker",
        "message": "The procedure cannot be performed with an uncorrected bleeding disorder, an INR above the "
        "template limit or platelets below it.",
        "any": [
            {"answer": "bleeding_disorder", "is": True},
            {"answer": "inr", "above": "inr_max"},
            {"answer": "platelets", "below": "platelets_min"},
        ],
    },
    {
        "code": "cement_allergy",
        "severity": "blocker",
        "message": "Allergy to PMMA bone cement or to contrast: the procedure cannot be performed.",
        "any": [{"answer": "cement_allergy", "is": True}],
    },
    {
        "code": "conservative_care_not_tried",
        "severity": "blocker",
        "message": "NICE TA279: only when pain persists despite optimal pain management; try conservative care first.",
        "any": [{"answer": "conservative_care_tried", "is": False}],
    },
    {
        "code": "anticoagulant_plan_needed",
        "severity": "blocker",
        "message": "An anticoagulant or antiplatelet drug has no hold rule in this template: a clinician must set "
        "a stopping plan (add its hold days in a new version) before the case can be booked.",
        "any": [{"answer": "anticoagulants", "without_hold": True}],
    },
    {
        "code": "cannot_lie_prone",
        "severity": "warning",
        "message": "The patient may not tolerate the prone position: discuss general anaesthesia and positioning "
        "with the anaesthetist.",
        "any": [{"answer": "can_lie_prone", "is": False}],
    },
    {
        "code": "radicular_pain_dominant",
        "severity": "warning",
        "message": "Radicular pain dominates: cement augmentation treats fracture pain, not nerve-root pain; "
        "confirm the pain generator.",
        "any": [{"answer": "radicular_pain_dominant", "is": True}],
    },
    {
        "code": "vertebra_plana",
        "severity": "warning",
        "message": "Vertebra plana (relative contraindication): access and cement filling may not be possible.",
        "any": [{"answer": "vertebra_plana", "is": True}],
    },
    {
        "code": "mdt_not_discussed",
        "severity": "warning",
        "message": "NICE IPG12/IPG166: discuss at the spinal MDT (radiologist and spinal surgeon) before listing.",
        "any": [{"answer": "mdt_discussed", "is": False}],
    },
]

ANTICOAGULANT_HOLD_DAYS = {
    "warfarin": 5,
    "apixaban": 2,
    "rivaroxaban": 2,
    "edoxaban": 2,
    "dabigatran": 2,
    "clopidogrel": 5,
}

FASTING = {"food_hours": 6, "clear_fluids_hours": 2}

RISKS_COMMON_TAIL = [
    {
        "code": "pulmonary_cement_embolism",
        "name": "Cement travelling to the lungs (pulmonary cement embolism)",
        "frequency": "about 2 in 100 (1.9%), mostly without symptoms; risk rises with volume and with 3 or more levels",
    },
    {
        "code": "canal_leak",
        "name": "Cement leaking into the spinal canal",
        "frequency": "about 7 in 1,000 (0.7%)",
    },
    {
        "code": "infection",
        "name": "Infection",
        "frequency": "superficial 2 to 4 in 100; deep less than 1 in 100",
    },
    {
        "code": "new_fractures",
        "name": "New vertebral fractures, including next to the treated level",
        "frequency": "8 to 52 in 100 over follow-up in studies; about 12 in 100 at the adjacent level within 1 year",
    },
    {
        "code": "nerve_injury",
        "name": "Nerve or spinal cord injury (from a needle or leaked cement)",
        "frequency": "rare (no reliable figure in the research summary)",
    },
    {
        "code": "bleeding",
        "name": "Bleeding or bruising at the needle site",
        "frequency": "uncommon (no reliable figure in the research summary)",
    },
    {
        "code": "allergic_reaction",
        "name": "Allergic reaction to the cement or contrast",
        "frequency": "rare",
    },
]

RECOVERY = {
    "stay": "day case or overnight",
    "bed_rest_hours": 1,
    "bed_rest_hours_max": 2,
    "discharge_hours": 4,
    "discharge_hours_max": 5,
    "walk_same_day": True,
    "advice": [
        "Bed rest for 1 to 2 hours after the procedure",
        "You can walk the same day once the bed rest is over",
        "Most patients go home 4 to 5 hours after the procedure; some stay one night",
        "Avoid strenuous activity and heavy lifting for 6 weeks",
        "Keep the dressing (steri-strips) clean and dry",
    ],
    "rehabilitation": "Gradual return to normal activity with physiotherapy-led rehabilitation; "
    "osteoporosis treatment reviewed to prevent further fractures.",
}

FOLLOW_UP = [
    {
        "code": "review_2_weeks",
        "after_days": 14,
        "title": "Two-week review: wound, pain and mobility",
        "advice": [
            "Wound check; the steri-strips can come off",
            "Report new or worsening back pain, leg weakness or numbness at once",
        ],
    },
    {
        "code": "review_6_weeks",
        "after_days": 42,
        "title": "Six-week pain review",
        "advice": [
            "Avoid strenuous activity and heavy lifting for 6 weeks",
            "Pain and function review; osteoporosis treatment checked",
        ],
    },
]

ANAESTHESIA_OPTIONS = [
    {
        "code": "general",
        "label": "General anaesthesia",
        "induction_minutes": 15,
        "recovery_minutes": 10,
    },
    {
        "code": "local_sedation",
        "label": "Local anaesthesia with sedation",
        "induction_minutes": 10,
        "recovery_minutes": 5,
    },
]

T5_TO_L5 = ["T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]

KYPHOPLASTY: dict[str, Any] = {
    "slug": "kyphoplasty",
    "name": "Balloon kyphoplasty",
    "description": "Percutaneous balloon kyphoplasty for painful osteoporotic or malignant vertebral compression "
    "fractures: a balloon restores height and makes a cavity that is filled with bone cement.",
    "version": {
        "change_note": "Version 1, seeded from the seed patient leaflet and the research summary (NICE TA279, "
        "IPG166). Per-step minutes are local estimates around ~30 min per level.",
        "anaesthesia_options": ANAESTHESIA_OPTIONS,
        "default_anaesthesia": "general",
        "positioning": "prone",
        "imaging": {
            "intra_op": ["fluoroscopy"],
            "intra_op_options": ["fluoroscopy", "biplanar_fluoroscopy"],
            "post_op": ["xray"],
        },
        "required_capabilities": ["fluoroscopy"],
        "required_equipment": ["c_arm", "kyphoplasty_system"],
        "allowed_levels": T5_TO_L5,
        "max_levels": 3,
        "levels_contiguous": False,
        "turnover_minutes": 15,
        "cement_product": "PMMA bone cement (the kyphoplasty system's high-viscosity cement), "
        "mixed per the manufacturer's instructions",
        "cement_mixing_minutes": "5.1",
        "cement_working_minutes": "8.5",
        "cement_setting_minutes": "11.0",
        "cement_ml_per_level": "4.9",
        "cement_ml_by_approach": {"unipedicular": 4.1, "bipedicular": 4.9},
        "cement_max_ml_per_level": "7.0",
        "contraindications": CONTRAINDICATIONS,
        "inr_max": "1.5",
        "platelets_min": 50,
        "anticoagulant_hold_days": ANTICOAGULANT_HOLD_DAYS,
        "fasting": FASTING,
        "risks": [
            {
                "code": "cement_leakage",
                "name": "Cement leaking outside the vertebra",
                "frequency": "about 18 in 100 (18.4%) after kyphoplasty, usually without symptoms",
            },
            *RISKS_COMMON_TAIL,
        ],
        "recovery": RECOVERY,
        "follow_up": FOLLOW_UP,
        "patient_information": [
            "Usually done under general anaesthesia; local anaesthesia with sedation is possible.",
            "You lie on your front (prone) and the surgeon uses live X-ray (fluoroscopy) throughout.",
            "A trocar (hollow needle) is passed into the broken vertebra through a small cut.",
            "A balloon is inflated inside the vertebra to restore its height and make a cavity.",
            "The cavity is filled with bone cement, which hardens within minutes.",
            "The small cuts are closed with steri-strips.",
            "You can usually walk the same day; most people go home within 4 to 5 hours.",
            "Avoid strenuous activity and heavy lifting for 6 weeks; rehabilitation follows.",
            "You will be followed up at about 2 weeks and 6 weeks, with an X-ray after the procedure.",
            "It cannot be performed for a stable painless fracture, when a fragment or tumour is in the "
            "spinal canal, or with a bone infection or bleeding disorder.",
        ],
        "sources": SOURCES_COMMON,
        "steps": [
            ("sign_in", "Sign in (WHO checklist)", 3, False, "Before induction: identity, site, consent, allergies."),
            (
                "anaesthesia",
                "Induction of anaesthesia or sedation",
                0,
                False,
                "Timed by the chosen anaesthesia option (induction minutes).",
            ),
            ("positioning", "Prone positioning", 5, False, "Prone on a radiolucent table, pressure areas padded."),
            ("level_confirmation", "Level confirmation on fluoroscopy", 3, False, "Count and mark the levels."),
            ("time_out", "Time out (WHO checklist)", 2, False, "Before incision; imaging displayed."),
            (
                "trocar_access",
                "Trocar access under fluoroscopy",
                7,
                True,
                "11–13G trocar, transpedicular (uni- or bipedicular); parapedicular in the thoracic spine.",
            ),
            ("drill", "Drill the working channel", 2, True, ""),
            ("balloon_inflation", "Balloon inflation", 5, True, "1–2 balloon tamps inflated with contrast."),
            ("cavity_creation", "Cavity creation", 2, True, "Balloons deflated and withdrawn, leaving a cavity."),
            (
                "cement_mixing",
                "Cement mixing",
                5,
                False,
                "PMMA mixed per the manufacturer (MHRA); liquid phase before it can be injected.",
            ),
            (
                "cement_injection",
                "Cement fill under lateral fluoroscopy",
                4,
                True,
                "Continuous lateral fluoroscopy; stop at the posterior wall or any leak.",
            ),
            (
                "cement_setting",
                "Cement hardening",
                11,
                False,
                "Polymerisation before the cannulas are removed (~11 min at 37 °C).",
            ),
            ("closure", "Closure with steri-strips", 3, False, "Cannulas removed, pressure, steri-strips."),
            ("sign_out", "Sign out (WHO checklist)", 2, False, "Procedure recorded, counts, recovery concerns."),
        ],
    },
}

VERTEBROPLASTY: dict[str, Any] = {
    "slug": "vertebroplasty",
    "name": "Vertebroplasty",
    "description": "Percutaneous vertebroplasty: bone cement is injected under pressure through a trocar into a "
    "painful fractured vertebra.",
    "version": {
        "change_note": "Version 1, seeded from the seed patient leaflet and the research summary (NICE TA279, "
        "IPG12). About 1 hour in total. mL per level is a local default (uncertain): 3.5 mL, the edge of the band "
        "below which no pulmonary cement embolism was reported (0% <3.5 mL, 0.11% 3.5-7 mL, 0.9% >7 mL).",
        "anaesthesia_options": ANAESTHESIA_OPTIONS,
        "default_anaesthesia": "local_sedation",
        "positioning": "prone",
        "imaging": {
            "intra_op": ["fluoroscopy"],
            "intra_op_options": ["fluoroscopy", "biplanar_fluoroscopy"],
            "post_op": ["xray", "ct"],
        },
        "required_capabilities": ["fluoroscopy"],
        "required_equipment": ["c_arm", "vertebroplasty_kit"],
        "allowed_levels": T5_TO_L5,
        "max_levels": 3,
        "levels_contiguous": False,
        "turnover_minutes": 15,
        "cement_product": "PMMA bone cement (vertebroplasty kit), mixed per the manufacturer's instructions",
        "cement_mixing_minutes": "5.1",
        "cement_working_minutes": "8.5",
        "cement_setting_minutes": "11.0",
        "cement_ml_per_level": "3.5",
        "cement_ml_by_approach": {},
        "cement_max_ml_per_level": "7.0",
        "contraindications": CONTRAINDICATIONS,
        "inr_max": "1.5",
        "platelets_min": 50,
        "anticoagulant_hold_days": ANTICOAGULANT_HOLD_DAYS,
        "fasting": FASTING,
        "risks": [
            {
                "code": "cement_leakage",
                "name": "Cement leaking outside the vertebra",
                "frequency": "about 55 in 100 (54.7%) after vertebroplasty, usually without symptoms",
            },
            *RISKS_COMMON_TAIL,
        ],
        "recovery": RECOVERY,
        "follow_up": FOLLOW_UP,
        "patient_information": [
            "Done under general or local anaesthesia.",
            "You lie on your front (prone).",
            "A 1/2-inch (about 1 cm) cut is made in the skin over the fracture.",
            "A trocar (hollow needle) is guided into the vertebra using fluoroscopy (live X-ray).",
            "Bone cement is injected under pressure into the vertebra.",
            "The needle is withdrawn before the cement hardens.",
            "An X-ray or CT scan checks how the cement has spread.",
            "The cut is closed with steri-strips.",
            "It cannot be performed for a stable painless fracture, when a fragment or tumour is in the "
            "spinal canal, or with a bone infection or bleeding disorder.",
        ],
        "sources": SOURCES_COMMON,
        "steps": [
            ("sign_in", "Sign in (WHO checklist)", 3, False, "Before induction: identity, site, consent, allergies."),
            (
                "anaesthesia",
                "General or local anaesthesia",
                0,
                False,
                "Timed by the chosen anaesthesia option (induction minutes).",
            ),
            ("positioning", "Prone positioning", 5, False, "Prone on a radiolucent table."),
            ("level_confirmation", "Level confirmation on fluoroscopy", 3, False, ""),
            ("time_out", "Time out (WHO checklist)", 2, False, "Before incision; imaging displayed."),
            (
                "trocar_access",
                "1/2-inch (about 1 cm) incision and trocar under fluoroscopy",
                8,
                True,
                "11–13G trocar, transpedicular under fluoroscopy.",
            ),
            ("cement_mixing", "Cement mixing", 5, False, "PMMA mixed per the manufacturer (MHRA)."),
            (
                "cement_injection",
                "Cement injected under pressure",
                5,
                True,
                "Under continuous lateral fluoroscopy; stop at any leak.",
            ),
            (
                "needle_removal",
                "Needle withdrawn before the cement hardens",
                1,
                True,
                "So the needle is not fixed in the cement.",
            ),
            ("imaging_check", "X-ray or CT check of cement spread", 5, False, ""),
            (
                "cement_setting",
                "Cement hardening",
                11,
                False,
                "The patient stays prone while the cement sets (~11 min at 37 °C).",
            ),
            ("closure", "Steri-strips", 2, False, "The incision is closed with steri-strips."),
            ("sign_out", "Sign out (WHO checklist)", 2, False, ""),
        ],
    },
}

TEMPLATES = [KYPHOPLASTY, VERTEBROPLASTY]


def seed(apps: Any, schema_editor: Any) -> None:
    Template = apps.get_model("procedures", "ProcedureTemplate")
    Version = apps.get_model("procedures", "ProcedureVersion")
    Step = apps.get_model("procedures", "ProcedureStep")
    for data in TEMPLATES:
        template, _ = Template.objects.get_or_create(
            slug=data["slug"], defaults={"name": data["name"], "description": data["description"]}
        )
        if Version.objects.filter(template=template, number=1).exists():
            continue
        fields = {k: v for k, v in data["version"].items() if k != "steps"}
        version = Version.objects.create(template=template, number=1, **fields)
        Step.objects.bulk_create(
            Step(
                version=version,
                order=order,
                kind=kind,
                name=name,
                minutes=minutes,
                per_level=per_level,
                description=description,
            )
            for order, (kind, name, minutes, per_level, description) in enumerate(data["version"]["steps"], start=1)
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    Template = apps.get_model("procedures", "ProcedureTemplate")
    Version = apps.get_model("procedures", "ProcedureVersion")
    slugs = [data["slug"] for data in TEMPLATES]
    Version.objects.filter(template__slug__in=slugs, number=1).delete()
    Template.objects.filter(slug__in=slugs, versions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("procedures", "0002_version_contiguity_and_cement_by_approach")]

    operations = [migrations.RunPython(seed, unseed)]
