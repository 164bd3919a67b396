"""List fill: propose which waiting cases go into which lists, near-optimally and safely.

Pure, like scheduling/slots.py: frozen inputs in, a frozen answer out, no database. A service
loads the lists' free gaps, the holders of time around them and the waiting cases, and calls
`fill`; committing books every placement through the booking service.

How it decides (DESIGN §5.4):
1. Every booking rule, as `book` applies it: a case goes only into lists of its own surgeon, with
   the capabilities and the anaesthetist it needs, inside the list's free gaps, and never on a
   person, a patient or an equipment unit that someone else holds at an overlapping time, in
   whatever list (units are shared by theatres running at the same time).
2. Priority is lexicographic: a case is left waiting only if it would not fit in any of its
   lists even with every case of a lower class taken out. Within that, treat-by date (referral
   plus 72 h, 1 month or 3 months for P1-P3) decides between equal fills.
3. Then as many booked minutes as possible: best-fit decreasing within priority tiers, then
   improving moves within the time budget: each surgeon's lists refilled one by one, pairs of
   lists and single lists refilled jointly with the waiting cases (exact subset sums that keep
   the priority rule), and, where shared people or units make times matter, retiming, swaps and
   moves between lists. A move is kept only if, once the priority rule is restored, it books more
   minutes, or as many with more urgent or longer-waiting cases.

Modules: `problem` (the inputs and the answer), `board` (the working state and how a list is
packed), `knapsack` (the exact refills), `search` (the rule's repair and the moves), `answer`
(`fill`, the reasons and the score).
"""

from scheduling.fill.answer import DEFAULT_BUDGET_MS, METHOD, fill
from scheduling.fill.problem import (
    PRIORITIES,
    Candidate,
    FillList,
    FillProblem,
    FillResult,
    FillScore,
    Placement,
    SolverReport,
    Unplaced,
    treat_by,
)

__all__ = [
    "DEFAULT_BUDGET_MS",
    "METHOD",
    "PRIORITIES",
    "Candidate",
    "FillList",
    "FillProblem",
    "FillResult",
    "FillScore",
    "Placement",
    "SolverReport",
    "Unplaced",
    "fill",
    "treat_by",
]
