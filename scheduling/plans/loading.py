"""Reading a case plan: the queryset that loads everything it shows, and the frozen inputs
`build_plan` takes, built from that one read (no query per step, unit or level)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet

from core.models import AuditEntry
from procedures.estimates import anaesthesia_options_of, estimate, estimate_rules_of
from procedures.models import ProcedureVersion
from scheduling.models import Case, CaseEquipment
from scheduling.plans.assembly import (
    WITHDRAWN,
    Approval,
    PlanCase,
    PlanSession,
    PlanStep,
    PlanUnit,
    PlanVersion,
    Ref,
    Withdrawal,
    approval_state,
    build_plan,
)
from theatre.models import TheatreSession


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


# --- The frozen inputs, from rows loaded with plan_queryset() ---------------------------------


def plan_steps(version: ProcedureVersion) -> tuple[PlanStep, ...]:
    # .all() reads the prefetch cache when the caller prefetched "steps" (no query).
    ordered = sorted(version.steps.all(), key=lambda step: step.order)
    return tuple(PlanStep(kind=s.kind, name=s.name, minutes=s.minutes, per_level=s.per_level) for s in ordered)


def plan_version(version: ProcedureVersion) -> PlanVersion:
    return PlanVersion(
        id=version.pk,
        number=version.number,
        slug=version.template.slug,
        name=version.template.name,
        sources=tuple(version.sources),
        anaesthesia_options=anaesthesia_options_of(version),
        fasting=version.fasting,
        positioning=version.positioning,
        imaging=version.imaging,
        cement_product=version.cement_product,
        cement_mixing_minutes=version.cement_mixing_minutes,
        cement_working_minutes=version.cement_working_minutes,
        cement_setting_minutes=version.cement_setting_minutes,
        cement_ml_per_level=version.cement_ml_per_level,
        cement_max_ml_per_level=version.cement_max_ml_per_level,
        cement_ml_by_approach=version.cement_ml_by_approach,
        turnover_minutes=version.turnover_minutes,
        required_equipment=tuple(version.required_equipment),
        risks=tuple(version.risks),
        recovery=version.recovery,
        follow_up=tuple(version.follow_up),
        steps=plan_steps(version),
    )


def plan_case(case: Case) -> PlanCase:
    return PlanCase(
        id=case.pk,
        reference=case.reference,
        status=case.status,
        priority=case.priority,
        patient_id=case.patient_id,
        surgeon=Ref(id=case.surgeon_id, name=case.surgeon.name),
        anaesthetist_id=case.anaesthetist_id,
        procedure_version_id=case.procedure_version_id,
        levels=tuple(case.levels),
        approach=case.approach,
        anaesthesia=case.anaesthesia,
        session_id=case.session_id,
        start=case.start,
        end=case.end,
        estimated_minutes=case.estimated_minutes,
        screening_result=case.screening_result,
    )


def plan_session(session: TheatreSession | None) -> PlanSession | None:
    if session is None:
        return None
    anaesthetist = session.anaesthetist
    return PlanSession(
        id=session.pk,
        status=session.status,
        start=session.start,
        end=session.end,
        theatre=Ref(id=session.theatre_id, name=session.theatre.name),
        site_name=session.theatre.site.name,
        timezone=session.theatre.site.zone.key,
        surgeon=Ref(id=session.surgeon_id, name=session.surgeon.name),
        anaesthetist=Ref(id=anaesthetist.pk, name=anaesthetist.name) if anaesthetist is not None else None,
    )


def plan_approval(case: Case) -> Approval:
    approver = case.plan_approved_by
    return Approval(
        approved_at=case.plan_approved_at,
        approved_by=(
            Ref(id=approver.pk, name=approver.get_full_name() or approver.get_username())
            if approver is not None
            else None
        ),
        fingerprint=case.plan_fingerprint,
    )


def case_plan(*, case: Case) -> dict[str, Any]:
    """The plan of a case loaded with plan_queryset(), with its approval state (one more query at most)."""
    version = case.procedure_version
    plan = build_plan(
        case=plan_case(case),
        version=plan_version(version),
        session=plan_session(case.session),
        units=[
            PlanUnit(id=c.unit.pk, kind=c.unit.kind, name=c.unit.name, serial=c.unit.serial)
            for c in case.equipment_claims.all()
        ],
        estimate=estimate(rules=estimate_rules_of(version), levels=case.levels, anaesthesia=case.anaesthesia),
    )
    entry = last_withdrawal(case) if case.plan_approved_at is None else None
    withdrawal = Withdrawal(at=entry.at, by=entry.actor_label, reason=entry.reason) if entry is not None else None
    plan["approval"] = approval_state(
        approval=plan_approval(case),
        fingerprint=plan["fingerprint"],
        withdrawal=withdrawal,
        zone=ZoneInfo(plan["timezone"]),
    )
    return plan
