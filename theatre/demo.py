"""Demo estate for `make run`: a spinal unit, two theatres, kit, staff, timetables and eight weeks
of published lists (those within two weeks locked, as 6-4-2 would have them), so that next month's
lists exist to fill from the waiting list. Idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import Actor
from theatre.locking import lock_due_sessions
from theatre.models import (
    PERIOD_TIMES,
    Capability,
    EquipmentKind,
    EquipmentUnit,
    Period,
    SessionStatus,
    Site,
    StaffMember,
    StaffRole,
    Theatre,
    TheatreSession,
    Timetable,
)
from theatre.timetables import generate_sessions

SITE_NAME = "Northgate Spinal Unit"

THEATRES: dict[str, list[str]] = {
    "Theatre 1": [Capability.FLUOROSCOPY, Capability.LAMINAR_FLOW],
    "Theatre 2": [Capability.FLUOROSCOPY, Capability.BIPLANAR_FLUOROSCOPY, Capability.LAMINAR_FLOW],
}

# (kind, name, serial)
EQUIPMENT: list[tuple[str, str, str]] = [
    (EquipmentKind.C_ARM, "C-arm A", "NSU-CARM-001"),
    (EquipmentKind.C_ARM, "C-arm B", "NSU-CARM-002"),
    (EquipmentKind.BIPLANAR_C_ARM, "Biplanar C-arm", "NSU-BIPL-001"),
    (EquipmentKind.KYPHOPLASTY_SYSTEM, "Kyphoplasty system 1", "NSU-KYPH-001"),
    (EquipmentKind.KYPHOPLASTY_SYSTEM, "Kyphoplasty system 2", "NSU-KYPH-002"),
    (EquipmentKind.VERTEBROPLASTY_KIT, "Vertebroplasty kit 1", "NSU-VERT-001"),
    (EquipmentKind.VERTEBROPLASTY_KIT, "Vertebroplasty kit 2", "NSU-VERT-002"),
]

# (name, role, demo username or None)
STAFF: list[tuple[str, str, str | None]] = [
    ("Miss Priya Shah", StaffRole.SURGEON, "surgeon"),
    ("Mr Tom Okafor", StaffRole.SURGEON, "surgeon2"),
    ("Dr Helen Marsh", StaffRole.ANAESTHETIST, "anaesthetist"),
    ("Dr Samuel Reid", StaffRole.ANAESTHETIST, None),
    ("Ms Grace Bennett", StaffRole.RADIOGRAPHER, None),
    ("Mr Daniel Hughes", StaffRole.NURSE, None),
    ("Theatre Coordinator", StaffRole.COORDINATOR, "coordinator"),
]

# (theatre, weekday 0 = Monday, period, surgeon, anaesthetist): no one is in two places at once.
TIMETABLES: list[tuple[str, int, str, str, str]] = [
    ("Theatre 1", 0, Period.AM, "Miss Priya Shah", "Dr Helen Marsh"),
    ("Theatre 1", 0, Period.PM, "Mr Tom Okafor", "Dr Samuel Reid"),
    ("Theatre 2", 2, Period.AM, "Miss Priya Shah", "Dr Helen Marsh"),
    ("Theatre 2", 3, Period.ALL_DAY, "Mr Tom Okafor", "Dr Samuel Reid"),
    ("Theatre 1", 3, Period.AM, "Miss Priya Shah", "Dr Helen Marsh"),
]

DEMO_WEEKS = 8


def seed_estate(*, today: dt.date | None = None) -> dict[str, Any]:
    """Create the demo estate and `DEMO_WEEKS` of lists from `today`; running it again adds nothing."""
    actor = Actor.system("seed_demo")
    today = today or timezone.localdate()
    with transaction.atomic():
        site, _ = Site.objects.get_or_create(
            name=SITE_NAME,
            defaults={
                "timezone": "Europe/London",
                "address": "Northgate Hospital, 1 Infirmary Road, Leeds LS1 3EX",
                "phone": "0113 496 0000",
            },
        )
        theatres = {
            name: Theatre.objects.get_or_create(site=site, name=name, defaults={"capabilities": sorted(caps)})[0]
            for name, caps in THEATRES.items()
        }
        for kind, name, serial in EQUIPMENT:
            EquipmentUnit.objects.get_or_create(serial=serial, defaults={"site": site, "kind": kind, "name": name})
        users = {u.username: u for u in User.objects.filter(username__in=[s[2] for s in STAFF if s[2]])}
        staff: dict[str, StaffMember] = {}
        for name, role, username in STAFF:
            member, _ = StaffMember.objects.get_or_create(name=name, role=role)
            user = users.get(username) if username else None
            if user is not None and member.user_id is None:
                member.user = user
                member.save(update_fields=["user"])
            staff[name] = member
        created: list[TheatreSession] = []
        for theatre_name, weekday, period, surgeon, anaesthetist in TIMETABLES:
            start_time, end_time = PERIOD_TIMES[period]
            timetable, _ = Timetable.objects.get_or_create(
                theatre=theatres[theatre_name],
                weekday=weekday,
                period=period,
                defaults={
                    "start_time": start_time,
                    "end_time": end_time,
                    "surgeon": staff[surgeon],
                    "anaesthetist": staff[anaesthetist],
                    "valid_from": today,
                },
            )
            created += generate_sessions(
                timetable=timetable,
                date_from=today,
                date_to=today + dt.timedelta(weeks=DEMO_WEEKS) - dt.timedelta(days=1),
                actor=actor,
                status=SessionStatus.PUBLISHED,
            )
        locked = lock_due_sessions(now=timezone.now(), actor=actor)
    return {"site": site, "theatres": theatres, "staff": staff, "created": created, "locked": locked}
