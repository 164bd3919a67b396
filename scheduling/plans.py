"""The case plan the surgeon reviews, its approval, its withdrawal, and confirmation.

The plan is assembled by a pure function from the case, its pinned template version (steps
prefetched), its session and its claimed equipment units. The approval records a fingerprint of
the plan's clinical inputs: booking, moving and editing the case withdraw the approval explicitly
(`withdraw_approval`), and a stored fingerprint that no longer matches the case counts as not
approved as well, so a change that forgot to withdraw can never be taken into theatre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode
from core.models import AuditEntry
from core.roles import Role, is_admin, roles_of
from procedures.models import ProcedureVersion, StepKind
from procedures.screening import AnticoagulantHold, ScreeningOutcome, hold_dates
from scheduling.models import Case, CaseEquipment, CaseStatus
from theatre.models import EquipmentUnit, TheatreSession

APPROVED = "case.plan_approved"
WITHDRAWN = "case.plan_approval_withdrawn"

# A plan with a time can be signed off; a waiting case has no session or start yet, and booking
# it would withdraw the approval at once (the timed steps are part of what the surgeon signs).
APPROVABLE_STATUSES = frozenset({CaseStatus.BOOKED, CaseStatus.CONFIRMED})
DEFAULT_ZONE = "Europe/London"


# --- Loading ----------------------------------------------------------------------------------


def plan_queryset() -> QuerySet[Case]:
    """Cases with everything the plan shows, in a fixed number of queries (3 for one case)."""
    return Case.objects.select_related(
        "patient",
        "procedure",
        "procedure_version__template",
        "surgeon",
        "plan_approved_by",
        "session__theatre__site",
        "session__surgeon",
        "session__anaesthetist",
    ).prefetch_related(
        "procedure_version__steps",
        Prefetch("equipment_claims", queryset=CaseEquipment.objects.select_related("unit")),
    )


def last_withdrawal(case: Case) -> AuditEntry | None:
    """The most recent withdrawal of this case's approval, from the audit trail (one query)."""
    return (
        AuditEntry.objects.filter(object_type=Case._meta.label_lower, object_id=str(case.pk), action=WITHDRAWN)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )


# --- Fingerprint ------------------------------------------------------------------------------


def _utc_iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def fingerprint_content(case: Case) -> dict[str, Any]:
    """The clinical inputs of the plan: everything else in it derives from these.

    The pinned version is immutable, so its id stands for its steps, volumes, risks and
    follow-up. We hash the inputs rather than the rendered plan so that a new field in the
    plan's JSON (a code change) does not silently unapprove every plan on deploy.
    """
    return {
        "case": case.pk,
        "patient": case.patient_id,
        "procedure_version": case.procedure_version_id,
        "levels": list(case.levels),
        "approach": case.approach,
        "anaesthesia": case.anaesthesia,
        "surgeon": case.surgeon_id,
        "anaesthetist": case.anaesthetist_id,
        "session": case.session_id,
        "start": _utc_iso(case.start),
        "end": _utc_iso(case.end),
        "screening_result": case.screening_result,
    }


