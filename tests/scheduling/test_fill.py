"""The pure list fill: every booking rule, the priority rule, and as many minutes as fit. No database."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ErrorCode
from scheduling.fill import Candidate, FillList, FillProblem, FillResult, Placement, fill, treat_by
from scheduling.fill.knapsack import Item, fill_one, fill_two
from scheduling.slots import OPEN_SESSION_STATUSES, Demand, Interval, SessionWindow

pytestmark = pytest.mark.pure

UTC = dt.UTC
_ids = itertools.count(1)


def t(hour: int, minute: int = 0, day: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, 4 + day, hour, minute, tzinfo=UTC)


MORNING = (t(8), t(12))


def session(
    *,
    start: dt.datetime = MORNING[0],
    end: dt.datetime = MORNING[1],
    surgeon: int = 1,
    anaesthetist: int | None = 21,
    capabilities: frozenset[str] = frozenset({"fluoroscopy"}),
    status: str = "published",
    theatre: int | None = None,
    site: int = 3,
    gaps: Sequence[Interval] | None = None,
    cap: int | None = None,
) -> FillList:
    session_id = next(_ids)
    window = SessionWindow(
        id=session_id,
        theatre_id=theatre if theatre is not None else session_id,
        site_id=site,
        start=start,
        end=end,
        status=status,
        surgeon_id=surgeon,
        anaesthetist_id=anaesthetist,
        capabilities=capabilities,
    )
    return FillList(window=window, gaps=tuple(gaps) if gaps is not None else ((start, end),), max_added_minutes=cap)


def case(
    minutes: int,
    priority: str = "P3",
    *,
    surgeon: int = 1,
    referral: dt.date = dt.date(2026, 11, 1),
    patient: int | None = None,
    capabilities: frozenset[str] = frozenset({"fluoroscopy"}),
    equipment: tuple[str, ...] = (),
    general: bool = False,
    eligible: bool = True,
    case_id: int | None = None,
) -> Candidate:
    case_id = case_id if case_id is not None else next(_ids)
    demand = Demand(
        minutes=minutes,
        surgeon_id=surgeon,
        patient_id=patient if patient is not None else 1000 + case_id,
        capabilities=capabilities,
        equipment=equipment,
        eligible=eligible,
        needs_anaesthetist=general,
    )
    return Candidate(case_id=case_id, demand=demand, priority=priority, referral_date=referral)


def solve(lists: Sequence[FillList], cases: Sequence[Candidate], **kwargs: Any) -> FillResult:
    return fill(FillProblem(lists=tuple(lists), candidates=tuple(cases), **kwargs), budget_ms=2000)


def placed(result: FillResult) -> dict[int, Placement]:
    return {p.case_id: p for p in result.placements}


def reasons(result: FillResult) -> dict[int, ErrorCode]:
    return {u.case_id: u.code for u in result.unplaced}


# --- treat-by dates ---------------------------------------------------------------------------


def test_treat_by_adds_each_class_maximum_wait_to_the_referral() -> None:
    referral = dt.date(2027, 1, 31)
    assert treat_by(priority="P1", referral_date=referral) == dt.date(2027, 2, 3)
    assert treat_by(priority="P2", referral_date=referral) == dt.date(2027, 2, 28)  # no 31 February
    assert treat_by(priority="P3", referral_date=referral) == dt.date(2027, 4, 30)
    assert treat_by(priority="P4", referral_date=referral) is None


def test_a_candidate_with_an_unknown_priority_is_refused() -> None:
    with pytest.raises(ValueError, match="priority"):
        case(60, "P5")


# --- priority -----------------------------------------------------------------------------------


def test_the_more_urgent_case_gets_the_only_room() -> None:
    urgent, routine = case(100, "P1"), case(100, "P3")
    result = solve([session(end=t(10))], [routine, urgent])
    assert set(placed(result)) == {urgent.case_id}
    assert reasons(result) == {routine.case_id: ErrorCode.SESSION_FULL}


def test_priority_comes_before_minutes() -> None:
    """Given a 240-minute list, a P2 of 150 minutes, and two P4s that would fill it exactly,
    When the list is filled,
    Then the P2 goes in, and neither P4 (each too long for the 90 minutes left), though the
    P4s together would have booked 90 minutes more."""
    p2, p4a, p4b = case(150, "P2"), case(100, "P4"), case(140, "P4")
    result = solve([session()], [p2, p4a, p4b])
    assert set(placed(result)) == {p2.case_id}
    assert result.score.booked_minutes == 150


def test_a_lower_class_fills_what_the_higher_one_leaves() -> None:
    p1, p3, p4 = case(150, "P1"), case(100, "P3"), case(90, "P4")
    result = solve([session()], [p4, p3, p1])
    assert set(placed(result)) == {p1.case_id, p4.case_id}  # 150 + 90 = 240; the P3 fits no longer


def test_an_urgent_case_too_long_for_any_list_leaves_the_room_to_others() -> None:
    too_long, routine = case(300, "P1"), case(120, "P4")
    result = solve([session()], [too_long, routine])
    assert set(placed(result)) == {routine.case_id}
    assert reasons(result) == {too_long.case_id: ErrorCode.SESSION_FULL}


def test_an_urgent_case_may_wait_when_rearranged_lists_leave_it_no_room() -> None:
    """The rule is about room, not about class counts: a P2 of 180 minutes may wait if the
    other cases of its class and above are spread so that no list has 180 minutes for it; here
    that books 45 minutes more than giving the P2 a list of its own (the exact optimum is 939)."""
    lists = [session(start=t(8, day=d), end=t(12, day=d)) for d in range(4)]
    cases = [
        case(103, "P1"),
        case(72, "P1"),
        case(65, "P2"),
        case(73, "P2"),
        case(130, "P2"),
        long_p2 := case(180, "P2"),
        *(case(m, "P3") for m in (102, 62, 107, 84, 94, 91, 96, 147, 120, 90, 238)),
        case(128, "P4"),
        case(154, "P4"),
    ]
    result = solve(lists, cases)
    assert result.score.booked_minutes == 939
    assert reasons(result)[long_p2.case_id] == ErrorCode.SESSION_FULL
    assert_priority_rule(FillProblem(lists=tuple(lists), candidates=tuple(cases)), result)


def test_within_a_class_the_longest_waiting_goes_first_at_equal_minutes() -> None:
    recent = case(120, "P3", referral=dt.date(2026, 12, 20))
    longest = case(120, "P3", referral=dt.date(2026, 9, 1))
    result = solve([session(end=t(10))], [recent, longest])
    assert set(placed(result)) == {longest.case_id}


def test_the_lists_are_filled_beyond_best_fit_decreasing() -> None:
    """Best-fit decreasing books 120 + 80 and 80 + 80 + 50 (410 of 480) and leaves a 50 out; the
    search finds 80 + 80 + 80 and 120 + 50 + 50, every case (460)."""
    lists = [session(start=t(8, day=d), end=t(12, day=d)) for d in range(2)]
    cases = [case(m, "P4") for m in (120, 80, 80, 80, 50, 50)]
    result = solve(lists, cases)
    assert result.score.booked_minutes == 460
    assert result.unplaced == ()


# --- the rules of the list -------------------------------------------------------------------------


def test_a_case_goes_only_into_its_own_surgeons_lists() -> None:
    mine, theirs = case(60, surgeon=1), case(60, surgeon=2)
    result = solve([session(surgeon=1)], [mine, theirs])
    assert set(placed(result)) == {mine.case_id}
    assert reasons(result) == {theirs.case_id: ErrorCode.NO_LIST_FOR_SURGEON}


def test_a_general_anaesthetic_needs_an_anaesthetist_on_the_list() -> None:
    general, local = case(60, general=True), case(60)
    result = solve([session(anaesthetist=None)], [general, local])
    assert set(placed(result)) == {local.case_id}
    assert reasons(result) == {general.case_id: ErrorCode.ANAESTHETIST_REQUIRED}


def test_a_case_goes_only_where_the_theatre_has_its_capabilities() -> None:
    biplanar = case(60, capabilities=frozenset({"biplanar_fluoroscopy"}))
    result = solve([session()], [biplanar])
    assert reasons(result) == {biplanar.case_id: ErrorCode.CAPABILITY_MISSING}


def test_the_closest_reason_over_the_surgeons_lists_is_reported() -> None:
    """One list lacks the capability; the other has it but is full: the case waits for room."""
    needs_ct = case(90, "P4", capabilities=frozenset({"ct"}))
    filler = case(240, "P1", capabilities=frozenset({"ct"}))
    lists = [
        session(capabilities=frozenset()),
        session(start=t(8, day=1), end=t(12, day=1), capabilities=frozenset({"ct"})),
    ]
    result = solve(lists, [needs_ct, filler])
    assert reasons(result) == {needs_ct.case_id: ErrorCode.SESSION_FULL}


def test_cases_not_eligible_and_locked_lists_are_left_alone() -> None:
    ineligible = case(60, eligible=False)
    result = solve([session()], [ineligible])
    assert reasons(result) == {ineligible.case_id: ErrorCode.NOT_ELIGIBLE}
    waiting = case(60)
    locked = session(status="locked")
    assert reasons(solve([locked], [waiting])) == {waiting.case_id: ErrorCode.SESSION_LOCKED}
    assert set(placed(solve([locked], [waiting], allow_locked=True))) == {waiting.case_id}


def test_the_overrun_limit_caps_the_minutes_a_list_takes() -> None:
    first, second = case(100, "P1"), case(100, "P2")
    result = solve([session(cap=150)], [first, second])
    assert set(placed(result)) == {first.case_id}
    assert reasons(result) == {second.case_id: ErrorCode.OVERRUN_RISK}


def test_cases_go_only_into_the_gaps_and_never_before_the_list_may_start() -> None:
    """A list 08:00-13:00 with a case already booked 09:00-10:30, and nothing before 08:30."""
    lst = session(end=t(13), gaps=[(t(8), t(9)), (t(10, 30), t(13))])
    lst = replace(lst, window=replace(lst.window, not_before=t(8, 30)))
    short, long = case(30, "P2"), case(150, "P2")
    result = solve([lst], [short, long])
    got = placed(result)
    assert (got[short.case_id].start, got[short.case_id].end) == (t(8, 30), t(9))
    assert (got[long.case_id].start, got[long.case_id].end) == (t(10, 30), t(13))


# --- shared resources ------------------------------------------------------------------------------


def test_one_c_arm_serves_two_theatres_in_turn() -> None:
    """Two lists 08:00-12:00 at the same site, one C-arm: both cases are placed, never at once."""
    lists = [session(surgeon=1, anaesthetist=21), session(surgeon=2, anaesthetist=22)]
    cases = [case(120, surgeon=1, equipment=("c_arm",)), case(120, surgeon=2, equipment=("c_arm",))]
    result = solve(lists, cases, units={(3, "c_arm"): {41: ()}})
    first, second = sorted(result.placements, key=lambda p: p.start)
    assert first.units == second.units == {"c_arm": 41}
    assert first.end <= second.start


def test_a_unit_claimed_outside_the_fill_is_respected() -> None:
    claimed = case(120, equipment=("c_arm",))
    result = solve([session()], [claimed], units={(3, "c_arm"): {41: ((t(8), t(11)),)}})
    assert reasons(result) == {claimed.case_id: ErrorCode.EQUIPMENT_UNAVAILABLE}
    other_unit = solve([session()], [claimed], units={(3, "c_arm"): {41: ((t(8), t(11)),), 42: ()}})
    assert placed(other_unit)[claimed.case_id].units == {"c_arm": 42}


def test_a_site_without_the_kind_of_unit_takes_no_case_that_needs_one() -> None:
    kyphoplasty = case(60, equipment=("kyphoplasty_system",))
    result = solve([session()], [kyphoplasty], units={(3, "c_arm"): {41: ()}})
    assert reasons(result) == {kyphoplasty.case_id: ErrorCode.EQUIPMENT_UNAVAILABLE}


def test_an_anaesthetist_covering_two_lists_is_never_in_two_cases_at_once() -> None:
    lists = [session(surgeon=1, anaesthetist=21), session(surgeon=2, anaesthetist=21)]
    cases = [case(120, surgeon=1), case(120, surgeon=2)]
    result = solve(lists, cases)
    first, second = sorted(result.placements, key=lambda p: p.start)
    assert (first.start, first.end, second.start, second.end) == (t(8), t(10), t(10), t(12))


def test_a_patient_is_never_in_two_theatres_at_once() -> None:
    """Patient 7 waits for two procedures by two surgeons, both lists on Monday morning."""
    lists = [session(surgeon=1, anaesthetist=21), session(surgeon=2, anaesthetist=22, end=t(10))]
    first, second = case(120, "P1", surgeon=1, patient=7), case(120, "P1", surgeon=2, patient=7)
    got = placed(solve(lists, [first, second]))
    assert (got[second.case_id].start, got[first.case_id].start) == (t(8), t(10))


def test_people_busy_elsewhere_are_respected() -> None:
    busy = case(120, "P1", patient=7)
    result = solve([session(end=t(10))], [busy], patients_busy={7: ((t(9), t(9, 30)),)})
    assert reasons(result) == {busy.case_id: ErrorCode.PATIENT_BUSY}
    result = solve([session(end=t(10))], [busy], anaesthetists_busy={21: ((t(9), t(9, 30)),)})
    assert reasons(result) == {busy.case_id: ErrorCode.ANAESTHETIST_BUSY}
    result = solve([session(end=t(10))], [busy], surgeons_busy={1: ((t(9), t(9, 30)),)})
    assert reasons(result) == {busy.case_id: ErrorCode.SURGEON_BUSY}


# --- the answer -----------------------------------------------------------------------------------


def test_the_score_counts_minutes_utilisation_and_urgency_placed() -> None:
    p1, p4 = case(180, "P1"), case(120, "P4")
    result = solve([session()], [p1, p4])
    score = result.score
    assert (score.booked_minutes, score.free_minutes, score.utilisation) == (180, 60, 0.75)
    assert score.priority_score == round(8 / 9, 4)  # a P1 (weight 8) of P1 + P4 (8 + 1)
    assert result.solver.method == "best_fit_decreasing+local_search"
    assert result.solver.elapsed_ms >= 0


def test_an_empty_problem_has_an_empty_answer() -> None:
    result = fill(FillProblem(lists=(), candidates=()))
    assert (result.placements, result.unplaced, result.score.booked_minutes) == ((), (), 0)


def test_with_no_time_at_all_the_construction_still_keeps_every_rule() -> None:
    """A clock that jumps a second a call: the budget is gone before the search starts, and the
    answer is best-fit decreasing within priority tiers, which keeps every rule all the same."""
    ticks = itertools.count()

    def clock() -> float:
        return float(next(ticks))

    lists = [session(start=t(8, day=d), end=t(12, day=d)) for d in range(2)]
    cases = [case(m, "P4") for m in (120, 80, 80, 80, 50, 50)]
    problem = FillProblem(lists=tuple(lists), candidates=tuple(cases))
    result = fill(problem, budget_ms=1, clock=clock)
    assert result.score.booked_minutes == 410
    assert_valid(problem, result)
    assert_priority_rule(problem, result)


def test_the_fill_is_deterministic_whatever_the_input_order() -> None:
    lists = [session(start=t(8, day=d), end=t(12, day=d), surgeon=1 + d % 2) for d in range(4)]
    cases = [case(40 + 7 * k % 130, f"P{1 + k % 4}", surgeon=1 + k % 2) for k in range(20)]
    first = solve(lists, cases)
    again = solve(list(reversed(lists)), list(reversed(cases)))
    assert first == replace(again, solver=first.solver)


def test_a_case_or_list_given_twice_is_refused() -> None:
    one = case(60)
    with pytest.raises(ValueError, match="twice"):
        solve([session()], [one, one])


# --- the exact refills ------------------------------------------------------------------------------


def test_one_list_is_refilled_to_the_fullest_the_rule_allows() -> None:
    items = [Item(case=k, minutes=m, cls=c, rank=k) for k, (m, c) in enumerate([(150, 1), (100, 3), (140, 3), (90, 2)])]
    assert sorted(fill_one(capacity=240, items=items)) == [0, 3]  # P2 150 + P3 90; not 100 + 140


def test_two_lists_are_refilled_jointly() -> None:
    items = [Item(case=k, minutes=m, cls=3, rank=k) for k, m in enumerate([120, 80, 80, 80, 50, 50])]
    first, second = fill_two(capacities=(240, 240), items=items, allowed=[(True, True)] * 6)
    assert sorted(first + second) == [0, 1, 2, 3, 4, 5]
    assert sum(items[k].minutes for k in first) <= 240 and sum(items[k].minutes for k in second) <= 240


def _keeps_rule(capacities: Sequence[int], items: Sequence[Item], lists: Sequence[Sequence[int]]) -> bool:
    """No item left out fits any list in the room its class and the classes above leave."""
    chosen = {k for content in lists for k in content}
    return all(
        items[k].minutes > cap - sum(items[d].minutes for d in content if items[d].cls <= items[k].cls)
        for k in range(len(items))
        if k not in chosen
        for cap, content in zip(capacities, lists, strict=True)
        if cap > 0
    )


items_strategy = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 3)), min_size=0, max_size=7).map(
    lambda pairs: [Item(case=k, minutes=5 * m, cls=c, rank=k) for k, (m, c) in enumerate(pairs)]
)


@settings(max_examples=200, deadline=None)
@given(items=items_strategy, capacity=st.integers(0, 12).map(lambda m: 5 * m))
def test_one_list_refill_is_the_fullest_that_keeps_the_rule(items: list[Item], capacity: int) -> None:
    chosen = fill_one(capacity=capacity, items=items)
    assert sum(items[k].minutes for k in chosen) <= capacity
    assert _keeps_rule([capacity], items, [chosen])
    best = max(
        sum(items[k].minutes for k in subset)
        for size in range(len(items) + 1)
        for subset in itertools.combinations(range(len(items)), size)
        if sum(items[k].minutes for k in subset) <= capacity and _keeps_rule([capacity], items, [subset])
    )
    assert sum(items[k].minutes for k in chosen) == best


@settings(max_examples=100, deadline=None)
@given(items=items_strategy, capacities=st.tuples(st.integers(0, 8), st.integers(0, 8)))
def test_two_list_refill_is_the_fullest_that_keeps_the_rule(items: list[Item], capacities: tuple[int, int]) -> None:
    caps = (5 * capacities[0], 5 * capacities[1])
    first, second = fill_two(capacities=caps, items=items, allowed=[(True, True)] * len(items))
    assert sum(items[k].minutes for k in first) <= caps[0] and sum(items[k].minutes for k in second) <= caps[1]
    assert _keeps_rule(caps, items, [first, second])
    best = 0
    for where in itertools.product((0, 1, 2), repeat=len(items)):
        lists = [[k for k in range(len(items)) if where[k] == b] for b in (0, 1)]
        loads = [sum(items[k].minutes for k in content) for content in lists]
        if loads[0] <= caps[0] and loads[1] <= caps[1] and _keeps_rule(caps, items, lists):
            best = max(best, sum(loads))
    assert sum(items[k].minutes for k in first + second) == best


# --- checks shared with the properties ------------------------------------------------------------

Resource = tuple[str, int]
CLASS = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


def _overlap(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _held_outside(problem: FillProblem) -> dict[Resource, list[Interval]]:
    held: dict[Resource, list[Interval]] = {}
    for kind, table in (
        ("surgeon", problem.surgeons_busy),
        ("anaesthetist", problem.anaesthetists_busy),
        ("patient", problem.patients_busy),
    ):
        for who, intervals in table.items():
            held.setdefault((kind, who), []).extend(intervals)
    for units in problem.units.values():
        for unit, claims in units.items():
            held.setdefault(("unit", unit), []).extend(claims)
    return held


def _needs(problem: FillProblem, cand: Candidate, window: SessionWindow) -> list[Resource]:
    """The people a case holds in a list (its units are chosen, so not among them)."""
    needs: list[Resource] = [("surgeon", window.surgeon_id)]
    if window.anaesthetist_id is not None:
        needs.append(("anaesthetist", window.anaesthetist_id))
    if cand.demand.patient_id is not None:
        needs.append(("patient", cand.demand.patient_id))
    return needs


def _held_by(problem: FillProblem, placements: Sequence[Placement]) -> list[tuple[Resource, Interval, int]]:
    lists = {fl.window.id: fl.window for fl in problem.lists}
    cands = {c.case_id: c for c in problem.candidates}
    held: list[tuple[Resource, Interval, int]] = []
    for p in placements:
        for resource in _needs(problem, cands[p.case_id], lists[p.session_id]):
            held.append((resource, (p.start, p.end), p.case_id))
        held.extend((("unit", unit), (p.start, p.end), p.case_id) for unit in p.units.values())
    return held


def assert_valid(problem: FillProblem, result: FillResult) -> None:
    """Every booking rule: inside a gap, the list's rules, and nothing held twice at once."""
    lists = {fl.window.id: fl for fl in problem.lists}
    cands = {c.case_id: c for c in problem.candidates}
    assert sorted([p.case_id for p in result.placements] + [u.case_id for u in result.unplaced]) == sorted(cands)
    added: dict[int, int] = {}
    for p in result.placements:
        fl, cand = lists[p.session_id], cands[p.case_id]
        window, demand = fl.window, cand.demand
        assert p.end - p.start == dt.timedelta(minutes=demand.minutes)
        assert any(a <= p.start and p.end <= b for a, b in fl.gaps), "outside every gap"
        assert window.first_start <= p.start and p.end <= window.end
        assert demand.surgeon_id == window.surgeon_id and demand.eligible
        assert demand.capabilities <= window.capabilities
        assert window.anaesthetist_id is not None or not demand.needs_anaesthetist
        assert window.status in OPEN_SESSION_STATUSES or (problem.allow_locked and window.status == "locked")
        assert set(p.units) == set(demand.equipment)
        for kind, unit in p.units.items():
            assert unit in problem.units[window.site_id, kind]
        added[p.session_id] = added.get(p.session_id, 0) + demand.minutes
    for session_id, minutes in added.items():
        cap = lists[session_id].max_added_minutes
        assert cap is None or minutes <= cap
    outside = _held_outside(problem)
    held = _held_by(problem, result.placements)
    for resource, iv, _ in held:
        assert not any(_overlap(iv, other) for other in outside.get(resource, ())), f"{resource} already held"
    for (r1, iv1, c1), (r2, iv2, c2) in itertools.combinations(held, 2):
        assert r1 != r2 or not _overlap(iv1, iv2), f"{r1} held by cases {c1} and {c2} at once"
    for fl in problem.lists:
        mine = sorted((p.start, p.end) for p in result.placements if p.session_id == fl.window.id)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine)), "two cases at once in one list"


