"""Signing off the case plan: the case surgeon's approval, its withdrawal after a change, and
confirmation, each audited.

The approval covers exactly the plan the surgeon saw: it stores the plan's fingerprint
(scheduling.plans.assembly), and a case whose fingerprint has moved on counts as not approved
even if a change forgot to call `withdraw_approval`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode
from core.roles import Role, is_admin, roles_of
from scheduling.models import Case, CaseStatus
from scheduling.plans.assembly import APPROVED, WITHDRAWN, plan_fingerprint
from scheduling.plans.loading import plan_queryset

# A plan with a time can be signed off; a waiting case has no session or start yet, and booking
# it would withdraw the approval at once (the timed steps are part of what the surgeon signs).
APPROVABLE_STATUSES = frozenset({CaseStatus.BOOKED, CaseStatus.CONFIRMED})


def approval_is_current(case: Case) -> bool:
    """Approved, and by the fingerprint of the plan as it is now."""
    return case.plan_approved_at is not None and case.plan_fingerprint == plan_fingerprint(case)


# --- Permissions ------------------------------------------------------------------------------


def is_case_surgeon(user: AbstractBaseUser | AnonymousUser, case: Case) -> bool:
    """The logged-in user is the case's own surgeon (StaffMember.user)."""
    return bool(user.is_authenticated and case.surgeon.user_id is not None and case.surgeon.user_id == user.pk)


def can_approve(user: AbstractBaseUser | AnonymousUser, case: Case) -> bool:
    """Only the case's own surgeon signs off its plan: a clinical sign-off, not an admin task.

    An admin who is not that surgeon is refused too; the audit trail must name the clinician.
    """
    return is_case_surgeon(user, case) and (Role.SURGEON.value in roles_of(user) or is_admin(user))


# --- Writes -----------------------------------------------------------------------------------


def _locked(case_id: int) -> Case:
    # Lock the row first (only the case row: no outer joins under FOR UPDATE), then read it
    # with everything the plan needs. Approve, confirm, book and move all take this lock.
    Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True).get()
    return plan_queryset().get(pk=case_id)


def _approval_snapshot(case: Case) -> dict[str, Any]:
    return {
        "plan_approved_by": case.plan_approved_by_id,
        "plan_approved_at": case.plan_approved_at,
        "plan_fingerprint": case.plan_fingerprint,
    }


# The 409 codes approving a plan or confirming a case can answer (for the API's schema).
APPROVAL_REFUSALS: tuple[ErrorCode, ...] = (ErrorCode.NOT_ELIGIBLE, ErrorCode.INVALID_TRANSITION)


def ensure_eligible(case: Case) -> None:
    """409 not_eligible unless the case's current screening is eligible.

    Screening answers can change after booking (a new anticoagulant, an infection found at
    pre-op assessment). The booking stays so the coordinator can decide, but no one approves,
    confirms or takes into theatre a patient the rules now say must not have the procedure.
    """
    result = (case.screening_result or {}).get("result")
    if result != "eligible":
        raise DomainError(
            ErrorCode.NOT_ELIGIBLE,
            f"The case's screening is now {result or 'missing'}; resolve it (or cancel the case) before going on.",
        )


def approve_plan(*, case_id: int, actor: Actor, fingerprint: str = "") -> Case:
    """Record the case surgeon's approval of the plan as it is now (who, when, fingerprint); audited.

    `fingerprint`, when given, is the one the surgeon read: if the plan changed since, nothing is
    approved (409), so no one signs off a plan they did not see.
    """
    with transaction.atomic():
        case = _locked(case_id)
        if actor.user is None or not can_approve(actor.user, case):
            raise PermissionDenied("Only the case's own surgeon may approve its plan.")
        if case.status not in APPROVABLE_STATUSES:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"A {case.status} case's plan cannot be approved: approve it once the case is booked, "
                "since its session and start time are part of the plan.",
            )
        ensure_eligible(case)
        current = plan_fingerprint(case)
        if fingerprint and fingerprint != current:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                "The plan has changed since you read it; review it again before approving.",
                fingerprint=current,
            )
        if case.plan_approved_at is not None and case.plan_fingerprint == current:
            return case  # Already approved as it stands: approving twice changes nothing.
        before = _approval_snapshot(case)
        case.plan_approved_by = actor.user
        case.plan_approved_at = timezone.now()
        case.plan_fingerprint = current
        case.save(update_fields=["plan_approved_by", "plan_approved_at", "plan_fingerprint", "updated_at"])
        record(actor=actor, action=APPROVED, obj=case, before=before, after=_approval_snapshot(case))
        return case


def withdraw_approval(*, case: Case, actor: Actor, reason: str) -> bool:
    """Clear an approved plan after a change to the case; audited. Returns True if one was withdrawn.

    Call it inside the transaction that changes levels, anaesthesia, approach, session, start or
    the template version: a surgeon's approval covers exactly the plan they saw.
    """
    if case.plan_approved_at is None:
        return False
    before = _approval_snapshot(case)
    case.plan_approved_by = None
    case.plan_approved_at = None
    case.plan_fingerprint = ""
    case.save(update_fields=["plan_approved_by", "plan_approved_at", "plan_fingerprint", "updated_at"])
    record(actor=actor, action=WITHDRAWN, obj=case, before=before, after=None, reason=reason)
    return True


def confirm_case(*, case_id: int, actor: Actor) -> Case:
    """booked → confirmed, only with a current approved plan; the status change is audited."""
    with transaction.atomic():
        case = _locked(case_id)
        if case.status != CaseStatus.BOOKED:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, f"Only a booked case can be confirmed; this one is {case.status}."
            )
        ensure_eligible(case)
        if case.plan_approved_at is None:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, "The case plan has not been approved by the case's surgeon."
            )
        if case.plan_fingerprint != plan_fingerprint(case):
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                "The case plan changed after it was approved; the surgeon must approve it again.",
            )
        case.status = CaseStatus.CONFIRMED
        case.save(update_fields=["status", "updated_at"])
        record(
            actor=actor,
            action="case.confirmed",
            obj=case,
            before={"status": CaseStatus.BOOKED},
            after={"status": CaseStatus.CONFIRMED},
            reason="plan approved",
        )
        return case
