"""Who reads what through FHIR, what is audited, what errors look like, and what a page costs."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.api.auth import issue_token
from core.models import AuditEntry
from scheduling.models import Case, Patient
from tests.fhir.conftest import body, fhir_client

pytestmark = pytest.mark.django_db

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def outcome(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    data = body(response)
    assert data["resourceType"] == "OperationOutcome" and data["issue"][0]["code"] == code, data
    return data


def test_anonymous_requests_get_401_asking_for_a_token(demo: dict[str, User]) -> None:
    response = APIClient().get("/fhir/R4/Appointment")
    outcome(response, 401, "login")
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_from_the_login_endpoint_reads_the_facade(demo: dict[str, User]) -> None:
    """An integration engineer's path: log in for a token, then read FHIR with it (not a test shortcut)."""
    token, _ = issue_token(demo["coordinator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/fhir/R4/metadata")
    assert response.status_code == 200, response.content
    assert body(response)["resourceType"] == "CapabilityStatement"
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    outcome(client.get("/fhir/R4/metadata"), 401, "login")


def test_a_viewer_gets_no_patient_and_no_identifiers(demo: dict[str, User]) -> None:
    viewer = fhir_client(demo["viewer"])
    patient = Patient.objects.filter(cases__status="booked").first()
    assert patient is not None
    outcome(viewer.get(f"/fhir/R4/Patient/{patient.pk}"), 403, "forbidden")
    outcome(
        viewer.post(
            "/fhir/R4/Patient/_search",
            urlencode({"identifier": f"{NHS}|{patient.nhs_number}"}),
            content_type="application/x-www-form-urlencoded",
        ),
        403,
        "forbidden",
    )
    bundle = body(viewer.get(f"/fhir/R4/Appointment?patient={patient.pk}"))
    text = str(bundle)
    assert bundle["total"] >= 1
    assert "identifier" not in text and patient.nhs_number not in text and patient.mrn not in text
    assert patient.family_name not in text


def test_the_nhs_number_carries_the_uk_core_verification_status(demo: dict[str, User]) -> None:
    patient = Patient.objects.order_by("id").first()
    assert patient is not None
    resource = body(fhir_client(demo["surgeon"]).get(f"/fhir/R4/Patient/{patient.pk}"))
    nhs = next(i for i in resource["identifier"] if i["system"] == NHS)
    assert nhs["value"] == patient.nhs_number
    status = nhs["extension"][0]
    assert status["url"] == "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "02"


def test_patient_search_by_post_keeps_the_nhs_number_out_of_every_url(demo: dict[str, User]) -> None:
    patient = Patient.objects.order_by("id").first()
    assert patient is not None
    response = fhir_client(demo["coordinator"]).post(
        "/fhir/R4/Patient/_search",
        urlencode({"identifier": f"{NHS}|{patient.nhs_number}"}),
        content_type="application/x-www-form-urlencoded",
    )
    bundle = body(response)
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.pk)]
    assert all(patient.nhs_number not in link["url"] for link in bundle["link"])


def test_reads_of_patient_resources_are_audited_one_row_per_record(demo: dict[str, User]) -> None:
    client = fhir_client(demo["anaesthetist"])
    patient = Patient.objects.filter(cases__status="booked").first()
    assert patient is not None
    before = AuditEntry.objects.count()
    body(client.get(f"/fhir/R4/Patient/{patient.pk}"))
    bundle = body(client.get("/fhir/R4/Appointment?status=pending&_count=7"))
    rows = list(AuditEntry.objects.order_by("id")[before:])
    assert len(rows) == 1 + len(bundle["entry"])
    assert rows[0].action == "fhir.read" and rows[0].object_type == "scheduling.patient"
    assert rows[0].object_id == str(patient.pk) and rows[0].actor == demo["anaesthetist"]
    shown = {row.after["resource"] for row in rows[1:]}  # type: ignore[index]
    assert shown == {f"Appointment/{e['resource']['id']}" for e in bundle["entry"]}
    before = AuditEntry.objects.count()
    body(client.get("/fhir/R4/Practitioner"))
    assert AuditEntry.objects.count() == before  # no patient data, nothing to audit


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/fhir/R4/Observation", 404, "not-supported"),
        ("/fhir/R4/Appointment/999999", 404, "not-found"),
        ("/fhir/R4/Appointment/not-a-number", 404, "not-found"),
        ("/fhir/R4/Slot/gap-1-2", 404, "not-found"),
        ("/fhir/R4/Location/ward-1", 404, "not-found"),
        ("/fhir/R4/nothing/here/at/all", 404, "not-found"),
        ("/fhir/R4/Appointment?date=ge2027-13-45", 400, "invalid"),
        ("/fhir/R4/Appointment?date=ge2027-03-01T09:00:00", 400, "invalid"),
        ("/fhir/R4/Appointment?status=maybe", 400, "invalid"),
        ("/fhir/R4/Appointment?_count=-1", 400, "invalid"),
        ("/fhir/R4/Appointment?_count=10000", 400, "invalid"),
        ("/fhir/R4/Appointment?patient=Practitioner/1", 400, "invalid"),
        ("/fhir/R4/Appointment?_format=xml", 400, "not-supported"),
        ("/fhir/R4/Slot?start=ge2027-01-01&start=lt2027-12-31", 400, "invalid"),
        ("/fhir/R4/Slot?start=ge2027-03-01&start=lt2027-03-08&status=open", 400, "invalid"),
        ("/fhir/R4/Appointment?date=ge99999-01-01", 400, "invalid"),
        ("/fhir/R4/Appointment?date=le9999-12-31", 400, "invalid"),
        ("/fhir/R4/Appointment/" + "9" * 40, 404, "not-found"),
    ],
)
def test_errors_are_operation_outcomes_with_the_right_status(
    demo: dict[str, User], url: str, status: int, code: str
) -> None:
    client = fhir_client(demo["coordinator"])
    client.raise_request_exception = False
    outcome(client.get(url), status, code)


