"""Moved to tests.builders.world (build_reminder_world) and tests.builders.versions; re-exported
here under the old names so that tests written against this module keep working.

Two names changed on the way: a list on a day is `World.session_on(day)`, and the one `at` is
`at(hour, minute, day=...)`, as in the booking world.
"""

from __future__ import annotations

from tests.builders.versions import FOLLOW_UP, RECOVERY
from tests.builders.world import SYSTEM as ACTOR
from tests.builders.world import (
    World,
    last_sunday_of_october,
    make_due_reminders,
    next_monday,
    next_october_change,
)
from tests.builders.world import build_reminder_world as build_world
from tests.factories import LONDON

__all__ = [
    "ACTOR",
    "FOLLOW_UP",
    "LONDON",
    "RECOVERY",
    "World",
    "build_world",
    "last_sunday_of_october",
    "make_due_reminders",
    "next_monday",
    "next_october_change",
]
