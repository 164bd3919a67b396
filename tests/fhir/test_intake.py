"""Referral intake: POST /fhir/R4/ServiceRequest puts a known patient on the waiting list once per
referral identifier, screening incomplete, audited; bad input names what is wrong and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import User

from core.models import AuditEntry
from fhir.models import ReferralIdentifier
from scheduling.models import Case, Patient
from tests.fhir.conftest import body, fhir_client
from theatre.models import StaffMember

pytestmark = pytest.mark.django_db

NHS = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
EPR = "https://epr.example-trust.nhs.uk/Id/referral"


def referral(patient: Patient, surgeon: StaffMember, *, ident: str = "REF-0001") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": EPR, "value": ident}],
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": SNOMED, "code": "392010000", "display": "Percutaneous vertebroplasty"}]},
        "subject": {"identifier": {"system": NHS, "value": patient.nhs_number}},
        "bodySite": [
            {"coding": [{"system": SNOMED, "code": "23215003"}]},
            {"coding": [{"system": SNOMED, "code": "66794005"}]},
        ],
        "performer": [{"reference": f"Practitioner/{surgeon.pk}"}],
        "authoredOn": "2026-11-30",
    }


@pytest.fixture
def sender(demo: dict[str, User]) -> Any:
    return fhir_client(demo["coordinator"])


@pytest.fixture
def who(demo: dict[str, User]) -> tuple[Patient, StaffMember]:
    patient = Patient.objects.order_by("id").first()
    surgeon = StaffMember.objects.filter(role="surgeon", active=True).order_by("id").first()
    assert patient is not None and surgeon is not None
    return patient, surgeon


def post(client: Any, resource: dict[str, Any]) -> Any:
    return client.post("/fhir/R4/ServiceRequest", resource, format="json")


def test_a_referral_becomes_one_waiting_case_and_a_resend_finds_it(
    sender: Any, who: tuple[Patient, StaffMember]
) -> None:
    patient, surgeon = who
    before = Case.objects.count()
    first = post(sender, referral(patient, surgeon))
    assert first.status_code == 201, first.content
    created = body(first)
    case = Case.objects.get(pk=created["id"])
    assert (case.patient_id, case.surgeon_id, case.procedure.slug) == (patient.pk, surgeon.pk, "vertebroplasty")
    assert (case.levels, case.priority, case.status, str(case.referral_date)) == (
        ["T12", "L1"],
        "P3",
        "waiting",
        "2026-11-30",
    )
    assert case.screening_result["result"] == "incomplete"
    assert created["status"] == "active" and created["priority"] == "urgent"
    assert {"system": EPR, "value": "REF-0001"} in created["identifier"]
    assert first["Location"].endswith(f"/fhir/R4/ServiceRequest/{case.pk}")
    assert AuditEntry.objects.filter(action="case.referral_received", object_id=str(case.pk)).count() == 1

    again = post(sender, referral(patient, surgeon))
    assert again.status_code == 200
    assert body(again)["id"] == created["id"]
    assert Case.objects.count() == before + 1
    found = body(sender.get(f"/fhir/R4/ServiceRequest?identifier={EPR}|REF-0001"))
    assert [e["resource"]["id"] for e in found["entry"]] == [created["id"]]


def test_a_referral_by_patient_reference_with_a_kyphoplasty_code_is_taken(
    sender: Any, who: tuple[Patient, StaffMember]
) -> None:
    patient, surgeon = who
    resource = referral(patient, surgeon, ident="REF-KP")
    resource["subject"] = {"reference": f"Patient/{patient.pk}"}
    resource["code"] = {
        "coding": [{"system": "http://example.org/local", "code": "x"}, {"system": SNOMED, "code": "429616001"}]
    }
    del resource["priority"]  # FHIR: absent means routine, our P4
    response = post(sender, resource)
    assert response.status_code == 201, response.content
    case = Case.objects.get(pk=body(response)["id"])
    assert (case.procedure.slug, case.priority) == ("kyphoplasty", "P4")


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        (lambda r: r["code"]["coding"][0].update(code="12345"), 422, "ServiceRequest.code"),
        (lambda r: r["bodySite"][1]["coding"][0].update(code="999"), 422, "ServiceRequest.bodySite[1]"),
        (lambda r: r["subject"]["identifier"].update(value="9999999999"), 422, "ServiceRequest.subject"),
        (
            lambda r: r["subject"]["identifier"].update(system="urn:other"),
            422,
            "ServiceRequest.subject.identifier.system",
        ),
        (lambda r: r.update(performer=[{"reference": "Practitioner/999999"}]), 400, "surgeon"),
        (lambda r: r.update(priority="whenever"), 422, "ServiceRequest.priority"),
        (lambda r: r.pop("identifier"), 400, "ServiceRequest.identifier"),
        (lambda r: r.update(bodySite=[]), 400, "ServiceRequest.bodySite"),
        (lambda r: r.update(status="draft"), 400, "ServiceRequest.status"),
        (lambda r: r.update(resourceType="Patient"), 400, "ServiceRequest.resourceType"),
        (lambda r: r.update(authoredOn="2026-11-30T10:00:00"), 400, "ServiceRequest.authoredOn"),
        (lambda r: r.update(subject="Patient/1"), 400, "ServiceRequest.subject"),
    ],
)
def test_bad_referrals_are_refused_naming_what_is_wrong_and_change_nothing(
    sender: Any, who: tuple[Patient, StaffMember], change: Any, status: int, named: str
) -> None:
    patient, surgeon = who
    resource = copy.deepcopy(referral(patient, surgeon, ident="REF-BAD"))
    change(resource)
    cases, audit = Case.objects.count(), AuditEntry.objects.count()
    response = post(sender, resource)
    assert response.status_code == status, response.content
    outcome = body(response)
    assert outcome["resourceType"] == "OperationOutcome"
    assert named in outcome["issue"][0].get("expression", []), outcome
    assert patient.nhs_number not in response.content.decode()
    assert (Case.objects.count(), AuditEntry.objects.count()) == (cases, audit)
    assert not ReferralIdentifier.objects.filter(value="REF-BAD").exists()


def test_an_unknown_code_is_named_in_the_outcome(sender: Any, who: tuple[Patient, StaffMember]) -> None:
    resource = referral(*who, ident="REF-CODE")
    resource["code"]["coding"][0]["code"] = "12345"
    outcome = body(post(sender, resource))
    assert "http://snomed.info/sct|12345" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("raw", ["{not json", "[" * 100_000, b"\xff\xfe{}"])
def test_a_body_that_is_not_json_is_a_400_outcome(sender: Any, raw: str | bytes) -> None:
    response = sender.post("/fhir/R4/ServiceRequest", raw, content_type="application/fhir+json")
    assert response.status_code == 400
    assert body(response)["issue"][0]["code"] == "structure"
