"""How full the list fill gets and how fast, against exact upper bounds from CP-SAT.

    .venv/bin/python bench/fill.py

No database: scheduling/fill is pure. The standard family: lists of 240 minutes; slot minutes
lognormal with median 75 and log-spread SIGMA, plus 15 minutes turnover, clipped to the list;
priorities P1-P4 in 10/20/40/30%; about 3.75 waiting cases per list. Each surgeon leads
LISTS_PER_SURGEON lists (one a day) and the cases are spread over the surgeons at random; a case
may only go into its own surgeon's lists. No equipment is shared in this family, so surgeons'
groups are independent.

For each size it prints, summed over its instances:
- the core's booked minutes, and its time per instance (median and worst);
- the priority-first best-fit-decreasing baseline (written here, independently of the core);
- two upper bounds from CP-SAT, each solved per surgeon group (the groups share nothing):
  the priority bound, the same problem with the priority rule (a case may be left out only if no
  list could make room for it even by dropping every lower-priority case), and the capacity
  bound, without the rule, so the price of priority shows. A bound is CP-SAT's proven bound on
  the best objective: exact when the group was solved to optimality, still valid when not.
Then the ratios against the targets: core >= 0.98 x priority bound at 8 lists, >= 0.985 x the best
valid bound at 40 and 160, never below the baseline, and <= 50 ms at 160 lists.

Figures, not assertions; not part of `make test`.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ortools.sat.python import cp_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduling.fill import Candidate, FillList, FillProblem, fill  # noqa: E402
from scheduling.slots import Demand, SessionWindow  # noqa: E402

SEED = 20261202
LIST_MINUTES = 240
MEDIAN_TOUCH = 75
SIGMA = 0.4
TURNOVER = 15
PRIORITY_SHARE = {"P1": 0.10, "P2": 0.20, "P3": 0.40, "P4": 0.30}
CASES_PER_LIST = 3.75
LISTS_PER_SURGEON = 4
SIZES = {8: 10, 40: 5, 160: 3}  # lists -> instances
BOUND_SECONDS = 20.0  # per surgeon group and bound
START = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)
CLASS = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


@dataclass(frozen=True)
class Instance:
    problem: FillProblem
    # per case: (minutes, class, surgeon); per list: surgeon
    cases: dict[int, tuple[int, int, int]]
    lists: dict[int, int]


def generate(rng: random.Random, lists: int) -> Instance:
    surgeons = max(1, lists // LISTS_PER_SURGEON)
    windows: list[FillList] = []
    list_surgeon: dict[int, int] = {}
    for j in range(lists):
        surgeon, day = j % surgeons + 1, j // surgeons
        start = START + dt.timedelta(days=day)
        end = start + dt.timedelta(minutes=LIST_MINUTES)
        window = SessionWindow(
            id=j + 1,
            theatre_id=surgeon,
            site_id=1,
            start=start,
            end=end,
            status="published",
            surgeon_id=surgeon,
            anaesthetist_id=100 + surgeon,
            capabilities=frozenset({"fluoroscopy"}),
        )
        windows.append(FillList(window=window, gaps=((start, end),)))
        list_surgeon[j + 1] = surgeon
    candidates: list[Candidate] = []
    cases: dict[int, tuple[int, int, int]] = {}
    for case_id in range(1, round(CASES_PER_LIST * lists) + 1):
        surgeon = rng.randint(1, surgeons)
        touch = round(rng.lognormvariate(math.log(MEDIAN_TOUCH), SIGMA))
        minutes = min(LIST_MINUTES, max(1, touch) + TURNOVER)
        priority = rng.choices(list(PRIORITY_SHARE), weights=list(PRIORITY_SHARE.values()))[0]
        referral = START.date() - dt.timedelta(days=rng.randint(1, 150))
        demand = Demand(
            minutes=minutes,
            surgeon_id=surgeon,
            patient_id=case_id,
            capabilities=frozenset({"fluoroscopy"}),
            equipment=(),
            needs_anaesthetist=rng.random() < 0.6,
        )
        candidates.append(Candidate(case_id=case_id, demand=demand, priority=priority, referral_date=referral))
        cases[case_id] = (minutes, CLASS[priority], surgeon)
    return Instance(FillProblem(lists=tuple(windows), candidates=tuple(candidates)), cases, list_surgeon)


def baseline(inst: Instance) -> int:
    """Priority-first best-fit decreasing: class by class, longest first, into the fullest list it fits."""
    free = dict.fromkeys(inst.lists, LIST_MINUTES)
    booked = 0
    for _, (minutes, _, surgeon) in sorted(inst.cases.items(), key=lambda kv: (kv[1][1], -kv[1][0], kv[0])):
        fitting = [j for j, s in inst.lists.items() if s == surgeon and free[j] >= minutes]
        if fitting:
            j = min(fitting, key=lambda j: (free[j], j))
            free[j] -= minutes
            booked += minutes
    return booked


@dataclass(frozen=True)
class Bound:
    value: int
    optimal: bool


def group_bound(cases: Sequence[tuple[int, int]], lists: int, *, priority: bool) -> Bound:
    """CP-SAT's proven bound on the most minutes `cases` ((minutes, class)) in `lists` lists can book."""
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{c}_{j}") for j in range(lists)] for c in range(len(cases))]
    placed = []
    for c, row in enumerate(x):
        p = model.new_bool_var(f"p{c}")
        model.add(sum(row) == p)
        placed.append(p)
    for j in range(lists):
        model.add(sum(cases[c][0] * x[c][j] for c in range(len(cases))) <= LIST_MINUTES)
    if priority:
        # Left out => in every list, the cases of its class and above leave it no room.
        for c, (minutes, cls) in enumerate(cases):
            for j in range(lists):
                above = [cases[d][0] * x[d][j] for d in range(len(cases)) if d != c and cases[d][1] <= cls]
                model.add(sum(above) >= LIST_MINUTES - minutes + 1).only_enforce_if(placed[c].Not())
    model.maximize(sum(cases[c][0] * placed[c] for c in range(len(cases))))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = BOUND_SECONDS
    solver.parameters.num_workers = 2
    status = solver.status_name(solver.solve(model))
    if status not in ("OPTIMAL", "FEASIBLE"):
        raise RuntimeError(f"CP-SAT: {status}")
    return Bound(math.floor(solver.best_objective_bound + 1e-6), status == "OPTIMAL")


