"""The unit every scheduling test books into, and the lists and cases put in it.

`build_world()` makes a World: one site with a fluoroscopy theatre and its C-arm, a surgeon, an
anaesthetist and a procedure version that needs the C-arm. The other worlds grow from it:

- `build_booking_world()` adds one published list on Monday 4 January 2027, 08:00–13:00 London
  (GMT, so 08:00–13:00 UTC), for the booking, availability and concurrency tests; `at(9)` is a
  time on that Monday.
- `build_reminder_world()` gives the site a phone and the version its recovery and follow-up, for
  the reminder tests. Reminders are planned against the real clock (a due time already past
  becomes "at once"), so those tests put their lists a couple of months ahead of today
  (`world.session_on(next_monday())`) rather than on fixed dates.
- tests.builders.clinic adds logins, named staff and a case booked by a coordinator.

For theatre's side of a list, `new_session()` makes one through theatre's service, and
`placed_case()` puts a case straight onto a list, past booking's rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.audit import Actor
from procedures.models import ProcedureVersion
from scheduling.booking import book_case
from scheduling.models import Case, Reminder
from tests.builders.versions import reminder_version
from tests.factories import (
    LONDON,
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    ProcedureVersionFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    london,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession
from theatre.sessions import create_session

MONDAY = dt.date(2027, 1, 4)
SYSTEM = Actor.system("test")


def at(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    """A London wall-clock time on `day` (the booking world's Monday unless given)."""
    return london(day.year, day.month, day.day, hour, minute)


def session_at(day: dt.date, *, hour: int = 8, hours: int = 5, **fields: Any) -> TheatreSession:
    """A list from `hour` London time on `day`, `hours` long; published unless `status` says."""
    start = at(hour, day=day)
    fields.setdefault("status", "published")
    return TheatreSessionFactory(start=start, end=start + dt.timedelta(hours=hours), **fields)


@dataclass(kw_only=True)
class World:
    site: Site
    theatre: Theatre
    surgeon: StaffMember
    anaesthetist: StaffMember
    version: ProcedureVersion
    units: list[EquipmentUnit] = field(default_factory=list)

    def session_on(self, day: dt.date, *, hour: int = 8, hours: int = 5, **fields: Any) -> TheatreSession:
        """A list in this theatre, led by this surgeon and anaesthetist unless `fields` say otherwise."""
        fields = {"theatre": self.theatre, "surgeon": self.surgeon, "anaesthetist": self.anaesthetist, **fields}
        return session_at(day, hour=hour, hours=hours, **fields)

    def other_session(self, *, hour: int = 8, hours: int = 5, day: dt.date = MONDAY, **fields: Any) -> TheatreSession:
        """A list in another theatre at the same site (its own surgeon and anaesthetist by default)."""
        if "theatre" not in fields:
            fields["theatre"] = TheatreFactory(site=self.site, capabilities=["fluoroscopy"])
        return session_at(day, hour=hour, hours=hours, **fields)

    def case(self, **fields: Any) -> Case:
        """A waiting case for this version and surgeon, 60 minutes unless given; `patient_kwargs`
        shape its new patient."""
        fields.setdefault("procedure_version", self.version)
        fields.setdefault("surgeon", self.surgeon)
        fields.setdefault("estimated_minutes", 60)
        if "patient" not in fields:
            fields["patient"] = PatientFactory(**fields.pop("patient_kwargs", {}))
        return CaseFactory(**fields)

    def booked(
        self, session: TheatreSession, start: dt.datetime | None = None, *, actor: Actor = SYSTEM, **fields: Any
    ) -> Case:
        """A new case (`fields` as for `case`) booked through the booking service, at the list's
        start unless given."""
        case = self.case(**fields)
        return book_case(case_id=case.pk, session_id=session.pk, start=start or session.start, actor=actor)


@dataclass(kw_only=True)
class BookingWorld(World):
    session: TheatreSession  # published, Monday 4 January 2027, 08:00–13:00 London


def build_world(
    *,
    site: Site | None = None,
    version: ProcedureVersion | None = None,
    equipment: tuple[str, ...] = ("c_arm",),
    units: int = 1,
    surgeon: StaffMember | None = None,
    anaesthetist: StaffMember | None = None,
) -> World:
    """The unit: `units` of each kind in `equipment` at the site and, unless one is given, a
    version that needs them."""
    site = site or SiteFactory()
    return World(
        site=site,
        theatre=TheatreFactory(site=site, capabilities=["fluoroscopy", "laminar_flow"]),
        surgeon=surgeon or SurgeonFactory(),
        anaesthetist=anaesthetist or AnaesthetistFactory(),
        version=version or ProcedureVersionFactory(required_equipment=list(equipment)),
        units=[EquipmentUnitFactory(site=site, kind=kind) for kind in equipment for _ in range(units)],
    )


def build_booking_world(
    *, units: int = 1, equipment: tuple[str, ...] = ("c_arm",), site_name: str | None = None
) -> BookingWorld:
    """The unit with its published list on Monday 4 January 2027, 08:00–13:00."""
    world = build_world(site=SiteFactory(name=site_name) if site_name else None, equipment=equipment, units=units)
    unit = {f.name: getattr(world, f.name) for f in dataclasses.fields(World)}  # the World, as fields
    return BookingWorld(**unit, session=world.session_on(MONDAY))


# --- Lists ahead of today, for the reminder tests ---------------------------------------------


def build_reminder_world() -> World:
    """The unit with the site's phone, and a balloon kyphoplasty version with its recovery,
    follow-up and fasting: what the reminders are written from."""
    return build_world(site=SiteFactory(phone="0113 496 0000"), version=reminder_version())


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


def make_due_reminders(world: World, count: int, *, due_at: dt.datetime | None = None) -> list[int]:
    """`count` pending day-before emails, one per waiting case, all due (no booking: no notices)."""
    due = due_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    day = next_monday()
    start = at(9, day=day)
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


# --- Theatre's side of a list -----------------------------------------------------------------


def new_session(**overrides: Any) -> TheatreSession:
    """A list made through theatre's create_session: Monday 1 March 2027, 08:00–13:00, in a new
    theatre with a new surgeon and anaesthetist unless `overrides` say otherwise."""
    values: dict[str, Any] = {
        "theatre": TheatreFactory(),
        "start": london(2027, 3, 1, 8),
        "end": london(2027, 3, 1, 13),
        "surgeon": SurgeonFactory(),
        "anaesthetist": AnaesthetistFactory(),
        "actor": SYSTEM,
        **overrides,
    }
    return create_session(**values)


def placed_case(
    session: TheatreSession,
    start: dt.datetime,
    end: dt.datetime,
    *,
    units: Iterable[EquipmentUnit] = (),
    **fields: Any,
) -> Case:
    """A case written straight onto `session` from `start` to `end`, booked and with the list's
    anaesthetist unless `fields` say otherwise, claiming `units`: for tests of what a list does to
    the cases on it, without booking's own checks in the way."""
    fields.setdefault("status", "booked")
    fields.setdefault("anaesthetist", session.anaesthetist)
    case = CaseFactory(session=session, start=start, end=end, **fields)
    for unit in units:
        case.equipment_claims.create(unit=unit, start=start, end=end)
    return case
