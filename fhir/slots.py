"""A list's time as FHIR Slots: its booked cases (busy) and the gaps between them. Pure.

The definition (README "FHIR"): a list [start, end) is cut at its live cases. Each case's
[start, end) is one `busy` Slot; every gap between them is one Slot, `free` when the list takes
bookings (planned or published, in an active theatre), else `busy-unavailable` (a locked list
changes only by a coordinator's audited override, 6-4-2). Cancelled lists have no Slots.

This is what availability (scheduling/slots.py) offers a zero-length case of the list's own
surgeon with no kit: such a case fits at an instant t of an open list, from the earliest bookable
moment on, exactly when t is not strictly inside a busy Slot. Booking keeps the list's surgeon
and anaesthetist out of every other theatre while the list runs (DESIGN §2), so the list's own
cases are all that holds its time; tests/fhir/test_slots.py checks the equivalence on the demo.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

_GAP_ID = re.compile(r"^gap-(\d{1,18})-(\d{12})$")
_CASE_ID = re.compile(r"^case-(\d{1,18})$")


@dataclass(frozen=True)
class ListWindow:
    session_id: int
    theatre_id: int
    start: dt.datetime
    end: dt.datetime
    open: bool  # takes bookings without an override


@dataclass(frozen=True)
class Booked:
    case_id: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class SlotInterval:
    id: str
    session_id: int
    theatre_id: int
    start: dt.datetime
    end: dt.datetime
    status: str
    case_id: int | None = None


def gap_id(session_id: int, start: dt.datetime) -> str:
    return f"gap-{session_id}-{start.astimezone(dt.UTC):%Y%m%d%H%M}"


def case_slot_id(case_id: int) -> str:
    return f"case-{case_id}"


def parse_slot_id(slot_id: str) -> tuple[str, int]:
    """("gap", session id) or ("case", case id); ValueError for an id we never issue."""
    if match := _GAP_ID.match(slot_id):
        return "gap", int(match.group(1))
    if match := _CASE_ID.match(slot_id):
        return "case", int(match.group(1))
    raise ValueError(slot_id)


def list_slots(window: ListWindow, booked: Iterable[Booked]) -> list[SlotInterval]:
    """The list's Slots in time order: busy for each case, and the gaps between (see module doc)."""
    gap_status = "free" if window.open else "busy-unavailable"
    slots: list[SlotInterval] = []
    cursor = window.start

    def gap(until: dt.datetime) -> None:
        if cursor < until:
            slots.append(
                SlotInterval(
                    gap_id(window.session_id, cursor), window.session_id, window.theatre_id, cursor, until, gap_status
                )
            )

    for case in sorted(booked, key=lambda b: (b.start, b.case_id)):
        gap(min(case.start, window.end))
        slots.append(
            SlotInterval(
                case_slot_id(case.case_id),
                window.session_id,
                window.theatre_id,
                case.start,
                case.end,
                "busy",
                case.case_id,
            )
        )
        cursor = max(cursor, case.end)
    gap(window.end)
    return slots
