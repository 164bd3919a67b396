"""What the browser journeys run against: logins with passwords (they type them into the login
page), the seeded balloon kyphoplasty template, one theatre with what it needs, and two lists:

- `future`: a published list a week from today, 08:00–13:00 London, for finding and booking slots;
- `today`: a published list on today's date that started half an hour ago, so the WHO sign in
  (accepted only on the list's day, from shortly before its start) is valid whenever this runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from core.audit import Actor
from procedures.models import ProcedureVersion
from procedures.versions import latest_version
from scheduling import cases, plans
from scheduling.booking import book_case
from scheduling.models import Case, Patient
from tests.builders.answers import eligible_answers
from tests.builders.people import logins, team
from tests.builders.world import session_at
from tests.factories import LONDON, EquipmentUnitFactory, PatientFactory, SiteFactory, TheatreFactory
from theatre.models import StaffMember, Theatre, TheatreSession


def password(username: str) -> str:
    return f"{username}-ui-test"


@dataclass
class UiWorld:
    users: dict[str, User]
    surgeon: StaffMember
    other_surgeon: StaffMember
    anaesthetist: StaffMember
    theatre: Theatre
    version: ProcedureVersion
    future: TheatreSession
    today: TheatreSession

    def actor(self, role: str) -> Actor:
        return Actor.of(self.users[role])

    def waiting_case(self, *, patient: Patient | None = None, levels: tuple[str, ...] = ("L1",), **fields: Any) -> Case:
        """A screened, eligible kyphoplasty case of `surgeon` on the waiting list, made by the coordinator."""
        patient = patient or PatientFactory()
        return cases.create_case(
            actor=self.actor("coordinator"),
            patient_id=patient.pk,
            procedure="kyphoplasty",
            levels=list(levels),
            surgeon_id=fields.pop("surgeon_id", self.surgeon.pk),
            referral_date=fields.pop("referral_date", timezone.localdate() - dt.timedelta(days=20)),
            screening_answers=eligible_answers(),
            **fields,
        )

    def booked_case(self, session: TheatreSession, start: dt.datetime | None = None, **fields: Any) -> Case:
        case = self.waiting_case(**fields)
        return book_case(case_id=case.pk, session_id=session.pk, start=start, actor=self.actor("coordinator"))

    def approve(self, case: Case) -> None:
        plans.approve_plan(case_id=case.pk, actor=self.actor("surgeon"))


def _today_list_start() -> dt.datetime:
    """Half an hour ago on the 5-minute grid, but never before today's local midnight."""
    now = dt.datetime.now(LONDON).replace(second=0, microsecond=0)
    start = now - dt.timedelta(minutes=30 + now.minute % 5)
    midnight = now.replace(hour=0, minute=0)
    return max(start, midnight)


def build_ui_world() -> UiWorld:
    created = logins()
    users: dict[str, User] = {}
    for role, user in created.items():
        if user is None:
            continue
        user.set_password(password(user.username))
        user.first_name, user.last_name = role.replace("_", " ").title(), "Tester"
        user.save()
        users[role] = user
    surgeon, other_surgeon, anaesthetist = team(created)
    version = latest_version(slug="kyphoplasty")
    assert version is not None, "the kyphoplasty template is seeded by a data migration"
    site = SiteFactory(name="Northgate Spinal Unit")
    theatre = TheatreFactory(site=site, name="Theatre 1", capabilities=[*version.required_capabilities, "laminar_flow"])
    for kind in version.required_equipment:
        EquipmentUnitFactory(site=site, kind=kind, name=f"{kind} 1")
    week_ahead = timezone.localdate() + dt.timedelta(days=7)
    future = session_at(week_ahead, theatre=theatre, surgeon=surgeon, anaesthetist=anaesthetist, period="am")
    start = _today_list_start()
    today = TheatreSession.objects.create(
        theatre=theatre,
        start=start,
        end=start + dt.timedelta(hours=4),
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        status="published",
        period="all_day",
    )
    return UiWorld(
        users=users,
        surgeon=surgeon,
        other_surgeon=other_surgeon,
        anaesthetist=anaesthetist,
        theatre=theatre,
        version=version,
        future=future,
        today=today,
    )
