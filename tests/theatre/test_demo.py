"""`make run` has a spinal unit with two theatres, kit, staff and eight weeks of lists."""

from __future__ import annotations

import ast
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.demo import seed_users
from theatre.demo import DEMO_WEEKS, seed_estate
from theatre.locking import LOCK_AHEAD
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable

THEATRE_APP = Path(__file__).resolve().parents[2] / "theatre"


@pytest.mark.django_db
def test_seed_estate_builds_the_unit_and_is_idempotent() -> None:
    seed_users()
    first = seed_estate()
    second = seed_estate()

    assert second["created"] == [] and second["locked"] == []
    site = Site.objects.get()
    assert (site.name, site.timezone) == ("Northgate Spinal Unit", "Europe/London")
    capabilities = dict(Theatre.objects.values_list("name", "capabilities"))
    assert "biplanar_fluoroscopy" in capabilities["Theatre 2"]
    assert "biplanar_fluoroscopy" not in capabilities["Theatre 1"]
    kinds = Counter(EquipmentUnit.objects.values_list("kind", flat=True))
    assert kinds["c_arm"] >= 2 and kinds["kyphoplasty_system"] >= 2
    roles = Counter(StaffMember.objects.values_list("role", flat=True))
    assert roles["surgeon"] == 2 and roles["anaesthetist"] == 2
    assert cast(User, StaffMember.objects.get(name="Miss Priya Shah").user).username == "surgeon"
    assert cast(User, StaffMember.objects.get(name="Dr Helen Marsh").user).username == "anaesthetist"

    sessions = list(TheatreSession.objects.all())
    assert len(sessions) == len(first["created"]) > 0
    assert Timetable.objects.count() == 5
    today = timezone.localdate()
    assert all(today <= timezone.localtime(s.start).date() < today + dt.timedelta(weeks=DEMO_WEEKS) for s in sessions)
    now = timezone.now()
    for session in sessions:
        due = session.end > now and session.start < now + LOCK_AHEAD
        assert session.status == ("locked" if due else "published")


@pytest.mark.pure
def test_theatre_never_imports_scheduling_or_procedures() -> None:
    """DESIGN §1: imports flow theatre <- procedures <- scheduling."""
    offenders = []
    for path in THEATRE_APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"scheduling", "procedures"}]
    assert offenders == []
