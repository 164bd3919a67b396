"""Moved to tests.builders.world (BookingWorld, build_booking_world); re-exported here under the
old names so that tests written against this module keep working."""

from __future__ import annotations

from tests.builders.world import MONDAY, at
from tests.builders.world import BookingWorld as World
from tests.builders.world import build_booking_world as build_world

__all__ = ["MONDAY", "World", "at", "build_world"]
