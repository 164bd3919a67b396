"""Case-plan approval: the surgeon's sign-off, and its withdrawal when the case changes."""

from __future__ import annotations

from core.audit import Actor, record
from scheduling.models import Case


def withdraw_approval(*, case: Case, actor: Actor, reason: str) -> bool:
    """Clear an approved plan after a change to the case; audited. Returns True if one was withdrawn.

    Call it inside the transaction that changes levels, anaesthesia, approach, session, start or
    the template version: a surgeon's approval covers exactly the plan they saw.
    """
    if case.plan_approved_at is None:
        return False
    before = {
        "plan_approved_by": case.plan_approved_by_id,
        "plan_approved_at": case.plan_approved_at,
        "plan_fingerprint": case.plan_fingerprint,
    }
    case.plan_approved_by = None
    case.plan_approved_at = None
    case.plan_fingerprint = ""
    case.save(update_fields=["plan_approved_by", "plan_approved_at", "plan_fingerprint", "updated_at"])
    record(actor=actor, action="case.plan_approval_withdrawn", obj=case, before=before, after=None, reason=reason)
    return True
