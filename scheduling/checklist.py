"""The WHO Surgical Safety Checklist (2009): its items as data, and recording a phase.

Source: WHO Surgical Safety Checklist, first edition 2009 (research/clinical-standards.md).
Each phase is signed once, in order: sign in (before induction), time out (before the skin is
touched), sign out (before the patient leaves theatre). Sign in moves a confirmed case into
theatre; sign out completes it: a case cannot be completed without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.roles import Role, roles_of
from scheduling.milestones import MILESTONES, sign_out_problems
from scheduling.models import Case, CaseStatus, CaseTimes, ChecklistEntry, ChecklistPhase
from scheduling.plans import approval_is_current, ensure_eligible, plan_queryset
from theatre.models import StaffMember

NOT_APPLICABLE = "not_applicable"
CONFIRMED: tuple[object, ...] = (True,)
CONFIRMED_OR_NA: tuple[object, ...] = (True, NOT_APPLICABLE)


@dataclass(frozen=True)
class Item:
    """One box of the checklist: the answers it accepts are listed, anything else is refused."""

    code: str
    label: str
    accepts: tuple[object, ...] = CONFIRMED

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "accepts": list(self.accepts)}


PHASE_ORDER: tuple[str, ...] = (ChecklistPhase.SIGN_IN, ChecklistPhase.TIME_OUT, ChecklistPhase.SIGN_OUT)

# The exact items of the WHO 2009 checklist, worded as on the form.
ITEMS: dict[str, tuple[Item, ...]] = {
    ChecklistPhase.SIGN_IN: (
        Item("identity_site_procedure_consent", "Patient has confirmed identity, site, procedure and consent"),
        Item("site_marked", "Site marked (or not applicable)", CONFIRMED_OR_NA),
        Item("anaesthesia_safety_check", "Anaesthesia machine and medication check complete"),
        Item("pulse_oximeter", "Pulse oximeter on patient and functioning"),
        Item("known_allergy", "Does the patient have a known allergy?", ("no", "yes")),
        Item(
            "difficult_airway_aspiration_risk",
            "Difficult airway or aspiration risk? (if yes, equipment and assistance available)",
            ("no", "yes_equipment_and_assistance_available"),
        ),
        Item(
            "blood_loss_risk",
            "Risk of more than 500 mL blood loss (7 mL/kg in children)? (if yes, two IVs/central access "
            "and fluids planned)",
            ("no", "yes_access_and_fluids_planned"),
        ),
    ),
    ChecklistPhase.TIME_OUT: (
        Item("team_introduced", "All team members have introduced themselves by name and role"),
        Item("patient_site_procedure_confirmed", "Surgeon, anaesthetist and nurse confirm patient, site and procedure"),
        Item(
            "antibiotic_prophylaxis",
            "Antibiotic prophylaxis given within the last 60 minutes (or not applicable)",
            CONFIRMED_OR_NA,
        ),
        Item(
            "surgeon_critical_events",
            "Surgeon reviews critical or non-routine steps, case duration and anticipated blood loss",
        ),
        Item("anaesthetist_critical_events", "Anaesthetist reviews patient-specific concerns"),
        Item(
            "nursing_critical_events",
            "Nursing team confirms sterility (including indicator results) and any equipment issues or concerns",
        ),
        Item("essential_imaging_displayed", "Essential imaging displayed (or not applicable)", CONFIRMED_OR_NA),
    ),
    ChecklistPhase.SIGN_OUT: (
        Item("procedure_recorded", "Nurse confirms the name of the procedure recorded"),
        Item(
            "counts_complete",
            "Instrument, sponge and needle counts are correct (or not applicable)",
            CONFIRMED_OR_NA,
        ),
        Item(
            "specimen_labelled",
            "Specimen labelled, read aloud including the patient's name (or not applicable)",
            CONFIRMED_OR_NA,
        ),
        Item("equipment_problems_addressed", "Any equipment problems to be addressed have been identified"),
        Item(
            "recovery_concerns_reviewed",
            "Surgeon, anaesthetist and nurse review the key concerns for recovery and management of this patient",
        ),
    ),
}

# Status a phase needs, and the status it leaves the case in (None: unchanged).
TRANSITIONS: dict[str, tuple[str, str | None]] = {
    ChecklistPhase.SIGN_IN: (CaseStatus.CONFIRMED, CaseStatus.IN_THEATRE),
    ChecklistPhase.TIME_OUT: (CaseStatus.IN_THEATRE, None),
    ChecklistPhase.SIGN_OUT: (CaseStatus.IN_THEATRE, CaseStatus.COMPLETED),
}


def definition() -> list[dict[str, Any]]:
    """The checklist as data, for clients that draw the form."""
    return [{"phase": phase, "items": [item.as_dict() for item in ITEMS[phase]]} for phase in PHASE_ORDER]


def _accepted(value: object, accepts: tuple[object, ...]) -> bool:
    # `True == 1` in Python: compare types too, so 1 is not taken for a ticked box.
    return any(type(value) is type(ok) and value == ok for ok in accepts)


def validate_items(*, phase: str, items: object) -> dict[str, object]:
    """The phase's items as recorded, or InvalidInput naming what is missing, unknown or wrong. Pure."""
    if phase not in ITEMS:
        raise InvalidInput("phase", f"Unknown phase {phase!r}; use one of {', '.join(PHASE_ORDER)}.")
    if not isinstance(items, Mapping):
        raise InvalidInput("items", 'Items must be an object of item code to answer, e.g. {"pulse_oximeter": true}.')
    expected = {item.code: item for item in ITEMS[phase]}
    unknown = sorted(str(code) for code in items if code not in expected)
    missing = [code for code in expected if code not in items]
    wrong = [
        f"{code} (accepts {', '.join(_as_json(v) for v in item.accepts)})"
        for code, item in expected.items()
        if code in items and not _accepted(items[code], item.accepts)
    ]
    problems = []
    if missing:
        problems.append(f"Missing items: {', '.join(missing)}.")
    if unknown:
        problems.append(f"Unknown items: {', '.join(unknown)}.")
    if wrong:
        problems.append(f"Not completed: {'; '.join(wrong)}.")
    if problems:
        error = InvalidInput("items", " ".join(problems))
        error.extra.update(missing=missing, unknown=unknown)
        raise error
    return {code: items[code] for code in expected}


