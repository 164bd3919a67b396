"""Past weeks for the `make run` demo: lists that have happened, with what happened in them, so the
theatre utilisation report shows meaningful figures straight away. Idempotent: a list that
already exists is left alone.

Every case goes through the real services, as the team would have done it on the day: booked a
week ahead, plan approved by its surgeon, confirmed, WHO sign in, time out, times recorded, sign
out (completed). Cancellations on the day go through the cancel service, and one case is
abandoned after sign in. Touch times are lognormal around the template's estimate (Dexter &
Ledolter 2005: surgical durations are lognormal; local estimates run short, hence the median a
little above the estimate), with late starts, turnovers and the occasional overrun.

No reminder is ever sent for these cases: they are history. Each list is recorded in one
transaction that also retires every pending reminder and staff notice it produced, so the beat
sweep never sees one of them pending.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import Actor, record, snapshot
from procedures.estimates import estimate, estimate_rules_of
from procedures.versions import version_to_pin
from scheduling import theatre_times
from scheduling.booking import book_case, cancel_case
from scheduling.cases import create_case, create_patient
from scheduling.checklist import record_phase
from scheduling.demo import ELIGIBLE, FAMILY, GIVEN, LEVEL_WEIGHTS, LEVELS, PAST_CASE_REASON, PLAN_DEMO_ITEMS
from scheduling.demo import reserved_nhs_number as nhs_number_for
from scheduling.models import Case, ReminderStatus, StaffNotice
from scheduling.plans import approve_plan, confirm_case
from scheduling.predictions import load_history, predict_new
from scheduling.reminders.planning import retire_for_case
from theatre.demo import SITE_NAME, TIMETABLES
from theatre.models import PERIOD_TIMES, Period, SessionStatus, StaffMember, Theatre, TheatreSession
from theatre.sessions import create_session
from theatre.timetables import england_bank_holidays

HISTORY_WEEKS = 6
# NHS numbers for history patients start here (the live demo uses 0-39 and 700-701). A patient's
# number comes from their list's date, timetable row and place on the list, never from the order
# of seeding, so a run on another day (whose six weeks reach other dates) never reuses one.
FIRST_PATIENT = 1000
NUMBERING_FROM = dt.date(2024, 1, 1)
# Lists whose story is fixed, counted back from the most recent (0), so the default four-week
# report always shows each kind of event; the other lists' luck comes from their own random seed.
MISSING_TIMES_LIST = 0  # the latest list: its register is not typed up yet
LATE_START_LIST = 2  # the first anaesthetic starts 35 minutes late
OVERRUN_LIST = 3  # the last patient leaves 25 minutes after the list's end
ABANDONED_LIST = 5  # its second case is abandoned after WHO sign in
MORNING_CANCELLATIONS = {4: "patient_did_not_attend", 8: "no_bed", 11: "patient_unfit"}
CASES_PER_LIST = {Period.AM: 3, Period.PM: 3, Period.ALL_DAY: 6}
# Reasons a unit sees on the morning of a list, in rough proportion.
ON_THE_DAY_REASONS = [
    ("patient_unfit", 4),
    ("no_bed", 3),
    ("patient_did_not_attend", 2),
    ("equipment_failure", 1),
    ("not_fasted", 1),
    ("patient_declined", 1),
]


# Surgeons are not equally quick: one runs 12% under the unit's median, the other 15% over, so
# after seeding the learned predictions visibly differ between them for the same procedure.
SURGEON_SPEED = {"surgeon": 0.88, "surgeon2": 1.15}


@dataclass(frozen=True)
class PlannedList:
    """One past list of the demo timetable: `row` (its place in TIMETABLES) and its day fix its
    patients and its luck, `from_latest` (0 for the most recent list) its fixed story, if any."""

    row: int
    from_latest: int
    day: dt.date
    theatre: str
    period: str
    surgeon: str
    anaesthetist: str


@dataclass(frozen=True)
class Team:
    coordinator: Actor
    surgeons: dict[int, Actor]  # StaffMember id -> that surgeon's login
    speeds: dict[int, float]  # StaffMember id -> their touch time as a multiple of the median

    def surgeon_of(self, case: Case) -> Actor:
        return self.surgeons[case.surgeon_id]


def planned_lists(*, today: dt.date) -> list[PlannedList]:
    """The demo timetable's lists from HISTORY_WEEKS whole weeks back up to yesterday, bank holidays skipped."""
    first = today - dt.timedelta(days=today.weekday(), weeks=HISTORY_WEEKS)
    holidays = england_bank_holidays(years={first.year, today.year})
    slots: list[tuple[int, dt.date, str, str, str, str]] = []
    day = first
    while day < today:
        for row, (theatre, weekday, period, surgeon, anaesthetist) in enumerate(TIMETABLES):
            if day.weekday() == weekday and day not in holidays:
                slots.append((row, day, theatre, period, surgeon, anaesthetist))
        day += dt.timedelta(days=1)
    return [PlannedList(slot[0], len(slots) - 1 - n, *slot[1:]) for n, slot in enumerate(slots)]


