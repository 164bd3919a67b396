"""POST /cases/{id}/book|move|cancel/: thin views over the booking services."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEntry
from scheduling.models import Case, CaseEquipment
from tests.builders.world import BookingWorld, at, build_booking_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> BookingWorld:
    return build_booking_world()


def url(case: Case, verb: str) -> str:
    return f"/api/v1/cases/{case.pk}/{verb}/"


def test_book_returns_the_case_with_its_slot_and_units(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case(estimated_minutes=45)
    response = coordinator.post(url(case, "book"), {"session": world.session.pk, "start": "2027-01-04T09:00:00+00:00"})
    assert response.status_code == 200, response.data
    body = response.data
    assert (body["status"], body["session"]) == ("booked", world.session.pk)
    assert body["start"].startswith("2027-01-04T09:00:00")
    assert body["end"].startswith("2027-01-04T09:45:00")
    assert body["equipment"] == [
        {"id": world.units[0].pk, "kind": "c_arm", "name": world.units[0].name, "serial": world.units[0].serial}
    ]


def test_book_without_start_takes_the_earliest_time(coordinator: APIClient, world: BookingWorld) -> None:
    response = coordinator.post(url(world.case(), "book"), {"session": world.session.pk})
    assert response.data["start"].startswith("2027-01-04T08:00:00")


def test_broken_rule_is_409_with_code_and_leaves_no_trace(coordinator: APIClient, world: BookingWorld) -> None:
    coordinator.post(url(world.case(), "book"), {"session": world.session.pk, "start": at(9).isoformat()})
    audit_rows = AuditEntry.objects.count()
    late = world.case()
    response = coordinator.post(url(late, "book"), {"session": world.session.pk, "start": at(9, 15).isoformat()})
    assert response.status_code == 409
    assert response.data["code"] == "slot_taken"
    assert AuditEntry.objects.count() == audit_rows
    late.refresh_from_db()
    assert late.status == "waiting"
    assert not CaseEquipment.objects.filter(case=late).exists()


def test_unknown_case_or_session_is_404(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case()
    assert coordinator.post("/api/v1/cases/999999/book/", {"session": world.session.pk}).status_code == 404
    assert coordinator.post(url(case, "book"), {"session": 999999}).status_code == 404
    assert coordinator.post("/api/v1/cases/999999/cancel/", {"reason": "clinical"}).status_code == 404


def test_naive_start_is_400(coordinator: APIClient, world: BookingWorld) -> None:
    response = coordinator.post(
        url(world.case(), "book"), {"session": world.session.pk, "start": "2027-01-04T09:00:00"}
    )
    assert response.status_code == 400
    assert "start" in response.data["errors"]


def test_idempotency_key_replays_the_first_response(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case()
    body = {"session": world.session.pk, "start": at(9).isoformat()}
    first = coordinator.post(url(case, "book"), body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = coordinator.post(url(case, "book"), body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert again.data == first.data
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.filter(action="case.booked").count() == 1


def test_idempotency_key_with_another_body_is_409(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case()
    coordinator.post(
        url(case, "book"), {"session": world.session.pk, "start": at(9).isoformat()}, HTTP_IDEMPOTENCY_KEY="k"
    )
    response = coordinator.post(
        url(case, "book"), {"session": world.session.pk, "start": at(10).isoformat()}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 409
    assert response.data["code"] == "idempotency_key_reused"


def test_move_and_cancel_through_the_api(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case()
    coordinator.post(url(case, "book"), {"session": world.session.pk, "start": at(9).isoformat()})
    moved = coordinator.post(url(case, "move"), {"session": world.session.pk, "start": at(11).isoformat()})
    assert moved.status_code == 200
    assert moved.data["start"].startswith("2027-01-04T11:00:00")
    cancelled = coordinator.post(url(case, "cancel"), {"reason": "patient_request", "note": "moving away"})
    assert cancelled.status_code == 200
    assert (cancelled.data["status"], cancelled.data["equipment"]) == ("cancelled", [])
    assert cancelled.data["cancel_reason"] == "patient_request"


def test_cancel_without_a_reason_is_400(coordinator: APIClient, world: BookingWorld) -> None:
    response = coordinator.post(url(world.case(), "cancel"), {})
    assert response.status_code == 400
    assert "reason" in response.data["errors"]


def test_booking_a_cancelled_case_is_invalid_transition(coordinator: APIClient, world: BookingWorld) -> None:
    case = world.case(status="cancelled")
    response = coordinator.post(url(case, "book"), {"session": world.session.pk})
    assert (response.status_code, response.data["code"]) == (409, "invalid_transition")


@pytest.mark.parametrize("client_name", ["surgeon", "anaesthetist", "viewer"])
def test_only_coordinators_book(request: pytest.FixtureRequest, client_name: str, world: BookingWorld) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    case = world.case()
    assert client.post(url(case, "book"), {"session": world.session.pk}).status_code == 403
    assert client.post(url(case, "cancel"), {"reason": "clinical"}).status_code == 403