def _as_json(value: object) -> str:
    return "true" if value is True else f'"{value}"'


def can_sign(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Surgeons and anaesthetists sign phases: the theatre team, not coordinators, viewers or admins."""
    return bool(roles_of(user) & {Role.SURGEON.value, Role.ANAESTHETIST.value})


def is_on_the_case(user: AbstractBaseUser | AnonymousUser, case: Case) -> bool:
    """The case's surgeon, or the surgeon or anaesthetist of its list: the team in that theatre.

    A surgeon operating next door must not be able to sign this patient in."""
    session = case.session
    team = {case.surgeon_id, case.anaesthetist_id}
    if session is not None:
        team |= {session.surgeon_id, session.anaesthetist_id}
    team.discard(None)
    if user.pk is None:
        return False
    return StaffMember.objects.filter(user_id=user.pk, pk__in=team).exists()


def _check_order(phase: str, done: set[str]) -> None:
    if phase in done:
        raise DomainError(ErrorCode.CHECKLIST_ORDER, f"{phase} has already been recorded for this case.")
    earlier = PHASE_ORDER[: PHASE_ORDER.index(phase)]
    missing = [p for p in earlier if p not in done]
    if missing:
        raise DomainError(
            ErrorCode.CHECKLIST_ORDER, f"{phase} cannot be recorded before {', '.join(missing)}.", expected=missing[0]
        )


def clock_tolerance() -> dt.timedelta:
    """How far ahead of the server a recorded theatre time may be: clocks in theatre disagree."""
    return dt.timedelta(minutes=settings.THEATRE_TIMES_FUTURE_TOLERANCE_MINUTES)


def _check_times_agree(case: Case, *, signed_out_at: dt.datetime) -> None:
    """Sign out completes the case: refuse it while the recorded theatre times contradict it (out of
    order, or the operation starting after the sign out), so a completed case never carries them."""
    times = CaseTimes.objects.filter(case=case).values(*MILESTONES).first() or {}
    problems = sign_out_problems(times, signed_out_at=signed_out_at, tolerance=clock_tolerance())
    if problems:
        raise DomainError(
            ErrorCode.TIMES_CONTRADICT_SIGN_OUT,
            "The recorded theatre times contradict the sign out; correct them first. "
            + " ".join(p.detail for p in problems),
            fields=sorted({name for p in problems for name in p.fields}, key=MILESTONES.index),
            problems=[{"code": p.code, "fields": list(p.fields), "detail": p.detail} for p in problems],
        )


def record_phase(*, case_id: int, phase: str, items: object, actor: Actor) -> ChecklistEntry:
    """Record one phase, signed and timed, in WHO order; move the case's status; all audited."""
    answers = validate_items(phase=phase, items=items)
    if actor.user is None or not can_sign(actor.user):
        raise PermissionDenied("Checklist phases are signed by the theatre team (surgeons and anaesthetists).")
    with transaction.atomic():
        # The row lock makes two devices signing the same phase at once queue; the second then
        # sees the first's entry (and the unique constraint backs it up).
        Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True).get()
        case = plan_queryset().get(pk=case_id)
        if not is_on_the_case(actor.user, case):
            raise PermissionDenied("Only the surgeon or anaesthetist of this case's list may sign its checklist.")
        done = set(ChecklistEntry.objects.filter(case=case).values_list("phase", flat=True))
        _check_order(phase, done)
        needs, becomes = TRANSITIONS[phase]
        if case.status != needs:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{phase} needs a {needs} case; this one is {case.status}.")
        if phase == ChecklistPhase.SIGN_IN:
            ensure_eligible(case)
        if phase == ChecklistPhase.SIGN_IN and not approval_is_current(case):
            # Confirmation needed an approved plan; if the plan changed since, it is no longer
            # the plan the surgeon signed off, so the patient does not go in on it.
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, "The case plan changed after approval; the surgeon must approve it again."
            )
        signed_at = timezone.now()
        if phase == ChecklistPhase.SIGN_OUT:
            _check_times_agree(case, signed_out_at=signed_at)
        try:
            with transaction.atomic():
                entry = ChecklistEntry.objects.create(
                    case=case, phase=phase, items=answers, signed_by=actor.user, signed_at=signed_at
                )
        except IntegrityError:
            raise DomainError(ErrorCode.CHECKLIST_ORDER, f"{phase} has already been recorded for this case.") from None
        record(
            actor=actor,
            action=f"case.checklist_{phase}",
            obj=case,
            after={"phase": phase, "entry": entry.pk, "items": answers, "signed_at": entry.signed_at},
        )
        if becomes is not None:
            before_status = case.status
            case.status = becomes
            case.save(update_fields=["status", "updated_at"])
            record(
                actor=actor,
                action=f"case.{becomes}",
                obj=case,
                before={"status": before_status},
                after={"status": becomes},
                reason=f"WHO checklist {phase}",
            )
        return entry
