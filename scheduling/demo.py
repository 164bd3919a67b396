"""Demo waiting list for `make run`: about 40 realistic cases, about half booked into the demo
lists through the real booking service. Idempotent: a patient already seeded is skipped.

Every patient is fictional. NHS numbers come from the 999 range, which the NHS reserves for
testing and never issues, and still pass the modulus-11 check.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import Actor
from core.errors import DomainError
from scheduling.booking import book_case, move_case
from scheduling.cases import create_case, create_patient
from scheduling.checklist import record_phase
from scheduling.models import Case, CaseStatus, Patient
from scheduling.plans import approve_plan, confirm_case
from scheduling.reminders.planning import retire_for_case
from scheduling.unavailability import add_unavailability, planning_date
from theatre.demo import SITE_NAME
from theatre.models import SessionStatus, StaffMember, StaffRole, Theatre, TheatreSession
from theatre.sessions import create_session

CASES = 40
BOOK_SHARE = 0.5
# Why a demo case that is already over has no reminders pending (audited on each row).
PAST_CASE_REASON = "demo history: the appointment was over before it was recorded"

GIVEN = [
    "Margaret", "Dorothy", "Joan", "Irene", "Barbara", "Eileen", "Patricia", "Jean", "Sheila", "Brenda",
    "Arthur", "Harold", "Kenneth", "Dennis", "Roy", "Albert", "Norman", "Stanley", "Leslie", "Ronald",
]  # fmt: skip
FAMILY = [
    "Ashworth", "Barraclough", "Pickersgill", "Holroyd", "Sutcliffe", "Ackroyd", "Brearley", "Crowther",
    "Dewhirst", "Firth", "Greenwood", "Hirst", "Illingworth", "Jowett", "Lumb", "Mitchell", "Naylor",
    "Oldroyd", "Priestley", "Rushworth",
]  # fmt: skip

LEVELS = ["T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
# Osteoporotic fractures cluster at the thoracolumbar junction.
LEVEL_WEIGHTS = [1, 1, 2, 2, 3, 4, 6, 9, 9, 5, 3, 2, 1]

ELIGIBLE: dict[str, Any] = {
    "fracture_painful": True,
    "fracture_unhealed_on_imaging": True,
    "conservative_care_tried": True,
    "fragment_or_tumour_in_canal": False,
    "active_infection": False,
    "bleeding_disorder": False,
    "inr": 1.0,
    "platelets": 240,
    "cement_allergy": False,
    "anticoagulants": [],
    "can_lie_prone": True,
    "radicular_pain_dominant": False,
    "vertebra_plana": False,
    "mdt_discussed": True,
}


def reserved_nhs_number(n: int) -> str:
    """The n-th number of the form 999 xxx xxxx with a valid modulus-11 check digit."""
    candidate = 999_000_000 + n * 7
    while True:
        digits = [int(c) for c in str(candidate)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return f"{candidate}{check}"
        candidate += 1


@dataclass(frozen=True)
class DemoCase:
    nhs_number: str
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: dt.date
    channels: list[str]
    procedure: str
    levels: list[str]
    anaesthesia: str
    approach: str
    priority: str
    referral_days_ago: int
    answers: dict[str, Any]


def _answers(rng: random.Random, n: int) -> dict[str, Any]:
    answers = dict(ELIGIBLE)
    answers["inr"] = round(rng.uniform(0.9, 1.3), 1)
    answers["platelets"] = rng.randint(150, 380)
    if n % 6 == 1:
        answers["anticoagulants"] = [rng.choice(["warfarin", "apixaban", "clopidogrel"])]
    if n % 17 == 3:
        # Dabigatran: with a creatinine clearance of 42 mL/min the template holds it 4 days, not 2;
        # for one patient the clearance is not known yet, and screening warns.
        answers["anticoagulants"] = ["dabigatran"]
        if n != 20:
            answers["creatinine_clearance"] = 42
    if n % 13 == 5:
        answers["active_infection"] = True  # discitis on MRI: ineligible until treated
    if n % 13 == 9:
        answers["fracture_painful"] = False  # healed, painless fracture: ineligible (NICE TA279)
    if n % 11 == 7:
        for key in ("inr", "platelets", "mdt_discussed"):
            answers.pop(key)  # bloods and MDT pending: incomplete
    return answers


def demo_cases() -> list[DemoCase]:
    rng = random.Random(2026)  # noqa: S311 - repeatable demo data, not security
    specs = []
    for n in range(CASES):
        procedure = "kyphoplasty" if n % 3 else "vertebroplasty"
        count = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
        first = rng.choices(range(len(LEVELS) - count + 1), weights=LEVEL_WEIGHTS[: len(LEVELS) - count + 1])[0]
        specs.append(
            DemoCase(
                nhs_number=reserved_nhs_number(n),
                mrn=f"NSU{700100 + n}",
                given_name=GIVEN[n % len(GIVEN)],
                family_name=FAMILY[(n * 7) % len(FAMILY)],
                date_of_birth=dt.date(1931 + rng.randint(0, 30), rng.randint(1, 12), rng.randint(1, 28)),
                channels=rng.choice([["email"], ["sms"], ["sms", "email"], []]),
                procedure=procedure,
                levels=LEVELS[first : first + count],
                anaesthesia=("general" if rng.random() < 0.8 else "local_sedation")
                if procedure == "kyphoplasty"
                else ("local_sedation" if rng.random() < 0.7 else "general"),
                approach=rng.choice(["bipedicular", "bipedicular", "unipedicular"]),
                priority=rng.choices(["P1", "P2", "P3", "P4"], weights=[1, 4, 4, 1])[0],
                referral_days_ago=rng.randint(3, 120),
                answers=_answers(rng, n),
            )
        )
    return specs


def _actor() -> Actor:
    # The demo coordinator books, so locked lists take the booking by an audited override.
    user = User.objects.filter(username="coordinator").first()
    return Actor.of(user) if user is not None else Actor.system("seed_demo")


def seed_cases(*, today: dt.date | None = None) -> dict[str, int]:
    """Create the demo waiting list and book about half of it; running it again adds nothing."""
    today = today or timezone.localdate()
    actor = _actor()
    surgeons = list(StaffMember.objects.filter(role=StaffRole.SURGEON, active=True).order_by("name"))
    if not surgeons:
        return {"created": 0, "booked": 0}
    created: list[Case] = []
    with transaction.atomic():
        for n, spec in enumerate(demo_cases()):
            if Patient.objects.filter(nhs_number=spec.nhs_number).exists():
                continue
            phone = f"+4477009{n:05d}"[:13]
            patient = create_patient(
                actor=actor,
                data={
                    "nhs_number": spec.nhs_number,
                    "mrn": spec.mrn,
                    "given_name": spec.given_name,
                    "family_name": spec.family_name,
                    "date_of_birth": spec.date_of_birth,
                    "email": f"{spec.given_name}.{spec.family_name}@example.org".lower(),
                    "phone": phone,
                    "reminder_channels": spec.channels,
                },
            )
            created.append(
                create_case(
                    actor=actor,
                    patient_id=patient.pk,
                    procedure=spec.procedure,
                    levels=spec.levels,
                    surgeon_id=surgeons[n % len(surgeons)].pk,
                    referral_date=today - dt.timedelta(days=spec.referral_days_ago),
                    anaesthesia=spec.anaesthesia,
                    approach=spec.approach,
                    priority=spec.priority,
                    screening_answers=spec.answers,
                )
            )
    booked = _book_half(created, actor=actor)
    _mark_unavailable(created, actor=actor, today=today)
    return {"created": len(created), "booked": booked}


def _mark_unavailable(cases: list[Case], *, actor: Actor, today: dt.date) -> None:
    """Patient not ready: one waiting patient away on holiday (having declined two offered dates, so
    the wait pauses), and one booked patient who has since said they are unwell on their day (the
    case is flagged for the coordinator). Only for cases this run created, so it stays idempotent."""
    fresh = list(Case.objects.filter(pk__in=[c.pk for c in cases]).order_by("pk"))  # as booking left them
    eligible = [c for c in fresh if c.screening_result.get("result") == "eligible"]
    waiting = next((c for c in eligible if c.status == CaseStatus.WAITING), None)
    if waiting is not None:
        add_unavailability(
            actor=actor,
            case_id=waiting.pk,
            start_date=today + dt.timedelta(days=10),
            end_date=today + dt.timedelta(days=23),
            reason="holiday",
            note="Family holiday abroad; declined the two dates offered for that fortnight.",
            patient_initiated=True,
        )
    booked = next((c for c in reversed(fresh) if c.status == CaseStatus.BOOKED and c.start is not None), None)
    if booked is not None and booked.start is not None:
        day = planning_date(booked.start)
        add_unavailability(
            actor=actor,
            case_id=booked.pk,
            start_date=day,
            end_date=day + dt.timedelta(days=2),
            reason="unfit",
            note="Chest infection reported by phone; GP treating.",
        )


def _book_half(cases: list[Case], *, actor: Actor) -> int:
    """Book the most urgent eligible cases into their surgeon's earliest lists that fit."""
    target = int(len(cases) * BOOK_SHARE)
    eligible = [c for c in cases if c.screening_result.get("result") == "eligible"]
    eligible.sort(key=lambda c: (c.priority, c.referral_date))
    booked = 0
    for case in eligible:
        if booked >= target:
            break
        sessions = TheatreSession.objects.filter(
            surgeon_id=case.surgeon_id,
            status__in=[SessionStatus.PUBLISHED, SessionStatus.LOCKED],
            start__gte=timezone.now(),
        ).order_by("start")
        for session in sessions:
            try:
                book_case(
                    case_id=case.pk,
                    session_id=session.pk,
                    actor=actor,
                    override=session.status == SessionStatus.LOCKED,
                    override_reason="demo data: list filled before it locked",
                )
            except DomainError:
                continue
            booked += 1
            break
    return booked


