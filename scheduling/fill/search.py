"""The search: the priority rule kept by `repair`, a greedy construction, then improving moves.

The rule (DESIGN §5.4): no lower-priority case takes room a higher-priority case could have had.
Exactly: a case left out of every list must not fit in any list it may go into even with every
case of a lower class removed (from that list, and from any resource it would need). Within that
rule the fill books as many minutes as it can; equal fills are told apart by the cases' preference
order (class, then treat-by date), so at equal minutes the longer-waiting patient goes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator

from scheduling.fill.board import ALL_CLASSES, Board, Instance, Slot
from scheduling.fill.knapsack import Item, fill_one, fill_two

Clock = Callable[[], float]
# A move's effect: the lists that gained room and the cases it left waiting, for the repair.
Moved = tuple[list[int], list[int]]
# A move: applied to the board, it says what it changed, or None if it could not be made.
Change = Callable[[], Moved | None]

# Cases a repack may draw from the waiting list for one list or pair, most preferred first: the
# rest could only matter if these several dozen all failed to fit.
POOL_LIMIT = 40


class Search:
    """One search over one board: the rule's repair, the construction, and the improving moves."""

    def __init__(self, inst: Instance, *, deadline: float, clock: Clock) -> None:
        self.inst = inst
        self.board = Board(inst)
        self.deadline = deadline
        self.clock = clock
        self.by_class: list[list[list[int]]] = [[[] for _ in range(ALL_CLASSES + 1)] for _ in range(inst.m)]
        for j, cases in enumerate(inst.compat_cases):
            for i in cases:
                self.by_class[j][inst.cls[i]].append(i)
        self.items = [Item(case=i, minutes=inst.minutes[i], cls=inst.cls[i], rank=inst.rank[i]) for i in range(inst.n)]
        self.components = _components(inst)
        self.component_of = [0] * inst.m
        for c, lists in enumerate(self.components):
            for j in lists:
                self.component_of[j] = c
        # Lists some of whose cases are timed: the moves that retime, swap and move are for them.
        self.timed_lists = [any(not inst.plain(i, j) for i in inst.compat_cases[j]) for j in range(inst.m)]
        # Pairs of lists that share a waiting case: the only pairs a joint repack can improve.
        shared = {tuple(lists) for lists in inst.compat if len(lists) > 1}
        self.pairs = sorted({(j, k) for lists in shared for j, k in itertools.combinations(lists, 2)})

    def out_of_time(self) -> bool:
        return self.clock() > self.deadline

    # --- the priority rule ----------------------------------------------------------------------

    def construct(self) -> None:
        """Best-fit decreasing within priority tiers: the repair of an empty board."""
        self.repair(range(self.inst.m), range(self.inst.n))

    def repair(self, lists: Iterable[int], cases: Iterable[int]) -> None:
        """Restore the priority rule after `lists` gained room or `cases` were left out.

        Class by class, most urgent first, every waiting case that may fit one of the changed lists
        (or that was just left out) is put where it drops the fewest minutes of lower classes, best
        fit among those; what it drops waits again and is looked at with its own, later, class.
        Placing a case only takes room from its own class and below, so one pass suffices.
        """
        inst, board = self.inst, self.board
        dirty_lists: set[int] = set()
        for j in lists:
            dirty_lists.add(j)
            dirty_lists |= inst.coupled[j]
        dirty_cases = set(cases)
        for cls in range(ALL_CLASSES + 1):
            todo = {i for i in dirty_cases if inst.cls[i] == cls}
            for j in dirty_lists:
                todo.update(self.by_class[j][cls])
            for i in sorted(todo & board.unplaced, key=lambda i: (-inst.minutes[i], inst.rank[i])):
                targets = inst.compat[i] if i in dirty_cases else [j for j in inst.compat[i] if j in dirty_lists]
                placed = self._place_with_room(i, targets)
                if placed is not None:
                    j, dropped = placed
                    # Cases dropped from other lists held a resource j's cases need: those lists
                    # are among j's coupled ones, which gained room.
                    dirty_lists.add(j)
                    dirty_lists |= inst.coupled[j]
                    dirty_cases |= dropped

    def _order_below(self, cases: Iterable[int]) -> list[int]:
        """Lower-class cases in the order they are kept when room is short: most urgent, then longest."""
        inst = self.inst
        return sorted(cases, key=lambda d: (inst.cls[d], -inst.minutes[d], inst.rank[d]))

    def _room(self, i: int, j: int) -> tuple[int, int, list[Slot] | None] | None:
        """Whether case i fits list j with only cases of its class and above kept: the minutes of
        lower classes it would displace, the slack it would leave, and (for a list that is not plain)
        the packing that found it."""
        inst, board = self.inst, self.board
        cls = inst.cls[i]
        if board.plain_list(j) and inst.plain(i, j):
            room = inst.capacity[j] - board.load_up_to(j, cls) - inst.minutes[i]
            if room < 0:
                return None
            below_minutes = board.load[j] - board.load_up_to(j, cls)
            if below_minutes <= room:
                return 0, room - below_minutes, None
            kept = 0
            for d in self._order_below(d for d in board.content[j] if inst.cls[d] > cls):
                if kept + inst.minutes[d] <= room:
                    kept += inst.minutes[d]
            return below_minutes - kept, room - kept, None
        above = [d for d in board.content[j] if inst.cls[d] <= cls]
        packed = board.pack(j, [*above, i], ignore_above=cls)
        if packed is None:
            return None
        lost = sum(inst.minutes[d] for d in board.conflicts(packed, j))
        lost += board.load[j] - board.load_up_to(j, cls)  # an estimate: some will fit back
        return lost, inst.gap_total[j] - board.load_up_to(j, cls) - inst.minutes[i], packed

    def _place_with_room(self, i: int, targets: Iterable[int]) -> tuple[int, set[int]] | None:
        """Put case i where `_room` finds it displaces least, then keep what still fits of the rest."""
        inst, board = self.inst, self.board
        best: tuple[int, int, int] | None = None
        best_packed: list[Slot] | None = None
        for j in targets:
            fit = self._room(i, j)
            if fit is not None and (best is None or (fit[0], fit[1], j) < best):
                best, best_packed = (fit[0], fit[1], j), fit[2]
        if best is None:
            return None
        lost, _, j = best
        cls = inst.cls[i]
        if best_packed is None and lost == 0 and board.append(i, j):
            return j, set()
        above = [d for d in board.content[j] if inst.cls[d] <= cls]
        below = self._order_below(d for d in board.content[j] if inst.cls[d] > cls)
        packed = best_packed or board.pack(j, [*above, i]) or []
        dropped = board.conflicts(packed, j)
        for d in sorted(dropped):
            board.remove(d)
        kept = [slot[0] for slot in packed]
        for d in below:
            again = board.pack(j, [*kept, d])
            if again is None:
                dropped.add(d)
            else:
                kept.append(d)
                packed = again
        board.set_list(j, packed)
        return j, dropped

    def rule_holds(self) -> bool:
        """The rule, checked case by case against every list (the final safety net)."""
        return all(self._room(i, j) is None for i in self.board.unplaced for j in self.inst.compat[i])

    # --- improvement ----------------------------------------------------------------------------

    def _try(self, change: Change) -> bool:
        """Apply a move, repair the rule, and keep the result only if the fill got better."""
        board = self.board
        before = board.objective()
        board.begin()
        moved = change()
        if moved is None:
            board.rollback()
            return False
        self.repair(*moved)
        if board.objective() > before:
            board.commit()
            return True
        board.rollback()
        return False

    def _waiting_for(self, lists: Iterable[int]) -> list[int]:
        """Waiting cases that may go into any of `lists`, most preferred first, at most POOL_LIMIT."""
        inst, board = self.inst, self.board
        found = {i for j in lists for i in inst.compat_cases[j] if i in board.unplaced}
        return sorted(found, key=inst.rank.__getitem__)[:POOL_LIMIT]

    def _signature(self, j: int) -> int:
        """Changes anywhere in j's component so far: a move that failed is worth retrying only after one."""
        return sum(self.board.stamp[k] for k in self.components[self.component_of[j]])

    def _plain_lists(self, lists: Iterable[int]) -> bool:
        inst = self.inst
        return all(inst.single_gap[j] and all(inst.plain(i, j) for i in inst.compat_cases[j]) for j in lists)

    def refill(self, lists: list[int]) -> bool:
        """Empty a component's plain lists and refill them one by one, each as full as the waiting
        cases allow (an exact repack each); kept if the whole component gains."""
        inst, board = self.inst, self.board

        def change() -> Moved:
            for j in lists:
                board.set_list(j, [])
            for j in lists:
                chosen = fill_one(capacity=inst.capacity[j], items=[self.items[i] for i in self._waiting_for([j])])
                board.set_list(j, board.pack(j, chosen) or [])
            return lists, []

        return self._try(change)

    def repack_list(self, j: int) -> bool:
        """Refill one plain list exactly from its own cases and the waiting ones."""
        inst, board = self.inst, self.board
        pool = [i for i in self._waiting_for([j]) if inst.plain(i, j)]
        if not pool:
            return False
        chosen = fill_one(capacity=inst.capacity[j], items=[self.items[i] for i in [*board.content[j], *pool]])
        gain = (sum(inst.minutes[i] for i in chosen), sum(inst.n - inst.rank[i] for i in chosen))
        if gain <= (board.load[j], sum(inst.n - inst.rank[i] for i in board.content[j])):
            return False
        left = [i for i in board.content[j] if i not in set(chosen)]

        def change() -> Moved | None:
            packed = board.pack(j, chosen)
            if packed is None:
                return None
            board.set_list(j, packed)
            return [j], left

        return self._try(change)

    def repack_pair(self, j1: int, j2: int) -> bool:
        """Refill two plain lists exactly from their cases and the waiting ones.

        Tried twice: first letting a case that another list has room for (with its lower classes
        out) be left out of the two whatever room they keep, since the repair that follows puts it
        there (so a move can reach a third list, and an urgent case held may come out if it has
        nowhere to fit after); then, if that did not help, keeping the rule within the two."""
        inst, board = self.inst, self.board
        held = [*board.content[j1], *board.content[j2]]
        pool = [i for i in self._waiting_for([j1, j2]) if all(inst.plain(i, j) for j in (j1, j2))]
        if not pool:
            return False
        cases = [*held, *pool]
        if sum(inst.minutes[i] for i in cases) <= board.load[j1] + board.load[j2]:
            return False
        movable = [any(self._room(i, k) is not None for k in inst.compat[i] if k not in (j1, j2)) for i in cases]
        tried: list[tuple[list[int], list[int]]] = []
        for exempt in (movable, [False] * len(cases)) if any(movable) else ([False] * len(cases),):
            first, second = fill_two(
                capacities=(inst.capacity[j1], inst.capacity[j2]),
                items=[self.items[i] for i in cases],
                allowed=[((i, j1) in inst.allowed, (i, j2) in inst.allowed) for i in cases],
                exempt=exempt,
            )
            if sum(inst.minutes[i] for i in first + second) <= board.load[j1] + board.load[j2]:
                continue
            if (first, second) in tried:
                continue
            tried.append((first, second))
            if self._refill_pair(j1, j2, first, second):
                return True
        return False

    def _refill_pair(self, j1: int, j2: int, first: list[int], second: list[int]) -> bool:
        board = self.board
        left = [i for i in [*board.content[j1], *board.content[j2]] if i not in set(first) | set(second)]

        def change() -> Moved | None:
            p1, p2 = board.pack(j1, first), board.pack(j2, second)
            if p1 is None or p2 is None:
                return None
            for i in left:
                board.remove(i)
            board.set_list(j1, p1)
            board.set_list(j2, p2)
            return [j1, j2], left

        return self._try(change)

    def _first_that_helps(self, changes: Iterable[Change]) -> bool:
        for change in changes:
            if self._try(change):
                return True
            if self.out_of_time():
                return False
        return False

    def retime_in(self, j: int) -> Iterator[Change]:
        """For lists that are not plain: a waiting case in, at a time that other lists' cases hold
        now, if those lists can run theirs at other times (a patient or a C-arm shared in turn)."""
        inst, board = self.inst, self.board
        for u in self._waiting_for([j]):
            if inst.plain(u, j):
                continue

            def change(u: int = u) -> Moved | None:
                # Only what is held outside the fill counts (class -1): the fill's own cases move.
                packed = board.pack(j, [*board.content[j], u], ignore_above=-1)
                if packed is None:
                    return None
                in_the_way = {board.where[d] for d in board.conflicts(packed, j)}
                board.set_list(j, packed)
                for other in sorted(in_the_way):
                    again = board.pack(other, board.content[other])
                    if again is None:
                        return None
                    board.set_list(other, again)
                return [j, *in_the_way], []

            yield change

    def swap_in(self, j: int) -> Iterator[Change]:
        """For lists that are not plain: a waiting case in place of a shorter one of no higher class."""
        inst, board = self.inst, self.board
        for u in self._waiting_for([j]):
            for p in sorted(board.content[j], key=lambda p: (inst.minutes[p], -inst.rank[p])):
                if inst.cls[p] < inst.cls[u] or inst.minutes[p] >= inst.minutes[u]:
                    continue

                def change(u: int = u, p: int = p) -> Moved | None:
                    packed = board.pack(j, [*(d for d in board.content[j] if d != p), u])
                    if packed is None:
                        return None
                    board.set_list(j, packed)
                    return [j], [p]

                yield change

    def move_out(self, j: int) -> Iterator[Change]:
        """For lists that are not plain: move a case to another list, so the room it leaves fills."""
        inst, board = self.inst, self.board
        for p in list(board.content[j]):
            for other in inst.compat[p]:
                if other == j:
                    continue

                def change(p: int = p, other: int = other) -> Moved | None:
                    packed = board.pack(other, [*board.content[other], p])
                    if packed is None:
                        return None
                    board.set_list(other, packed)
                    return [j], []

                yield change

    def _slack(self, j: int) -> int:
        return self.inst.capacity[j] - self.board.load[j]

    def improve(self) -> None:
        """Improving moves until none helps or time is up; every kept move raises (minutes, preference).

        First each plain component is refilled list by list; then, round after round, pairs of
        lists are repacked, most slack first, then single lists (those that are not plain are tried
        with swaps and moves instead). A move that failed is retried only once its component has
        changed.
        """
        for lists in self.components:
            if self.out_of_time():
                return
            if len(lists) > 1 and self._plain_lists(lists):
                self.refill(lists)
        failed: dict[tuple[int, int], int] = {}
        improved = True
        while improved:
            improved = False
            for j, k in sorted(self.pairs, key=lambda p: (-self._slack(p[0]) - self._slack(p[1]), p)):
                if self.out_of_time():
                    return
                if failed.get((j, k)) == self._signature(j) or self._slack(j) + self._slack(k) <= 0:
                    continue
                if not (self.board.plain_list(j) and self.board.plain_list(k)):
                    continue
                if self.repack_pair(j, k):
                    improved = True
                else:
                    failed[j, k] = self._signature(j)
            for j in sorted(range(self.inst.m), key=lambda j: (-self._slack(j), j)):
                if self.out_of_time():
                    return
                if failed.get((j, j)) == self._signature(j):
                    continue
                moved = (self.board.plain_list(j) and self.repack_list(j)) or (
                    self.timed_lists[j]
                    and self._first_that_helps(itertools.chain(self.retime_in(j), self.swap_in(j), self.move_out(j)))
                )
                improved |= moved
                if not moved:
                    failed[j, j] = self._signature(j)


def _components(inst: Instance) -> list[list[int]]:
    """Lists linked by a case that may go into both, or by a resource their cases contend for."""
    parent = list(range(inst.m))

    def root(j: int) -> int:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    for i in range(inst.n):
        for j in inst.compat[i][1:]:
            parent[root(j)] = root(inst.compat[i][0])
    for j in range(inst.m):
        for k in inst.coupled[j]:
            parent[root(k)] = root(j)
    groups: dict[int, list[int]] = {}
    for j in range(inst.m):
        groups.setdefault(root(j), []).append(j)
    return list(groups.values())


def solve(inst: Instance, *, deadline: float, clock: Clock = time.perf_counter) -> Board:
    """The constructed fill, improved until `deadline` (on `clock`); the rule re-checked at the end.

    The construction always runs to the end, whatever the deadline: it alone keeps every rule.
    """
    search = Search(inst, deadline=deadline, clock=clock)
    search.construct()
    search.improve()
    if not search.rule_holds():  # a safety net: every move already repairs what it changes
        search.repair(range(inst.m), range(inst.n))
    return search.board