def _team() -> Team | None:
    users = {u.username: u for u in User.objects.filter(username__in=["coordinator", "surgeon", "surgeon2"])}
    if set(users) != {"coordinator", "surgeon", "surgeon2"}:
        return None
    members = [
        member
        for member in StaffMember.objects.filter(user__username__in=["surgeon", "surgeon2"]).select_related("user")
        if member.user is not None
    ]
    surgeons = {member.pk: Actor.of(member.user) for member in members if member.user is not None}
    speeds = {member.pk: SURGEON_SPEED[member.user.username] for member in members if member.user is not None}
    return Team(coordinator=Actor.of(users["coordinator"]), surgeons=surgeons, speeds=speeds)


def seed_history(*, today: dt.date | None = None) -> dict[str, int]:
    """Record the past weeks' lists and what happened in them; running it again adds nothing."""
    today = today or timezone.localdate()
    team = _team()
    theatres = {t.name: t for t in Theatre.objects.filter(site__name=SITE_NAME).select_related("site")}
    staff = {s.name: s for s in StaffMember.objects.all()}
    counts = {"lists": 0, "cases": 0, "cancelled_on_the_day": 0}
    if team is None or not theatres:
        return counts
    for planned in planned_lists(today=today):
        with transaction.atomic():
            session = _create_list(planned, theatre=theatres[planned.theatre], staff=staff)
            if session is None:
                continue
            story = _ListStory(planned, session=session, team=team)
            story.tell()
        counts["lists"] += 1
        counts["cases"] += story.done
        counts["cancelled_on_the_day"] += story.cancelled
    return counts


def _create_list(planned: PlannedList, *, theatre: Theatre, staff: dict[str, StaffMember]) -> TheatreSession | None:
    zone = theatre.site.zone
    start_time, end_time = PERIOD_TIMES[planned.period]
    start = dt.datetime.combine(planned.day, start_time, tzinfo=zone)
    if TheatreSession.objects.filter(theatre=theatre, start=start).exists():
        return None  # already there (an earlier run, or the plan demo's list): left as it is
    return create_session(
        theatre=theatre,
        start=start,
        end=dt.datetime.combine(planned.day, end_time, tzinfo=zone),
        surgeon=staff[planned.surgeon],
        anaesthetist=staff[planned.anaesthetist],
        actor=Actor.system("seed_demo"),
        status=SessionStatus.PUBLISHED,
        period=planned.period,
    )


@dataclass(frozen=True)
class _CaseSpec:
    """A history patient and their procedure, drawn from the patient's own number (repeatable)."""

    n: int
    procedure: str
    levels: list[str]
    anaesthesia: str
    priority: str
    referral_days_before: int
    born: dt.date
    estimated_minutes: int
    turnover_minutes: int

    @classmethod
    def draw(cls, n: int) -> _CaseSpec:
        rng = random.Random(f"patient-{n}")  # noqa: S311 - repeatable demo data
        procedure = "kyphoplasty" if rng.random() < 0.65 else "vertebroplasty"
        count = rng.choices([1, 2], weights=[3, 1])[0]
        first = rng.choices(range(len(LEVELS) - count + 1), weights=LEVEL_WEIGHTS[: len(LEVELS) - count + 1])[0]
        levels = LEVELS[first : first + count]
        general = rng.random() < (0.8 if procedure == "kyphoplasty" else 0.3)
        anaesthesia = "general" if general else "local_sedation"
        rules = estimate_rules_of(version_to_pin(slug=procedure))
        return cls(
            n=n,
            procedure=procedure,
            levels=levels,
            anaesthesia=anaesthesia,
            priority=rng.choices(["P2", "P3", "P4"], weights=[2, 5, 1])[0],
            referral_days_before=rng.randint(20, 90),
            born=dt.date(1932 + rng.randint(0, 28), rng.randint(1, 12), rng.randint(1, 28)),
            estimated_minutes=estimate(rules=rules, levels=levels, anaesthesia=anaesthesia).total_minutes,
            turnover_minutes=rules.turnover_minutes,
        )

    def create(self, *, surgeon_id: int, day: dt.date, actor: Actor) -> Case:
        given, family = GIVEN[self.n % len(GIVEN)], FAMILY[(self.n * 3) % len(FAMILY)]
        patient = create_patient(
            actor=actor,
            data={
                "nhs_number": nhs_number_for(FIRST_PATIENT + self.n),
                "mrn": f"NSU-H{self.n:06d}",
                "given_name": given,
                "family_name": family,
                "date_of_birth": self.born,
                "email": f"{given}.{family}.{self.n}@example.org".lower(),
                "reminder_channels": ["email"],
            },
        )
        return create_case(
            actor=actor,
            patient_id=patient.pk,
            procedure=self.procedure,
            levels=self.levels,
            surgeon_id=surgeon_id,
            referral_date=day - dt.timedelta(days=self.referral_days_before),
            anaesthesia=self.anaesthesia,
            priority=self.priority,
            screening_answers=ELIGIBLE,
        )


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