def _may_go(problem: FillProblem, cand: Candidate, window: SessionWindow) -> bool:
    demand = cand.demand
    return (
        demand.surgeon_id == window.surgeon_id
        and demand.eligible
        and (window.status in OPEN_SESSION_STATUSES or (problem.allow_locked and window.status == "locked"))
        and demand.capabilities <= window.capabilities
        and (window.anaesthetist_id is not None or not demand.needs_anaesthetist)
        and all(problem.units.get((window.site_id, kind)) for kind in demand.equipment)
    )


def _fits(problem: FillProblem, fl: FillList, cases: Sequence[Candidate], held: dict[Resource, list[Interval]]) -> bool:
    """Whether `cases` can all run in list `fl`, one after another in some order, each on free
    people and units: tried order by order, each case at the first moment everything is free."""
    if fl.max_added_minutes is not None and sum(c.demand.minutes for c in cases) > fl.max_added_minutes:
        return False
    window = fl.window
    gaps = [(max(a, window.first_start), min(b, window.end)) for a, b in fl.gaps]
    moments = sorted({a for a, _ in gaps} | {b for intervals in held.values() for _, b in intervals})
    for order in itertools.permutations(cases):
        after = min(a for a, _ in gaps) if gaps else window.start
        for cand in order:
            length = dt.timedelta(minutes=cand.demand.minutes)
            start = next(
                (m for m in [after, *moments] if m >= after and _free(problem, fl, cand, m, m + length, gaps, held)),
                None,
            )
            if start is None:
                break
            after = start + length
        else:
            return True
    return False


