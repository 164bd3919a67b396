"""Hostile or absurd input gets a 4xx with a machine-readable code, never a 500, and changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from scheduling.models import Patient
from tests.factories import CaseFactory, StaffMemberFactory, TheatreFactory, TheatreSessionFactory, valid_nhs_number
from theatre.models import StaffMember, TheatreSession

pytestmark = pytest.mark.django_db


def test_json_nested_thousands_deep_is_400_not_500(viewer: APIClient) -> None:
    response = viewer.post("/api/v1/procedures/kyphoplasty/screen/", "[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    "params",
    [
        {"date_to": "9999-12-31"},
        {"date_from": "9999-12-31"},
    ],
)
def test_dates_at_the_end_of_the_calendar_never_give_a_500(coordinator: APIClient, params: dict[str, str]) -> None:
    """An empty answer or a 4xx with a code are both fine; a crash is not."""
    for url in ("/api/v1/sessions/", "/api/v1/availability/?procedure=kyphoplasty&levels=T12&surgeon=1"):
        response = coordinator.get(url, params)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code >= 400:
            assert "code" in response.json()


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-30T08:00:00+00:00", "9999-12-30T13:00:00+00:00", "start"),
        ("2027-01-04T08:00:00+00:00", "9999-12-31T23:59:59+00:00", "end"),  # would block the surgeon for ever
    ],
)
def test_a_list_far_in_the_future_or_endless_is_refused(
    coordinator: APIClient, start: str, end: str, field: str
) -> None:
    theatre = TheatreFactory()
    surgeon = StaffMemberFactory(role="surgeon")
    body = {"theatre": theatre.pk, "start": start, "end": end, "surgeon": surgeon.pk}
    response = coordinator.post("/api/v1/sessions/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not TheatreSession.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "+" + "1" * 20), ("email", "a" * 250 + "@example.org")],
)
def test_contact_details_longer_than_the_record_holds_are_400(coordinator: APIClient, field: str, value: str) -> None:
    body = {
        "nhs_number": valid_nhs_number(777),
        "mrn": "MRN-HOSTILE",
        "given_name": "Ada",
        "family_name": "Quarrington",
        "date_of_birth": "1950-01-01",
        field: value,
    }
    response = coordinator.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Patient.objects.exists()


def test_only_an_admin_links_a_login_to_a_staff_member(
    coordinator: APIClient, admin: APIClient, surgeon_user: User
) -> None:
    """Whose login approves a surgeon's plans is a clinical identity, not an estate detail."""
    staff = StaffMemberFactory(role="surgeon")
    refused = coordinator.patch(f"/api/v1/staff/{staff.pk}/", {"user": surgeon_user.pk}, format="json")
    assert refused.status_code == 403
    staff.refresh_from_db()
    assert staff.user_id is None
    assert admin.patch(f"/api/v1/staff/{staff.pk}/", {"user": surgeon_user.pk}, format="json").status_code == 200
    # The coordinator still edits the rest of the record.
    assert coordinator.patch(f"/api/v1/staff/{staff.pk}/", {"phone": "0113 496 0001"}, format="json").status_code == 200


def test_a_login_already_linked_elsewhere_is_400_not_500(admin: APIClient, surgeon_user: User) -> None:
    StaffMemberFactory(role="surgeon", user=surgeon_user)
    other = StaffMemberFactory(role="surgeon")
    response = admin.patch(f"/api/v1/staff/{other.pk}/", {"user": surgeon_user.pk}, format="json")
    assert response.status_code == 400
    assert "user" in response.json()["errors"]
    assert StaffMember.objects.filter(user=surgeon_user).count() == 1


def test_booking_at_the_end_of_the_calendar_is_400_not_500(coordinator: APIClient) -> None:
    session = TheatreSessionFactory()
    case = CaseFactory()
    response = coordinator.post(
        f"/api/v1/cases/{case.pk}/book/", {"session": session.pk, "start": "9999-12-31T23:30:00+00:00"}, format="json"
    )
    assert 400 <= response.status_code < 500
    assert "code" in response.json()
    case.refresh_from_db()
    assert case.status == "waiting"