class _ListStory:
    """What happened on one list: who was booked, who went in, when, and who did not."""

    def __init__(self, planned: PlannedList, *, session: TheatreSession, team: Team) -> None:
        self.planned = planned
        self.session = session
        self.team = team
        self.missing_times = planned.from_latest == MISSING_TIMES_LIST
        self.rng = random.Random(f"history-{planned.day}-{planned.row}")  # noqa: S311 - repeatable demo data
        self.done = 0
        self.cancelled = 0

    def tell(self) -> None:
        cases = self._book()
        story = self.planned.from_latest
        clock = self.session.start + dt.timedelta(minutes=35 if story == LATE_START_LIST else self._lateness())
        abandon = story == ABANDONED_LIST
        morning_cancel = None if story in (ABANDONED_LIST, OVERRUN_LIST) else self._morning_cancellation(cases)
        for position, case in enumerate(cases):
            if case is morning_cancel:
                continue
            if abandon and position == 1:
                clock = self._abandon(case, clock)
                continue
            touch = self._touch_minutes(case)
            is_last = position == len(cases) - 1
            overrun = clock + dt.timedelta(minutes=touch) - self.session.end
            if is_last and story == OVERRUN_LIST:
                # A difficult cement fill: the last patient leaves theatre 25 minutes after the list's end.
                touch += max(0, 25 - int(overrun.total_seconds() // 60))
            elif is_last and position > 0 and overrun > dt.timedelta(minutes=40):
                # The list is running late: the last patient is sent home (a hospital cancellation).
                self._cancel(case, "list_overrun", at=clock, note="")
                continue
            clock = self._operate(case, clock, touch)
        for case in cases:
            retire_for_case(case=case, actor=self.team.coordinator, reason=PAST_CASE_REASON)
        _retire_staff_notices(self.session, actor=self.team.coordinator)

    def _book(self) -> list[Case]:
        """Fill the list as a coordinator would have a week before: cases while their slot fits,
        predicted from the history up to then (the lists are told in date order)."""
        cases: list[Case] = []
        room = self.session.minutes
        history = load_history()
        for slot in range(CASES_PER_LIST[Period(self.planned.period)]):
            spec = _CaseSpec.draw(self._patient_number(slot))
            minutes = predict_new(
                history=history,
                surgeon_id=self.session.surgeon_id,
                procedure=spec.procedure,
                levels=len(spec.levels),
                anaesthesia=spec.anaesthesia,
                total_minutes=spec.estimated_minutes,
                turnover_minutes=spec.turnover_minutes,
            ).p50
            if minutes > room:
                break
            case = spec.create(surgeon_id=self.session.surgeon_id, day=self.planned.day, actor=self.team.coordinator)
            book_case(
                case_id=case.pk,
                session_id=self.session.pk,
                actor=self.team.coordinator,
                now=self.session.start - dt.timedelta(days=7),
            )
            room -= minutes
            cases.append(Case.objects.select_related("procedure_version").get(pk=case.pk))
        return sorted(cases, key=lambda c: c.start or self.session.start)

    def _patient_number(self, slot: int) -> int:
        most = max(CASES_PER_LIST.values())
        return ((self.planned.day - NUMBERING_FROM).days * len(TIMETABLES) + self.planned.row) * most + slot

    def _lateness(self) -> int:
        """Minutes after the list's start that the first anaesthetic starts: usually a few, some lists late."""
        if self.rng.random() < 0.25:
            return self.rng.randint(17, 45)  # late start (> 15 min, Model Hospital)
        return self.rng.randint(-5, 12)

    def _morning_cancellation(self, cases: list[Case]) -> Case | None:
        """Some lists lose a patient on the morning: a few fixed ones (one per category), the rest by chance."""
        fixed = MORNING_CANCELLATIONS.get(self.planned.from_latest)
        if len(cases) < 2 or (fixed is None and self.rng.random() > 0.12):
            return None
        case = self.rng.choice(cases[1:])
        reasons, weights = zip(*ON_THE_DAY_REASONS, strict=True)
        reason = fixed or self.rng.choices(reasons, weights=weights)[0]
        self._cancel(case, reason, at=self.session.start - dt.timedelta(minutes=self.rng.randint(20, 90)), note="")
        return case

    def _touch_minutes(self, case: Case) -> int:
        """Lognormal around the estimate without turnover; the median runs 5% over (estimates run
        short), times the surgeon's own speed."""
        expected = case.estimated_minutes - case.procedure_version.turnover_minutes
        speed = self.team.speeds.get(case.surgeon_id, 1.0)
        return max(25, round(_lognormal(self.rng, expected * 1.05 * speed, 0.22)))

    def _into_theatre(self, case: Case, start: dt.datetime) -> None:
        """Approved, confirmed, and signed in just before anaesthesia starts at `start`, on the
        list's day: the checklist is recorded as it happened (sign in only on the list's day)."""
        surgeon = self.team.surgeon_of(case)
        approve_plan(case_id=case.pk, actor=surgeon)
        confirm_case(case_id=case.pk, actor=self.team.coordinator)
        signed_in_at = max(start - dt.timedelta(minutes=5), self.session.start - dt.timedelta(minutes=30))
        record_phase(
            case_id=case.pk, phase="sign_in", items=PLAN_DEMO_ITEMS["sign_in"], actor=surgeon, now=signed_in_at
        )

    def _operate(self, case: Case, start: dt.datetime, touch: int) -> dt.datetime:
        """Into theatre at `start` (anaesthesia), out `touch` minutes later; returns the next start."""
        surgeon = self.team.surgeon_of(case)
        self._into_theatre(case, start)
        induction = 15 if case.anaesthesia == "general" else 8
        record_phase(
            case_id=case.pk,
            phase="time_out",
            items=PLAN_DEMO_ITEMS["time_out"],
            actor=surgeon,
            now=start + dt.timedelta(minutes=induction + 10),
        )
        out = start + dt.timedelta(minutes=touch)
        times = {
            "anaesthesia_start": start,
            "in_theatre": start + dt.timedelta(minutes=induction),
            "knife_to_skin": start + dt.timedelta(minutes=induction + 12),
            "closure": out - dt.timedelta(minutes=6),
            "out_of_theatre": out,
            "in_recovery": out + dt.timedelta(minutes=self.rng.randint(2, 6)),
        }
        if not self.missing_times:
            theatre_times.record_times(case_id=case.pk, values=times, actor=self.team.coordinator)
        # Signed out after closure, before the patient leaves theatre.
        record_phase(
            case_id=case.pk,
            phase="sign_out",
            items=PLAN_DEMO_ITEMS["sign_out"],
            actor=surgeon,
            now=out - dt.timedelta(minutes=3),
        )
        self.done += 1
        turnover = _lognormal(self.rng, case.procedure_version.turnover_minutes, 0.3)
        return out + dt.timedelta(minutes=round(turnover))

    def _abandon(self, case: Case, start: dt.datetime) -> dt.datetime:
        """Signed in, anaesthetised, then stopped: the patient goes to recovery and the list goes on."""
        self._into_theatre(case, start)
        out = start + dt.timedelta(minutes=25)
        values = {"anaesthesia_start": start, "in_theatre": start + dt.timedelta(minutes=12), "out_of_theatre": out}
        theatre_times.record_times(case_id=case.pk, values=values, actor=self.team.coordinator)
        self._cancel(case, "abandoned_in_theatre", at=out, note="Demo: bronchospasm at induction; rebook after review.")
        return out + dt.timedelta(minutes=20)

    def _cancel(self, case: Case, reason: str, *, at: dt.datetime, note: str) -> None:
        cancel_case(case_id=case.pk, actor=self.team.coordinator, reason=reason, note=note, now=at)
        self.cancelled += 1


def _retire_staff_notices(session: TheatreSession, *, actor: Actor) -> None:
    """A list that is history tells its team nothing (the demo staff have no email; this keeps it so)."""
    for notice in StaffNotice.objects.select_for_update().filter(session=session, status=ReminderStatus.PENDING):
        before = snapshot(notice, ["status"])
        notice.status = ReminderStatus.CANCELLED
        notice.save(update_fields=["status", "updated_at"])
        after = {"status": notice.status}
        record(
            actor=actor,
            action="staff_notice.cancelled",
            obj=notice,
            before=before,
            after=after,
            reason=PAST_CASE_REASON,
        )
