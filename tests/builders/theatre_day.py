"""A unit whose lists have happened, for the theatre times, cancellation and report tests.

Lists are in the past (November 2026 and the 2026 clock changes); cases go through the real
services: booked as of the day before, plan approved, confirmed, signed in, times recorded,
signed out. Times are given as local "HH:MM" on the list's day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.audit import Actor
from core.roles import Role
from procedures.models import ProcedureVersion
from scheduling import checklist, plans, theatre_times
from scheduling.booking import book_case, cancel_case
from scheduling.models import Case
from tests.builders.clinic import PHASE_ITEMS
from tests.builders.people import login
from tests.builders.versions import kp_version
from tests.conftest import client_for
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    london,
)
from theatre.models import Site, StaffMember, Theatre, TheatreSession

ROLES = ("viewer", "coordinator", "surgeon", "other_surgeon", "anaesthetist", "admin")


@dataclass
class TheatreDay:
    users: dict[str, User]
    site: Site
    theatre: Theatre
    theatre2: Theatre
    surgeon: StaffMember
    other_surgeon: StaffMember
    anaesthetist: StaffMember
    version: ProcedureVersion

    def client(self, role: str) -> APIClient:
        return client_for(self.users[role])

    def actor(self, role: str) -> Actor:
        return Actor.of(self.users[role])

    def session(
        self,
        day: dt.date,
        start: str = "08:00",
        end: str = "13:00",
        *,
        theatre: Theatre | None = None,
        surgeon: StaffMember | None = None,
        status: str = "published",
    ) -> TheatreSession:
        return TheatreSessionFactory(
            theatre=theatre or self.theatre,
            surgeon=surgeon or self.surgeon,
            anaesthetist=self.anaesthetist,
            start=at(day, start),
            end=at(day, end),
            status=status,
        )

    def booked(self, session: TheatreSession, start: str, *, minutes: int = 50) -> Case:
        """A case booked into `session` at local `start` for `minutes`, as a coordinator did the day
        before. The minutes are planned, so the cases completed earlier in the week (which the
        learned prediction would otherwise follow) do not change the slot each case was written for."""
        case = CaseFactory(
            patient=PatientFactory(),
            procedure_version=self.version,
            surgeon=session.surgeon,
            levels=["L1"],
            estimated_minutes=minutes,
            planned_minutes=minutes,
            planned_minutes_reason="booked for the stated minutes",
        )
        day = session.start.astimezone(london(2026, 1, 1).tzinfo).date()
        book_case(
            case_id=case.pk,
            session_id=session.pk,
            start=at(day, start),
            actor=self.actor("coordinator"),
            now=session.start - dt.timedelta(days=1),
        )
        case.refresh_from_db()
        return case

    def signed_in(self, session: TheatreSession, start: str, **kwargs: int) -> Case:
        """Booked, plan approved by its surgeon, confirmed, and signed in: the case is in theatre."""
        case = self.booked(session, start, **kwargs)
        surgeon_user = self.users["surgeon" if case.surgeon_id == self.surgeon.pk else "other_surgeon"]
        plans.approve_plan(case_id=case.pk, actor=Actor.of(surgeon_user))
        plans.confirm_case(case_id=case.pk, actor=self.actor("coordinator"))
        assert case.start is not None
        # Signed in on the list's day, just before the case (these lists are in the past).
        checklist.record_phase(
            case_id=case.pk,
            phase="sign_in",
            items=PHASE_ITEMS["sign_in"],
            actor=Actor.of(surgeon_user),
            now=case.start - dt.timedelta(minutes=5),
        )
        case.refresh_from_db()
        return case

    def record(self, case: Case, day: dt.date, *, reason: str = "", **times: str | None) -> None:
        values = {name: at(day, hhmm) if hhmm is not None else None for name, hhmm in times.items()}
        theatre_times.record_times(case_id=case.pk, values=values, actor=self.actor("coordinator"), reason=reason)

    def signed_out(self, case: Case) -> Case:
        surgeon_user = self.users["surgeon" if case.surgeon_id == self.surgeon.pk else "other_surgeon"]
        for phase in ("time_out", "sign_out"):
            checklist.record_phase(case_id=case.pk, phase=phase, items=PHASE_ITEMS[phase], actor=Actor.of(surgeon_user))
        case.refresh_from_db()
        return case

    def operated(self, session: TheatreSession, start: str, **times: str) -> Case:
        """A whole case: into theatre, its times recorded, signed out (completed)."""
        case = self.signed_in(session, start)
        self.record(case, _day(session), **times)
        return self.signed_out(case)

    def cancel(self, case: Case, reason: str, *, when: dt.datetime, note: str = "") -> Case:
        return cancel_case(case_id=case.pk, reason=reason, note=note, actor=self.actor("coordinator"), now=when)


def at(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return london(day.year, day.month, day.day, hour, minute)


def _day(session: TheatreSession) -> dt.date:
    return session.start.astimezone(london(2026, 1, 1).tzinfo).date()


def build_theatre_day(*, tag: str = "t", site_name: str = "Northgate Spinal Unit") -> TheatreDay:
    """Logins `<tag>-<role>`, a site with two theatres and two C-arms, two surgeons, an anaesthetist."""
    users = {
        "viewer": login(f"{tag}-viewer", Role.VIEWER),
        "coordinator": login(f"{tag}-coordinator", Role.COORDINATOR),
        "surgeon": login(f"{tag}-surgeon", Role.SURGEON),
        "other_surgeon": login(f"{tag}-surgeon2", Role.SURGEON),
        "anaesthetist": login(f"{tag}-anaesthetist", Role.ANAESTHETIST),
        "admin": login(f"{tag}-admin", None, superuser=True),
    }
    site = SiteFactory(name=site_name)
    theatre = TheatreFactory(site=site, name="Theatre 1")
    theatre2 = TheatreFactory(site=site, name="Theatre 2")
    EquipmentUnitFactory(site=site, kind="c_arm")
    EquipmentUnitFactory(site=site, kind="c_arm")
    return TheatreDay(
        users=users,
        site=site,
        theatre=theatre,
        theatre2=theatre2,
        surgeon=SurgeonFactory(name="Miss Priya Shah", user=users["surgeon"]),
        other_surgeon=SurgeonFactory(name="Mr Tom Okafor", user=users["other_surgeon"]),
        anaesthetist=AnaesthetistFactory(name="Dr Helen Marsh", user=users["anaesthetist"]),
        version=kp_version(),
    )
