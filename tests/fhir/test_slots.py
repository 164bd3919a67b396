"""Slot free time is availability's answer for a zero-length probe (README "FHIR", fhir/slots.py).

The probe: a case of the list's own surgeon lasting zero minutes, with no patient, kit, capability
or anaesthetist needs. From the earliest bookable moment on, availability (scheduling/slots.py)
accepts the probe at instant t of an open list exactly when t is not strictly inside a busy Slot,
and offers, per list, the first such t. Locked lists have no free Slot and are offered nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from fhir.slots import Booked, ListWindow, list_slots
from scheduling.availability import AvailabilityQuery, earliest_bookable, find_slots, load_occupancy, window_of
from scheduling.slots import Demand, check_start
from tests.fhir.conftest import body, fhir_client
from theatre.models import TheatreSession

T0 = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)


def minutes(n: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


@pytest.mark.pure
def test_a_list_is_cut_into_its_cases_and_the_gaps_between_them() -> None:
    window = ListWindow(session_id=7, theatre_id=3, start=minutes(0), end=minutes(300), open=True)
    slots = list_slots(window, [Booked(12, minutes(90), minutes(150)), Booked(11, minutes(0), minutes(60))])
    assert [(s.id, s.status, s.start, s.end) for s in slots] == [
        ("case-11", "busy", minutes(0), minutes(60)),
        ("gap-7-202703010900", "free", minutes(60), minutes(90)),
        ("case-12", "busy", minutes(90), minutes(150)),
        ("gap-7-202703011030", "free", minutes(150), minutes(300)),
    ]


@pytest.mark.pure
def test_back_to_back_cases_leave_no_gap_and_a_locked_list_is_busy_unavailable() -> None:
    window = ListWindow(session_id=7, theatre_id=3, start=minutes(0), end=minutes(120), open=False)
    slots = list_slots(window, [Booked(1, minutes(30), minutes(60)), Booked(2, minutes(60), minutes(120))])
    assert [(s.status, s.start, s.end) for s in slots] == [
        ("busy-unavailable", minutes(0), minutes(30)),
        ("busy", minutes(30), minutes(60)),
        ("busy", minutes(60), minutes(120)),
    ]


def zero_probe(surgeon_id: int) -> Demand:
    return Demand(minutes=0, surgeon_id=surgeon_id, patient_id=None, capabilities=frozenset(), equipment=())


def fhir_slots(client: Any, start: dt.date, end: dt.date) -> dict[int, list[dict[str, Any]]]:
    """Every Slot of every list starting in [start, end), by list id (its `comment`)."""
    bundle = body(client.get(f"/fhir/R4/Slot?start=ge{start}&start=lt{end}&_count=200"))
    assert bundle["total"] <= 200
    by_list: dict[int, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry", []):
        slot = entry["resource"]
        by_list.setdefault(int(slot["comment"].removeprefix("List ")), []).append(slot)
    return by_list


def interval(slot: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.fromisoformat(slot["start"]), dt.datetime.fromisoformat(slot["end"])


@pytest.mark.django_db
def test_free_slots_are_what_availability_offers_a_zero_length_probe(demo: dict[str, User]) -> None:
    """Given the demo's coming lists, when every 5-minute instant of each is probed with the slot
    search, then it fits exactly where the FHIR Slots say nothing is busy, and the earliest fit
    per list is the one availability offers."""
    now = timezone.now()
    today = timezone.localdate()
    start, end = today, today + dt.timedelta(days=40)
    slots = fhir_slots(fhir_client(demo["viewer"]), start, end)
    sessions = list(
        TheatreSession.objects.filter(pk__in=slots, end__gt=now).select_related("theatre").order_by("start")
    )
    assert len(sessions) >= 5
    not_before = earliest_bookable(now)
    probed = open_lists = 0
    for session in sessions:
        busy = [interval(s) for s in slots[session.pk] if s["status"] == "busy"]
        free = [interval(s) for s in slots[session.pk] if s["status"] == "free"]
        demand = zero_probe(session.surgeon_id)
        window = window_of(session, not_before=not_before)
        occupancy = load_occupancy(windows=[window], demand=demand)
        offered = find_slots(
            query=AvailabilityQuery(
                demand=demand, date_from=session.start, date_to=session.start + dt.timedelta(seconds=1), now=now
            )
        )
        if session.status not in ("planned", "published"):
            assert not free and not offered, f"locked list {session.pk} offers time"
            continue
        open_lists += 1
        t = window.first_start
        first_fit = None
        while t <= session.end:
            inside_busy = any(a < t < b for a, b in busy)
            fits = check_start(window=window, demand=demand, occupancy=occupancy, start=t).ok
            assert fits == (not inside_busy), f"list {session.pk} at {t}: availability {fits}, Slots {not inside_busy}"
            in_free = any(a <= t < b for a, b in free)
            on_an_edge = any(t in (a, b) for a, b in busy) or t == session.end
            assert fits == (in_free or on_an_edge)
            if fits and first_fit is None:
                first_fit = t
            probed += 1
            t += dt.timedelta(minutes=5)
        assert [o.start for o in offered] == ([first_fit] if first_fit else [])
    assert open_lists >= 3 and probed > 100
