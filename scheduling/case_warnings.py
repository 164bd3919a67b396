"""Warnings on a booked case for the coordinator: raised when the estate changes under the case by
override (scheduling/theatre_rules.py), shown on the case while open, cleared by a coordinator once
dealt with. Every raise and clear is audited on the case.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode
from core.roles import Role, has_role
from scheduling.models import Case, CaseWarning

_FIELDS = ("kind", "detail", "created_at", "created_by", "cleared_at", "cleared_by", "cleared_note")


def raise_warning(*, case: Case, kind: str, detail: str, actor: Actor) -> CaseWarning:
    """Put an open warning on the case; audited. Call inside the transaction of the change behind it."""
    warning = CaseWarning.objects.create(
        case=case, kind=kind, detail=detail[:500], created_at=timezone.now(), created_by=actor.label
    )
    record(
        actor=actor,
        action="case.warning_raised",
        obj=case,
        after={"warning": warning.pk, **snapshot(warning, _FIELDS)},
        reason=detail[:500],
    )
    return warning


def clear_warning(*, case_id: int, warning_id: int, actor: Actor, note: str = "") -> CaseWarning:
    """A coordinator clears an open warning of the case (what they did about it in `note`); audited."""
    if actor.user is None or not has_role(actor.user, Role.COORDINATOR):
        raise PermissionDenied("Only a coordinator may clear a case's warning.")
    with transaction.atomic():
        warning = CaseWarning.objects.select_for_update().filter(pk=warning_id, case_id=case_id).first()
        if warning is None:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"Case {case_id} has no warning {warning_id}.")
        if warning.cleared_at is not None:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"Warning {warning_id} was already cleared.")
        before = snapshot(warning, _FIELDS)
        warning.cleared_at = timezone.now()
        warning.cleared_by = actor.user
        warning.cleared_note = note.strip()[:500]
        warning.save(update_fields=["cleared_at", "cleared_by", "cleared_note"])
        record(
            actor=actor,
            action="case.warning_cleared",
            obj=Case(pk=case_id),
            before={"warning": warning.pk, **before},
            after={"warning": warning.pk, **snapshot(warning, _FIELDS)},
            reason=warning.cleared_note,
        )
        return warning


def open_warnings(case: Case) -> list[CaseWarning]:
    """The case's open warnings, oldest first (no query if prefetched as `open_warnings`)."""
    prefetched: list[CaseWarning] | None = getattr(case, "open_warnings", None)
    if prefetched is not None:
        return prefetched
    return list(CaseWarning.objects.filter(case=case, cleared_at__isnull=True).order_by("created_at", "id"))
