"""Patients and the waiting list: creating and updating patients and cases, audited.

A case pins the template version that was current when it joined the list; screening and the
duration estimate are re-run from that version whenever the answers, levels or anaesthesia change.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import nhs_number
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode, InvalidInput
from procedures.estimates import estimate, estimate_rules_of, validate_levels
from procedures.models import ProcedureVersion
from procedures.screening import screen, screening_rules_of
from procedures.versions import version_to_pin
from scheduling import booking, plans, reminders
from scheduling.models import Case, CaseStatus, Patient
from theatre.models import StaffMember, StaffRole

PATIENT_FIELDS = (
    "nhs_number",
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "phone",
    "address",
    "reminder_channels",
)
CASE_UPDATABLE = (
    "levels",
    "anaesthesia",
    "approach",
    "surgeon",
    "priority",
    "referral_date",
    "screening_answers",
    "notes",
)
# A change to any of these changes the plan the surgeon approved (DESIGN §2 "Case plan").
PLAN_FIELDS = ("levels", "anaesthesia", "approach", "surgeon", "screening_result", "estimated_minutes")
CLOSED_STATUSES = (CaseStatus.IN_THEATRE, CaseStatus.COMPLETED, CaseStatus.CANCELLED)

# Case references avoid letters that read as digits (O/0, I/1) when said over the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_REFERENCE_PREFIX = {"kyphoplasty": "KP", "vertebroplasty": "VP"}


def clean_nhs_number(raw: object) -> str:
    """Ten digits with a valid modulus-11 check digit (spaces and hyphens allowed on input)."""
    digits = "".join(ch for ch in str(raw) if ch not in " -")
    if len(digits) != 10 or not digits.isdigit():
        raise InvalidInput("nhs_number", "Not a valid NHS number: it needs exactly 10 digits.")
    if nhs_number.calculate_checksum(digits[:9]) != int(digits[9]):
        raise InvalidInput("nhs_number", "Not a valid NHS number: the check digit (modulus 11) does not match.")
    if not nhs_number.is_valid(digits):
        # The check digit is right but the library refuses it for its range. The one such rule
        # today: Scotland's CHI numbers (010 101 0000 to 311 299 9999) begin with a date of birth.
        reason = (
            "it is in Scotland's CHI range, whose first six digits must be a date of birth (DDMMYY)"
            if nhs_number.REGION_SCOTLAND.contains_number(digits)  # type: ignore[no-untyped-call]
            else "it is outside the ranges issued for NHS numbers"
        )
        raise InvalidInput("nhs_number", f"Not a valid NHS number: {reason}.")
    return digits


# The 400 codes a patient's save can answer beside `invalid` (for the API's schema).
PATIENT_DUPLICATES: tuple[ErrorCode, ...] = (
    ErrorCode.DUPLICATE_NHS_NUMBER,
    ErrorCode.DUPLICATE_MRN,
    ErrorCode.DUPLICATE,
)


def _save_patient(patient: Patient) -> None:
    """Save, answering a duplicate NHS number or MRN with a 400 that names the field."""
    for field, label, code in (
        ("nhs_number", "NHS number", ErrorCode.DUPLICATE_NHS_NUMBER),
        ("mrn", "MRN", ErrorCode.DUPLICATE_MRN),
    ):
        value = getattr(patient, field)
        if Patient.objects.filter(**{field: value}).exclude(pk=patient.pk).exists():
            raise InvalidInput(field, f"A patient with this {label} already exists.", code=code)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent insert won the unique index
        raise InvalidInput(
            "nhs_number", "A patient with this NHS number or MRN already exists.", code=ErrorCode.DUPLICATE
        ) from exc


def create_patient(*, actor: Actor, data: Mapping[str, Any]) -> Patient:
    """Create a patient with a validated, unique NHS number; audited."""
    fields = {k: v for k, v in data.items() if k in PATIENT_FIELDS}
    fields["nhs_number"] = clean_nhs_number(fields.get("nhs_number", ""))
    with transaction.atomic():
        patient = Patient(**fields)
        _save_patient(patient)
        record(actor=actor, action="patient.created", obj=patient, after=snapshot(patient))
    return patient


REMINDER_CONTACT_FIELDS = ("email", "phone", "address", "reminder_channels", "given_name")


def update_patient(*, actor: Actor, patient_id: int, changes: Mapping[str, Any]) -> Patient:
    """Change a patient's details; the NHS number stays valid and unique; audited."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        before = snapshot(patient)
        for key, value in changes.items():
            if key in PATIENT_FIELDS:
                setattr(patient, key, clean_nhs_number(value) if key == "nhs_number" else value)
        _save_patient(patient)
        after = snapshot(patient)
        record(actor=actor, action="patient.updated", obj=patient, before=before, after=after)
        if any(before[f] != after[f] for f in REMINDER_CONTACT_FIELDS):
            # New contact details or channel preferences reach the reminders still to come.
            for case in patient.cases.filter(status__in=booking.MOVABLE).select_related("procedure_version"):
                reminders.replan_for_case(case=case, actor=actor)
    return patient