# --- The surgeon's side: a plan approved and taken through theatre, one whose approval a move withdrew

# Eligible, on apixaban: the plan then shows an anticoagulant hold with its dates.
PLAN_DEMO_ANSWERS: dict[str, object] = {**ELIGIBLE, "inr": 1.1, "platelets": 210, "anticoagulants": ["apixaban"]}

# (NHS number, MRN, given, family, date of birth): fictional, from the reserved 999 range.
PLAN_DEMO_PATIENTS: dict[str, tuple[str, str, str, str, dt.date]] = {
    "completed": (reserved_nhs_number(700), "NSU-P7001", "Edith", "Cartwright", dt.date(1939, 4, 2)),
    "withdrawn": (reserved_nhs_number(701), "NSU-P7002", "Harold", "Pemberton", dt.date(1944, 11, 19)),
}
PLAN_DEMO_ITEMS: dict[str, dict[str, object]] = {
    "sign_in": {
        "identity_site_procedure_consent": True,
        "site_marked": True,
        "anaesthesia_safety_check": True,
        "pulse_oximeter": True,
        "known_allergy": "no",
        "difficult_airway_aspiration_risk": "no",
        "blood_loss_risk": "no",
    },
    "time_out": {
        "team_introduced": True,
        "patient_site_procedure_confirmed": True,
        "antibiotic_prophylaxis": True,
        "surgeon_critical_events": True,
        "anaesthetist_critical_events": True,
        "nursing_critical_events": True,
        "essential_imaging_displayed": True,
    },
    "sign_out": {
        "procedure_recorded": True,
        "counts_complete": True,
        "specimen_labelled": "not_applicable",
        "equipment_problems_addressed": True,
        "recovery_concerns_reviewed": True,
    },
}


