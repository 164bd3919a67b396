"""Estate changes look at booked cases (issue 16): removing a capability that future cases need, or
deactivating a theatre, a surgeon, an anaesthetist or an equipment unit they depend on, or changing
a unit's kind, is refused with 409 naming the cases (no patient identifiers); with an explicit
override and a reason it is carried out, and each affected case is flagged for the coordinator (a
warning on the case, audited, which a coordinator clears) and the coordinators get a staff notice.
Through the API and the admin alike (both save through theatre/estate.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS
from django.test import Client
from rest_framework.test import APIClient

from core.audit import Actor, history
from scheduling.booking import book_case
from scheduling.models import Case, CaseStatus, CaseWarning, StaffNotice
from scheduling.reminders.delivery import render_notice
from tests.api.error_ledger import served_schema
from tests.builders.world import BookingWorld, at, build_booking_world
from tests.factories import PatientFactory, StaffMemberFactory
from theatre.models import EquipmentUnit, StaffMember, Theatre

pytestmark = pytest.mark.django_db

PATIENT = {"given_name": "Euphemia", "family_name": "Quarrendon", "nhs_number": "9434765870"}


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


@pytest.fixture
def booked(world: BookingWorld, coordinator_user: User) -> Case:
    """A case booked at 09:00 on the world's list (Monday 4 January 2027), needing fluoroscopy and a C-arm."""
    case = world.case(patient=PatientFactory(**PATIENT))
    return book_case(case_id=case.pk, session_id=world.session.pk, start=at(9), actor=Actor.of(coordinator_user))


@pytest.fixture
def coordinator_staff() -> StaffMember:
    """The coordinator as a staff member with an email: who the estate notices go to."""
    return StaffMemberFactory(name="Theatre Coordinator", role="coordinator", email="coordinator@hospital.example")


def patch(client: APIClient, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, body, format="json")


def assert_refused_naming(response: Any, case: Case, reason_words: str) -> None:
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "affects_booked_cases"
    [named] = body["cases"]
    assert (named["id"], named["reference"], named["session"]) == (case.pk, case.reference, case.session_id)
    assert reason_words in named["reason"]
    assert case.reference in body["detail"]
    text = response.content.decode()
    for identifier in PATIENT.values():
        assert identifier not in text  # no patient data in the error


# --- Refused, naming the cases ---------------------------------------------------------------------


def test_removing_a_capability_a_booked_case_needs_is_refused(
    world: BookingWorld, booked: Case, coordinator: APIClient
) -> None:
    response = patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", {"capabilities": ["laminar_flow"]})
    assert_refused_naming(response, booked, "needs fluoroscopy")
    world.theatre.refresh_from_db()
    assert "fluoroscopy" in world.theatre.capabilities
    assert not history(world.theatre).exists()


def test_removing_a_capability_no_case_needs_goes_ahead(
    world: BookingWorld, booked: Case, coordinator: APIClient
) -> None:
    response = patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", {"capabilities": ["fluoroscopy"]})
    assert response.status_code == 200
    assert not CaseWarning.objects.exists()


@pytest.mark.parametrize(
    ("resource", "target", "reason_words"),
    [
        ("theatres", "theatre", "deactivated"),
        ("staff", "surgeon", "surgeon"),
        ("staff", "anaesthetist", "anaesthetist"),
        ("equipment", "unit", "deactivated"),
    ],
)
def test_deactivating_what_a_booked_case_depends_on_is_refused(
    world: BookingWorld, booked: Case, coordinator: APIClient, resource: str, target: str, reason_words: str
) -> None:
    obj = world.units[0] if target == "unit" else getattr(world, target)
    response = patch(coordinator, f"/api/v1/{resource}/{obj.pk}/", {"active": False})
    assert_refused_naming(response, booked, reason_words)
    obj.refresh_from_db()
    assert obj.active is True


