"""The case plan: the pinned template version applied to this patient, timed from the
booked start, with equipment, screening, holds, risks, recovery and follow-up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor
from procedures.estimates import estimate, estimate_rules_of
from procedures.models import ProcedureVersion
from scheduling.booking import move_case
from scheduling.models import CaseEquipment
from scheduling.plans.assembly import planned_volume_ml, timeline
from scheduling.plans.loading import plan_steps
from tests.builders.clinic import PATIENT_FAMILY, PATIENT_NHS, Clinic, book, build_clinic
from tests.builders.versions import DEFAULT_STEPS, estimated_minutes, kp_version
from tests.builders.versions import version as unsaved_version
from tests.conftest import client_for
from tests.factories import CaseFactory, EquipmentUnitFactory, PatientFactory, london


def plan_of(client: APIClient, case_id: int, **params: str) -> Any:
    response = client.get(f"/api/v1/cases/{case_id}/plan/", params)
    assert response.status_code == 200, response.content
    return response.json()


# --- The pure parts -----------------------------------------------------------------------------


def timeline_of(*, version: ProcedureVersion, levels: list[str], anaesthesia: str) -> list[dict[str, Any]]:
    """The plan's timeline as case_plan builds it: the version's steps, timed by its estimate."""
    times = estimate(rules=estimate_rules_of(version), levels=levels, anaesthesia=anaesthesia)
    return timeline(steps=plan_steps(version), levels=levels, estimate=times)


@pytest.mark.pure
def test_timeline_does_each_level_in_turn_cranial_to_caudal() -> None:
    rows = timeline_of(version=unsaved_version(steps=DEFAULT_STEPS), levels=["T12", "L1"], anaesthesia="general")
    assert [(r["name"], r["level"]) for r in rows] == [
        ("Sign in", None),
        ("General anaesthesia: induction", None),
        ("Trocar access", "T12"),
        ("Balloon inflation", "T12"),
        ("Cement fill", "T12"),
        ("Trocar access", "L1"),
        ("Balloon inflation", "L1"),
        ("Cement fill", "L1"),
        ("Closure", None),
        ("General anaesthesia: recovery", None),
    ]
    assert [r["offset_minutes"] for r in rows] == [0, 5, 25, 35, 43, 49, 59, 67, 73, 78]


@pytest.mark.pure
@pytest.mark.parametrize("anaesthesia", ["general", "local_sedation"])
@pytest.mark.parametrize("levels", [["L1"], ["T12", "L1"], ["T11", "T12", "L1"]])
def test_timeline_plus_turnover_is_the_estimate(levels: list[str], anaesthesia: str) -> None:
    version = unsaved_version(steps=DEFAULT_STEPS)
    rows = timeline_of(version=version, levels=levels, anaesthesia=anaesthesia)
    total = estimate(rules=estimate_rules_of(version), levels=levels, anaesthesia=anaesthesia).total_minutes
    assert sum(r["minutes"] for r in rows) + version.turnover_minutes == total


@pytest.mark.pure
def test_timeline_opens_with_induction_when_the_template_has_no_anaesthesia_step() -> None:
    steps = [("trocar_access", "Trocar access", 10, True), ("closure", "Closure", 5, False)]
    rows = timeline_of(version=unsaved_version(steps=steps), levels=["L1"], anaesthesia="local_sedation")
    assert [r["name"] for r in rows] == [
        "Local with sedation: induction",
        "Trocar access",
        "Closure",
        "Local with sedation: recovery",
    ]


@pytest.mark.pure
def test_cement_volume_follows_the_approach_and_never_exceeds_the_template_maximum() -> None:
    version = unsaved_version(
        cement_ml_per_level=Decimal("4.1"),
        cement_max_ml_per_level=Decimal("6.0"),
        cement_ml_by_approach={"unipedicular": 4.1, "bipedicular": 9.0},
    )
    assert planned_volume_ml(version, "unipedicular") == Decimal("4.1")
    assert planned_volume_ml(version, "bipedicular") == Decimal("6.0")
    plain = unsaved_version(cement_ml_per_level=Decimal("3.5"), cement_ml_by_approach={})
    assert planned_volume_ml(plain, "bipedicular") == planned_volume_ml(plain, "unipedicular") == Decimal("3.5")


# --- Through the API ----------------------------------------------------------------------------


@pytest.fixture
def clinic(db: None) -> Clinic:
    return build_clinic()


def test_plan_shows_the_clinical_choices_of_the_pinned_version(clinic: Clinic) -> None:
    plan = plan_of(clinic.client("surgeon"), clinic.case.pk)
    assert plan["procedure"]["version"] == clinic.version.number
    assert plan["anaesthesia"]["code"] == "general"
    assert plan["anaesthesia"]["fasting"] == {"food_hours": 6, "clear_fluids_hours": 2}
    assert plan["positioning"] == "prone"
    assert plan["imaging"] == {"intra_op": ["fluoroscopy"], "post_op": ["xray"]}
    assert plan["approach"] == "bipedicular"
    assert plan["levels"] == [
        {
            "level": level,
            "approach": "bipedicular",
            "cement_product": "PMMA bone cement (high viscosity)",
            "planned_ml": "4.9",
            "max_ml": "7.0",
        }
        for level in ("T12", "L1")
    ]
    assert plan["cement"]["total_planned_ml"] == "9.8"
    assert [r["code"] for r in plan["risks"]] == ["cement_leakage", "infection"]
    assert plan["recovery"]["stay"] == "day case or overnight"


def test_plan_times_each_step_from_the_booked_start_in_london_time(clinic: Clinic) -> None:
    plan = plan_of(clinic.client("surgeon"), clinic.case.pk)
    steps = plan["steps"]
    assert steps[0]["start"] == "2027-03-01T08:00:00+00:00"
    assert steps[0]["start_clock"] == "08:00"
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert earlier["end"] == later["start"]
        assert dt.datetime.fromisoformat(earlier["end"]) - dt.datetime.fromisoformat(earlier["start"]) == dt.timedelta(
            minutes=earlier["minutes"]
        )
    cement = [s["level"] for s in steps if s["kind"] == "cement_injection"]
    assert cement == ["T12", "L1"]
    end_of_last = dt.datetime.fromisoformat(steps[-1]["end"])
    assert end_of_last + dt.timedelta(minutes=plan["turnover_minutes"]) == clinic.case.end


def test_summer_plan_carries_the_british_summer_time_offset(db: None) -> None:
    clinic = build_clinic()
    clinic.case.refresh_from_db()
    summer = clinic.later_session
    summer.start, summer.end = london(2027, 6, 14, 8), london(2027, 6, 14, 13)
    summer.save()
    coordinator = clinic.users["coordinator"]
    assert coordinator is not None
    move_case(case_id=clinic.case.pk, session_id=summer.pk, actor=Actor.of(coordinator))
    plan = plan_of(clinic.client("surgeon"), clinic.case.pk)
    assert plan["start"] == "2027-06-14T08:00:00+01:00"
    assert plan["steps"][0]["start_clock"] == "08:00"
    assert plan["steps"][0]["start"].endswith("+01:00")


def test_plan_lists_claimed_units_screening_warnings_and_hold_dates(clinic: Clinic) -> None:
    plan = plan_of(clinic.client("surgeon"), clinic.case.pk)
    claimed = CaseEquipment.objects.get(case=clinic.case).unit
    assert plan["equipment"] == [{"id": claimed.pk, "kind": "c_arm", "name": claimed.name, "serial": claimed.serial}]
    assert plan["screening"]["result"] == "eligible"
    assert [w["code"] for w in plan["screening"]["warnings"]] == ["cannot_lie_prone"]
    # Warfarin stops 5 days before a Monday 1 March procedure: no dose from 24 Feb, last dose 23 Feb.
    assert plan["anticoagulant_holds"] == [
        {"drug": "warfarin", "stop_days_before": 5, "last_dose_on": "2027-02-23", "stop_from": "2027-02-24"}
    ]
    assert [(f["code"], f["due_on"]) for f in plan["follow_up"]] == [
        ("review_2_weeks", "2027-03-15"),
        ("review_6_weeks", "2027-04-12"),
    ]


def test_plan_of_a_waiting_case_has_steps_and_minutes_but_no_clock(db: None) -> None:
    clinic = build_clinic()
    waiting = CaseFactory(
        patient=PatientFactory(),
        procedure_version=clinic.version,
        surgeon=clinic.case.surgeon,
        levels=["L2"],
        estimated_minutes=estimated_minutes(1),
    )
    plan = plan_of(clinic.client("surgeon"), waiting.pk)
    assert plan["start"] is None and plan["session"] is None and plan["equipment"] == []
    assert all(step["start"] is None for step in plan["steps"])
    assert plan["steps"][-1]["offset_minutes"] > 0
    assert plan["anticoagulant_holds"] == []


def test_viewers_plan_and_print_view_carry_no_patient_identifiers(clinic: Clinic) -> None:
    viewer = clinic.client("viewer")
    plan = viewer.get(f"/api/v1/cases/{clinic.case.pk}/plan/")
    printed = viewer.get(f"/api/v1/cases/{clinic.case.pk}/plan/", {"format": "html"})
    assert plan.status_code == printed.status_code == 200
    assert plan.json()["patient"] is None
    for body in (plan.content.decode(), printed.content.decode()):
        assert PATIENT_FAMILY not in body
        assert PATIENT_NHS not in body


def test_the_theatre_team_sees_who_the_patient_is(clinic: Clinic) -> None:
    for role in ("coordinator", "surgeon", "anaesthetist"):
        patient = plan_of(clinic.client(role), clinic.case.pk)["patient"]
        assert patient["nhs_number"] == PATIENT_NHS
        assert PATIENT_FAMILY in patient["name"]


def test_print_view_is_one_html_page_with_identity_steps_and_approval(clinic: Clinic) -> None:
    response = clinic.client("surgeon").get(f"/api/v1/cases/{clinic.case.pk}/plan/", {"format": "html"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "@page" in html and "A4" in html
    assert PATIENT_NHS in html
    assert "Balloon inflation" in html and "08:00" in html
    assert "PLAN NOT APPROVED" in html


def test_print_view_refuses_anonymous_users_without_a_page_of_data(clinic: Clinic) -> None:
    response = APIClient().get(f"/api/v1/cases/{clinic.case.pk}/plan/", {"format": "html"})
    assert response.status_code == 401
    assert PATIENT_FAMILY not in response.content.decode()


def test_plan_of_an_unknown_case_is_404(clinic: Clinic) -> None:
    assert clinic.client("surgeon").get("/api/v1/cases/999999/plan/").status_code == 404


def test_plan_takes_the_same_number_of_queries_however_big_the_case(
    db: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    clinic = build_clinic(levels=["L1"])
    bigger_version = kp_version(required_equipment=["c_arm", "kyphoplasty_system"])
    EquipmentUnitFactory(site=clinic.session.theatre.site, kind="kyphoplasty_system")
    bigger = CaseFactory(
        patient=PatientFactory(),
        procedure_version=bigger_version,
        surgeon=clinic.case.surgeon,
        levels=["T11", "T12", "L1"],
        estimated_minutes=estimated_minutes(3),
    )
    coordinator = clinic.users["coordinator"]
    assert coordinator is not None
    book(bigger, session_id=clinic.later_session.pk, by=coordinator)
    assert CaseEquipment.objects.filter(case=bigger).count() == 2
    for case in (clinic.case, bigger):
        # A fresh user object each time: roles are cached on it for one request's life.
        client = client_for(User.objects.get(username="surgeon"))
        # roles of the user; the case joined with patient, version and template, surgeon,
        # approver and session/theatre/site/staff; its steps; its claimed units; the last
        # withdrawal in the audit trail
        with django_assert_num_queries(5):
            assert client.get(f"/api/v1/cases/{case.pk}/plan/").status_code == 200


def test_print_view_gives_the_start_as_a_person_reads_it(clinic: Clinic) -> None:
    html = clinic.client("surgeon").get(f"/api/v1/cases/{clinic.case.pk}/plan/", {"format": "html"}).content
    assert "Mon 1 Mar 2027, 08:00" in html.decode()
