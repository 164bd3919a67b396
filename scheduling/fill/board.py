"""The fill's working board: which cases each list holds, when each starts, and what each claims.

Times are whole minutes from an epoch (the earliest list's start, floored to the minute), so the
search does integer arithmetic; gaps are rounded inward and other holders' intervals outward, so
the rounding can only cost room, never cause an overlap.

Two kinds of (case, list) pair:
- plain: nothing the case would claim in that list (the surgeon, the anaesthetist, the patient,
  a unit of each equipment kind) is held at overlapping times by anyone else, nor wanted by
  another list running at the same time. Then only minutes matter: a set of cases fits a
  single-gap list iff their minutes do, and they run back to back.
- timed: where the case can start depends on other holders, so a list is packed by searching
  sequences: each case at its earliest feasible start after the previous one. For a fixed order
  that earliest start is optimal (starting earlier never delays the next case), so trying every
  order (a dynamic programme over subsets, up to `EXACT_PACK_LIMIT` cases) is exact.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from core.errors import ErrorCode
from scheduling.fill.problem import PRIORITIES, FillProblem
from scheduling.slots import Interval, session_violation

# Lists holding more timed cases than this are packed greedily (in two orders) instead of exactly:
# 2^n orders' worth of work per check grows too fast, and real lists hold 2-6 cases.
EXACT_PACK_LIMIT = 8

# No class of claim is ignored: the room checks of the priority rule ignore lower classes only.
ALL_CLASSES = len(PRIORITIES) - 1

# A claim on a resource: (start, end, list index, case class, case index); -1 for holders outside
# the fill (their class -1 is never ignored).
Claim = tuple[int, int, int, int, int]
# A packed list: (case index, start minute, the unit resources it claims, one per equipment kind).
Slot = tuple[int, int, tuple[int, ...]]


class Instance:
    """The problem in integer minutes and indices, with what never changes during the search."""

    def __init__(self, problem: FillProblem) -> None:
        lists = sorted(problem.lists, key=lambda fl: (fl.window.start, fl.window.id))
        cands = sorted(problem.candidates, key=lambda c: c.case_id)
        if len({fl.window.id for fl in lists}) != len(lists):
            raise ValueError("a list appears twice")
        if len({c.case_id for c in cands}) != len(cands):
            raise ValueError("a case appears twice")
        self.problem = problem
        self.lists = lists
        self.candidates = cands
        starts = [fl.window.start for fl in lists] or [dt.datetime(2000, 1, 1, tzinfo=dt.UTC)]
        self.epoch = min(starts).astimezone(dt.UTC).replace(second=0, microsecond=0)
        self.n, self.m = len(cands), len(lists)

        self.minutes = [c.demand.minutes for c in cands]
        self.cls = [PRIORITIES.index(c.priority) for c in cands]
        # Preference within the rules: class, then treat-by (P4: none, so longest referral first).
        ranked = sorted(
            range(self.n),
            key=lambda i: (self.cls[i], cands[i].treat_by or dt.date.max, cands[i].referral_date, cands[i].case_id),
        )
        self.rank = [0] * self.n
        for position, i in enumerate(ranked):
            self.rank[i] = position

        self.gaps = [self._clip(fl.window.first_start, fl.window.end, fl.gaps) for fl in lists]
        self.gap_total = [sum(e - s for s, e in g) for g in self.gaps]
        self.cap = [fl.max_added_minutes for fl in lists]
        # A single-gap list of plain cases is a bin of this many minutes.
        self.capacity = [
            min(total, cap) if cap is not None else total for total, cap in zip(self.gap_total, self.cap, strict=True)
        ]
        self.single_gap = [len(g) == 1 for g in self.gaps]
        self.span = [(g[0][0], g[-1][1]) if g else (0, 0) for g in self.gaps]

        self._resources: dict[tuple[str, int], int] = {}
        self.external: list[list[tuple[int, int]]] = []
        self.unit_of: dict[int, int] = {}  # unit resource -> unit id
        self.kind_of: list[str] = []  # resource -> "surgeon" | "anaesthetist" | "patient" | "unit"
        self._load_external(problem)
        # (case, list) pairs that may go together, and those of them that are timed.
        self.allowed: set[tuple[int, int]] = set()
        self.timed_pairs: set[tuple[int, int]] = set()
        self.staff: list[tuple[int, ...]] = []  # per list: its surgeon's and anaesthetist's resources
        self.patient: list[tuple[int, ...]] = []  # per case: its patient's resource, if known
        self.static_code: dict[tuple[int, int], ErrorCode] = {}
        self.compat: list[list[int]] = [[] for _ in range(self.n)]
        self.compat_cases: list[list[int]] = [[] for _ in range(self.m)]
        self._pair_up(problem)
        self.coupled = self._coupling()

    # --- time ---------------------------------------------------------------------------------

    def floor(self, moment: dt.datetime) -> int:
        return math.floor((moment - self.epoch).total_seconds() / 60)

    def ceil(self, moment: dt.datetime) -> int:
        return math.ceil((moment - self.epoch).total_seconds() / 60)

    def at(self, minute: int) -> dt.datetime:
        return self.epoch + dt.timedelta(minutes=minute)

    def _clip(self, first: dt.datetime, end: dt.datetime, gaps: Iterable[Interval]) -> list[tuple[int, int]]:
        """The gaps inside the list's open time, in whole minutes, merged and sorted."""
        lo, hi = self.ceil(first), self.floor(end)
        pieces = sorted((max(self.ceil(a), lo), min(self.floor(b), hi)) for a, b in gaps)
        merged: list[tuple[int, int]] = []
        for s, e in pieces:
            if s >= e:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    # --- resources ----------------------------------------------------------------------------

    def _resource(self, key: tuple[str, int]) -> int:
        index = self._resources.get(key)
        if index is None:
            index = self._resources[key] = len(self.external)
            self.external.append([])
            self.kind_of.append(key[0])
        return index

    def _hold(self, key: tuple[str, int], intervals: Iterable[Interval]) -> None:
        held = self.external[self._resource(key)]
        held.extend((self.floor(a), self.ceil(b)) for a, b in intervals if a < b)
        held.sort()

    def _load_external(self, problem: FillProblem) -> None:
        for kind, table in (
            ("surgeon", problem.surgeons_busy),
            ("anaesthetist", problem.anaesthetists_busy),
            ("patient", problem.patients_busy),
        ):
            for person, intervals in sorted(table.items()):
                self._hold((kind, person), intervals)
        self.pools_at: dict[tuple[int, str], tuple[int, ...]] = {}
        for (site, kind), units in sorted(problem.units.items()):
            pool = []
            for unit_id, claims in sorted(units.items()):
                self._hold(("unit", unit_id), claims)
                resource = self._resource(("unit", unit_id))
                self.unit_of[resource] = unit_id
                pool.append(resource)
            if pool:
                self.pools_at[site, kind] = tuple(pool)

    def _pair_up(self, problem: FillProblem) -> None:
        """Which lists each case may go into, and which of those pairs are timed."""
        lists_of: dict[int, list[int]] = defaultdict(list)
        for j, fl in enumerate(self.lists):
            window = fl.window
            lists_of[window.surgeon_id].append(j)
            staff = [self._resource(("surgeon", window.surgeon_id))]
            if window.anaesthetist_id is not None:
                staff.append(self._resource(("anaesthetist", window.anaesthetist_id)))
            self.staff.append(tuple(staff))
        longest = [max((e - s for s, e in g), default=0) for g in self.gaps]
        for cand in self.candidates:
            patient_id = cand.demand.patient_id
            self.patient.append(() if patient_id is None else (self._resource(("patient", patient_id)),))
        # A resource claimed by a single case, or by lists that never run at the same time, is never
        # contended: most pairs are plain, and are found so without looking at their intervals.
        patients: dict[tuple[int, ...], int] = defaultdict(int)
        for res in self.patient:
            patients[res] += 1
        wanted: dict[int, set[int]] = defaultdict(set)  # resource -> lists that may claim it
        for i, cand in enumerate(self.candidates):
            demand = cand.demand
            shared_patient = self.patient[i] if patients[self.patient[i]] > 1 else ()
            for j in lists_of[demand.surgeon_id]:
                window = self.lists[j].window
                code = session_violation(window=window, demand=demand, allow_locked=problem.allow_locked)
                if code is None and not all(self.pools_at.get((window.site_id, kind)) for kind in demand.equipment):
                    code = ErrorCode.EQUIPMENT_UNAVAILABLE
                if code is not None:
                    self.static_code[i, j] = code
                    continue
                cap = self.cap[j]
                if demand.minutes > longest[j] or (cap is not None and demand.minutes > cap):
                    continue  # never fits this list: reported as session_full or overrun_risk
                self.allowed.add((i, j))
                self.compat[i].append(j)
                self.compat_cases[j].append(i)
                for resource in shared_patient:
                    wanted[resource].add(j)
                if demand.equipment:
                    for pool in self.pools(i, j):
                        for unit in pool:
                            wanted[unit].add(j)
        for j in range(self.m):
            if self.compat_cases[j]:
                for resource in self.staff[j]:
                    wanted[resource].add(j)
        contended: dict[tuple[int, int], bool] = {}

        def is_contended(resource: int, j: int) -> bool:
            key = (resource, j)
            if key not in contended:
                contended[key] = self._contended(resource, j, wanted[resource])
            return contended[key]

        staff_contended = [any(is_contended(r, j) for r in self.staff[j]) for j in range(self.m)]
        for i, j in sorted(self.allowed):
            patient = self.patient[i]
            if (
                staff_contended[j]
                or (patient and (patients[patient] > 1 or self.external[patient[0]]) and is_contended(patient[0], j))
                or (
                    self.candidates[i].demand.equipment and any(is_contended(u, j) for p in self.pools(i, j) for u in p)
                )
            ):
                self.timed_pairs.add((i, j))

    def people(self, i: int, j: int) -> tuple[int, ...]:
        """The people case i holds in list j: the surgeon, the anaesthetist (if any), the patient."""
        return self.staff[j] + self.patient[i]

    def pools(self, i: int, j: int) -> list[tuple[int, ...]]:
        """For each equipment kind case i needs, the units of that kind at list j's site."""
        site = self.lists[j].window.site_id
        return [self.pools_at[site, kind] for kind in self.candidates[i].demand.equipment]

    def claimable(self, i: int, j: int) -> list[int]:
        return [*self.people(i, j), *(unit for pool in self.pools(i, j) for unit in pool)]

    def _overlaps_list(self, j: int, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in self.gaps[j])

    def _contended(self, resource: int, j: int, lists: set[int]) -> bool:
        """Whether anyone but list j could hold `resource` during j's gaps."""
        s, e = self.span[j]
        if any(a < e and s < b and self._overlaps_list(j, a, b) for a, b in self.external[resource]):
            return True
        if len(lists) == 1:
            return False
        for other in lists:
            a, b = self.span[other]
            if other != j and a < e and s < b and any(self._overlaps_list(other, gs, ge) for gs, ge in self.gaps[j]):
                return True
        return False

    def _coupling(self) -> list[frozenset[int]]:
        """For each list, the other lists whose cases can contend with its cases for a resource."""
        holders: dict[int, set[int]] = defaultdict(set)
        for i, j in self.timed_pairs:
            for resource in self.claimable(i, j):
                holders[resource].add(j)
        coupled: list[set[int]] = [set() for _ in range(self.m)]
        for lists in holders.values():
            for j in lists:
                coupled[j] |= lists
        return [frozenset(c - {j}) for j, c in enumerate(coupled)]

    def plain(self, i: int, j: int) -> bool:
        return (i, j) not in self.timed_pairs


