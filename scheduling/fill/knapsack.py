"""Exact refills of one or two lists of plain cases, as subset sums over Python integers.

Bit a·W + b of an integer is set when a minutes in the first list and b in the second are
reachable (W = the second list's capacity + 1; one list is two with the first of capacity 0), so
adding a case to every reachable fill at once is a shift and an OR per list.

The priority rule is kept inside the lists refilled: a case left out must not fit either list in
the room that the chosen cases of its class and above leave. Classes are decided in order. For one
class, if the smallest case left out has e minutes, every smaller one is in and less than e is left
in each list; so for each candidate e (each size in the class, and "none left out") the smaller
cases are forced, the others optional, and only fills leaving less than e are kept. The lowest
class needs no such care: a fullest fill never leaves out a case that would still fit.

Among the fullest fills, the reconstruction keeps the most preferred cases: cases are added least
preferred first, so walking back it decides the most preferred first, and takes each one in
whenever a fullest fill with it exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Item:
    case: int
    minutes: int
    cls: int  # 0 = P1
    rank: int  # lower is preferred (class, then treat-by)


@lru_cache(maxsize=4096)
def _second_at_least(width: int, rows: int, step: int) -> int:
    """Bits whose second-list load is at least `step` (where a shift by `step` did not wrap)."""
    row = ((1 << width) - 1) ^ ((1 << step) - 1)
    return row * (((1 << (width * rows)) - 1) // ((1 << width) - 1))


# One way to decide a class: the items forced in, the optional ones, the reachable sets before each
# of them, and what it reaches.
_Option = tuple[list[int], list[int], list[int], int]


class _Refill:
    def __init__(self, capacities: tuple[int, int], items: Sequence[Item], allowed: Sequence[tuple[bool, bool]]):
        g = math.gcd(*(it.minutes for it in items)) if items else 1
        self.cap1, self.cap2 = capacities[0] // g, capacities[1] // g
        self.width, self.rows = self.cap2 + 1, self.cap1 + 1
        self.full = (1 << (self.width * self.rows)) - 1
        self.items, self.allowed = items, allowed
        self.steps = [it.minutes // g for it in items]
        # Per item: (shift into the first list or None, shift into the second or None, its mask).
        self._moves = [
            (
                step * self.width if first and step <= self.cap1 else None,
                step if second and step <= self.cap2 else None,
                _second_at_least(self.width, self.rows, step) if second and step <= self.cap2 else 0,
            )
            for step, (first, second) in zip(self.steps, allowed, strict=True)
        ]

    def add(self, reach: int, k: int) -> int:
        """Every fill in `reach` with item k added to one of the lists it is allowed in."""
        into_first, into_second, mask = self._moves[k]
        into = 0 if into_first is None else (reach << into_first) & self.full
        if into_second is not None:
            into |= (reach << into_second) & mask
        return into

    def leaving_less_than(self, e: int, members: Sequence[int]) -> int:
        """Fills leaving less than e free in each list that some of `members` may go into."""
        mask = self.full
        if any(self.allowed[k][0] for k in members):
            mask &= self.full ^ ((1 << max(0, self.cap1 - e + 1) * self.width) - 1)
        if any(self.allowed[k][1] for k in members):
            mask &= _second_at_least(self.width, self.rows, max(0, self.cap2 - e + 1))
        return mask

    def option(self, reach: int, forced: list[int], optional: list[int]) -> _Option:
        before: list[int] = []
        add = self.add
        for k in forced:
            before.append(reach)
            reach = add(reach, k)
        for k in optional:
            before.append(reach)
            reach |= add(reach, k)
        return forced, optional, before, reach

    def best(self, reach: int) -> int:
        """The reachable state with the most minutes in the two lists together."""
        best, state = -1, -1
        for a in range(self.cap1, -1, -1):
            if a + self.cap2 <= best:
                break
            row = (reach >> a * self.width) & ((1 << self.width) - 1)
            if row and a + row.bit_length() - 1 > best:
                best, state = a + row.bit_length() - 1, a * self.width + row.bit_length() - 1
        return state

    def walk_back(self, state: int, option: _Option, first: list[int], second: list[int]) -> int:
        forced, optional, before, _ = option
        order = forced + optional
        for position in range(len(order) - 1, -1, -1):
            k, reach = order[position], before[position]
            step = self.steps[k]
            a, b = divmod(state, self.width)
            if self.allowed[k][0] and a >= step and reach >> (state - step * self.width) & 1:
                state -= step * self.width
                first.append(self.items[k].case)
            elif self.allowed[k][1] and b >= step and reach >> (state - step) & 1:
                state -= step
                second.append(self.items[k].case)
            # else left out: only an optional item can be, and the state was reachable without it
        return state


def fill_two(
    *,
    capacities: tuple[int, int],
    items: Sequence[Item],
    allowed: Sequence[tuple[bool, bool]],
    exempt: Sequence[bool] | None = None,
) -> tuple[list[int], list[int]]:
    """The fullest fill of two lists from `items` (each allowed in the lists flagged) that keeps
    the priority rule between them. An `exempt` item may be left out whatever room is left (the
    caller has a place for it elsewhere)."""
    refill = _Refill(capacities, items, allowed)
    steps = refill.steps
    classes = sorted({it.cls for it in items})
    reach = 1
    stages: list[list[_Option]] = []
    for cls in classes:
        members = sorted((k for k in range(len(items)) if items[k].cls == cls), key=lambda k: -items[k].rank)
        ruled = [k for k in members if not (exempt and exempt[k])]
        if cls == classes[-1] or not ruled:
            options = [refill.option(reach, [], members)]
        else:
            options = [refill.option(reach, ruled, [k for k in members if k not in ruled])]
            for e in sorted({steps[k] for k in ruled}):
                forced = [k for k in ruled if steps[k] < e]
                optional = [k for k in members if k not in forced]
                forced, optional, before, reached = refill.option(reach, forced, optional)
                options.append((forced, optional, before, reached & refill.leaving_less_than(e, ruled)))
        stages.append(options)
        reach = 0
        for option in options:
            reach |= option[3]
    state = refill.best(reach)  # reach holds at least the empty fill
    first: list[int] = []
    second: list[int] = []
    for options in reversed(stages):
        chosen = next(o for o in options if o[3] >> state & 1)
        state = refill.walk_back(state, chosen, first, second)
    return first, second


def fill_one(*, capacity: int, items: Sequence[Item]) -> list[int]:
    """The fullest fill of one list from `items` that keeps the priority rule inside it."""
    return fill_two(capacities=(0, capacity), items=items, allowed=[(False, True)] * len(items))[1]
