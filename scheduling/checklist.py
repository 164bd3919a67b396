"""The WHO Surgical Safety Checklist (2009): its items as data, and recording a phase.

Source: WHO Surgical Safety Checklist, first edition 2009 (research/clinical-standards.md).
Each phase is signed once, in order: sign in (before induction), time out (before the skin is
touched), sign out (before the patient leaves theatre). Sign in moves a confirmed case into
theatre; sign out completes it: a case cannot be completed without it.

Sign in is accepted only on the list's local date (the site's zone), from
CHECKLIST_SIGN_IN_LEAD_MINUTES before the list starts (DESIGN §5.8): a patient signed in on
another day is the wrong patient, or the right one on the wrong day, and either way the case
would be recorded as operated on a day it was not. Outside that window a coordinator may give an
override with a reason (`grant_sign_in_override`), for that booked start only; granting and using
it are both audited. Time out and sign out follow a sign in, so they need no window of their own
(a list running past midnight signs its last patient out after it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.roles import Role, has_role, roles_of
from scheduling.milestones import MILESTONES, sign_out_problems
from scheduling.models import Case, CaseStatus, CaseTimes, ChecklistEntry, ChecklistPhase, SignInOverride
from scheduling.plans import approval_is_current, ensure_eligible, plan_queryset
from scheduling.reminders.delivery import skip_stale_for_case
from theatre.models import StaffMember

NOT_APPLICABLE = "not_applicable"
CONFIRMED: tuple[object, ...] = (True,)
CONFIRMED_OR_NA: tuple[object, ...] = (True, NOT_APPLICABLE)


# The 409 codes signing a phase can answer (for the API's schema): out of order or repeated, a sign
# out the recorded times contradict, a sign in outside its window, a case not ready for the phase.
SIGNING_REFUSALS: tuple[ErrorCode, ...] = (
    ErrorCode.CHECKLIST_ORDER,
    ErrorCode.TIMES_CONTRADICT_SIGN_OUT,
    ErrorCode.NOT_LIST_DAY,
    ErrorCode.SIGN_IN_TOO_EARLY,
    ErrorCode.INVALID_TRANSITION,
    ErrorCode.NOT_ELIGIBLE,
)


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


# --- The sign-in window ------------------------------------------------------------------------


def sign_in_refusal(
    *, now: dt.datetime, list_start: dt.datetime, zone: ZoneInfo, lead: dt.timedelta
) -> ErrorCode | None:
    """Why a sign in at `now` is outside its window, or None. Pure.

    The day is the list's local date in the site's zone, so a list at 08:00 BST may be signed in at
    00:30 BST (23:30 UTC the evening before) with a long enough lead, and never at 23:30 BST.
    """
    if now.astimezone(zone).date() != list_start.astimezone(zone).date():
        return ErrorCode.NOT_LIST_DAY
    # The lead is real minutes: subtract in UTC (wall-clock arithmetic in the zone would make the
    # hour before a 02:30 list on the spring clock change two hours long).
    if now < list_start.astimezone(dt.UTC) - lead:
        return ErrorCode.SIGN_IN_TOO_EARLY
    return None


def sign_in_lead() -> dt.timedelta:
    return dt.timedelta(minutes=settings.CHECKLIST_SIGN_IN_LEAD_MINUTES)


def sign_in_opens_at(case: Case) -> dt.datetime | None:
    """The first moment the case may be signed in without an override (None unless booked)."""
    if case.session is None:
        return None
    zone = case.session.theatre.site.zone
    day_start = dt.datetime.combine(case.session.start.astimezone(zone).date(), dt.time(0), tzinfo=zone)
    return max(case.session.start.astimezone(dt.UTC) - sign_in_lead(), day_start).astimezone(dt.UTC)


def _check_sign_in_window(case: Case, *, now: dt.datetime, actor: Actor) -> str:
    """Refuse a sign in outside its window unless a coordinator's override covers this booking.
    Returns the audit reason for the sign in ("" when inside the window)."""
    session = case.session
    if session is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "Only a case booked on a list can be signed in.")
    zone = session.theatre.site.zone
    refusal = sign_in_refusal(now=now, list_start=session.start, zone=zone, lead=sign_in_lead())
    if refusal is None:
        return ""
    override = SignInOverride.objects.filter(case=case, start=case.start).first() if case.start is not None else None
    if override is not None:
        record(
            actor=actor,
            action="case.sign_in_override_used",
            obj=case,
            after={"override": override.pk, "refusal": str(refusal), "granted_by": override.granted_by_id},
            reason=override.reason,
        )
        return f"sign in outside its window ({refusal}) by coordinator override: {override.reason}"
    local = session.start.astimezone(zone)
    if refusal == ErrorCode.NOT_LIST_DAY:
        detail = (
            f"Sign in is only on the day of the list ({local:%A} {local.day} {local:%B %Y}); "
            "a coordinator can override with a reason."
        )
    else:
        opens = (session.start.astimezone(dt.UTC) - sign_in_lead()).astimezone(zone)
        detail = (
            f"Sign in opens at {opens:%H:%M}, {settings.CHECKLIST_SIGN_IN_LEAD_MINUTES} minutes before the list "
            f"starts at {local:%H:%M}; a coordinator can override with a reason."
        )
    raise DomainError(refusal, detail, opens_at=sign_in_opens_at(case))


def grant_sign_in_override(*, case_id: int, reason: str, actor: Actor) -> SignInOverride:
    """A coordinator lets the theatre team sign this case in outside the window, for its current
    booked start only, with a reason; audited. Granting again replaces the reason (audited too)."""
    if not reason.strip():
        raise InvalidInput("reason", "An override of the sign-in window needs a reason.", ErrorCode.REASON_REQUIRED)
    if actor.user is None or not has_role(actor.user, Role.COORDINATOR):
        raise PermissionDenied("Only a coordinator may override the sign-in window.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.status not in (CaseStatus.BOOKED, CaseStatus.CONFIRMED) or case.start is None:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"Only a booked or confirmed case can be given a sign-in override; this one is {case.status}.",
            )
        current = SignInOverride.objects.filter(case=case).first()
        before = {"start": current.start, "reason": current.reason} if current is not None else None
        override, _ = SignInOverride.objects.update_or_create(
            case=case,
            defaults={
                "start": case.start,
                "reason": reason.strip(),
                "granted_by": actor.user,
                "granted_at": timezone.now(),
            },
        )
        record(
            actor=actor,
            action="case.sign_in_override_granted",
            obj=case,
            before=before,
            after={"start": override.start, "reason": override.reason},
            reason=override.reason,
        )
        return override


# --- Recording a phase ---------------------------------------------------------------------------


def record_phase(
    *, case_id: int, phase: str, items: object, actor: Actor, now: dt.datetime | None = None
) -> ChecklistEntry:
    """Record one phase, signed and timed, in WHO order, sign in within its window; move the
    case's status; all audited. `now` is the clock (the demo records last week's lists with it)."""
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
        signed_at = now or timezone.now()
        window_reason = ""
        if phase == ChecklistPhase.SIGN_IN:
            window_reason = _check_sign_in_window(case, now=signed_at, actor=actor)
            ensure_eligible(case)
        if phase == ChecklistPhase.SIGN_IN and not approval_is_current(case):
            # Confirmation needed an approved plan; if the plan changed since, it is no longer
            # the plan the surgeon signed off, so the patient does not go in on it.
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, "The case plan changed after approval; the surgeon must approve it again."
            )
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
            reason=window_reason,
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
        if becomes == CaseStatus.COMPLETED:
            # The operation has happened: whatever pre-op advice is still pending is shown skipped
            # now (the sweep would skip it anyway when due); the follow-ups stay pending.
            skip_stale_for_case(case_id=case.pk, actor=actor, now=signed_at)
        return entry
