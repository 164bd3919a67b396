"""Every resource type and every search the facade serves, over the whole demo, validated against
fhir.resources' R4B models (resource by resource, Bundle by Bundle), and read back by id."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from fhir.api.registry import TYPES
from scheduling.models import Case, Patient
from tests.fhir.conftest import body, fhir_client
from theatre.models import StaffMember, Theatre

pytestmark = pytest.mark.django_db

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def searches(demo_patient: Patient, surgeon: StaffMember, theatre: Theatre) -> list[str]:
    today = timezone.localdate()
    start, end = (today - dt.timedelta(days=50)).isoformat(), (today + dt.timedelta(days=12)).isoformat()
    return [
        "Patient",
        f"Patient?identifier={quote(NHS)}|{demo_patient.nhs_number}",
        f"Patient?identifier={demo_patient.mrn}",
        "Practitioner",
        "Practitioner?active=true",
        "Location",
        "Schedule",
        f"Schedule?actor=Location/theatre-{theatre.pk}",
        f"Slot?start=ge{start}&start=lt{end}",
        f"Slot?schedule=Schedule/{theatre.pk}&start=ge{start}&start=lt{end}&status=free",
        f"Slot?schedule={theatre.pk}&start=ge{start}&start=lt{end}&status=busy,busy-unavailable",
        f"Appointment?date=ge{start}&date=lt{end}",
        f"Appointment?date=ge{start}&date=lt{end}&status=booked,pending",
        f"Appointment?patient=Patient/{demo_patient.pk}",
        f"Appointment?practitioner=Practitioner/{surgeon.pk}&status=fulfilled",
        "Appointment?status=cancelled",
        "ServiceRequest?status=active",
        "ServiceRequest?status=completed,revoked",
        f"ServiceRequest?patient={demo_patient.pk}",
        "Procedure",
        "Procedure?status=completed",
    ]


def walk(client: Any, url: str) -> list[dict[str, Any]]:
    """Every resource of a search, following `next` links, each Bundle validated."""
    found: list[dict[str, Any]] = []
    next_url: str | None = f"/fhir/R4/{url}{'&' if '?' in url else '?'}_count=40"
    while next_url:
        bundle = body(client.get(next_url))
        assert bundle["type"] == "searchset"
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        next_url = links.get("next")
        if next_url is None:
            assert len(found) == bundle["total"], url
    return found


def test_every_resource_of_every_search_in_the_demo_validates_and_reads_back(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    patient = Patient.objects.filter(cases__status="completed").first()
    assert patient is not None
    surgeon = StaffMember.objects.filter(role="surgeon", led_sessions__isnull=False).first()
    assert surgeon is not None
    theatre = Theatre.objects.first()
    assert theatre is not None
    seen: dict[str, set[str]] = {}
    for url in searches(patient, surgeon, theatre):
        resources = walk(client, url)
        assert resources, f"{url} found nothing in the demo"
        for resource in resources:
            seen.setdefault(resource["resourceType"], set()).add(resource["id"])
    assert set(seen) == set(TYPES)
    for kind, ids in seen.items():
        for ident in sorted(ids):
            read = body(client.get(f"/fhir/R4/{kind}/{ident}"))
            assert (read["resourceType"], read["id"]) == (kind, ident)
    # Every case on a list has its Appointment, every case its ServiceRequest.
    assert len(seen["ServiceRequest"]) >= Case.objects.filter(status="waiting").count()


def test_the_capability_statement_lists_exactly_what_is_served(demo: dict[str, User]) -> None:
    statement = body(fhir_client(demo["viewer"]).get("/fhir/R4/metadata"))
    listed = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(listed) == set(TYPES)
    for name, kind in TYPES.items():
        assert {p["name"] for p in listed[name]["searchParam"]} == set(kind.params)
        codes = {i["code"] for i in listed[name]["interaction"]}
        assert codes == {"read", "search-type"} | ({"create"} if kind.create else set())
    assert statement["fhirVersion"] == "4.0.1" and statement["format"] == ["application/fhir+json"]
