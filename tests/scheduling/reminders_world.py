"""A bookable world for reminder tests, always in the future whatever today's date is.

Reminders are planned against the real clock (a due time already past becomes "at once"), so
these lists sit a couple of months ahead of today rather than on fixed dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from core.audit import Actor
from procedures.models import ProcedureVersion
from scheduling.booking import book_case
from scheduling.models import Case
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    ProcedureTemplateFactory,
    ProcedureVersionFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
)
from theatre.models import Site, StaffMember, Theatre, TheatreSession

LONDON = ZoneInfo("Europe/London")
ACTOR = Actor.system("test:coordinator")

# The seeded kyphoplasty content's shapes (SHAPES.md); a clinician's numbers, set per version.
RECOVERY = {
    "stay": "day case or overnight",
    "bed_rest_hours": 1,
    "discharge_hours": 4,
    "advice": ["Keep the small wounds dry for 48 hours"],
    "rehabilitation": "Build up walking gently each day; physiotherapy will guide your return to activity.",
}
FOLLOW_UP = [
    {"code": "review_2_weeks", "after_days": 14, "title": "Two-week review", "advice": ["Check your wounds"]},
    {
        "code": "review_6_weeks",
        "after_days": 42,
        "title": "Six-week review",
        "advice": ["Avoid strenuous activity and heavy lifting for 6 weeks", "Keep taking your bone medicine"],
    },
]


def next_monday(after_days: int = 60) -> dt.date:
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=after_days)
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def last_sunday_of_october(year: int) -> dt.date:
    day = dt.date(year, 10, 31)
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def next_october_change() -> dt.date:
    """The next autumn clock change at least three weeks ahead (the last Sunday of October)."""
    today = dt.datetime.now(LONDON).date()
    change = last_sunday_of_october(today.year)
    return change if change > today + dt.timedelta(days=21) else last_sunday_of_october(today.year + 1)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


@dataclass
class World:
    site: Site
    theatre: Theatre
    surgeon: StaffMember
    anaesthetist: StaffMember
    version: ProcedureVersion

    def session(self, day: dt.date, *, hour: int = 8, hours: int = 5, status: str = "published") -> TheatreSession:
        start = at(day, hour)
        return TheatreSessionFactory(
            theatre=self.theatre,
            surgeon=self.surgeon,
            anaesthetist=self.anaesthetist,
            start=start,
            end=start + dt.timedelta(hours=hours),
            status=status,
        )

    def case(self, **kwargs: Any) -> Case:
        kwargs.setdefault("procedure_version", self.version)
        kwargs.setdefault("surgeon", self.surgeon)
        kwargs.setdefault("estimated_minutes", 60)
        if "patient" not in kwargs:
            kwargs["patient"] = PatientFactory(**kwargs.pop("patient_kwargs", {}))
        return CaseFactory(**kwargs)

    def booked(self, session: TheatreSession, start: dt.datetime | None = None, **kwargs: Any) -> Case:
        case = self.case(**kwargs)
        return book_case(case_id=case.pk, session_id=session.pk, start=start or session.start, actor=ACTOR)


def build_world() -> World:
    site = SiteFactory(name="Northgate Spinal Unit", address="Northgate Hospital, 1 Infirmary Road, Leeds LS1 3EX")
    if not site.phone:
        site.phone = "0113 496 0000"
        site.save()
    theatre = TheatreFactory(site=site, capabilities=["fluoroscopy", "laminar_flow"])
    EquipmentUnitFactory(site=site, kind="c_arm")
    template = ProcedureTemplateFactory(slug="kyphoplasty-test", name="Balloon kyphoplasty")
    version = ProcedureVersionFactory(
        template=template,
        required_equipment=["c_arm"],
        recovery=RECOVERY,
        follow_up=FOLLOW_UP,
        fasting={"food_hours": 6, "clear_fluids_hours": 2},
    )
    return World(site, theatre, SurgeonFactory(), AnaesthetistFactory(), version)


def make_due_reminders(world: World, count: int, *, due_at: dt.datetime | None = None) -> list[int]:
    """`count` pending day-before emails, one per waiting case, all due (no booking: no notices)."""
    from scheduling.models import Reminder

    due = due_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    day = next_monday()
    start = at(day, 9)
    cases = [world.case() for _ in range(count)]
    rows = Reminder.objects.bulk_create(
        Reminder(
            case=case,
            kind=f"day_before@{day.isoformat()}",
            channel="email",
            due_at=due,
            context={
                "reference": case.reference,
                "procedure": world.version.template.name,
                "levels": case.levels,
                "anaesthesia": "General anaesthesia",
                "start": start.astimezone(dt.UTC).isoformat(),
                "arrival": (start - dt.timedelta(hours=1)).astimezone(dt.UTC).isoformat(),
                "timezone": "Europe/London",
                "session": 0,
                "theatre": world.theatre.name,
                "site_name": world.site.name,
                "site_address": world.site.address,
                "site_phone": world.site.phone,
            },
        )
        for case in cases
    )
    return [r.pk for r in rows]
