"""The case plan: what the surgeon reviews, its approval and the case's confirmation.

- `assembly`: the plan itself, pure functions over frozen inputs (`build_plan`, `timeline`,
  the fingerprint of its clinical inputs, the approval state);
- `loading`: the one read that loads a case with everything its plan shows, and the inputs
  built from it;
- `approval`: the writes (approve, withdraw, confirm) and who may make them.

The booking, case and checklist services use the names below as `plans.<name>`.
"""

from scheduling.plans.approval import (
    approval_is_current,
    approve_plan,
    confirm_case,
    ensure_eligible,
    withdraw_approval,
)
from scheduling.plans.loading import plan_queryset

__all__ = [
    "approval_is_current",
    "approve_plan",
    "confirm_case",
    "ensure_eligible",
    "plan_queryset",
    "withdraw_approval",
]
