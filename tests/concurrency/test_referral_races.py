"""The same referral delivered many times at once (an EPR's retries) lists the patient once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from core.roles import Role
from fhir.models import ReferralIdentifier
from scheduling.models import Case
from tests.builders.people import login
from tests.factories import PatientFactory, SurgeonFactory

PARALLEL = 12

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.timeout(240)]


def deliver(user: User, resource: dict[str, Any], results: list[tuple[int, str]], barrier: threading.Barrier) -> None:
    try:
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        response = client.post("/fhir/R4/ServiceRequest", resource, format="json")
        results.append((response.status_code, response.json().get("id", "")))
    finally:
        connection.close()


def test_a_referral_delivered_twelve_times_at_once_makes_one_case() -> None:
    user = login("epr-interface", Role.COORDINATOR)
    patient = PatientFactory()
    surgeon = SurgeonFactory()
    resource = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "https://epr.example.nhs.uk/Id/referral", "value": "RACE-1"}],
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "392010000"}]},
        "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": patient.nhs_number}},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "66794005"}]}],
        "performer": [{"reference": f"Practitioner/{surgeon.pk}"}],
    }
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(PARALLEL)
    threads = [threading.Thread(target=deliver, args=(user, resource, results, barrier)) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(code for code, _ in results) == Counter({201: 1, 200: PARALLEL - 1}), results
    assert len({ident for _, ident in results}) == 1
    assert Case.objects.filter(patient=patient).count() == 1
    assert ReferralIdentifier.objects.filter(value="RACE-1").count() == 1