def plan_fingerprint(case: Case) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of `fingerprint_content`."""
    canonical = json.dumps(fingerprint_content(case), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def approval_is_current(case: Case) -> bool:
    """Approved, and by the fingerprint of the plan as it is now."""
    return case.plan_approved_at is not None and case.plan_fingerprint == plan_fingerprint(case)


# --- The pure assembly ------------------------------------------------------------------------


def _local(value: dt.datetime, zone: ZoneInfo) -> dict[str, str]:
    local = value.astimezone(zone)
    return {"at": local.isoformat(), "clock": local.strftime("%H:%M")}


def _anaesthesia(version: ProcedureVersion, code: str) -> dict[str, Any]:
    option: dict[str, Any] = next((o for o in version.anaesthesia_options if o.get("code") == code), {})
    return {
        "code": code,
        "label": option.get("label") or code.replace("_", " ").capitalize(),
        "induction_minutes": int(option.get("induction_minutes", 0)),
        "recovery_minutes": int(option.get("recovery_minutes", 0)),
        # Fasting applies to general anaesthesia only (clinical-standards: 6 h food, 2 h clear fluids).
        "fasting": dict(version.fasting) if code == "general" and version.fasting else None,
    }


def planned_volume_ml(version: ProcedureVersion, approach: str) -> Decimal:
    """mL per level for this approach, never above the template's maximum per level.

    A version may give volumes per approach (`cement_ml_by_approach`, e.g. KP 4.1 mL
    unipedicular / 4.9 mL bipedicular); otherwise `cement_ml_per_level` applies to both.
    """
    by_approach = version.cement_ml_by_approach or {}
    planned = Decimal(str(by_approach.get(approach, version.cement_ml_per_level)))
    return min(planned, Decimal(version.cement_max_ml_per_level))


def _levels(version: ProcedureVersion, case: Case) -> list[dict[str, Any]]:
    volume = planned_volume_ml(version, case.approach)
    return [
        {
            "level": level,
            "approach": case.approach,
            "cement_product": version.cement_product,
            "planned_ml": str(volume),
            "max_ml": str(version.cement_max_ml_per_level),
        }
        for level in case.levels
    ]


def timeline(*, version: ProcedureVersion, levels: Sequence[str], anaesthesia: str) -> list[dict[str, Any]]:
    """The steps in theatre order with their minutes and minute offsets from the start.

    It follows procedures.estimates.estimate: the chosen anaesthesia option's induction takes
    the place of the template's anaesthesia step (or opens the list if there is none), and its
    recovery closes it. A run of consecutive per-level steps is done level by level, cranial to
    caudal (access, balloon, cement at T12, then the same at L1), so each level is finished
    before the next is started.
    """
    option = _anaesthesia(version, anaesthesia)
    rows: list[dict[str, Any]] = []
    induction = {"kind": "anaesthesia", "name": f"{option['label']}: induction", "level": None}
    steps = sorted(version.steps.all(), key=lambda s: s.order)
    placed_induction = False
    index = 0
    while index < len(steps):
        step = steps[index]
        if step.kind == StepKind.ANAESTHESIA and not placed_induction:
            rows.append({**induction, "minutes": option["induction_minutes"]})
            placed_induction = True
            index += 1
            if step.minutes:
                rows.append({"kind": step.kind, "name": step.name, "level": None, "minutes": step.minutes})
            continue
        if not step.per_level:
            rows.append({"kind": step.kind, "name": step.name, "level": None, "minutes": step.minutes})
            index += 1
            continue
        block_end = index
        while block_end < len(steps) and steps[block_end].per_level:
            block_end += 1
        for level in levels:
            for block_step in steps[index:block_end]:
                rows.append(
                    {"kind": block_step.kind, "name": block_step.name, "level": level, "minutes": block_step.minutes}
                )
        index = block_end
    if not placed_induction:
        rows.insert(0, {**induction, "minutes": option["induction_minutes"]})
    rows.append(
        {
            "kind": "anaesthesia",
            "name": f"{option['label']}: recovery",
            "level": None,
            "minutes": option["recovery_minutes"],
        }
    )
    offset = 0
    for order, row in enumerate(rows, start=1):
        row["order"] = order
        row["offset_minutes"] = offset
        offset += row["minutes"]
    return rows


def _timed_steps(rows: list[dict[str, Any]], start: dt.datetime | None, zone: ZoneInfo) -> list[dict[str, Any]]:
    timed = []
    for row in rows:
        item = dict(row)
        if start is None:
            item.update(start=None, end=None, start_clock=None, end_clock=None)
        else:
            # Arithmetic in UTC, display in the site's zone: a list that crosses a DST change
            # still gives each step its real length.
            begin = start.astimezone(dt.UTC) + dt.timedelta(minutes=row["offset_minutes"])
            finish = begin + dt.timedelta(minutes=row["minutes"])
            b, f = _local(begin, zone), _local(finish, zone)
            item.update(start=b["at"], end=f["at"], start_clock=b["clock"], end_clock=f["clock"])
        timed.append(item)
    return timed


def _session(session: TheatreSession | None, zone: ZoneInfo) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "id": session.pk,
        "theatre": {"id": session.theatre_id, "name": session.theatre.name},
        "site": session.theatre.site.name,
        "status": session.status,
        "start": session.start.astimezone(zone).isoformat(),
        "end": session.end.astimezone(zone).isoformat(),
        "surgeon": {"id": session.surgeon_id, "name": session.surgeon.name},
        "anaesthetist": (
            {"id": session.anaesthetist_id, "name": session.anaesthetist.name} if session.anaesthetist else None
        ),
    }


def _holds(case: Case, procedure_date: dt.date | None) -> list[dict[str, Any]]:
    stored = case.screening_result.get("anticoagulant_holds", []) if case.screening_result else []
    holds = tuple(AnticoagulantHold(drug=h["drug"], stop_days_before=int(h["stop_days_before"])) for h in stored)
    if procedure_date is None:
        return [
            {"drug": h.drug, "stop_days_before": h.stop_days_before, "last_dose_on": None, "stop_from": None}
            for h in holds
        ]
    outcome = ScreeningOutcome(result="", blockers=(), warnings=(), missing=(), holds=holds)
    return [
        {**row, "last_dose_on": row["last_dose_on"].isoformat(), "stop_from": row["stop_from"].isoformat()}
        for row in hold_dates(outcome=outcome, procedure_date=procedure_date)
    ]


def _follow_up(version: ProcedureVersion, procedure_date: dt.date | None) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "due_on": (
                (procedure_date + dt.timedelta(days=int(item["after_days"]))).isoformat()
                if procedure_date is not None and "after_days" in item
                else None
            ),
        }
        for item in version.follow_up
    ]


def build_plan(
    *,
    case: Case,
    version: ProcedureVersion,
    session: TheatreSession | None,
    units: Sequence[EquipmentUnit],
) -> dict[str, Any]:
    """The pinned version applied to this case: pure, no database access (steps prefetched).

    Patient identifiers are not part of it; the API adds them for the roles that may see them.
    """
    zone = ZoneInfo(session.theatre.site.timezone if session is not None else DEFAULT_ZONE)
    start = case.start
    procedure_date = start.astimezone(zone).date() if start is not None else None
    rows = timeline(version=version, levels=case.levels, anaesthesia=case.anaesthesia)
    steps = _timed_steps(rows, start, zone)
    screening = case.screening_result or {}
    return {
        "case": {
            "id": case.pk,
            "reference": case.reference,
            "status": case.status,
            "priority": case.priority,
            "surgeon": {"id": case.surgeon_id, "name": case.surgeon.name},
        },
        "procedure": {
            "slug": version.template.slug,
            "name": version.template.name,
            "version": version.number,
            "version_id": version.pk,
            "sources": list(version.sources),
        },
        "timezone": str(zone),
        "start": start.astimezone(zone).isoformat() if start is not None else None,
        # For people: "Mon 1 Mar 2027, 08:00" in the site's zone.
        "start_display": (
            f"{start.astimezone(zone):%a} {start.astimezone(zone).day} {start.astimezone(zone):%b %Y, %H:%M}"
            if start is not None
            else None
        ),
        "end": case.end.astimezone(zone).isoformat() if case.end is not None else None,
        "session": _session(session, zone),
        "anaesthesia": _anaesthesia(version, case.anaesthesia),
        "positioning": version.positioning,
        "imaging": {
            "intra_op": list(version.imaging.get("intra_op", [])),
            "post_op": list(version.imaging.get("post_op", [])),
        },
        "approach": case.approach,
        "levels": _levels(version, case),
        "cement": {
            "product": version.cement_product,
            "mixing_minutes": str(version.cement_mixing_minutes),
            "working_minutes": str(version.cement_working_minutes),
            "setting_minutes": str(version.cement_setting_minutes),
            "total_planned_ml": str(planned_volume_ml(version, case.approach) * len(case.levels)),
        },
        "steps": steps,
        "theatre_minutes": sum(row["minutes"] for row in rows),
        "turnover_minutes": version.turnover_minutes,
        "estimated_minutes": case.estimated_minutes,
        "required_equipment": list(version.required_equipment),
        "equipment": [{"id": u.pk, "kind": u.kind, "name": u.name, "serial": u.serial} for u in units],
        "screening": {
            "result": screening.get("result"),
            "blockers": list(screening.get("blockers", [])),
            "warnings": list(screening.get("warnings", [])),
            "missing": list(screening.get("missing", [])),
        },
        "anticoagulant_holds": _holds(case, procedure_date),
        "risks": list(version.risks),
        "recovery": dict(version.recovery),
        "follow_up": _follow_up(version, procedure_date),
        "fingerprint": plan_fingerprint(case),
    }


def approval_state(
    *, case: Case, fingerprint: str, withdrawal: AuditEntry | None, zone: ZoneInfo | None = None
) -> dict[str, Any]:
    """approved | not_approved | withdrawn (with when, by whom and why). Pure; times in `zone`."""
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    if case.plan_approved_at is not None:
        approver = case.plan_approved_by
        approved = {
            "approved_by": {"id": approver.pk, "name": approver.get_full_name() or approver.get_username()}
            if approver is not None
            else None,
            "approved_at": case.plan_approved_at.astimezone(zone).isoformat(),
            "approved_fingerprint": case.plan_fingerprint,
        }
        if case.plan_fingerprint == fingerprint:
            return {"approved": True, "state": "approved", **approved}
        # Defence in depth: a change that did not call withdraw_approval still unapproves.
        return {
            "approved": False,
            "state": "withdrawn",
            "withdrawn_at": None,
            "withdrawn_by": None,
            "reason": "The plan has changed since it was approved (its fingerprint no longer matches).",
            **approved,
        }
    if withdrawal is not None:
        return {
            "approved": False,
            "state": "withdrawn",
            "withdrawn_at": withdrawal.at.astimezone(zone).isoformat(),
            "withdrawn_by": withdrawal.actor_label,
            "reason": withdrawal.reason,
        }
    return {"approved": False, "state": "not_approved"}


def case_plan(*, case: Case) -> dict[str, Any]:
    """The plan of a case loaded with plan_queryset(), with its approval state (one more query at most)."""
    plan = build_plan(
        case=case,
        version=case.procedure_version,
        session=case.session,
        units=[claim.unit for claim in case.equipment_claims.all()],
    )
    withdrawal = last_withdrawal(case) if case.plan_approved_at is None else None
    plan["approval"] = approval_state(
        case=case, fingerprint=plan["fingerprint"], withdrawal=withdrawal, zone=ZoneInfo(plan["timezone"])
    )
    return plan


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
