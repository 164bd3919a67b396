"""Dabigatran's longer hold when kidney function is reduced (issue 16 part B): the template's renal
bands, screening's warning when kidney function is unknown, and the hold date that reaches the
patient's reminder."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps

from core.errors import InvalidInput
from procedures.screening import screen, screening_rules_of, validate_renal_holds
from procedures.versions import latest_version
from scheduling.booking import book_case
from scheduling.cases import create_case, update_case
from scheduling.models import Reminder
from tests.builders.answers import eligible_answers
from tests.builders.versions import FOLLOW_UP, RECOVERY, RULES, screening_rules
from tests.builders.world import SYSTEM, at, build_world, next_monday
from tests.factories import PatientFactory, ProcedureTemplateFactory, ProcedureVersionFactory

V1 = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")
V2 = importlib.import_module("procedures.migrations.0005_seed_version_2_renal_holds_and_sources")

HOLDS = {"warfarin": 5, "apixaban": 2, "dabigatran": 2}
RENAL = {"dabigatran": [{"crcl_min": 30, "crcl_max": 50, "stop_days_before": 4}]}


def rules() -> Any:
    return screening_rules(
        contraindications=[*RULES, *V2.RENAL_RULES], anticoagulant_hold_days=HOLDS, anticoagulant_renal_holds=RENAL
    )


def dabigatran(**answers: Any) -> dict[str, Any]:
    """Eligible answers on dabigatran, kidney function unknown unless `answers` give it."""
    return eligible_answers(anticoagulants=["dabigatran"], **{"creatinine_clearance": None, **answers})


@pytest.mark.pure
@pytest.mark.parametrize(("clearance", "days"), [(30, 4), (42, 4), (50, 4), (50.5, 2), (90, 2)])
def test_dabigatran_is_held_four_days_at_clearance_30_to_50(clearance: float, days: int) -> None:
    outcome = screen(rules=rules(), answers=dabigatran(creatinine_clearance=clearance))
    assert outcome.result == "eligible"
    assert [(h.drug, h.stop_days_before) for h in outcome.holds] == [("dabigatran", days)]
    assert "creatinine clearance" in outcome.holds[0].basis
    assert outcome.warnings == ()


@pytest.mark.pure
def test_unknown_kidney_function_for_dabigatran_warns_and_says_the_hold_may_be_short() -> None:
    outcome = screen(rules=rules(), answers=dabigatran())
    assert outcome.result == "eligible"  # a warning never changes the result
    assert [f.code for f in outcome.warnings] == ["renal_function_unknown"]
    assert "dabigatran" in outcome.warnings[0].message
    hold = outcome.holds[0]
    assert hold.stop_days_before == 2 and "unknown" in hold.basis
    assert outcome.as_dict()["anticoagulant_holds"][0]["basis"] == hold.basis


@pytest.mark.pure
def test_clearance_below_every_band_blocks_until_a_clinician_plans() -> None:
    outcome = screen(rules=rules(), answers=dabigatran(creatinine_clearance=25))
    assert outcome.result == "ineligible"
    assert [f.code for f in outcome.blockers] == ["anticoagulant_renal_plan_needed"]


@pytest.mark.pure
def test_kidney_function_changes_nothing_for_a_drug_without_renal_bands() -> None:
    for clearance in (None, 35):
        answers = eligible_answers(anticoagulants=["apixaban"], creatinine_clearance=clearance)
        outcome = screen(rules=rules(), answers=answers)
        assert outcome.result == "eligible" and outcome.warnings == ()
        assert [(h.drug, h.stop_days_before, h.basis) for h in outcome.holds] == [("apixaban", 2, "")]


@pytest.mark.pure
@pytest.mark.parametrize(
    ("renal", "message"),
    [
        ({"edoxaban": [{"crcl_min": 30, "crcl_max": 50, "stop_days_before": 4}]}, "no ordinary hold"),
        ({"dabigatran": [{"crcl_min": 50, "crcl_max": 30, "stop_days_before": 4}]}, "above crcl_max"),
        ({"dabigatran": [{"crcl_min": 30, "crcl_max": 50, "stop_days_before": 1}]}, "at least the ordinary"),
        (
            {
                "dabigatran": [
                    {"crcl_min": 30, "crcl_max": 50, "stop_days_before": 4},
                    {"crcl_min": 50, "crcl_max": 80, "stop_days_before": 3},
                ]
            },
            "overlap",
        ),
        ({"dabigatran": [{"crcl_min": "30", "crcl_max": 50, "stop_days_before": 4}]}, "number"),
        ({"dabigatran": [{"crcl_min": 30, "crcl_max": 50}]}, "each band"),
    ],
)
def test_a_version_with_malformed_renal_bands_is_refused(renal: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_renal_holds(renal, HOLDS)
    assert message in str(refused.value.detail)


# --- The seeded version 2 ------------------------------------------------------------------------


@pytest.fixture
def seeded() -> None:
    # A transactional test elsewhere may have flushed the migrations' rows; both seeds are idempotent.
    V1.seed(apps, None)
    V2.seed(apps, None)


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_seeded_version_2_holds_dabigatran_longer_and_keeps_version_1(slug: str) -> None:
    version = latest_version(slug=slug)
    assert version is not None and version.number == 2
    assert version.anticoagulant_renal_holds == RENAL
    assert "EHRA" in version.parameter_sources["anticoagulant_renal_holds.dabigatran"]
    v2 = screening_rules_of(version)
    assert screen(rules=v2, answers=dabigatran(creatinine_clearance=40)).holds[0].stop_days_before == 4
    assert [f.code for f in screen(rules=v2, answers=dabigatran()).warnings] == ["renal_function_unknown"]
    # Version 1 is history: its dabigatran hold stays 2 days whatever the kidneys.
    v1 = screening_rules_of(version.template.versions.get(number=1))
    assert screen(rules=v1, answers=dabigatran(creatinine_clearance=40)).holds[0].stop_days_before == 2


# --- End to end: answers → screening → booking → the patient's hold reminder ------------------


@pytest.mark.django_db
def test_reminder_tells_a_dabigatran_patient_with_clearance_40_to_stop_four_days_before() -> None:
    """Given a case on a version with dabigatran's renal band, booked on a Monday,
    when its answers say dabigatran with a creatinine clearance of 40 mL/min,
    then the hold reminder says: last dose on day −5, none from day −4; and when the clearance is
    corrected to 60, the reminder is re-planned for the ordinary 2 days."""
    version = ProcedureVersionFactory(
        template=ProcedureTemplateFactory(slug="kyphoplasty-renal", name="Balloon kyphoplasty"),
        required_equipment=["c_arm"],
        contraindications=[*RULES, *V2.RENAL_RULES],
        anticoagulant_hold_days=HOLDS,
        anticoagulant_renal_holds=RENAL,
        recovery=RECOVERY,
        follow_up=FOLLOW_UP,
        fasting={"food_hours": 6, "clear_fluids_hours": 2},
    )
    world = build_world(version=version)
    monday = next_monday()
    case = world.booked(world.session_on(monday), at(9, day=monday))
    update_case(actor=SYSTEM, case_id=case.pk, changes={"screening_answers": dabigatran(creatinine_clearance=40)})

    kind = f"anticoagulant_hold:dabigatran@{monday.isoformat()}"
    hold = Reminder.objects.get(case=case, kind=kind, status="pending")
    assert hold.context["stop_days_before"] == 4
    assert hold.context["last_dose_on"] == (monday - dt.timedelta(days=5)).isoformat()
    assert hold.context["stop_from"] == (monday - dt.timedelta(days=4)).isoformat()

    update_case(actor=SYSTEM, case_id=case.pk, changes={"screening_answers": dabigatran(creatinine_clearance=60)})
    hold = Reminder.objects.get(case=case, kind=kind, status="pending")
    assert hold.context["stop_from"] == (monday - dt.timedelta(days=2)).isoformat()
    assert Decimal(60) == Decimal(str(case.__class__.objects.get(pk=case.pk).screening_answers["creatinine_clearance"]))


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
def test_a_new_kyphoplasty_case_on_dabigatran_with_clearance_35_is_told_to_stop_four_days_before() -> None:
    """End to end through the seeded template: the case pins version 2, screening holds dabigatran
    4 days, booking plans the reminder, and the plan shows the same dates."""
    latest = latest_version(slug="kyphoplasty")
    assert latest is not None
    world = build_world(version=latest, equipment=("c_arm", "kyphoplasty_system"))
    monday = next_monday()
    session = world.session_on(monday)
    case = create_case(
        actor=SYSTEM,
        patient_id=PatientFactory(email="p@example.org", reminder_channels=["email"]).pk,
        procedure="kyphoplasty",
        levels=["L1"],
        surgeon_id=world.surgeon.pk,
        referral_date=monday - dt.timedelta(days=30),
        screening_answers=dabigatran(creatinine_clearance=35),
    )
    assert case.procedure_version_id == latest.pk and case.screening_result["result"] == "eligible"
    book_case(case_id=case.pk, session_id=session.pk, start=at(9, day=monday), actor=SYSTEM)
    hold = Reminder.objects.get(case=case, kind=f"anticoagulant_hold:dabigatran@{monday.isoformat()}")
    assert hold.context["stop_from"] == (monday - dt.timedelta(days=4)).isoformat()
    assert hold.context["last_dose_on"] == (monday - dt.timedelta(days=5)).isoformat()
