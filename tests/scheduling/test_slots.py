"""The pure slot search behind /availability/ and `book` without a start: no database, no clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from scheduling.availability import earliest_bookable
from scheduling.slots import Demand, Occupancy, OpenSlot, SessionWindow, earliest_slots, earliest_start

pytestmark = pytest.mark.pure

UTC = dt.UTC


def t(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, 4, hour, minute, tzinfo=UTC)


WINDOW = SessionWindow(
    id=1,
    theatre_id=7,
    site_id=3,
    start=t(8),
    end=t(13),
    status="published",
    surgeon_id=11,
    anaesthetist_id=21,
    capabilities=frozenset({"fluoroscopy"}),
)
DEMAND = Demand(
    minutes=60,
    surgeon_id=11,
    patient_id=31,
    capabilities=frozenset({"fluoroscopy"}),
    equipment=("c_arm",),
)


def occupancy(**kwargs: Any) -> Occupancy:
    kwargs.setdefault("units", {(3, "c_arm"): {41: []}})
    return Occupancy(**kwargs)


# --- the pure search -----------------------------------------------------------------------


def test_search_takes_the_session_start_when_nothing_is_booked() -> None:
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=occupancy())
    assert (fit.start, dict(fit.units)) == (t(8), {"c_arm": 41})


def test_search_finds_the_first_gap_long_enough() -> None:
    busy = occupancy(session_cases={1: [(t(8), t(9)), (t(9, 30), t(10, 30))]})
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy).start == t(10, 30)


def test_search_waits_for_the_latest_of_several_busy_resources() -> None:
    busy = occupancy(
        surgeon_cases=[(t(7), t(8, 30))],
        patient_cases=[(t(8, 30), t(9))],
        anaesthetist_cases={21: [(t(9), t(9, 15))]},
        units={(3, "c_arm"): {41: [(t(9, 15), t(9, 45))]}},
    )
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy).start == t(9, 45)


def test_search_uses_any_free_unit_of_the_kind() -> None:
    busy = occupancy(units={(3, "c_arm"): {41: [(t(8), t(13))], 42: []}})
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy)
    assert (fit.start, dict(fit.units)) == (t(8), {"c_arm": 42})


def test_search_ignores_the_surgeons_own_list_but_not_another() -> None:
    own_list = occupancy(surgeon_sessions=[(1, (t(8), t(13)))])
    other_list = occupancy(surgeon_sessions=[(2, (t(8), t(12)))])
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=own_list).start == t(8)
    assert earliest_start(window=WINDOW, demand=DEMAND, occupancy=other_list).start == t(12)


@pytest.mark.parametrize(
    ("busy", "code"),
    [
        (occupancy(session_cases={1: [(t(8), t(12, 30))]}), "session_full"),
        (occupancy(surgeon_cases=[(t(7), t(14))]), "surgeon_busy"),
        (occupancy(anaesthetist_cases={21: [(t(7), t(14))]}), "anaesthetist_busy"),
        (occupancy(patient_cases=[(t(7), t(14))]), "patient_busy"),
        (occupancy(units={(3, "c_arm"): {41: [(t(7), t(14))]}}), "equipment_unavailable"),
        (occupancy(units={}), "equipment_unavailable"),
    ],
)
def test_search_names_the_binding_rule_when_nothing_fits(busy: Occupancy, code: str) -> None:
    fit = earliest_start(window=WINDOW, demand=DEMAND, occupancy=busy)
    assert (fit.start, fit.code) == (None, code)


def test_search_rules_out_locked_sessions_and_missing_capabilities() -> None:
    locked = SessionWindow(**{**WINDOW.__dict__, "status": "locked"})
    bare = SessionWindow(**{**WINDOW.__dict__, "capabilities": frozenset()})
    assert earliest_start(window=locked, demand=DEMAND, occupancy=occupancy()).code == "session_locked"
    assert earliest_start(window=locked, demand=DEMAND, occupancy=occupancy(), allow_locked=True).start == t(8)
    assert earliest_start(window=bare, demand=DEMAND, occupancy=occupancy()).code == "capability_missing"


def test_slots_come_earliest_first_one_per_session_capped() -> None:
    later = SessionWindow(**{**WINDOW.__dict__, "id": 2, "start": t(14), "end": t(18)})
    full = SessionWindow(**{**WINDOW.__dict__, "id": 3, "start": t(8), "end": t(8, 30)})
    slots = earliest_slots(windows=[later, full, WINDOW], demand=DEMAND, occupancy=occupancy(), limit=5)
    assert [(s.session_id, s.start, s.end) for s in slots] == [(1, t(8), t(9)), (2, t(14), t(15))]
    assert len(earliest_slots(windows=[later, WINDOW], demand=DEMAND, occupancy=occupancy(), limit=1)) == 1


def test_an_open_slot_names_the_session_theatre_and_the_case_length() -> None:
    (slot,) = earliest_slots(windows=[WINDOW], demand=DEMAND, occupancy=occupancy(), limit=5)
    assert slot == OpenSlot(session_id=1, theatre_id=7, start=t(8), end=t(9))


# --- never in the past ----------------------------------------------------------------------


def test_search_in_a_list_under_way_starts_no_earlier_than_now() -> None:
    under_way = dataclasses.replace(WINDOW, not_before=t(10, 5))
    assert earliest_start(window=under_way, demand=DEMAND, occupancy=occupancy()).start == t(10, 5)


def test_search_in_a_list_that_is_over_says_outside_session() -> None:
    over = dataclasses.replace(WINDOW, not_before=t(13))
    assert earliest_start(window=over, demand=DEMAND, occupancy=occupancy()).code == "outside_session"


def test_earliest_bookable_rounds_now_up_to_the_five_minute_grid() -> None:
    assert earliest_bookable(dt.datetime(2027, 1, 4, 9, 58, 13, tzinfo=UTC)) == t(10)
    assert earliest_bookable(t(10)) == t(10)
    assert earliest_bookable(dt.datetime(2027, 1, 4, 10, 0, 1, tzinfo=UTC)) == t(10, 5)


def test_a_general_anaesthetic_needs_a_list_with_an_anaesthetist() -> None:
    no_anaesthetist = dataclasses.replace(WINDOW, anaesthetist_id=None)
    general = dataclasses.replace(DEMAND, needs_anaesthetist=True)
    assert earliest_start(window=no_anaesthetist, demand=general, occupancy=occupancy()).code == (
        "anaesthetist_required"
    )
    # Local anaesthesia with sedation may go on such a list; GA goes on a list with an anaesthetist.
    assert earliest_start(window=no_anaesthetist, demand=DEMAND, occupancy=occupancy()).start == t(8)
    assert earliest_start(window=WINDOW, demand=general, occupancy=occupancy()).start == t(8)
