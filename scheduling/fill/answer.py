"""`fill`: the search's board turned into placements, reasons and a score."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.errors import ErrorCode
from scheduling.fill.board import Board, Instance
from scheduling.fill.problem import (
    FillProblem,
    FillResult,
    FillScore,
    Placement,
    SolverReport,
    Unplaced,
    priority_weight,
)
from scheduling.fill.search import solve

# The default time budget for the whole call. The search settles well inside it up to a few dozen
# lists; at 160 lists and 600 waiting cases it stops improving here, within 1% of the optimum
# (bench/fill.py).
DEFAULT_BUDGET_MS = 40.0

METHOD = "best_fit_decreasing+local_search"

# How close each code says the case came to a place: the reason reported is the closest over
# the surgeon's lists (a list it could never go into explains less than one that is full).
_RULES_OF_THE_LIST = (
    ErrorCode.NOT_ELIGIBLE,
    ErrorCode.PATIENT_UNAVAILABLE,
    ErrorCode.SESSION_LOCKED,
    ErrorCode.CAPABILITY_MISSING,
    ErrorCode.ANAESTHETIST_REQUIRED,
    ErrorCode.EQUIPMENT_UNAVAILABLE,
)
# Holders checked in booking's order (slots.time_violation), each added to those before it.
_HOLDERS = (
    ("surgeon", ErrorCode.SURGEON_BUSY),
    ("anaesthetist", ErrorCode.ANAESTHETIST_BUSY),
    ("patient", ErrorCode.PATIENT_BUSY),
    ("unit", ErrorCode.EQUIPMENT_UNAVAILABLE),
)


def fill(
    problem: FillProblem, *, budget_ms: float = DEFAULT_BUDGET_MS, clock: Callable[[], float] = time.perf_counter
) -> FillResult:
    """A fill of the lists that keeps every booking rule and the priority rule, as full as the
    budget allows: placements to book, each case left waiting with its reason, and a score.

    `budget_ms` bounds the whole call but for the construction and the answer's assembly, which
    always complete (the construction alone keeps every rule); the improving search stops at it.
    A search that settles within the budget gives an answer that depends on the problem alone,
    not on the order of its lists and cases nor on the machine.

    Reasons: `no_list_for_surgeon`; a rule of the list itself (`not_eligible`,
    `session_locked`, `capability_missing`, `anaesthetist_required`, or `equipment_unavailable`
    when the site has no such unit); `session_full` when the time left is too short;
    `overrun_risk` when the minutes left under the overrun limit are; `surgeon_busy`,
    `anaesthetist_busy`, `patient_busy` or `equipment_unavailable` when someone else holds them.
    """
    started = clock()
    inst = Instance(problem)
    board = solve(inst, deadline=started + budget_ms / 1000, clock=clock)
    _tidy(board)
    placements = _placements(board)
    unplaced = tuple(Unplaced(case_id=inst.candidates[i].case_id, code=_reason(board, i)) for i in _waiting(board))
    score = _score(board)
    elapsed = (clock() - started) * 1000
    return FillResult(
        placements=placements,
        unplaced=unplaced,
        score=score,
        solver=SolverReport(method=METHOD, elapsed_ms=round(elapsed, 1)),
    )


def _tidy(board: Board) -> None:
    """Close the holes removals left in plain lists: their cases run back to back, most urgent first."""
    for j in range(board.inst.m):
        if board.plain_list(j) and board.content[j]:
            packed = board.pack(j, board.content[j])
            if packed is not None:
                board.set_list(j, packed)


def _placements(board: Board) -> tuple[Placement, ...]:
    inst = board.inst
    out: list[Placement] = []
    for j, fl in enumerate(inst.lists):
        for i in sorted(board.content[j], key=board.start.__getitem__):
            start = board.start[i]
            kinds = inst.candidates[i].demand.equipment
            out.append(
                Placement(
                    case_id=inst.candidates[i].case_id,
                    session_id=fl.window.id,
                    start=inst.at(start),
                    end=inst.at(start + inst.minutes[i]),
                    units={kind: inst.unit_of[u] for kind, u in zip(kinds, board.units[i], strict=True)},
                )
            )
    return tuple(out)


def _waiting(board: Board) -> list[int]:
    """The cases left waiting, most urgent first."""
    return sorted(board.unplaced, key=board.inst.rank.__getitem__)


def _reason(board: Board, i: int) -> ErrorCode:
    inst = board.inst
    surgeon = inst.candidates[i].demand.surgeon_id
    best: tuple[int, ErrorCode] | None = None
    for j, fl in enumerate(inst.lists):
        if fl.window.surgeon_id != surgeon:
            continue
        found = _reason_in(board, i, j)
        if best is None or found[0] > best[0]:
            best = found
    return ErrorCode.NO_LIST_FOR_SURGEON if best is None else best[1]


def _reason_in(board: Board, i: int, j: int) -> tuple[int, ErrorCode]:
    """Why case i is not in list j, ranked by how far it got."""
    inst = board.inst
    static = inst.static_code.get((i, j))
    if static is not None:
        return _RULES_OF_THE_LIST.index(static), static
    minutes = inst.minutes[i]
    cap = inst.cap[j]
    time_only = frozenset[str]()
    if (i, j) not in inst.allowed:  # longer than every gap, or than the overrun limit allows
        longest = max((e - s for s, e in inst.gaps[j]), default=0)
        if minutes <= longest:
            return len(_RULES_OF_THE_LIST) + 1, ErrorCode.OVERRUN_RISK
        return len(_RULES_OF_THE_LIST), ErrorCode.SESSION_FULL
    if board.plain_list(j) and inst.plain(i, j):  # only minutes count: no need to pack
        if board.load[j] + minutes > inst.gap_total[j]:
            return len(_RULES_OF_THE_LIST), ErrorCode.SESSION_FULL
        return len(_RULES_OF_THE_LIST) + 1, ErrorCode.OVERRUN_RISK  # else it would have been placed
    cases = [*board.content[j], i]
    if board.pack(j, cases, kinds=time_only, honour_cap=False) is None:
        return len(_RULES_OF_THE_LIST), ErrorCode.SESSION_FULL
    if cap is not None and board.load[j] + minutes > cap:
        return len(_RULES_OF_THE_LIST) + 1, ErrorCode.OVERRUN_RISK
    counted: frozenset[str] = frozenset()
    for kind, code in _HOLDERS:
        counted |= {kind}
        if board.pack(j, cases, kinds=counted) is None:
            return len(_RULES_OF_THE_LIST) + 2, code
    # Fits now: only possible if the search ran out of time before the rule was restored.
    return len(_RULES_OF_THE_LIST), ErrorCode.SESSION_FULL


def _score(board: Board) -> FillScore:
    inst = board.inst
    offered = sum(inst.gap_total)
    weights = [priority_weight(c.priority) for c in inst.candidates]
    placed = sum(w for i, w in enumerate(weights) if board.where[i] != -1)
    return FillScore(
        booked_minutes=board.booked,
        free_minutes=offered - board.booked,
        utilisation=round(board.booked / offered, 4) if offered else 0.0,
        priority_score=round(placed / sum(weights), 4) if weights else 1.0,
    )