def test_dates_at_the_start_of_the_calendar_find_nothing_rather_than_fail(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    assert body(client.get("/fhir/R4/Appointment?date=lt0001-01-02"))["total"] == 0
    assert body(client.get("/fhir/R4/Slot?start=ge0001-01-01&start=lt0001-01-05"))["total"] == 0


def test_a_status_code_of_the_value_set_that_we_never_use_finds_nothing(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    assert body(client.get("/fhir/R4/Appointment?status=noshow"))["total"] == 0
    assert body(client.get("/fhir/R4/ServiceRequest?status=draft"))["total"] == 0
    assert body(client.get("/fhir/R4/Procedure?status=not-done"))["total"] == 0


def test_unknown_search_parameters_are_ignored_unless_strict_handling_is_asked(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    lenient = body(client.get("/fhir/R4/ServiceRequest?status=active&colour=blue"))
    plain = body(client.get("/fhir/R4/ServiceRequest?status=active"))
    assert lenient["total"] == plain["total"]
    assert "colour" not in lenient["link"][0]["url"]
    strict = client.get("/fhir/R4/ServiceRequest?status=active&colour=blue", HTTP_PREFER="handling=strict")
    assert "colour" in outcome(strict, 400, "not-supported")["issue"][0]["expression"]


def test_writes_other_than_the_referral_intake_are_405(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    case = Case.objects.filter(status="booked").first()
    assert case is not None
    outcome(client.put(f"/fhir/R4/Appointment/{case.pk}", {}, format="json"), 405, "not-supported")
    outcome(client.delete(f"/fhir/R4/ServiceRequest/{case.pk}"), 405, "not-supported")
    outcome(client.post("/fhir/R4/Appointment", {}, format="json"), 405, "not-supported")
    outcome(client.get("/fhir/R4/Patient/_search"), 405, "not-supported")


def test_paging_follows_next_links_to_every_entry_once(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    seen: list[str] = []
    url: str | None = "/fhir/R4/ServiceRequest?_count=7"
    total = None
    while url:
        bundle = body(client.get(url))
        total = bundle["total"]
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert total == Case.objects.count() == len(seen) == len(set(seen))


# What a search page costs, whatever its size: the user's roles, the count, the page (joined), and
# for case resources the referral identifiers and the audit insert (Slot: the lists and their cases).
PAGE_QUERIES = {
    "Appointment?date=ge2020-01-01": 4,  # roles, count, page, audit insert
    "ServiceRequest?status=active,completed,revoked": 5,  # + referral identifiers
    "Procedure": 4,
    "Practitioner": 3,
    "Schedule": 3,
    "Location": 3,  # roles, sites, theatres
}


@pytest.mark.parametrize(("search", "queries"), sorted(PAGE_QUERIES.items()))
def test_a_search_page_costs_the_same_queries_at_any_size(
    demo: dict[str, User], django_assert_num_queries: DjangoAssertNumQueries, search: str, queries: int
) -> None:
    for count in (2, 30):
        client = fhir_client(User.objects.get(pk=demo["coordinator"].pk))  # roles not yet cached
        with django_assert_num_queries(queries):
            bundle = body(client.get(f"/fhir/R4/{search}{'&' if '?' in search else '?'}_count={count}"))
        assert len(bundle.get("entry", [])) == min(count, bundle["total"])


def test_a_slot_search_without_an_upper_bound_covers_62_days_and_says_so(demo: dict[str, User]) -> None:
    """DESIGN §5.5's `Slot?schedule=…&start=ge…&status=free`: the window is implied, and shown."""
    client = fhir_client(demo["viewer"])
    today = timezone.localdate()
    window = f"start=ge{today}&start=lt{today + dt.timedelta(days=62)}"
    every = body(client.get(f"/fhir/R4/Slot?status=free&{window}"))
    assert every["total"] > 0
    schedule = every["entry"][0]["resource"]["schedule"]["reference"]
    implied = body(client.get(f"/fhir/R4/Slot?schedule={schedule}&status=free&start=ge{today}"))
    explicit = body(client.get(f"/fhir/R4/Slot?schedule={schedule}&status=free&{window}"))
    assert implied["total"] == explicit["total"] > 0
    assert "start=lt" in unquote(implied["link"][0]["url"])


def test_a_slot_page_costs_three_queries_however_many_lists(
    demo: dict[str, User], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for days in ("2026-11-01&start=lt2026-11-08", "2026-11-01&start=lt2027-01-01"):
        client = fhir_client(User.objects.get(pk=demo["viewer"].pk))
        with django_assert_num_queries(3):  # roles, lists, their cases
            body(client.get(f"/fhir/R4/Slot?start=ge{days}"))