def delete_patient(*, actor: Actor, patient_id: int) -> None:
    """Delete a patient who has no cases (a case's history keeps its patient); audited."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        record(actor=actor, action="patient.deleted", obj=patient, before=snapshot(patient))
        try:
            with transaction.atomic():
                patient.delete()
        except ProtectedError as exc:
            raise DomainError(
                ErrorCode.PATIENT_HAS_CASES, "The patient has cases; cancel them instead of deleting."
            ) from exc


def _surgeon(surgeon_id: int) -> StaffMember:
    surgeon = StaffMember.objects.filter(pk=surgeon_id, role=StaffRole.SURGEON, active=True).first()
    if surgeon is None:
        raise InvalidInput("surgeon", "Choose an active staff member whose role is surgeon.")
    return surgeon


def _new_reference(slug: str) -> str:
    prefix = _REFERENCE_PREFIX.get(slug, slug[:2].upper())
    return f"{prefix}-{''.join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))}"


def _assess(case: Case, version: ProcedureVersion) -> None:
    """Validate levels and anaesthesia, then store the estimate and the screening outcome (pure rules)."""
    rules = estimate_rules_of(version)
    case.levels = validate_levels(rules=rules, levels=case.levels)
    case.estimated_minutes = estimate(rules=rules, levels=case.levels, anaesthesia=case.anaesthesia).total_minutes
    case.screening_result = screen(rules=screening_rules_of(version), answers=case.screening_answers or {}).as_dict()


def create_case(
    *,
    actor: Actor,
    patient_id: int,
    procedure: str,
    levels: Sequence[str],
    surgeon_id: int,
    referral_date: dt.date,
    anaesthesia: str | None = None,
    approach: str = "bipedicular",
    priority: str = "P3",
    screening_answers: Mapping[str, object] | None = None,
    notes: str = "",
) -> Case:
    """Put a case on the waiting list, pinned to the procedure's latest version, screened and estimated."""
    version = version_to_pin(slug=procedure)
    if not Patient.objects.filter(pk=patient_id).exists():
        raise InvalidInput("patient", "Unknown patient.")
    case = Case(
        patient_id=patient_id,
        procedure=version.template,
        procedure_version=version,
        levels=list(levels),
        anaesthesia=anaesthesia or version.default_anaesthesia,
        approach=approach,
        surgeon=_surgeon(surgeon_id),
        priority=priority,
        referral_date=referral_date,
        screening_answers=dict(screening_answers or {}),
        notes=notes,
        status=CaseStatus.WAITING,
    )
    _assess(case, version)
    with transaction.atomic():
        for attempt in range(5):
            case.reference = _new_reference(procedure)
            try:
                with transaction.atomic():
                    case.save()
                break
            except IntegrityError:  # 32^6 references: a clash is rare, a second one rarer still
                if attempt == 4:
                    raise
        record(actor=actor, action="case.created", obj=case, after=snapshot(case))
    return case


def _plan_minutes(case: Case, changes: Mapping[str, Any]) -> str:
    """Apply a change of `planned_minutes`, which needs a reason; returns the audit reason ("" if unchanged).

    Clearing it (null: follow the prediction again) is a change too and needs one as well.
    """
    if "planned_minutes" not in changes or changes["planned_minutes"] == case.planned_minutes:
        return ""
    minutes = changes["planned_minutes"]
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1):
        raise InvalidInput("planned_minutes", "Planned minutes must be a whole number of minutes, at least 1.")
    reason = str(changes.get("planned_minutes_reason") or "").strip()
    if not reason:
        raise InvalidInput(
            "planned_minutes_reason",
            "Say why the planned minutes differ from the prediction (or why the override is removed).",
            code=ErrorCode.REASON_REQUIRED,
        )
    case.planned_minutes = minutes
    case.planned_minutes_reason = reason if minutes is not None else ""
    return f"planned minutes {minutes if minutes is not None else 'cleared'}: {reason}"


def update_case(*, actor: Actor, case_id: int, changes: Mapping[str, Any]) -> Case:
    """Change a case on the list or booked; screening and estimate re-run, a booked case re-fits its
    slot (or nothing changes), and a changed plan loses its approval. All audited; a change of the
    planned minutes carries its reason into the audit entry."""

    def work() -> Case:
        case = Case.objects.select_for_update(of=("self",)).select_related("procedure").get(pk=case_id)
        if case.status in CLOSED_STATUSES:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"A {case.status} case can no longer be changed.")
        before = snapshot(case)
        reason = _plan_minutes(case, changes)
        for key, value in changes.items():
            if key == "surgeon":
                case.surgeon = _surgeon(value)
            elif key in CASE_UPDATABLE:
                setattr(case, key, value)
        version = ProcedureVersion.objects.prefetch_related("steps").get(pk=case.procedure_version_id)
        _assess(case, version)
        case.save()
        after = snapshot(case)
        # What the slot is made of: a booked case re-fits only when its own plan changes, never
        # because the history (and so the prediction) moved on since it was booked.
        moved_fields = {"estimated_minutes", "surgeon", "planned_minutes"}
        if any(before[f] != after[f] for f in moved_fields):
            booking.refit_case(case=case, actor=actor)  # re-plans the reminders too
        elif case.status in booking.MOVABLE and before != after:
            # A new anticoagulant needs its hold reminder, a switch to GA its fasting instructions,
            # and a drug stopped must not leave a "stop warfarin" message pending.
            reminders.replan_for_case(case=case, actor=actor)
        if any(before[f] != after[f] for f in PLAN_FIELDS):
            plans.withdraw_approval(case=case, actor=actor, reason="case details changed")
            if case.status == CaseStatus.CONFIRMED:
                # Confirmation rests on the approved plan; a changed plan goes back to booked and
                # needs the surgeon's approval and the coordinator's confirmation again, as a move does.
                case.status = CaseStatus.BOOKED
                case.save(update_fields=["status", "updated_at"])
        record(actor=actor, action="case.updated", obj=case, before=before, after=snapshot(case), reason=reason)
        return case

    return booking.run_in_transaction(work)
