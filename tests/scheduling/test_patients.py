"""/patients/: validated, unique NHS numbers; coordinators write; viewers never see identifiers."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import history
from scheduling.models import Patient
from tests.api.error_ledger import breaches
from tests.factories import CaseFactory, PatientFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/patients/"


def payload(**overrides: Any) -> dict[str, Any]:
    data = {
        "nhs_number": "943 476 5919",
        "mrn": "RX1234567",
        "given_name": "Edith",
        "family_name": "Crawley",
        "date_of_birth": "1941-03-09",
        "email": "edith@example.org",
        "phone": "+447700900456",
        "reminder_channels": ["sms", "email"],
    }
    data.update(overrides)
    return data


def test_coordinator_creates_patient_with_normalised_nhs_number(coordinator: APIClient) -> None:
    response = coordinator.post(URL, payload(), format="json")
    assert response.status_code == 201, response.data
    assert response.data["nhs_number"] == "9434765919"
    patient = Patient.objects.get(pk=response.data["id"])
    entry: Any  # before/after are JSON
    (entry,) = history(patient)
    assert (entry.action, entry.actor_label, entry.after["nhs_number"]) == (
        "patient.created",
        "user:coord",
        "9434765919",
    )


def test_a_patient_without_email_or_phone_reads_back_blank_as_the_schema_allows(coordinator: APIClient) -> None:
    """A blank email is "" (not an address): the schema must not promise `format: email` for it
    (the staff UI's new-patient form found this through the contract check)."""
    created = coordinator.post(URL, payload(email="", phone="", reminder_channels=[]), format="json")
    assert created.status_code == 201, created.content
    read = coordinator.get(f"{URL}{created.data['id']}/")
    assert (read.data["email"], read.data["phone"]) == ("", "")
    assert breaches("POST", URL, created) == []
    assert breaches("GET", f"{URL}{created.data['id']}/", read) == []


@pytest.mark.parametrize("bad", ["9434765918", "943476591", "94347659190", "ABCDEFGHIJ"])
def test_invalid_nhs_number_is_400_on_the_field(coordinator: APIClient, bad: str) -> None:
    response = coordinator.post(URL, payload(nhs_number=bad), format="json")
    assert response.status_code == 400
    assert "nhs_number" in response.data["errors"]
    assert not Patient.objects.exists()


def test_duplicate_nhs_number_is_refused_with_a_clear_code(coordinator: APIClient) -> None:
    assert coordinator.post(URL, payload(), format="json").status_code == 201
    response = coordinator.post(URL, payload(mrn="OTHER1"), format="json")
    assert response.status_code == 400
    assert response.data["code"] == "duplicate_nhs_number"
    assert "nhs_number" in response.data["errors"]


def test_reminder_channels_must_be_known_and_reachable(coordinator: APIClient) -> None:
    unknown = coordinator.post(URL, payload(reminder_channels=["pigeon"]), format="json")
    unreachable = coordinator.post(URL, payload(phone="", reminder_channels=["sms"]), format="json")
    assert unknown.status_code == unreachable.status_code == 400
    assert "reminder_channels" in unknown.data["errors"]
    assert "reminder_channels" in unreachable.data["errors"]


def test_coordinator_updates_patient_and_the_change_is_audited(coordinator: APIClient) -> None:
    patient = PatientFactory()
    response = coordinator.patch(f"{URL}{patient.pk}/", {"phone": "+447700900999"}, format="json")
    assert response.status_code == 200
    entry: Any = history(patient).get(action="patient.updated")
    assert entry.before["phone"] == "+447700900123"
    assert entry.after["phone"] == "+447700900999"


def test_update_to_an_invalid_nhs_number_is_400(coordinator: APIClient) -> None:
    patient = PatientFactory()
    response = coordinator.patch(f"{URL}{patient.pk}/", {"nhs_number": "1234567890"}, format="json")
    assert response.status_code == 400
    assert "nhs_number" in response.data["errors"]


def test_patient_with_cases_cannot_be_deleted(coordinator: APIClient) -> None:
    case = CaseFactory()
    lonely = PatientFactory()
    assert coordinator.delete(f"{URL}{case.patient_id}/").status_code == 409
    assert coordinator.delete(f"{URL}{lonely.pk}/").status_code == 204
    assert Patient.objects.filter(pk=case.patient_id).exists()


@pytest.mark.parametrize("client_name", ["surgeon", "anaesthetist", "viewer"])
def test_only_coordinators_write_patients(request: pytest.FixtureRequest, client_name: str) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    patient = PatientFactory()
    assert client.post(URL, payload(), format="json").status_code == 403
    assert client.patch(f"{URL}{patient.pk}/", {"phone": "+447700900000"}, format="json").status_code == 403
    assert client.delete(f"{URL}{patient.pk}/").status_code == 403


def test_clinicians_read_identifiers(surgeon: APIClient) -> None:
    patient = PatientFactory()
    body = surgeon.get(f"{URL}{patient.pk}/").data
    assert body["nhs_number"] == patient.nhs_number
    assert body["family_name"] == patient.family_name


def test_viewer_sees_no_patient_identifiers(viewer: APIClient) -> None:
    patient = PatientFactory()
    listed = viewer.get(URL).data["results"]
    detail = viewer.get(f"{URL}{patient.pk}/").data
    for body in (listed[0], detail):
        assert body["id"] == patient.pk
        for field in ("nhs_number", "mrn", "given_name", "family_name", "date_of_birth", "email", "phone", "address"):
            assert field not in body


def test_unauthenticated_and_roleless_users_are_refused(anon_client: APIClient) -> None:
    assert anon_client.get(URL).status_code in (401, 403)


@pytest.mark.parametrize("count", [3, 30])
def test_patient_list_uses_constant_queries(
    coordinator: APIClient, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    PatientFactory.create_batch(count)
    # 1 role lookup, 1 count, 1 page
    with django_assert_num_queries(3):
        assert len(coordinator.get(URL).data["results"]) == count