class Board:
    """The current fill, changed only through `set_list`, with an undo journal for trial moves."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.content: list[list[int]] = [[] for _ in range(inst.m)]
        self.where = [-1] * inst.n
        self.start = [-1] * inst.n
        self.units: list[tuple[int, ...]] = [() for _ in range(inst.n)]
        self.load = [0] * inst.m
        self.class_load = [[0] * len(PRIORITIES) for _ in range(inst.m)]
        self.timed = [0] * inst.m  # timed cases held, per list
        self.stamp = [0] * inst.m  # bumped whenever a list changes: what a move tried before may now work
        self.unplaced = set(range(inst.n))
        self.booked = 0
        self.preference = 0  # Σ (n - rank) over placed cases: the tie-break between equal fills
        self.claims: list[list[Claim]] = [[(a, b, -1, -1, -1) for a, b in held] for held in inst.external]
        self._journal: dict[int, list[Slot]] | None = None

    # --- reading ------------------------------------------------------------------------------

    def objective(self) -> tuple[int, int]:
        return self.booked, self.preference

    def plain_list(self, j: int) -> bool:
        """Whether list j is a bin of `capacity` minutes: one gap, and only plain cases in it."""
        return self.inst.single_gap[j] and self.timed[j] == 0

    def load_up_to(self, j: int, cls: int) -> int:
        return sum(self.class_load[j][: cls + 1])

    def slots(self, j: int) -> list[Slot]:
        return [(i, self.start[i], self.units[i]) for i in self.content[j]]

    # --- packing ------------------------------------------------------------------------------

    def pack(
        self,
        j: int,
        cases: Sequence[int],
        *,
        ignore_above: int = ALL_CLASSES,
        kinds: frozenset[str] | None = None,
        honour_cap: bool = True,
    ) -> list[Slot] | None:
        """A schedule of exactly `cases` in list j, or None if they cannot all fit.

        Claims by list j itself and by `cases` are ignored (they are what is being rearranged), and
        so are claims by cases of a class below `ignore_above` (the priority rule's room check) and,
        given `kinds`, claims on other kinds of resource (an empty set: only the gaps count).
        """
        inst = self.inst
        total = sum(inst.minutes[i] for i in cases)
        cap = inst.cap[j]
        if total > inst.gap_total[j] or (honour_cap and cap is not None and total > cap):
            return None
        if inst.single_gap[j] and all(inst.plain(i, j) for i in cases):
            minute = inst.gaps[j][0][0]
            packed: list[Slot] = []
            for i in sorted(cases, key=inst.rank.__getitem__):
                packed.append((i, minute, tuple(pool[0] for pool in inst.pools(i, j))))
                minute += inst.minutes[i]
            return packed
        moving = frozenset(cases)
        if len(cases) <= EXACT_PACK_LIMIT:
            return self._pack_exact(j, list(cases), moving, ignore_above, kinds)
        for order in (sorted(cases, key=inst.rank.__getitem__), sorted(cases, key=lambda i: -inst.minutes[i])):
            found = self._pack_in_order(j, order, moving, ignore_above, kinds)
            if found is not None:
                return found
        return None

    def _pack_in_order(
        self, j: int, order: Sequence[int], moving: frozenset[int], ignore_above: int, kinds: frozenset[str] | None
    ) -> list[Slot] | None:
        packed: list[Slot] = []
        minute = -(10**9)
        for i in order:
            found = self.earliest(i, j, minute, moving=moving, ignore_above=ignore_above, kinds=kinds)
            if found is None:
                return None
            packed.append((i, found[0], found[1]))
            minute = found[0] + self.inst.minutes[i]
        return packed

    def _pack_exact(
        self, j: int, cases: list[int], moving: frozenset[int], ignore_above: int, kinds: frozenset[str] | None
    ) -> list[Slot] | None:
        """Every order at once: the earliest end of each subset, each case at its earliest start."""
        k = len(cases)
        best: dict[int, int] = {0: -(10**9)}
        came: dict[int, tuple[int, int, int, tuple[int, ...]]] = {}
        for mask in range(1 << k):
            end = best.get(mask)
            if end is None:
                continue
            for b in range(k):
                if mask >> b & 1:
                    continue
                found = self.earliest(cases[b], j, end, moving=moving, ignore_above=ignore_above, kinds=kinds)
                if found is None:
                    continue
                finish = found[0] + self.inst.minutes[cases[b]]
                nxt = mask | 1 << b
                if finish < best.get(nxt, 10**9):
                    best[nxt] = finish
                    came[nxt] = (mask, b, found[0], found[1])
        full = (1 << k) - 1
        if full not in best:
            return None
        packed: list[Slot] = []
        mask = full
        while mask:
            prev, b, start, units = came[mask]
            packed.append((cases[b], start, units))
            mask = prev
        packed.reverse()
        return packed

    def _blocked_until(
        self, resource: int, start: int, end: int, j: int, moving: frozenset[int], ignore_above: int
    ) -> int:
        """The latest end of a claim on `resource` overlapping [start, end) that counts, else `start`."""
        until = start
        for a, b, owner, cls, case in self.claims[resource]:
            if a < end and start < b and b > until and owner != j and case not in moving and cls <= ignore_above:
                until = b
        return until

    def earliest(
        self,
        i: int,
        j: int,
        after: int,
        *,
        moving: frozenset[int] = frozenset(),
        ignore_above: int = ALL_CLASSES,
        kinds: frozenset[str] | None = None,
    ) -> tuple[int, tuple[int, ...]] | None:
        """Case i's earliest start in list j at or after `after`, with a unit of each kind, or None."""
        inst = self.inst
        minutes = inst.minutes[i]
        people = [r for r in inst.people(i, j) if kinds is None or inst.kind_of[r] in kinds]
        pools = inst.pools(i, j)
        units_count = kinds is None or "unit" in kinds
        for gap_start, gap_end in inst.gaps[j]:
            start = max(after, gap_start)
            while start + minutes <= gap_end:
                end = start + minutes
                nxt = start
                for person in people:
                    nxt = max(nxt, self._blocked_until(person, start, end, j, moving, ignore_above))
                chosen: list[int] = []
                for pool in pools:
                    if not units_count:
                        chosen.append(pool[0])
                        continue
                    soonest = gap_end
                    for unit in pool:
                        until = self._blocked_until(unit, start, end, j, moving, ignore_above)
                        if until == start:
                            chosen.append(unit)
                            break
                        soonest = min(soonest, until)
                    else:
                        nxt = max(nxt, soonest)
                if nxt == start:
                    return start, tuple(chosen)
                start = nxt
        return None

    def conflicts(self, packed: Sequence[Slot], j: int) -> set[int]:
        """Cases outside list j whose claims overlap what `packed` would claim."""
        hit: set[int] = set()
        moving = {i for i, _, _ in packed}
        for i, start, units in packed:
            if self.inst.plain(i, j):
                continue
            end = start + self.inst.minutes[i]
            for resource in (*self.inst.people(i, j), *units):
                for a, b, owner, _, case in self.claims[resource]:
                    if owner not in (-1, j) and case not in moving and a < end and start < b:
                        hit.add(case)
        return hit

    # --- changing -----------------------------------------------------------------------------

    def begin(self) -> None:
        self._journal = {}

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        journal, self._journal = self._journal, None
        if journal is None:
            return
        for j in journal:
            for i in list(self.content[j]):
                self._detach(i)
        for j, packed in journal.items():
            for i, start, units in packed:
                self._attach(i, j, start, units)

    def _touch(self, j: int) -> None:
        if self._journal is not None and j not in self._journal:
            self._journal[j] = self.slots(j)

    def set_list(self, j: int, packed: Sequence[Slot]) -> None:
        """Make list j hold exactly `packed`: its other cases wait again; cases taken from other lists leave them."""
        self._touch(j)
        for i in list(self.content[j]):
            self._detach(i)
        for i, start, units in packed:
            self.remove(i)
            self._attach(i, j, start, units)

    def append(self, i: int, j: int) -> bool:
        """Put plain case i straight after the last case of plain list j, if its cases run back to
        back from the gap's start and the case fits there (else False: repack instead)."""
        inst = self.inst
        first = inst.gaps[j][0][0]
        end = first + self.load[j]
        if not self.plain_list(j) or not inst.plain(i, j) or end + inst.minutes[i] > first + inst.capacity[j]:
            return False
        if any(self.start[d] + inst.minutes[d] > end for d in self.content[j]):
            return False
        self._touch(j)
        self._attach(i, j, end, tuple(pool[0] for pool in inst.pools(i, j)))
        return True

    def remove(self, i: int) -> None:
        """Case i waits again (the rest of its list keeps its times: removing never breaks a fit)."""
        if self.where[i] != -1:
            self._touch(self.where[i])
            self._detach(i)

    def _attach(self, i: int, j: int, start: int, units: tuple[int, ...]) -> None:
        inst = self.inst
        minutes, cls = inst.minutes[i], inst.cls[i]
        self.content[j].append(i)
        self.stamp[j] += 1
        self.where[i], self.start[i], self.units[i] = j, start, units
        self.load[j] += minutes
        self.class_load[j][cls] += minutes
        self.unplaced.discard(i)
        self.booked += minutes
        self.preference += inst.n - inst.rank[i]
        if not inst.plain(i, j):
            self.timed[j] += 1
            for resource in (*inst.people(i, j), *units):
                self.claims[resource].append((start, start + minutes, j, cls, i))

    def _detach(self, i: int) -> None:
        inst = self.inst
        j = self.where[i]
        minutes, cls = inst.minutes[i], inst.cls[i]
        self.content[j].remove(i)
        self.stamp[j] += 1
        self.load[j] -= minutes
        self.class_load[j][cls] -= minutes
        self.unplaced.add(i)
        self.booked -= minutes
        self.preference -= inst.n - inst.rank[i]
        if not inst.plain(i, j):
            self.timed[j] -= 1
            for resource in (*inst.people(i, j), *self.units[i]):
                self.claims[resource] = [c for c in self.claims[resource] if c[4] != i]
        self.where[i], self.start[i], self.units[i] = -1, -1, ()