def _free(
    problem: FillProblem,
    fl: FillList,
    cand: Candidate,
    start: dt.datetime,
    end: dt.datetime,
    gaps: Sequence[Interval],
    held: dict[Resource, list[Interval]],
) -> bool:
    if not any(a <= start and end <= b for a, b in gaps):
        return False
    if any(_overlap((start, end), iv) for r in _needs(problem, cand, fl.window) for iv in held.get(r, ())):
        return False
    site = fl.window.site_id
    return all(
        any(
            not any(_overlap((start, end), iv) for iv in held.get(("unit", unit), ()))
            for unit in problem.units[site, kind]
        )
        for kind in cand.demand.equipment
    )


def assert_priority_rule(problem: FillProblem, result: FillResult) -> None:
    """No case waits that would fit a list of its own with every case of a lower class removed
    (from that list, and from every person and unit it would need)."""
    cands = {c.case_id: c for c in problem.candidates}
    for waiting in result.unplaced:
        cand = cands[waiting.case_id]
        cls = CLASS[cand.priority]
        not_lower = [p for p in result.placements if CLASS[cands[p.case_id].priority] <= cls]
        for fl in problem.lists:
            if not _may_go(problem, cand, fl.window):
                continue
            mine = [p for p in not_lower if p.session_id == fl.window.id]
            held = _held_outside(problem)
            for resource, iv, _ in _held_by(problem, [p for p in not_lower if p.session_id != fl.window.id]):
                held.setdefault(resource, []).append(iv)
            kept = [cands[p.case_id] for p in mine]
            assert not _fits(problem, fl, [*kept, cand], held), (
                f"case {cand.case_id} ({cand.priority}) waits but fits list {fl.window.id} without lower classes"
            )