def _plan_demo_patient(key: str, *, actor: Actor) -> tuple[Patient, bool]:
    nhs_number, mrn, given, family, born = PLAN_DEMO_PATIENTS[key]
    existing = Patient.objects.filter(nhs_number=nhs_number).first()
    if existing is not None:
        return existing, False
    data = {
        "nhs_number": nhs_number,
        "mrn": mrn,
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "email": f"{given}.{family}@example.org".lower(),
        "reminder_channels": ["email"],
    }
    return create_patient(actor=actor, data=data), True


def _last_week_list(
    *, theatre: Theatre, surgeon: StaffMember, anaesthetist: StaffMember, today: dt.date
) -> TheatreSession:
    """Last week's Monday morning list in `theatre` (made here: timetables generate from today on)."""
    monday = today - dt.timedelta(days=today.weekday() + 7)
    zone = theatre.site.zone
    start = dt.datetime.combine(monday, dt.time(8, 0), tzinfo=zone)
    existing = TheatreSession.objects.filter(theatre=theatre, start=start).first()
    if existing is not None:
        return existing
    return create_session(
        theatre=theatre,
        start=start,
        end=dt.datetime.combine(monday, dt.time(13, 0), tzinfo=zone),
        surgeon=surgeon,
        anaesthetist=anaesthetist,
        actor=Actor.system("seed_demo"),
        status=SessionStatus.PUBLISHED,
        period="am",
    )


