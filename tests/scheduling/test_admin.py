"""The scheduling admin saves patients and cases through scheduling.cases, as the API does: the
NHS number is checked, new contact details reach the reminders still to come, and a closed case
is not edited behind the services' back."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.audit import Actor, history
from core.models import AuditEntry
from procedures.estimates import estimate, estimate_rules_of
from scheduling.booking import book_case
from scheduling.models import Case, Patient, Reminder, ReminderStatus
from tests.builders.world import BookingWorld, at, build_booking_world
from tests.factories import PatientFactory, valid_nhs_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


def patient_data(patient: Patient, **overrides: Any) -> dict[str, Any]:
    return {
        "nhs_number": patient.nhs_number,
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "address": patient.address,
        "reminder_channels": json.dumps(patient.reminder_channels),
        **overrides,
    }


def booked_case(world: BookingWorld, coordinator_user: User, patient: Patient) -> Case:
    """A booked case whose stored estimate is the template's, so re-assessing it changes nothing."""
    minutes = estimate(rules=estimate_rules_of(world.version), levels=["L1"], anaesthesia="general").total_minutes
    case = world.case(patient=patient, levels=["L1"], anaesthesia="general", estimated_minutes=minutes)
    return book_case(case_id=case.pk, session_id=world.session.pk, start=at(8), actor=Actor.of(coordinator_user))


def test_new_contact_details_in_the_admin_reach_the_reminders_still_to_come(
    admin_client_: Client, coordinator_user: User, world: BookingWorld
) -> None:
    """Given a booked patient without contact details (so no reminders), when the admin records an
    email address and the email channel, then the case's reminders are re-planned, as in the API."""
    patient = PatientFactory(email="", phone="", reminder_channels=["email"])
    case = booked_case(world, coordinator_user, patient)
    assert not Reminder.objects.filter(case=case, status=ReminderStatus.PENDING).exists()

    response = admin_client_.post(
        f"/admin/scheduling/patient/{patient.pk}/change/", patient_data(patient, email="found.at.preop@example.org")
    )

    assert response.status_code == 302
    pending = Reminder.objects.filter(case=case, status=ReminderStatus.PENDING, channel="email")
    assert pending.filter(kind="preop_assessment").exists()
    updated: Any  # before/after are JSON
    (updated,) = history(patient)
    assert (updated.action, updated.after["email"]) == ("patient.updated", "found.at.preop@example.org")
    assert history(case).filter(action="case.reminders_planned", actor_label="user:root").exists()


def test_admin_refuses_an_invalid_nhs_number_with_the_services_message(admin_client_: Client) -> None:
    patient = PatientFactory()
    bad = patient.nhs_number[:-1] + str((int(patient.nhs_number[-1]) + 1) % 10)
    response = admin_client_.post(
        f"/admin/scheduling/patient/{patient.pk}/change/", patient_data(patient, nhs_number=bad, given_name="Renamed")
    )
    assert response.status_code == 200
    message = "Not a valid NHS number: the check digit (modulus 11) does not match."
    assert message in response.context["adminform"].form.errors["nhs_number"]
    assert html.escape(message) in response.content.decode()
    patient.refresh_from_db()
    assert patient.given_name != "Renamed"
    assert not history(patient).exists()


def test_admin_creates_a_patient_through_the_service(admin_client_: Client) -> None:
    template = PatientFactory.build(nhs_number=valid_nhs_number(9001), mrn="MRN-ADMIN")
    response = admin_client_.post("/admin/scheduling/patient/add/", patient_data(template))
    assert response.status_code == 302
    patient = Patient.objects.get(mrn="MRN-ADMIN")
    assert [e.action for e in history(patient)] == ["patient.created"]


def test_admin_refuses_a_duplicate_nhs_number_with_the_services_message(admin_client_: Client) -> None:
    existing = PatientFactory()
    template = PatientFactory.build(nhs_number=existing.nhs_number, mrn="MRN-TWIN")
    response = admin_client_.post("/admin/scheduling/patient/add/", patient_data(template))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["nhs_number"] == ["A patient with this NHS number already exists."]
    assert not Patient.objects.filter(mrn="MRN-TWIN").exists()


def case_data(case: Case, **overrides: Any) -> dict[str, Any]:
    """The case form as the admin page sends it, with the read-only inline of claimed units."""
    fields = {"priority": case.priority, "referral_date": case.referral_date.isoformat(), "notes": case.notes}
    claims = list(case.equipment_claims.values_list("pk", flat=True))
    inline = {
        "equipment_claims-TOTAL_FORMS": len(claims),
        "equipment_claims-INITIAL_FORMS": len(claims),
        "equipment_claims-MIN_NUM_FORMS": 0,
        "equipment_claims-MAX_NUM_FORMS": 1000,
    }
    for n, pk in enumerate(claims):
        inline |= {f"equipment_claims-{n}-id": pk, f"equipment_claims-{n}-case": case.pk}
    return {**fields, **inline, **overrides}


def test_admin_priority_change_goes_through_update_case(
    admin_client_: Client, coordinator_user: User, world: BookingWorld
) -> None:
    case = booked_case(world, coordinator_user, PatientFactory())
    before = set(history(case).values_list("id", flat=True))
    response = admin_client_.post(f"/admin/scheduling/case/{case.pk}/change/", case_data(case, priority="P1"))
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.priority == "P1"
    new: list[Any] = list(history(case).exclude(id__in=before).order_by("id"))  # before/after are JSON
    # A booked case's reminders follow any change to it; the change itself is audited once.
    assert [e.action for e in new] == ["case.reminders_planned", "case.updated"]
    assert new[-1].after["priority"] == "P1"


def test_admin_cannot_edit_a_cancelled_case(admin_client_: Client, world: BookingWorld) -> None:
    case = world.case(status="cancelled", cancel_reason="patient_declined")
    response = admin_client_.post(f"/admin/scheduling/case/{case.pk}/change/", case_data(case, priority="P1"))
    assert response.status_code == 200
    message = "invalid_transition: A cancelled case can no longer be changed."
    assert message in response.context["adminform"].form.errors["__all__"]
    assert Case.objects.get(pk=case.pk).priority == case.priority
    assert not AuditEntry.objects.filter(action="case.updated").exists()


def test_admin_patient_search_posts_its_term_and_never_puts_it_in_a_url(admin_client_: Client) -> None:
    wanted = PatientFactory(family_name="Quarrington")
    PatientFactory(family_name="Other")
    url = "/admin/scheduling/patient/"
    posted = admin_client_.post(url, {"patient_search": wanted.nhs_number})
    assert posted.status_code == 302
    assert posted["Location"] == url
    listing = admin_client_.get(url)
    assert list(listing.context["cl"].result_list) == [wanted]
    assert 'method="post"' in listing.content.decode()
    # A term in the URL is not run: the page redirects to the plain list.
    typed = admin_client_.get(url, {"q": wanted.nhs_number})
    assert (typed.status_code, typed["Location"]) == (302, url)
