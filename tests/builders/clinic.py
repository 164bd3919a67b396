"""The unit with people in it: a login per role, the staff linked to them, and a seeded patient
whose cases are booked, approved, confirmed and signed in through the real services.

`build_clinic()` is the lighter setting for behaviour tests (one booked case); `build_permission_world()`
seeds a case in every state for the permission matrix (tests/api/test_permissions.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.audit import Actor
from procedures.models import ProcedureVersion
from scheduling import checklist, plans, unavailability
from scheduling.booking import book_case
from scheduling.models import Case, Patient
from tests.builders.people import logins, team
from tests.builders.versions import estimated_minutes, kp_version
from tests.builders.world import World, at, build_world
from tests.conftest import client_for
from tests.factories import PatientFactory, TimetableFactory
from theatre.models import TheatreSession

FIRST_MONDAY = dt.date(2027, 3, 1)
SECOND_MONDAY = dt.date(2027, 3, 8)

# Distinctive, so a leak is found by a plain substring search of any response body.
PATIENT_GIVEN = "Marjorie"
PATIENT_FAMILY = "Featherstonehaugh"
PATIENT_NHS = "9434765919"
PATIENT_MRN = "RX9Q771204"
PATIENT_DOB = dt.date(1941, 2, 13)
PATIENT_EMAIL = "marjorie.f@example.org"
PATIENT_PHONE = "+447700900461"
PATIENT_ADDRESS = "12 Larkspur Close, Otley LS21 9QT"

# Eligible, with a warning to show in the plan and a warfarin hold to time.
SCREENING_RESULT: dict[str, Any] = {
    "result": "eligible",
    "blockers": [],
    "warnings": [{"code": "cannot_lie_prone", "message": "Check the patient can lie prone."}],
    "missing": [],
    "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}],
}

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


# When each phase is signed, from the case's booked start: on the list's day, as in theatre
# (sign in opens shortly before the list: scheduling.checklist.sign_in_refusal).
PHASE_AT = {
    "sign_in": dt.timedelta(minutes=-5),
    "time_out": dt.timedelta(minutes=10),
    "sign_out": dt.timedelta(minutes=40),
}


def sign(case: Case, phase: str, *, by: User) -> None:
    """Sign `phase` as it would be signed in theatre on the day (the case must be booked)."""
    case.refresh_from_db()
    assert case.start is not None, "only a booked case is signed"
    checklist.record_phase(
        case_id=case.pk, phase=phase, items=PHASE_ITEMS[phase], actor=Actor.of(by), now=case.start + PHASE_AT[phase]
    )
    case.refresh_from_db()


def clinic_case(world: World, *, patient: Patient, levels: list[str] | None = None, **fields: Any) -> Case:
    """A waiting GA case of the seeded patient, estimated for its levels (T12 and L1 unless given)."""
    levels = levels or ["T12", "L1"]
    return world.case(
        patient=patient,
        levels=levels,
        estimated_minutes=estimated_minutes(len(levels)),
        screening_result=SCREENING_RESULT,
        **fields,
    )


def _role(users: dict[str, User | None], role: str) -> User:
    user = users[role]
    assert user is not None, f"{role} has no login"
    return user


@dataclass
class Clinic:
    """The lighter setting for behaviour tests: logins, one list, one booked case."""

    users: dict[str, User | None]
    world: World
    session: TheatreSession
    later_session: TheatreSession
    version: ProcedureVersion
    case: Case

    def client(self, role: str) -> APIClient:
        return client_for(self.users[role])


def build_clinic(*, approved: bool = False, confirmed: bool = False, levels: list[str] | None = None) -> Clinic:
    """A booked two-level GA case at 08:00 on Monday 1 March 2027, led by `surgeon`."""
    users = logins()
    surgeon, _, anaesthetist = team(users)
    world = build_world(surgeon=surgeon, anaesthetist=anaesthetist, version=kp_version())
    session = world.session_on(FIRST_MONDAY)
    later = world.session_on(SECOND_MONDAY)
    patient = PatientFactory(given_name=PATIENT_GIVEN, family_name=PATIENT_FAMILY, nhs_number=PATIENT_NHS)
    case = clinic_case(world, patient=patient, levels=levels)
    coordinator = _role(users, "coordinator")
    book(case, session_id=session.pk, start=session.start, by=coordinator)
    if approved or confirmed:
        approve(case, by=_role(users, "surgeon"))
    if confirmed:
        confirm(case, by=coordinator)
    return Clinic(users=users, world=world, session=session, later_session=later, version=world.version, case=case)


@dataclass
class PermissionWorld:
    """What the permission matrix reaches: the logins, the seeded patient and version, and every
    other object by name (`world.case_waiting`, `world.timetable`, ...)."""

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


def build_permission_world() -> PermissionWorld:
    """Users for every role; an all-day list led by `surgeon` with `anaesthetist`, from a
    timetable; the seeded patient's cases: `case` booked with an approved plan, `case_unapproved`
    (booked), `case_confirmed`, `case_in_theatre` (signed in) and `case_waiting`."""
    users = logins(prefix="m-")
    surgeon_staff, other_surgeon_staff, anaesthetist_staff = team(users)
    world = build_world(surgeon=surgeon_staff, anaesthetist=anaesthetist_staff, version=kp_version())
    timetable = TimetableFactory(theatre=world.theatre, surgeon=world.surgeon, anaesthetist=world.anaesthetist)
    session = world.session_on(FIRST_MONDAY, hours=10, timetable=timetable, period="all_day")
    other_session = world.session_on(SECOND_MONDAY, surgeon=other_surgeon_staff)
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
    coordinator, surgeon = _role(users, "coordinator"), _role(users, "surgeon")

    def booked_at(hour: int, levels: list[str]) -> Case:
        case = clinic_case(world, patient=patient, levels=levels)
        return book(case, session_id=session.pk, start=at(hour, day=FIRST_MONDAY), by=coordinator)

    case = approve(booked_at(8, ["T12", "L1"]), by=surgeon)
    confirmed = confirm(approve(booked_at(11, ["L2"]), by=surgeon), by=coordinator)
    in_theatre = confirm(approve(booked_at(13, ["L3"]), by=surgeon), by=coordinator)
    sign(in_theatre, "sign_in", by=_role(users, "anaesthetist"))
    unapproved = booked_at(15, ["T10"])
    waiting = clinic_case(world, patient=patient, levels=["T11"])
    # Far from every list in this world, so it refuses no booking the matrix makes.
    away = unavailability.add_unavailability(
        actor=Actor.of(coordinator),
        case_id=case.pk,
        start_date=dt.date(2030, 7, 1),
        end_date=dt.date(2030, 7, 14),
        reason="holiday",
        patient_initiated=True,
    ).period
    return PermissionWorld(
        users=users,
        patient=patient,
        version=world.version,
        objects={
            "site": world.site,
            "theatre": world.theatre,
            "unit": world.units[0],
            "surgeon_staff": surgeon_staff,
            "other_surgeon_staff": other_surgeon_staff,
            "anaesthetist_staff": anaesthetist_staff,
            "timetable": timetable,
            "session": session,
            "other_session": other_session,
            "case": case,
            "case_confirmed": confirmed,
            "case_in_theatre": in_theatre,
            "case_unapproved": unapproved,
            "case_waiting": waiting,
            "unavailability": away,
        },
    )