def bound(inst: Instance, *, priority: bool) -> Bound:
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for minutes, cls, surgeon in inst.cases.values():
        groups[surgeon].append((minutes, cls))
    lists_of: dict[int, int] = defaultdict(int)
    for surgeon in inst.lists.values():
        lists_of[surgeon] += 1
    parts = [group_bound(cs, lists_of[s], priority=priority) for s, cs in sorted(groups.items()) if lists_of[s]]
    return Bound(sum(p.value for p in parts), all(p.optimal for p in parts))


def main() -> None:
    rng = random.Random(SEED)
    print(f"lists {LIST_MINUTES} min; slot = lognormal(median {MEDIAN_TOUCH}, sigma {SIGMA}) + {TURNOVER}, clipped;")
    print(f"P1-P4 {'/'.join(str(round(v * 100)) for v in PRIORITY_SHARE.values())}%; {CASES_PER_LIST} cases per list;")
    print(f"{LISTS_PER_SURGEON} lists per surgeon.\n")
    header = f"{'lists':>5} {'inst':>4} {'core':>7} {'ms':>6} {'base':>7} {'prio':>7} {'cap':>7}"
    print(header + "   core/prio  core/best  base/prio  core/cap")
    for size, count in SIZES.items():
        totals: dict[str, int] = defaultdict(int)
        times: list[float] = []
        worst_ratio = math.inf
        exact = True
        below_baseline = 0
        for k in range(count):
            inst = generate(rng, size)
            fill(inst.problem)  # warm the caches once, as a running server would have them
            began = time.perf_counter()
            result = fill(inst.problem)
            times.append((time.perf_counter() - began) * 1000)
            core = result.score.booked_minutes
            base = baseline(inst)
            prio, cap = bound(inst, priority=True), bound(inst, priority=False)
            best = min(prio.value, cap.value)
            exact &= prio.optimal and cap.optimal
            worst_ratio = min(worst_ratio, core / best)
            below_baseline += core < base
            for key, value in (("core", core), ("base", base), ("prio", prio.value), ("cap", cap.value)):
                totals[key] += value
            totals["best"] += best
            ratios = (
                f"{core / prio.value:>9.4f}  {core / best:>9.4f}  {base / prio.value:>9.4f}  {core / cap.value:>8.4f}"
            )
            print(
                f"{size:>5} {k + 1:>4} {core:>7} {times[-1]:>6.1f} {base:>7} {prio.value:>7} {cap.value:>7}   {ratios}"
            )
        print(
            f"{size:>5} {'all':>4} {totals['core']:>7} {statistics.median(times):>6.1f} {totals['base']:>7} "
            f"{totals['prio']:>7} {totals['cap']:>7}   {totals['core'] / totals['prio']:>9.4f}  "
            f"{totals['core'] / totals['best']:>9.4f}  {totals['base'] / totals['prio']:>9.4f}  "
            f"{totals['core'] / totals['cap']:>8.4f}"
        )
        target = 0.98 if size <= 8 else 0.985
        print(
            f"      -> worst instance core/best {worst_ratio:.4f} (target {target}); "
            f"core time median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms; "
            f"below baseline in {below_baseline} of {count}; "
            f"bounds {'all proven optimal' if exact else 'NOT all proven optimal'}\n"
        )


if __name__ == "__main__":
    main()
