"""The indexed slot search gives exactly the answers of a straightforward scan of every interval.

`earliest_slots` hands each list only the intervals that overlap it (`OccupancyIndex.around`);
the reference below is the search as it was: every list against the whole occupancy. Intervals
here may overlap one another, be long or short, and sit at other sites, so the index cannot lean
on the exclusion constraints that keep real ones apart.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.slots import (
    Demand,
    Interval,
    Occupancy,
    OccupancyIndex,
    OpenSlot,
    SessionWindow,
    earliest_slots,
    earliest_start,
)

pytestmark = pytest.mark.pure

DAY = dt.datetime(2027, 3, 29, tzinfo=dt.UTC)  # the week British Summer Time starts
SURGEON = 11
ANAESTHETISTS = (21, 22)
SITES = (1, 2)
KINDS = ("c_arm", "kit")


def at(minutes: int) -> dt.datetime:
    return DAY + dt.timedelta(minutes=minutes)


minutes_in_two_days = st.integers(min_value=0, max_value=2 * 24 * 60)


@st.composite
def intervals(draw: st.DrawFn, *, max_size: int = 6) -> list[Interval]:
    found = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        start = draw(minutes_in_two_days) // 5 * 5
        length = draw(st.sampled_from([5, 15, 30, 45, 60, 90, 120, 240, 600]))
        found.append((at(start), at(start + length)))
    return found


@st.composite
def windows(draw: st.DrawFn) -> list[SessionWindow]:
    found = []
    for n in range(draw(st.integers(min_value=1, max_value=6))):
        start = draw(st.integers(min_value=0, max_value=40)) * 60
        not_before = draw(st.one_of(st.none(), minutes_in_two_days))
        found.append(
            SessionWindow(
                id=n + 1,
                theatre_id=100 + n,
                site_id=draw(st.sampled_from(SITES)),
                start=at(start),
                end=at(start + draw(st.sampled_from([60, 240, 270, 300, 600]))),
                status=draw(st.sampled_from(["published", "published", "planned", "locked"])),
                surgeon_id=SURGEON,
                anaesthetist_id=draw(st.sampled_from([None, *ANAESTHETISTS])),
                capabilities=frozenset({"fluoroscopy"}),
                not_before=None if not_before is None else at(not_before),
            )
        )
    return found


@st.composite
def occupancies(draw: st.DrawFn, window_ids: list[int]) -> Occupancy:
    units: dict[tuple[int, str], dict[int, list[Interval]]] = {}
    unit_id = 40
    for site in SITES:
        for kind in KINDS:
            count = draw(st.integers(min_value=0, max_value=3))
            if count or draw(st.booleans()):
                units[(site, kind)] = {}
            for _ in range(count):
                unit_id += 1
                units[(site, kind)][unit_id] = draw(intervals(max_size=4))
    led_ids = st.sampled_from([*window_ids, 90, 91])
    return Occupancy(
        session_cases={pk: draw(intervals()) for pk in window_ids if draw(st.booleans())},
        surgeon_cases=draw(intervals()),
        surgeon_sessions=[(draw(led_ids), iv) for iv in draw(intervals(max_size=4))],
        anaesthetist_cases={pk: draw(intervals()) for pk in ANAESTHETISTS if draw(st.booleans())},
        patient_cases=draw(intervals(max_size=3)),
        units=units,
    )


@st.composite
def demands(draw: st.DrawFn) -> Demand:
    return Demand(
        minutes=draw(st.sampled_from([5, 30, 45, 60, 90, 120, 235])),
        surgeon_id=SURGEON,
        patient_id=draw(st.sampled_from([None, 31])),
        capabilities=frozenset({"fluoroscopy"}),
        equipment=tuple(draw(st.lists(st.sampled_from(KINDS), unique=True, max_size=2))),
        needs_anaesthetist=draw(st.booleans()),
    )


def scanned_slots(*, windows: list[SessionWindow], demand: Demand, occupancy: Occupancy, limit: int) -> list[OpenSlot]:
    """The reference: every list searched against every interval."""
    slots = []
    for window in windows:
        fit = earliest_start(window=window, demand=demand, occupancy=occupancy)
        if fit.start is not None:
            end = fit.start + dt.timedelta(minutes=demand.minutes)
            slots.append(OpenSlot(session_id=window.id, theatre_id=window.theatre_id, start=fit.start, end=end))
    slots.sort(key=lambda s: (s.start, s.theatre_id, s.session_id))
    return slots[:limit]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), lists=windows(), demand=demands(), limit=st.integers(min_value=1, max_value=6))
def test_each_list_searched_against_its_overlapping_intervals_answers_as_a_full_scan(
    data: st.DataObject, lists: list[SessionWindow], demand: Demand, limit: int
) -> None:
    occupancy = data.draw(occupancies([w.id for w in lists]))
    index = OccupancyIndex(occupancy)
    for window in lists:
        for allow_locked in (False, True):
            whole = earliest_start(window=window, demand=demand, occupancy=occupancy, allow_locked=allow_locked)
            near = earliest_start(
                window=window, demand=demand, occupancy=index.around(window), allow_locked=allow_locked
            )
            # The start, the units chosen and the binding rule when nothing fits.
            assert (near.start, dict(near.units), near.code) == (whole.start, dict(whole.units), whole.code)
    assert earliest_slots(windows=lists, demand=demand, occupancy=occupancy, limit=limit) == scanned_slots(
        windows=lists, demand=demand, occupancy=occupancy, limit=limit
    )


def test_a_capped_answer_still_weighs_every_list_that_could_tie_with_its_last_slot() -> None:
    """Given two free lists opening at the same time, when one slot is asked for, then it is the
    one in the lower-numbered theatre, whichever list the search met first."""
    first = SessionWindow(
        id=1,
        theatre_id=9,
        site_id=1,
        start=at(8 * 60),
        end=at(13 * 60),
        status="published",
        surgeon_id=SURGEON,
        anaesthetist_id=None,
        capabilities=frozenset(),
    )
    tied = SessionWindow(**{**first.__dict__, "id": 2, "theatre_id": 3})
    demand = Demand(minutes=60, surgeon_id=SURGEON, patient_id=None, capabilities=frozenset(), equipment=())
    (slot,) = earliest_slots(windows=[first, tied], demand=demand, occupancy=Occupancy(), limit=1)
    assert (slot.session_id, slot.theatre_id) == (2, 3)
