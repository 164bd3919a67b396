"""A small bookable world for booking, availability and concurrency tests.

One site with a fluoroscopy theatre and a C-arm, a procedure needing both, and a published
list on Monday 4 January 2027, 08:00–13:00 London (GMT, so 08:00–13:00 UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from core.audit import Actor
from procedures.models import ProcedureVersion
from scheduling.models import Case
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    ProcedureVersionFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    london,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession

MONDAY = dt.date(2027, 1, 4)


@dataclass
class World:
    site: Site
    theatre: Theatre
    surgeon: StaffMember
    anaesthetist: StaffMember
    version: ProcedureVersion
    session: TheatreSession
    units: list[EquipmentUnit] = field(default_factory=list)

    def case(self, **kwargs: Any) -> Case:
        kwargs.setdefault("procedure_version", self.version)
        kwargs.setdefault("surgeon", self.surgeon)
        kwargs.setdefault("estimated_minutes", 60)
        return CaseFactory(**kwargs)

    def other_session(self, *, hour: int = 8, hours: int = 5, day: dt.date = MONDAY, **kwargs: Any) -> TheatreSession:
        """A list in another theatre at the same site (its own surgeon and anaesthetist by default)."""
        kwargs.setdefault("theatre", TheatreFactory(site=self.site, capabilities=["fluoroscopy"]))
        start = london(day.year, day.month, day.day, hour)
        return TheatreSessionFactory(start=start, end=start + dt.timedelta(hours=hours), **kwargs)


def build_world(*, units: int = 1, equipment: tuple[str, ...] = ("c_arm",), site_name: str | None = None) -> World:
    site = SiteFactory(name=site_name) if site_name else SiteFactory()
    theatre = TheatreFactory(site=site, capabilities=["fluoroscopy", "laminar_flow"])
    surgeon = SurgeonFactory()
    anaesthetist = AnaesthetistFactory()
    version = ProcedureVersionFactory(required_equipment=list(equipment))
    start = london(2027, 1, 4, 8)
    session = TheatreSessionFactory(
        theatre=theatre,
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        start=start,
        end=start + dt.timedelta(hours=5),
        status="published",
    )
    made = [EquipmentUnitFactory(site=site, kind=kind) for kind in equipment for _ in range(units)]
    return World(site, theatre, surgeon, anaesthetist, version, session, made)


def at(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    return london(day.year, day.month, day.day, hour, minute)


def actor_for(user: User) -> Actor:
    return Actor.of(user)
