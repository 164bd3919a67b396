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
from scheduling.booking import book_case
from scheduling.cases import create_case, create_patient
from scheduling.models import Case, Patient
from theatre.models import SessionStatus, StaffMember, StaffRole, TheatreSession

CASES = 40
BOOK_SHARE = 0.5

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
    return {"created": len(created), "booked": _book_half(created, actor=actor)}


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