def seed_plan_demo(*, today: dt.date | None = None) -> dict[str, Case]:
    """Two cases for the surgeon's view, made through the real services; running it again adds nothing.

    `completed`: approved by its surgeon, confirmed, and through all three WHO checklist phases on
    last week's list. `withdrawn`: approved, then moved to a later list, which withdrew the approval.
    """
    today = today or timezone.localdate()
    users = {u.username: u for u in User.objects.filter(username__in=["coordinator", "surgeon", "anaesthetist"])}
    coordinator = Actor.of(users["coordinator"])
    surgeon_actor = Actor.of(users["surgeon"])
    anaesthetist_actor = Actor.of(users["anaesthetist"])
    surgeon = StaffMember.objects.get(user=users["surgeon"])
    anaesthetist = StaffMember.objects.get(user=users["anaesthetist"])
    made: dict[str, Case] = {}
    with transaction.atomic():
        patient, new = _plan_demo_patient("completed", actor=coordinator)
        if new:
            theatre = Theatre.objects.filter(site__name=SITE_NAME, name="Theatre 1").select_related("site").get()
            session = _last_week_list(theatre=theatre, surgeon=surgeon, anaesthetist=anaesthetist, today=today)
            case = create_case(
                actor=coordinator,
                patient_id=patient.pk,
                procedure="kyphoplasty",
                levels=["L1"],
                surgeon_id=surgeon.pk,
                referral_date=today - dt.timedelta(days=40),
                priority="P2",
                screening_answers=PLAN_DEMO_ANSWERS,
                notes="Demo: plan approved, confirmed, WHO checklist complete.",
            )
            # Recorded as booked the day before last week's list: booking never reaches into the past.
            book_case(
                case_id=case.pk,
                session_id=session.pk,
                start=session.start,
                actor=coordinator,
                now=session.start - dt.timedelta(days=1),
            )
            approve_plan(case_id=case.pk, actor=surgeon_actor)
            confirm_case(case_id=case.pk, actor=coordinator)
            # Signed as it was on the day of that list: a historical record, not a sign in today
            # (which the checklist would refuse: sign in only on the list's day).
            signers = {
                "sign_in": (anaesthetist_actor, session.start - dt.timedelta(minutes=10)),
                "time_out": (surgeon_actor, session.start + dt.timedelta(minutes=20)),
                "sign_out": (surgeon_actor, session.start + dt.timedelta(minutes=70)),
            }
            for phase, (signer, signed_at) in signers.items():
                record_phase(case_id=case.pk, phase=phase, items=PLAN_DEMO_ITEMS[phase], actor=signer, now=signed_at)
            # Booked "the day before last week's list" but planned now, its reminders were all due
            # at once: the sweep would have sent a pre-op letter for an operation already done.
            retire_for_case(case=case, actor=coordinator, reason=PAST_CASE_REASON)
        made["completed"] = patient.cases.get()

        patient, new = _plan_demo_patient("withdrawn", actor=coordinator)
        if new:
            case = create_case(
                actor=coordinator,
                patient_id=patient.pk,
                procedure="vertebroplasty",
                levels=["T12", "L1"],
                surgeon_id=surgeon.pk,
                referral_date=today - dt.timedelta(days=20),
                anaesthesia="local_sedation",
                screening_answers=PLAN_DEMO_ANSWERS,
                notes="Demo: approval withdrawn by a later move.",
            )
            # Unlocked lists only (more than two weeks ahead, 6-4-2), so no step needs an override.
            lists = TheatreSession.objects.filter(
                surgeon=surgeon, status=SessionStatus.PUBLISHED, start__date__gt=today + dt.timedelta(days=14)
            ).order_by("start")
            booked = next((s for s in lists if _placed(case, s, coordinator, first=True)), None)
            if booked is None:
                raise RuntimeError("No unlocked list led by the demo surgeon has room for the demo case.")
            approve_plan(case_id=case.pk, actor=surgeon_actor)
            later = (s for s in lists if s.start > booked.start)
            if next((s for s in later if _placed(case, s, coordinator, first=False)), None) is None:
                raise RuntimeError("No later unlocked list has room to move the demo case into.")
        made["withdrawn"] = patient.cases.get()
    return made


def _placed(case: Case, session: TheatreSession, actor: Actor, *, first: bool) -> bool:
    """Book (first) or move the case into the earliest time that fits in `session`; False if none."""
    try:
        with transaction.atomic():
            if first:
                book_case(case_id=case.pk, session_id=session.pk, actor=actor)
            else:
                move_case(case_id=case.pk, session_id=session.pk, actor=actor)
    except DomainError:
        return False
    return True


# --- List fill: what a coordinator would see previewing next month's lists ----------------------


@dataclass(frozen=True)
class DemoFill:
    date_from: dt.date
    date_to: dt.date
    placed: int
    waiting: int
    codes: dict[str, int]


def next_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar month after `today`'s."""
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


def preview_demo_fill(*, today: dt.date | None = None) -> DemoFill:
    """A fill preview of next month's lists from the demo's waiting list (changes nothing)."""
    # Imported here: the fill service reads the predictions, which the demo history feeds.
    from scheduling.list_fill import FillRequest, preview_fill

    date_from, date_to = next_month(today or timezone.localdate())
    outcome = preview_fill(request=FillRequest(date_from=date_from, date_to=date_to))
    codes: dict[str, int] = {}
    for unplaced in outcome.result.unplaced:
        codes[str(unplaced.code)] = codes.get(str(unplaced.code), 0) + 1
    return DemoFill(
        date_from=date_from,
        date_to=date_to,
        placed=len(outcome.result.placements),
        waiting=len(outcome.result.placements) + len(outcome.result.unplaced),
        codes=codes,
    )