def test_changing_the_kind_of_a_claimed_unit_is_refused(
    world: BookingWorld, booked: Case, coordinator: APIClient
) -> None:
    response = patch(coordinator, f"/api/v1/equipment/{world.units[0].pk}/", {"kind": "kyphoplasty_system"})
    assert_refused_naming(response, booked, "C-arm")
    assert EquipmentUnit.objects.get(pk=world.units[0].pk).kind == "c_arm"


def test_only_cases_still_ahead_count(world: BookingWorld, coordinator: APIClient, coordinator_user: User) -> None:
    """A case on last year's list (history) does not hold the theatre: it may be deactivated."""
    past = world.session_on(dt.date(2025, 1, 6))
    case = world.case()
    book_case(
        case_id=case.pk,
        session_id=past.pk,
        start=past.start,
        actor=Actor.of(coordinator_user),
        now=past.start - dt.timedelta(days=1),
    )
    assert patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", {"active": False}).status_code == 200


def test_a_cancelled_case_does_not_hold_anything(world: BookingWorld, booked: Case, coordinator: APIClient) -> None:
    assert coordinator.post(f"/api/v1/cases/{booked.pk}/cancel/", {"reason": "patient_request"}).status_code == 200
    assert patch(coordinator, f"/api/v1/equipment/{world.units[0].pk}/", {"active": False}).status_code == 200


# --- Carried out by override, and flagged ----------------------------------------------------------


def test_an_override_needs_a_reason(world: BookingWorld, booked: Case, coordinator: APIClient) -> None:
    response = patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", {"active": False, "override": True})
    assert response.status_code == 400
    assert "override_reason" in response.json()["errors"]
    assert Theatre.objects.get(pk=world.theatre.pk).active is True


def test_an_override_makes_the_change_and_flags_each_case_for_the_coordinators(
    world: BookingWorld,
    booked: Case,
    coordinator: APIClient,
    coordinator_user: User,
    coordinator_staff: StaffMember,
) -> None:
    """Given a booked case that needs fluoroscopy, when a coordinator removes it from the theatre with
    an override and a reason, then the theatre changes, the case carries a warning (kind, detail with
    the reason) in the API, both writes are audited, and the coordinators get a notice about the list."""
    body = {"capabilities": ["laminar_flow"], "override": True, "override_reason": "C-arm room out of service"}
    response = patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", body)
    assert response.status_code == 200
    assert response.json()["capabilities"] == ["laminar_flow"]
    assert "override" not in response.json()  # write-only

    [warning] = coordinator.get(f"/api/v1/cases/{booked.pk}/").json()["warnings"]
    assert warning["kind"] == "capability_removed"
    assert "needs fluoroscopy" in warning["detail"] and "C-arm room out of service" in warning["detail"]
    assert warning["created_by"] == f"user:{coordinator_user.username}"

    theatre_entry = history(world.theatre).get(action="theatre.updated")
    assert theatre_entry.reason == "override: C-arm room out of service"
    case_entry = history(booked).get(action="case.warning_raised")
    assert case_entry.actor_label == f"user:{coordinator_user.username}"

    notice = StaffNotice.objects.get(staff=coordinator_staff, session=world.session, status="pending")
    assert [c["change"] for c in notice.changes] == ["case_flagged"]
    message = render_notice(notice)
    assert booked.reference in message.body and "needs fluoroscopy" in message.body
    assert message.body.splitlines()[2].startswith("The list in")  # not "Your list": they do not work on it
    for identifier in PATIENT.values():
        assert identifier not in message.body
    booked.refresh_from_db()
    assert booked.status == CaseStatus.BOOKED  # flagged, not moved: the coordinator decides


