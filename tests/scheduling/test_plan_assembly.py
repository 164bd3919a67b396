"""build_plan and the approval state as pure functions: frozen inputs in, the plan out.

No test here has a database: pytest-django blocks it (checked by `database_blocked`), so any
query the assembly made would fail the test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from procedures.estimates import AnaesthesiaOption, Estimate, EstimateLine
from scheduling.models import Case
from scheduling.plans.assembly import (
    Approval,
    PlanCase,
    PlanSession,
    PlanStep,
    PlanUnit,
    PlanVersion,
    Ref,
    Withdrawal,
    anticoagulant_holds,
    approval_state,
    build_plan,
    plan_fingerprint,
    timeline,
)
from scheduling.plans.loading import plan_case
from theatre.models import StaffMember

pytestmark = [pytest.mark.pure, pytest.mark.usefixtures("database_blocked")]

LONDON = ZoneInfo("Europe/London")
SURGEON = Ref(id=4, name="Miss Priya Shah")

VERSION = PlanVersion(
    id=3,
    number=2,
    slug="kyphoplasty",
    name="Balloon kyphoplasty",
    sources=("NICE TA279",),
    anaesthesia_options=(
        AnaesthesiaOption(code="general", label="General anaesthesia", induction_minutes=20, recovery_minutes=10),
        AnaesthesiaOption(code="local_sedation", label="Local with sedation", induction_minutes=10, recovery_minutes=5),
    ),
    fasting={"food_hours": 6, "clear_fluids_hours": 2},
    positioning="prone",
    imaging={"intra_op": ["fluoroscopy"], "post_op": ["xray"]},
    cement_product="PMMA bone cement",
    cement_mixing_minutes=Decimal("1.0"),
    cement_working_minutes=Decimal("8.5"),
    cement_setting_minutes=Decimal("11.0"),
    cement_ml_per_level=Decimal("4.1"),
    cement_max_ml_per_level=Decimal("7.0"),
    cement_ml_by_approach={"unipedicular": 4.1, "bipedicular": 4.9},
    turnover_minutes=15,
    required_equipment=("c_arm",),
    risks=({"code": "cement_leakage", "name": "Cement leakage", "frequency": "common"},),
    recovery={"stay": "day case"},
    follow_up=(
        {"code": "review_2_weeks", "after_days": 14, "title": "Wound review"},
        {"code": "phone_call", "title": "Phone call, no fixed day"},
    ),
    steps=(
        PlanStep(kind="sign_in", name="Sign in", minutes=5, per_level=False),
        PlanStep(kind="anaesthesia", name="Induction", minutes=0, per_level=False),
        PlanStep(kind="trocar_access", name="Trocar access", minutes=10, per_level=True),
        PlanStep(kind="cement_injection", name="Cement fill", minutes=6, per_level=True),
        PlanStep(kind="closure", name="Closure", minutes=5, per_level=False),
    ),
)

# procedures.estimates.estimate of VERSION for two levels under general anaesthesia: the
# induction in the place of the template's 0-minute anaesthesia step.
TWO_LEVELS_GENERAL = Estimate(
    total_minutes=87,
    lines=(
        EstimateLine("step", "Sign in", 5),
        EstimateLine("anaesthesia", "General anaesthesia: induction", 20),
        EstimateLine("step", "Trocar access × 2 levels", 20),
        EstimateLine("step", "Cement fill × 2 levels", 12),
        EstimateLine("step", "Closure", 5),
        EstimateLine("anaesthesia", "General anaesthesia: recovery", 10),
        EstimateLine("turnover", "Turnover", 15),
    ),
)

WARFARIN = {"result": "eligible", "warnings": [], "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]}


def session(start: dt.datetime, hours: int = 5) -> PlanSession:
    return PlanSession(
        id=9,
        status="published",
        start=start,
        end=start + dt.timedelta(hours=hours),
        theatre=Ref(id=2, name="Theatre 1"),
        site_name="Northgate",
        timezone="Europe/London",
        surgeon=SURGEON,
        anaesthetist=None,
    )


def case(start: dt.datetime | None, **changes: object) -> PlanCase:
    booked = PlanCase(
        id=7,
        reference="KP-ABC123",
        status="booked" if start is not None else "waiting",
        priority="P3",
        patient_id=1,
        surgeon=SURGEON,
        anaesthetist_id=None,
        procedure_version_id=VERSION.id,
        levels=("T12", "L1"),
        approach="bipedicular",
        anaesthesia="general",
        session_id=9 if start is not None else None,
        start=start,
        end=start + dt.timedelta(minutes=87) if start is not None else None,
        estimated_minutes=87,
        screening_result=WARFARIN,
    )
    return dataclasses.replace(booked, **changes)  # type: ignore[arg-type]


def test_build_plan_times_each_level_in_turn_from_the_booked_start() -> None:
    start = dt.datetime(2027, 3, 1, 8, tzinfo=LONDON)
    c_arm = PlanUnit(id=5, kind="c_arm", name="C-arm 1", serial="CA-1")
    plan = build_plan(
        case=case(start), version=VERSION, session=session(start), units=[c_arm], estimate=TWO_LEVELS_GENERAL
    )

    assert [(s["name"], s["level"], s["start_clock"]) for s in plan["steps"]] == [
        ("Sign in", None, "08:00"),
        ("General anaesthesia: induction", None, "08:05"),
        ("Trocar access", "T12", "08:25"),
        ("Cement fill", "T12", "08:35"),
        ("Trocar access", "L1", "08:41"),
        ("Cement fill", "L1", "08:51"),
        ("Closure", None, "08:57"),
        ("General anaesthesia: recovery", None, "09:02"),
    ]
    assert plan["theatre_minutes"] + plan["turnover_minutes"] == TWO_LEVELS_GENERAL.total_minutes
    assert plan["start_display"] == "Mon 1 Mar 2027, 08:00"
    assert plan["session"]["theatre"] == {"id": 2, "name": "Theatre 1"}
    assert plan["equipment"] == [{"id": 5, "kind": "c_arm", "name": "C-arm 1", "serial": "CA-1"}]
    assert plan["cement"]["total_planned_ml"] == "9.8"
    assert plan["anaesthesia"]["fasting"] == {"food_hours": 6, "clear_fluids_hours": 2}
    # Warfarin stops 5 days before a Monday 1 March procedure: no dose from 24 Feb, last dose 23 Feb.
    assert plan["anticoagulant_holds"] == [
        {"drug": "warfarin", "stop_days_before": 5, "last_dose_on": "2027-02-23", "stop_from": "2027-02-24"}
    ]
    assert [(f["code"], f["due_on"]) for f in plan["follow_up"]] == [
        ("review_2_weeks", "2027-03-15"),
        ("phone_call", None),
    ]
    assert plan["fingerprint"] == plan_fingerprint(case(start))


def test_build_plan_gives_each_step_its_real_length_across_the_spring_clock_change() -> None:
    """Given a list starting 00:50 on 28 March 2027 (clocks go forward at 01:00 GMT), the
    induction that starts at 00:55 GMT lasts its 20 minutes and ends at 02:15 BST."""
    start = dt.datetime(2027, 3, 28, 0, 50, tzinfo=LONDON)
    plan = build_plan(case=case(start), version=VERSION, session=session(start), units=[], estimate=TWO_LEVELS_GENERAL)
    induction = plan["steps"][1]
    assert (induction["start_clock"], induction["end_clock"]) == ("00:55", "02:15")
    assert induction["start"].endswith("+00:00") and induction["end"].endswith("+01:00")


def test_build_plan_of_a_waiting_case_has_minutes_but_no_clock_and_undated_holds() -> None:
    plan = build_plan(case=case(None), version=VERSION, session=None, units=[], estimate=TWO_LEVELS_GENERAL)
    assert plan["timezone"] == "Europe/London" and plan["session"] is None and plan["start"] is None
    assert all(step["start"] is None and step["end_clock"] is None for step in plan["steps"])
    assert plan["steps"][-1]["offset_minutes"] == 62
    assert plan["anticoagulant_holds"] == [
        {"drug": "warfarin", "stop_days_before": 5, "last_dose_on": None, "stop_from": None}
    ]
    assert [f["due_on"] for f in plan["follow_up"]] == [None, None]


def test_local_sedation_plan_has_no_fasting() -> None:
    start = dt.datetime(2027, 3, 1, 8, tzinfo=LONDON)
    local = Estimate(
        total_minutes=72,
        lines=(
            EstimateLine("step", "Sign in", 5),
            EstimateLine("anaesthesia", "Local with sedation: induction", 10),
            EstimateLine("step", "Trocar access × 2 levels", 20),
            EstimateLine("step", "Cement fill × 2 levels", 12),
            EstimateLine("step", "Closure", 5),
            EstimateLine("anaesthesia", "Local with sedation: recovery", 5),
            EstimateLine("turnover", "Turnover", 15),
        ),
    )
    plan = build_plan(
        case=case(start, anaesthesia="local_sedation"),
        version=VERSION,
        session=session(start),
        units=[],
        estimate=local,
    )
    assert plan["anaesthesia"]["fasting"] is None
    assert plan["steps"][1]["name"] == "Local with sedation: induction"
    assert plan["theatre_minutes"] + plan["turnover_minutes"] == local.total_minutes


def test_anticoagulant_holds_read_the_stored_screening_result() -> None:
    stored = {"anticoagulant_holds": [{"drug": "apixaban", "stop_days_before": 2}]}
    assert anticoagulant_holds(stored, dt.date(2027, 3, 1)) == [
        {
            "drug": "apixaban",
            "stop_days_before": 2,
            "last_dose_on": dt.date(2027, 2, 26),
            "stop_from": dt.date(2027, 2, 27),
        }
    ]
    assert anticoagulant_holds({"result": "eligible"}, dt.date(2027, 3, 1)) == []


def test_a_case_row_and_its_plan_inputs_give_the_same_fingerprint() -> None:
    """The approval is written from the Case row and checked against the plan built from its
    inputs: both must read the same clinical facts."""
    start = dt.datetime(2027, 3, 1, 8, tzinfo=LONDON)
    row = Case(
        pk=7,
        reference="KP-ABC123",
        patient_id=1,
        procedure_version_id=3,
        levels=["T12", "L1"],
        approach="bipedicular",
        anaesthesia="general",
        surgeon=StaffMember(pk=4, name="Miss Priya Shah", role="surgeon"),
        session_id=9,
        start=start,
        end=start + dt.timedelta(minutes=87),
        estimated_minutes=87,
        screening_result=WARFARIN,
    )
    assert plan_fingerprint(plan_case(row)) == plan_fingerprint(row) == plan_fingerprint(case(start))


APPROVED_AT = dt.datetime(2027, 2, 20, 9, 30, tzinfo=dt.UTC)


def test_approval_state_is_approved_only_for_the_fingerprint_it_was_given() -> None:
    approval = Approval(approved_at=APPROVED_AT, approved_by=Ref(id=11, name="Priya Shah"), fingerprint="abc")
    state = approval_state(approval=approval, fingerprint="abc", withdrawal=None)
    assert state == {
        "approved": True,
        "state": "approved",
        "approved_by": {"id": 11, "name": "Priya Shah"},
        "approved_at": "2027-02-20T09:30:00+00:00",
        "approved_fingerprint": "abc",
    }
    moved_on = approval_state(approval=approval, fingerprint="def", withdrawal=None)
    assert (moved_on["approved"], moved_on["state"], moved_on["withdrawn_at"]) == (False, "withdrawn", None)


def test_approval_state_shows_the_last_withdrawal_or_nothing() -> None:
    none = Approval(approved_at=None, approved_by=None, fingerprint="")
    withdrawal = Withdrawal(at=APPROVED_AT, by="coordinator", reason="book: session or start changed")
    assert approval_state(approval=none, fingerprint="abc", withdrawal=withdrawal, zone=LONDON) == {
        "approved": False,
        "state": "withdrawn",
        "withdrawn_at": "2027-02-20T09:30:00+00:00",
        "withdrawn_by": "coordinator",
        "reason": "book: session or start changed",
    }
    assert approval_state(approval=none, fingerprint="abc", withdrawal=None) == {
        "approved": False,
        "state": "not_approved",
    }


def test_timeline_keeps_a_template_anaesthesia_step_that_has_minutes_of_its_own() -> None:
    """Given a template whose anaesthesia step takes 3 minutes itself (a block, say), the estimate
    counts it after the induction, and the timeline shows it there too."""
    steps = (
        PlanStep(kind="anaesthesia", name="Nerve block", minutes=3, per_level=False),
        PlanStep(kind="cement_injection", name="Cement fill", minutes=6, per_level=True),
    )
    times = Estimate(
        total_minutes=55,
        lines=(
            EstimateLine("anaesthesia", "General anaesthesia: induction", 20),
            EstimateLine("step", "Nerve block", 3),
            EstimateLine("step", "Cement fill × 2 levels", 12),
            EstimateLine("anaesthesia", "General anaesthesia: recovery", 10),
            EstimateLine("turnover", "Turnover", 10),
        ),
    )
    rows = timeline(steps=steps, levels=["T12", "L1"], estimate=times)
    assert [(r["name"], r["level"], r["offset_minutes"]) for r in rows] == [
        ("General anaesthesia: induction", None, 0),
        ("Nerve block", None, 20),
        ("Cement fill", "T12", 23),
        ("Cement fill", "L1", 29),
        ("General anaesthesia: recovery", None, 35),
    ]