# --- properties on random estates ---------------------------------------------------------------

FLUOROSCOPY = frozenset({"fluoroscopy"})


@st.composite
def estates(draw: st.DrawFn) -> FillProblem:
    """Up to four lists, some at the same time at one site, some with a case already booked,
    sharing surgeons, anaesthetists, patients and C-arms, some of them held outside the fill."""
    lists: list[FillList] = []
    for _ in range(draw(st.integers(1, 4))):
        start = t(8) + dt.timedelta(minutes=draw(st.sampled_from([0, 0, 30, 60, 24 * 60])))
        end = start + dt.timedelta(minutes=draw(st.sampled_from([60, 120, 180, 240])))
        gaps: list[Interval] = [(start, end)]
        if draw(st.booleans()):  # a case already booked: the list's free time is two gaps
            booked_start = start + dt.timedelta(minutes=draw(st.sampled_from([0, 15, 30, 45])))
            booked_end = min(end, booked_start + dt.timedelta(minutes=draw(st.sampled_from([15, 30, 60]))))
            gaps = [(a, b) for a, b in ((start, booked_start), (booked_end, end)) if a < b]
        lists.append(
            session(
                start=start,
                end=end,
                surgeon=draw(st.sampled_from([1, 2])),
                anaesthetist=draw(st.sampled_from([None, 21, 22])),
                capabilities=draw(st.sampled_from([FLUOROSCOPY, FLUOROSCOPY, FLUOROSCOPY | {"ct"}, frozenset()])),
                status=draw(st.sampled_from(["published", "published", "planned", "locked"])),
                site=draw(st.sampled_from([3, 3, 4])),
                gaps=gaps,
                cap=draw(st.one_of(st.none(), st.none(), st.sampled_from([45, 90, 150]))),
            )
        )

    def held() -> tuple[Interval, ...]:
        if not draw(st.booleans()):
            return ()
        begin = t(8) + dt.timedelta(minutes=draw(st.sampled_from([0, 20, 45, 90, 150])))
        return ((begin, begin + dt.timedelta(minutes=draw(st.sampled_from([15, 40, 90])))),)

    units = {
        (site, "c_arm"): {unit: held() for unit in range(10 * site, 10 * site + draw(st.integers(0, 2)))}
        for site in (3, 4)
    }
    units[3, "c_arm"] = units[3, "c_arm"] or {30: ()}  # the main site always has a C-arm
    cases = [
        case(
            5 * draw(st.integers(3, 24)),
            draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
            surgeon=draw(st.sampled_from([1, 2])),
            referral=dt.date(2026, 12, 1) - dt.timedelta(days=draw(st.integers(0, 120))),
            patient=draw(st.sampled_from([101, 102, 103, 104, 105])),
            capabilities=draw(st.sampled_from([FLUOROSCOPY, FLUOROSCOPY, frozenset(), frozenset({"ct"})])),
            equipment=draw(st.sampled_from([(), ("c_arm",)])),
            general=draw(st.sampled_from([False, False, True])),
            eligible=draw(st.sampled_from([True] * 7 + [False])),
        )
        for _ in range(draw(st.integers(0, 9)))
    ]
    return FillProblem(
        lists=tuple(lists),
        candidates=tuple(cases),
        units={key: value for key, value in units.items() if value},
        surgeons_busy={1: held()},
        anaesthetists_busy={21: held()},
        patients_busy={101: held()},
        allow_locked=draw(st.booleans()),
    )


@settings(max_examples=200, deadline=None)
@given(problem=estates())
def test_every_fill_keeps_every_booking_rule(problem: FillProblem) -> None:
    assert_valid(problem, fill(problem, budget_ms=2000))


@settings(max_examples=200, deadline=None)
@given(problem=estates())
def test_every_fill_keeps_the_priority_rule(problem: FillProblem) -> None:
    assert_priority_rule(problem, fill(problem, budget_ms=2000))


@settings(max_examples=50, deadline=None)
@given(problem=estates())
def test_every_fill_is_the_same_whatever_the_order_it_is_given_in(problem: FillProblem) -> None:
    first = fill(problem, budget_ms=2000)
    shuffled = replace(problem, lists=problem.lists[::-1], candidates=problem.candidates[::-1])
    again = fill(shuffled, budget_ms=2000)
    assert replace(first, solver=again.solver) == again
