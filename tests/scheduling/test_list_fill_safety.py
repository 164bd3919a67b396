"""List fill against the database, on random units: every preview's placements are what `book`
itself accepts, every commit leaves no overlap anywhere, and the priority rule holds.

Hypothesis draws a site with two or three theatres sharing one or two C-arms, two surgeons, one or
two anaesthetists, lists on two days (some at the same time in different theatres, one led by
another surgeon's colleague), some cases already booked, and a waiting list with mixed classes,
minutes, anaesthesia and patients who wait for more than one case. Each example runs inside a
transaction that is rolled back, so examples never see each other's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.audit import Actor
from core.errors import DomainError
from scheduling.booking import book_case
from scheduling.fill import PRIORITIES
from scheduling.list_fill import FillRequest, commit_fill, preview_fill
from scheduling.models import Case
from tests.builders.world import MONDAY, at
from tests.concurrency.test_booking_races import overlaps
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    ProcedureVersionFactory,
    SiteFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
)

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("fill-test")
NO_OVERLAPS = dict.fromkeys(("session_id", "surgeon_id", "anaesthetist_id", "patient_id", "unit_id"), 0)


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class ListSpec:
    theatre: int  # index into the theatres
    day: int  # 0 or 1: Monday or Tuesday
    hour: int  # London start hour
    hours: int
    surgeon: int  # index into the surgeons
    anaesthetist: int | None  # index into the anaesthetists, or none (local cases only)
    booked: tuple[int, ...]  # minutes of cases already booked, back to back from the start


@dataclass(frozen=True)
class CaseSpec:
    surgeon: int
    priority: str
    minutes: int
    general: bool
    patient: int  # index into a small pool: some patients wait for two cases
    needs_c_arm: bool
    eligible: bool


@dataclass(frozen=True)
class Unit:
    theatres: int
    c_arms: int
    anaesthetists: int
    lists: tuple[ListSpec, ...]
    cases: tuple[CaseSpec, ...]


@st.composite
def units(draw: Any) -> Unit:
    theatres = draw(st.integers(2, 3))
    anaesthetists = draw(st.integers(1, 2))
    lists = draw(
        st.lists(
            st.builds(
                ListSpec,
                theatre=st.integers(0, theatres - 1),
                day=st.integers(0, 1),
                hour=st.sampled_from([8, 9, 13]),
                hours=st.sampled_from([3, 4, 5]),
                surgeon=st.integers(0, 1),
                anaesthetist=st.one_of(st.none(), st.integers(0, anaesthetists - 1)),
                booked=st.lists(st.sampled_from([45, 60, 90]), max_size=2).map(tuple),
            ),
            min_size=1,
            max_size=5,
        )
    )
    cases = draw(
        st.lists(
            st.builds(
                CaseSpec,
                surgeon=st.integers(0, 1),
                priority=st.sampled_from(PRIORITIES),
                minutes=st.integers(30, 150),
                general=st.booleans(),
                patient=st.integers(0, 5),
                needs_c_arm=st.booleans(),
                eligible=st.sampled_from([True, True, True, False]),
            ),
            min_size=1,
            max_size=14,
        )
    )
    return Unit(theatres, draw(st.integers(1, 2)), anaesthetists, tuple(lists), tuple(cases))


def _build(unit: Unit) -> None:
    """The unit in the database; lists that would clash (one theatre, surgeon or anaesthetist in
    two lists at once) are skipped, as theatre's own rules would refuse them."""
    site = SiteFactory()
    theatres = [TheatreFactory(site=site, capabilities=["fluoroscopy"]) for _ in range(unit.theatres)]
    for _ in range(unit.c_arms):
        EquipmentUnitFactory(site=site, kind="c_arm")
    surgeons = [SurgeonFactory(), SurgeonFactory()]
    anaesthetists = [AnaesthetistFactory() for _ in range(unit.anaesthetists)]
    patients = [PatientFactory() for _ in range(6)]
    with_c_arm = ProcedureVersionFactory(required_equipment=["c_arm"])
    without = ProcedureVersionFactory(required_equipment=[])
    taken: list[tuple[tuple[str, int], dt.datetime, dt.datetime]] = []
    for spec in unit.lists:
        start = at(spec.hour, day=MONDAY + dt.timedelta(days=spec.day))
        end = start + dt.timedelta(hours=spec.hours)
        holders = [("theatre", spec.theatre), ("surgeon", spec.surgeon)]
        if spec.anaesthetist is not None:
            holders.append(("anaesthetist", spec.anaesthetist))
        if any(h == holder and s < end and start < e for holder, s, e in taken for h in holders):
            continue
        taken += [(h, start, end) for h in holders]
        session = TheatreSessionFactory(
            theatre=theatres[spec.theatre],
            surgeon=surgeons[spec.surgeon],
            anaesthetist=anaesthetists[spec.anaesthetist] if spec.anaesthetist is not None else None,
            start=start,
            end=end,
            status="published",
        )
        at_minute = start
        for minutes in spec.booked:
            case = CaseFactory(
                procedure_version=without,
                surgeon=surgeons[spec.surgeon],
                estimated_minutes=minutes,
                anaesthesia="local_sedation",
            )
            try:
                book_case(case_id=case.pk, session_id=session.pk, start=at_minute, actor=ACTOR)
            except DomainError:
                case.delete()  # the list is shorter than what was drawn for it
                break
            at_minute += dt.timedelta(minutes=minutes)
    for case_spec in unit.cases:
        CaseFactory(
            procedure_version=with_c_arm if case_spec.needs_c_arm else without,
            surgeon=surgeons[case_spec.surgeon],
            patient=patients[case_spec.patient],
            priority=case_spec.priority,
            estimated_minutes=case_spec.minutes,
            anaesthesia="general" if case_spec.general else "local_sedation",
            screening_result={
                "result": "eligible" if case_spec.eligible else "not_eligible",
                "blockers": [],
                "warnings": [],
            },
        )