@pytest.mark.parametrize(
    ("resource", "target", "change", "kind"),
    [
        ("theatres", "theatre", {"active": False}, "theatre_deactivated"),
        ("staff", "surgeon", {"active": False}, "staff_deactivated"),
        ("staff", "anaesthetist", {"active": False}, "staff_deactivated"),
        ("equipment", "unit", {"active": False}, "unit_deactivated"),
        ("equipment", "unit", {"kind": "biplanar_c_arm"}, "unit_kind_changed"),
    ],
)
def test_every_overridden_change_flags_the_case_with_its_kind(
    world: BookingWorld,
    booked: Case,
    coordinator: APIClient,
    resource: str,
    target: str,
    change: dict[str, Any],
    kind: str,
) -> None:
    obj = world.units[0] if target == "unit" else getattr(world, target)
    body = {**change, "override": True, "override_reason": "planned maintenance"}
    assert patch(coordinator, f"/api/v1/{resource}/{obj.pk}/", body).status_code == 200
    assert list(CaseWarning.objects.filter(case=booked).values_list("kind", flat=True)) == [kind]


def test_a_coordinator_clears_a_warning_with_a_note_audited(
    world: BookingWorld, booked: Case, coordinator: APIClient, coordinator_user: User, surgeon: APIClient
) -> None:
    body = {"active": False, "override": True, "override_reason": "ventilation fault"}
    assert patch(coordinator, f"/api/v1/theatres/{world.theatre.pk}/", body).status_code == 200
    warning = CaseWarning.objects.get(case=booked)
    url = f"/api/v1/cases/{booked.pk}/warnings/clear/"

    assert surgeon.post(url, {"warning": warning.pk}, format="json").status_code == 403
    cleared = coordinator.post(url, {"warning": warning.pk, "note": "moved to theatre 2"}, format="json")

    assert cleared.status_code == 200
    assert cleared.json()["warnings"] == []
    warning.refresh_from_db()
    assert warning.cleared_at is not None and warning.cleared_note == "moved to theatre 2"
    entry = history(booked).get(action="case.warning_cleared")
    assert (entry.actor_label, entry.reason) == (f"user:{coordinator_user.username}", "moved to theatre 2")
    again = coordinator.post(url, {"warning": warning.pk}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


def test_the_openapi_documents_the_override_fields() -> None:
    schema = served_schema()
    for component in ("PatchedTheatreRequest", "PatchedEquipmentUnitRequest", "PatchedStaffMemberRequest"):
        properties = schema["components"]["schemas"][component]["properties"]
        assert properties["override"]["type"] == "boolean"
        assert "flagged" in properties["override"]["description"]
        assert "override=true" in properties["override_reason"]["description"]


# --- The admin saves through the same service ------------------------------------------------------


def unit_form(unit: EquipmentUnit, **overrides: object) -> dict[str, object]:
    fields = {"site": unit.site_id, "kind": unit.kind, "name": unit.name, "serial": unit.serial, "active": "on"}
    return {**fields, **overrides}


def test_the_admin_refuses_deactivating_a_claimed_unit_on_the_form(
    world: BookingWorld, booked: Case, admin_client_: Client
) -> None:
    unit = world.units[0]
    data = unit_form(unit)
    del data["active"]  # unticked
    response = admin_client_.post(f"/admin/theatre/equipmentunit/{unit.pk}/change/", data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors[NON_FIELD_ERRORS]
    assert error.startswith("affects_booked_cases:") and booked.reference in error
    assert EquipmentUnit.objects.get(pk=unit.pk).active is True


def test_the_admin_override_makes_the_change_and_flags_the_case(
    world: BookingWorld, booked: Case, admin_client_: Client
) -> None:
    unit = world.units[0]
    data = unit_form(unit, override="on", override_reason="sent for repair")
    del data["active"]
    response = admin_client_.post(f"/admin/theatre/equipmentunit/{unit.pk}/change/", data)
    assert response.status_code == 302
    assert EquipmentUnit.objects.get(pk=unit.pk).active is False
    [warning] = CaseWarning.objects.filter(case=booked)
    assert warning.kind == "unit_deactivated" and "sent for repair" in warning.detail
    assert history(unit).get().reason == "admin; override: sent for repair"
