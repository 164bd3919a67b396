"""What happens when a booked case's clinical facts change: screening and reminders follow, and a
patient the rules now exclude is never approved, confirmed or taken into theatre."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.audit import Actor
from core.errors import DomainError
from scheduling import checklist, plans
from scheduling.models import Case, Reminder, ReminderStatus
from tests.builders.answers import eligible_answers
from tests.builders.clinic import PHASE_ITEMS
from tests.builders.world import BookingWorld, at, build_booking_world
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


@pytest.fixture
def world(surgeon_user: User, anaesthetist_user: User) -> BookingWorld:
    built = build_booking_world(equipment=("c_arm", "kyphoplasty_system"))
    built.surgeon.user = surgeon_user
    built.surgeon.save()
    built.anaesthetist.user = anaesthetist_user  # the list's anaesthetist signs its checklist
    built.anaesthetist.save()
    return built


def booked_kyphoplasty(coordinator: APIClient, world: BookingWorld, **patient: Any) -> Case:
    created = coordinator.post(
        CASES,
        {
            "patient": PatientFactory(**patient).pk,
            "procedure": "kyphoplasty",
            "levels": ["T12", "L1"],
            "anaesthesia": "general",
            "surgeon": world.surgeon.pk,
            "priority": "P2",
            "referral_date": "2026-11-02",
            "screening_answers": eligible_answers(),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    booked = coordinator.post(
        f"{CASES}{created.data['id']}/book/", {"session": world.session.pk, "start": at(8).isoformat()}, format="json"
    )
    assert booked.status_code == 200, booked.content
    return Case.objects.get(pk=created.data["id"])


def hold_rows(case: Case) -> dict[str, str]:
    return {r.kind.split("@")[0]: r.status for r in Reminder.objects.filter(case=case, kind__startswith="anticoag")}


def answer(coordinator: APIClient, case: Case, **changes: Any) -> Any:
    body = {"screening_answers": eligible_answers(**changes)}
    return coordinator.patch(f"{CASES}{case.pk}/", body, format="json")


def test_a_new_anticoagulant_after_booking_plans_its_hold_reminder_and_stopping_it_cancels_it(
    coordinator: APIClient, world: BookingWorld
) -> None:
    """Given a booked case with no anticoagulant, when pre-op assessment finds warfarin,
    then a 'stop warfarin' reminder is planned; when warfarin is taken off, it is cancelled."""
    case = booked_kyphoplasty(coordinator, world)
    assert hold_rows(case) == {}

    assert answer(coordinator, case, anticoagulants=["warfarin"]).status_code == 200
    assert hold_rows(case) == {"anticoagulant_hold:warfarin": ReminderStatus.PENDING}

    assert answer(coordinator, case, anticoagulants=[]).status_code == 200
    assert hold_rows(case) == {"anticoagulant_hold:warfarin": ReminderStatus.CANCELLED}


def test_new_contact_details_reach_the_reminders_still_to_come(coordinator: APIClient, world: BookingWorld) -> None:
    case = booked_kyphoplasty(coordinator, world, email="", phone="")
    assert not Reminder.objects.filter(case=case, status=ReminderStatus.PENDING).exists()
    response = coordinator.patch(
        f"/api/v1/patients/{case.patient_id}/",
        {"email": "found.at.preop@example.org", "reminder_channels": ["email"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    pending = Reminder.objects.filter(case=case, status=ReminderStatus.PENDING, channel="email")
    assert pending.filter(kind="preop_assessment").exists()


def test_a_case_screened_ineligible_after_booking_is_never_approved_confirmed_or_signed_in(
    coordinator: APIClient, coordinator_user: User, surgeon_user: User, anaesthetist_user: User, world: BookingWorld
) -> None:
    """Given a booked, approved and confirmed case, when an active infection is found,
    then the booking stands for the coordinator to decide, but approval, confirmation and sign in
    are refused with not_eligible."""
    case = booked_kyphoplasty(coordinator, world)
    plans.approve_plan(case_id=case.pk, actor=Actor.of(surgeon_user))
    plans.confirm_case(case_id=case.pk, actor=Actor.of(coordinator_user))

    response = answer(coordinator, case, active_infection=True)
    assert response.status_code == 200
    assert response.data["screening_result"]["result"] == "ineligible"
    assert response.data["status"] == "booked"  # the confirmation rested on a plan that changed

    attempt: Callable[[], Case]
    for attempt in (
        lambda: plans.approve_plan(case_id=case.pk, actor=Actor.of(surgeon_user)),
        lambda: plans.confirm_case(case_id=case.pk, actor=Actor.of(coordinator_user)),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        assert refused.value.code == "not_eligible"

    # Even a case still confirmed (say, written around the services) does not go into theatre.
    Case.objects.filter(pk=case.pk).update(status="confirmed")
    with pytest.raises(DomainError) as refused:
        checklist.record_phase(
            case_id=case.pk,
            phase="sign_in",
            items=PHASE_ITEMS["sign_in"],
            actor=Actor.of(anaesthetist_user),
            now=case.start,  # on the list's day: the refusal is the screening, not the date
        )
    assert refused.value.code == "not_eligible"
    case.refresh_from_db()
    assert case.status == "confirmed"
    assert not case.checklist.exists()