REQUEST = FillRequest(date_from=MONDAY, date_to=MONDAY + dt.timedelta(days=1))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(unit=units())
def test_every_preview_placement_is_one_book_accepts_and_every_commit_leaves_no_overlap(unit: Unit) -> None:
    try:
        with transaction.atomic():
            _build(unit)
            preview = preview_fill(request=REQUEST)
            # Each placement on its own, exactly as previewed, is a booking `book` accepts.
            for p in preview.result.placements:
                try:
                    with transaction.atomic():
                        book_case(case_id=p.case_id, session_id=p.session_id, start=p.start, units=p.units, actor=ACTOR)
                        raise _Rollback
                except _Rollback:
                    pass
            waiting_before = set(Case.objects.filter(status="waiting").values_list("pk", flat=True))
            committed = commit_fill(request=REQUEST, actor=ACTOR)
            booked = {p.case_id for p in committed.result.placements}
            assert booked <= waiting_before
            assert set(Case.objects.filter(pk__in=booked, status="booked").values_list("pk", flat=True)) == booked
            assert overlaps() == NO_OVERLAPS
            _assert_priority_rule(committed.result.unplaced, booked)
            raise _Rollback
    except _Rollback:
        pass


def _assert_priority_rule(unplaced: Any, booked: set[int]) -> None:
    """No case is left waiting for want of room while a less urgent case of the same surgeon was
    booked into one of that surgeon's lists instead: a case left with `session_full` never has a
    lower class booked in a list it could have gone into at the same length or longer."""
    waiting = {u.case_id: str(u.code) for u in unplaced}
    cases = {c.pk: c for c in Case.objects.filter(pk__in=[*waiting, *booked]).select_related("procedure_version")}
    for case_id, code in waiting.items():
        if code != "session_full":
            continue
        left = cases[case_id]
        if Case.objects.filter(patient_id=left.patient_id).count() > 1:
            continue  # the patient's other case may hold the very time a swap would need
        rank = PRIORITIES.index(left.priority)
        for other_id in booked:
            other = cases[other_id]
            same_needs = other.procedure_version.required_equipment == left.procedure_version.required_equipment
            if (
                other.surgeon_id == left.surgeon_id
                and PRIORITIES.index(other.priority) > rank
                and same_needs
                and other.anaesthesia == left.anaesthesia
                and other.patient_id != left.patient_id
                and other.estimated_minutes >= left.estimated_minutes
            ):
                raise AssertionError(f"case {other_id} ({other.priority}) took the room of {case_id} ({left.priority})")
