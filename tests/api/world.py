"""A small seeded world for the plan, checklist and permission tests: one login per role, a
spinal list, and one patient with cases in several states, booked through the real services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from core.audit import Actor
from core.roles import Role
from procedures.models import ProcedureVersion
from scheduling import checklist, plans
from scheduling.booking import book_case
from scheduling.models import Case, Patient
from tests.conftest import client_for
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    ProcedureVersionFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    TimetableFactory,
    london,
)

ROLES: tuple[str, ...] = ("anonymous", "viewer", "coordinator", "surgeon", "other_surgeon", "anaesthetist", "admin")

# Distinctive, so a leak is found by a plain substring search of any response body.
PATIENT_GIVEN = "Marjorie"
PATIENT_FAMILY = "Featherstonehaugh"
PATIENT_NHS = "9434765919"
PATIENT_MRN = "RX9Q771204"
PATIENT_DOB = dt.date(1941, 2, 13)
PATIENT_EMAIL = "marjorie.f@example.org"
PATIENT_PHONE = "+447700900461"
PATIENT_ADDRESS = "12 Larkspur Close, Otley LS21 9QT"

KP_STEPS: list[tuple[str, str, int, bool]] = [
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

SIGN_IN: dict[str, object] = {
    "identity_site_procedure_consent": True,
    "site_marked": True,
    "anaesthesia_safety_check": True,
    "pulse_oximeter": True,
    "known_allergy": "no",
    "difficult_airway_aspiration_risk": "no",
    "blood_loss_risk": "no",
}
TIME_OUT: dict[str, object] = {
    "team_introduced": True,
    "patient_site_procedure_confirmed": True,
    "antibiotic_prophylaxis": "not_applicable",
    "surgeon_critical_events": True,
    "anaesthetist_critical_events": True,
    "nursing_critical_events": True,
    "essential_imaging_displayed": True,
}
SIGN_OUT: dict[str, object] = {
    "procedure_recorded": True,
    "counts_complete": True,
    "specimen_labelled": "not_applicable",
    "equipment_problems_addressed": True,
    "recovery_concerns_reviewed": True,
}
PHASE_ITEMS = {"sign_in": SIGN_IN, "time_out": TIME_OUT, "sign_out": SIGN_OUT}


def kp_version(**fields: Any) -> ProcedureVersion:
    """A kyphoplasty-like version: GA 20 + 10 min, 45 fixed minutes, 24 per level, turnover 15."""
    values: dict[str, Any] = {
        "anaesthesia_options": [
            {"code": "general", "label": "General anaesthesia", "induction_minutes": 20, "recovery_minutes": 10},
            {"code": "local_sedation", "label": "Local with sedation", "induction_minutes": 10, "recovery_minutes": 5},
        ],
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


def login(username: str, role: Role | None, *, superuser: bool = False) -> User:
    """A user in a role group. No password: hashing one costs ~0.3 s, and the API client
    authenticates by force_authenticate anyway."""
    user = User.objects.create(username=username, is_superuser=superuser, is_staff=superuser)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


def book(case: Case, *, session_id: int, start: dt.datetime | None = None, by: User) -> Case:
    booked = book_case(case_id=case.pk, session_id=session_id, start=start, actor=Actor.of(by))
    case.refresh_from_db()
    return booked


def approve(case: Case, *, by: User) -> Case:
    plans.approve_plan(case_id=case.pk, actor=Actor.of(by))
    case.refresh_from_db()
    return case


def confirm(case: Case, *, by: User) -> Case:
    plans.confirm_case(case_id=case.pk, actor=Actor.of(by))
    case.refresh_from_db()
    return case


def sign(case: Case, phase: str, *, by: User) -> None:
    checklist.record_phase(case_id=case.pk, phase=phase, items=PHASE_ITEMS[phase], actor=Actor.of(by))
    case.refresh_from_db()


@dataclass
class World:
    users: dict[str, User | None]
    patient: Patient
    version: ProcedureVersion
    objects: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        client = client_for(self.users[role])
        client.raise_request_exception = False  # a 500 is a cell that does not match, not a crash
        return client

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None


def build_world() -> World:
    """Users for every role; a list led by `surgeon` with `anaesthetist`; the seeded patient's cases:
    `case` booked with an approved plan, `case_unapproved` (booked), `case_confirmed`,
    `case_in_theatre` (signed in) and `case_waiting`."""
    users: dict[str, User | None] = {
        "anonymous": None,
        "viewer": login("m-viewer", Role.VIEWER),
        "coordinator": login("m-coordinator", Role.COORDINATOR),
        "surgeon": login("m-surgeon", Role.SURGEON),
        "other_surgeon": login("m-surgeon2", Role.SURGEON),
        "anaesthetist": login("m-anaesthetist", Role.ANAESTHETIST),
        "admin": login("m-admin", None, superuser=True),
    }
    site = SiteFactory()
    theatre = TheatreFactory(site=site, capabilities=["fluoroscopy", "laminar_flow"])
    unit = EquipmentUnitFactory(site=site, kind="c_arm", name="C-arm 1")
    surgeon = SurgeonFactory(name="Miss Priya Shah", user=users["surgeon"])
    other_surgeon = SurgeonFactory(name="Mr Tom Okafor", user=users["other_surgeon"])
    anaesthetist = AnaesthetistFactory(name="Dr Helen Marsh", user=users["anaesthetist"])
    timetable = TimetableFactory(theatre=theatre, surgeon=surgeon, anaesthetist=anaesthetist)
    session = TheatreSessionFactory(
        theatre=theatre,
        timetable=timetable,
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        start=london(2027, 3, 1, 8),
        end=london(2027, 3, 1, 18),
        period="all_day",
    )
    other_session = TheatreSessionFactory(
        theatre=theatre, surgeon=other_surgeon, anaesthetist=anaesthetist, start=london(2027, 3, 8, 8)
    )
    version = kp_version()
    patient = PatientFactory(
        given_name=PATIENT_GIVEN,
        family_name=PATIENT_FAMILY,
        nhs_number=PATIENT_NHS,
        mrn=PATIENT_MRN,
        date_of_birth=PATIENT_DOB,
        email=PATIENT_EMAIL,
        phone=PATIENT_PHONE,
        address=PATIENT_ADDRESS,
    )
    coordinator = users["coordinator"]
    assert coordinator is not None and users["surgeon"] is not None and users["anaesthetist"] is not None

    def new_case(**kwargs: Any) -> Case:
        levels = kwargs.pop("levels", ["T12", "L1"])
        return CaseFactory(
            patient=patient,
            procedure_version=version,
            surgeon=surgeon,
            levels=levels,
            estimated_minutes=estimated_minutes(len(levels)),
            screening_result={
                "result": "eligible",
                "blockers": [],
                "warnings": [{"code": "cannot_lie_prone", "message": "Check the patient can lie prone."}],
                "missing": [],
                "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}],
            },
            **kwargs,
        )

    case = book(new_case(), session_id=session.pk, start=london(2027, 3, 1, 8), by=coordinator)
    approve(case, by=users["surgeon"])
    confirmed = book(new_case(levels=["L2"]), session_id=session.pk, start=london(2027, 3, 1, 11), by=coordinator)
    approve(confirmed, by=users["surgeon"])
    confirm(confirmed, by=coordinator)
    in_theatre = book(new_case(levels=["L3"]), session_id=session.pk, start=london(2027, 3, 1, 13), by=coordinator)
    approve(in_theatre, by=users["surgeon"])
    confirm(in_theatre, by=coordinator)
    sign(in_theatre, "sign_in", by=users["anaesthetist"])
    unapproved = book(new_case(levels=["T10"]), session_id=session.pk, start=london(2027, 3, 1, 15), by=coordinator)
    waiting = new_case(levels=["T11"])
    return World(
        users=users,
        patient=patient,
        version=version,
        objects={
            "site": site,
            "theatre": theatre,
            "unit": unit,
            "surgeon_staff": surgeon,
            "other_surgeon_staff": other_surgeon,
            "anaesthetist_staff": anaesthetist,
            "timetable": timetable,
            "session": session,
            "other_session": other_session,
            "case": case,
            "case_confirmed": confirmed,
            "case_in_theatre": in_theatre,
            "case_unapproved": unapproved,
            "case_waiting": waiting,
        },
    )


@dataclass
class Clinic:
    """The lighter setting for behaviour tests: logins, one list, one booked case."""

    users: dict[str, User | None]
    session: Any
    later_session: Any
    version: ProcedureVersion
    case: Case

    def client(self, role: str) -> APIClient:
        return client_for(self.users[role])


def build_clinic(*, approved: bool = False, confirmed: bool = False, levels: list[str] | None = None) -> Clinic:
    """A booked two-level GA case at 08:00 on Monday 1 March 2027, led by `surgeon`."""
    users: dict[str, User | None] = {
        "anonymous": None,
        "viewer": login("viewer", Role.VIEWER),
        "coordinator": login("coordinator", Role.COORDINATOR),
        "surgeon": login("surgeon", Role.SURGEON),
        "other_surgeon": login("surgeon2", Role.SURGEON),
        "anaesthetist": login("anaesthetist", Role.ANAESTHETIST),
        "admin": login("admin", None, superuser=True),
    }
    site = SiteFactory()
    theatre = TheatreFactory(site=site)
    EquipmentUnitFactory(site=site, kind="c_arm")
    surgeon = SurgeonFactory(name="Miss Priya Shah", user=users["surgeon"])
    SurgeonFactory(name="Mr Tom Okafor", user=users["other_surgeon"])
    anaesthetist = AnaesthetistFactory(name="Dr Helen Marsh", user=users["anaesthetist"])
    session = TheatreSessionFactory(
        theatre=theatre, surgeon=surgeon, anaesthetist=anaesthetist, start=london(2027, 3, 1, 8)
    )
    later = TheatreSessionFactory(
        theatre=theatre, surgeon=surgeon, anaesthetist=anaesthetist, start=london(2027, 3, 8, 8)
    )
    version = kp_version()
    levels = levels or ["T12", "L1"]
    case = CaseFactory(
        patient=PatientFactory(given_name=PATIENT_GIVEN, family_name=PATIENT_FAMILY, nhs_number=PATIENT_NHS),
        procedure_version=version,
        surgeon=surgeon,
        levels=levels,
        estimated_minutes=estimated_minutes(len(levels)),
        screening_result={
            "result": "eligible",
            "blockers": [],
            "warnings": [{"code": "cannot_lie_prone", "message": "Check the patient can lie prone."}],
            "missing": [],
            "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}],
        },
    )
    coordinator = users["coordinator"]
    assert coordinator is not None and users["surgeon"] is not None
    book(case, session_id=session.pk, start=london(2027, 3, 1, 8), by=coordinator)
    if approved or confirmed:
        approve(case, by=users["surgeon"])
    if confirmed:
        confirm(case, by=coordinator)
    return Clinic(users=users, session=session, later_session=later, version=version, case=case)
