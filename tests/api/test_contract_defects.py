"""Regression tests for the defects an outside fuzz and hand probes found (issue 15).

Each answers under /api/ with JSON `{code, detail}`, refuses what it should, and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import icalendar
import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from scheduling.models import Case, Patient
from tests.api.error_ledger import served_schema
from tests.builders.clinic import build_permission_world
from tests.factories import CaseFactory, StaffMemberFactory, TheatreSessionFactory, valid_nhs_number
from theatre.models import StaffMember

pytestmark = pytest.mark.django_db


def assert_error(response: Any, status: int, code: str) -> Any:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# --- 500s -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["confirm/", "plan/approve/", "checklist/", "plan/", "history/", "times/", ""])
def test_options_on_case_routes_answers_instead_of_500(coordinator: APIClient, viewer: APIClient, action: str) -> None:
    case = CaseFactory()
    for client in (coordinator, viewer):
        response = client.options(f"/api/v1/cases/{case.pk}/{action}")
        assert response.status_code == 200, response.content
        assert "name" in response.json()


def test_a_staff_name_with_a_new_line_still_gives_a_calendar(coordinator: APIClient) -> None:
    created = coordinator.post("/api/v1/staff/", {"name": "Mr A\nSurgeon\r\nII", "role": "surgeon"}, format="json")
    assert created.status_code == 201
    response = coordinator.get(f"/api/v1/staff/{created.json()['id']}/calendar.ics")
    assert response.status_code == 200
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "Theatre lists: Mr A Surgeon II"


def test_every_format_the_schema_lists_is_served_and_an_empty_or_unknown_one_is_refused() -> None:
    """Each `format` parameter's enum is what the view serves. DRF ignored an empty `?format=` and
    answered 200 (the fuzz found it on a calendar, then on a case plan); an empty or unknown one
    is now 404 everywhere (core/api/negotiation.py)."""
    world = build_permission_world()
    coordinator = world.client("coordinator")
    feed = coordinator.post(f"/api/v1/staff/{world.surgeon_staff.pk}/calendar-feed/")
    assert feed.status_code == 201
    urls = {
        "GET /api/v1/staff/{id}/calendar.ics": f"/api/v1/staff/{world.surgeon_staff.pk}/calendar.ics",
        "GET /api/v1/cases/{id}/plan/": f"/api/v1/cases/{world.case.pk}/plan/",
        "GET /api/v1/reports/theatre-utilisation/": "/api/v1/reports/theatre-utilisation/",
        "GET /api/v1/calendar-feeds/{secret}.ics": urlsplit(feed.json()["url"]).path,
    }
    schema = served_schema()
    formats = {
        f"{method.upper()} {path}": parameter["schema"]["enum"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "format"
    }
    assert set(formats) == set(urls), "a new `format` parameter needs its URL here"
    for operation, url in urls.items():
        for good in formats[operation]:
            assert coordinator.get(url, {"format": good}).status_code == 200, (operation, good)
        for bad in ("", "pdf"):
            assert_error(coordinator.get(url, {"format": bad}), 404, "not_found")
    assert coordinator.get(urls["GET /api/v1/staff/{id}/calendar.ics"])["Content-Type"].startswith("text/calendar")


# --- JSON everywhere under /api/ --------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/nope/", "/api/v1/cases/abc/plan/", "/api/v1/cases/1/nothing/", "/api/v2/", "/api/"]
)
def test_an_unknown_url_under_the_api_is_a_json_404(coordinator: APIClient, anon_client: APIClient, url: str) -> None:
    for client in (coordinator, anon_client):
        assert_error(client.get(url), 404, "not_found")
        assert_error(client.post(url, {}, format="json"), 404, "not_found")


def test_a_body_over_the_limit_is_a_json_413_and_changes_nothing(coordinator: APIClient) -> None:
    body = {"name": "Northgate", "timezone": "Europe/London", "address": "x" * 1_100_000}
    assert_error(coordinator.post("/api/v1/sites/", body, format="json"), 413, "too_large")
    # Also when the body is not even JSON, and for a caller not logged in.
    assert_error(APIClient().post("/api/v1/sites/", "y" * 2_000_000, content_type="text/plain"), 413, "too_large")


def test_a_delete_with_a_body_over_the_limit_is_413_and_a_get_ignores_its_body(coordinator: APIClient) -> None:
    """The limit judges every write, as the schema documents; a GET's body is never read."""
    site = coordinator.post("/api/v1/sites/", {"name": "Northgate", "timezone": "Europe/London"}, format="json")
    url = f"/api/v1/sites/{site.json()['id']}/"
    assert_error(coordinator.delete(url, "z" * 2_000_000, content_type="text/plain"), 413, "too_large")
    assert coordinator.get(url).status_code == 200
    assert coordinator.generic("GET", url, "z" * 2_000_000, content_type="text/plain").status_code == 200


def test_a_body_that_is_not_json_is_415(coordinator: APIClient) -> None:
    response = coordinator.post("/api/v1/sites/", "name=Northgate", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


# --- Input silently accepted ------------------------------------------------------------------


def test_free_text_has_a_maximum_length(coordinator: APIClient) -> None:
    case = CaseFactory()
    response = coordinator.patch(f"/api/v1/cases/{case.pk}/", {"notes": "n" * 10_001}, format="json")
    body = assert_error(response, 400, "invalid")
    assert "notes" in body["errors"]
    assert coordinator.patch(f"/api/v1/cases/{case.pk}/", {"notes": "n" * 10_000}, format="json").status_code == 200


def test_a_list_answer_has_a_maximum_number_of_items(viewer: APIClient) -> None:
    answers = {"anticoagulants": ["warfarin"] * 50_000}
    response = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": answers}, format="json")
    body = assert_error(response, 400, "invalid")
    assert "answers.anticoagulants" in body["errors"]


@pytest.mark.parametrize("value", ["yes", "true", 1, "1", "on"])
def test_booleans_are_json_booleans(coordinator: APIClient, value: object) -> None:
    session = TheatreSessionFactory()
    case = CaseFactory()
    response = coordinator.post(
        f"/api/v1/cases/{case.pk}/book/", {"session": session.pk, "override": value}, format="json"
    )
    body = assert_error(response, 400, "invalid")
    assert "override" in body["errors"]
    case.refresh_from_db()
    assert case.status == "waiting"


def test_numbers_and_text_are_their_json_types(coordinator: APIClient) -> None:
    session = TheatreSessionFactory()
    case = CaseFactory()
    response = coordinator.post(f"/api/v1/cases/{case.pk}/book/", {"session": str(session.pk)}, format="json")
    assert "session" in assert_error(response, 400, "invalid")["errors"]
    response = coordinator.patch(f"/api/v1/cases/{case.pk}/", {"notes": 12}, format="json")
    assert "notes" in assert_error(response, 400, "invalid")["errors"]


def test_read_only_and_unknown_fields_are_refused_by_name(coordinator: APIClient) -> None:
    case = CaseFactory(notes="before")
    other = Patient.objects.exclude(pk=case.patient_id).first() or CaseFactory().patient
    body = {"patient": other.pk, "status": "completed", "colour": "blue", "notes": "after"}
    response = coordinator.patch(f"/api/v1/cases/{case.pk}/", body, format="json")
    errors = assert_error(response, 400, "invalid")["errors"]
    assert set(errors) == {"patient", "status", "colour"}
    assert errors["colour"] == ["Unknown field."]
    case.refresh_from_db()
    assert (case.patient_id, case.status, case.notes) == (case.patient_id, "waiting", "before")


def test_read_only_fields_are_refused_by_model_serializers_too(coordinator: APIClient) -> None:
    staff = StaffMemberFactory(name="Dr Before")
    response = coordinator.patch(f"/api/v1/staff/{staff.pk}/", {"id": 999, "name": "Dr After"}, format="json")
    assert assert_error(response, 400, "invalid")["errors"] == {"id": ["This field is read-only."]}
    assert StaffMember.objects.get(pk=staff.pk).name == "Dr Before"


def test_nested_objects_refuse_unknown_fields(admin: APIClient) -> None:
    step = {"kind": "operative", "name": "Cement", "minutes": 10, "per_level": True, "extra": 1}
    body = {"change_note": "Try", "steps": [step]}
    response = admin.post("/api/v1/procedures/kyphoplasty/versions/", body, format="json")
    errors = assert_error(response, 400, "invalid")["errors"]
    assert set(errors) == {"steps"}
    assert "Unknown field." in json.dumps(errors)


def test_the_nhs_number_error_says_the_real_reason(coordinator: APIClient) -> None:
    body = {
        "nhs_number": "1860913903",  # a valid check digit, in Scotland's CHI range, 18/60/91 is no date
        "mrn": "MRN-CHI",
        "given_name": "Ada",
        "family_name": "Quarrington",
        "date_of_birth": "1950-01-01",
    }
    response = coordinator.post("/api/v1/patients/", body, format="json")
    (message,) = assert_error(response, 400, "invalid")["errors"]["nhs_number"]
    assert "CHI" in message
    assert "date of birth" in message
    assert "check digit" not in message
    wrong_digit = valid_nhs_number(5)[:-1] + str((int(valid_nhs_number(5)[-1]) + 1) % 10)
    response = coordinator.post("/api/v1/patients/", {**body, "nhs_number": wrong_digit}, format="json")
    assert "check digit" in assert_error(response, 400, "invalid")["errors"]["nhs_number"][0]
    assert not Patient.objects.exists()


# --- What a new user meets first --------------------------------------------------------------


def test_the_api_root_lists_every_resource(coordinator: APIClient) -> None:
    response = coordinator.get("/api/v1/")
    assert response.status_code == 200
    listed = response.json()
    schema = served_schema()
    tops = {path.removeprefix("/api/v1/").split("/{")[0].split("/")[0] for path in schema["paths"]}
    # Calendar feed URLs carry their own secret: they are handed out one by one, never listed.
    named = {name.split("/")[0] for name in listed} | {"calendar-feeds"}
    assert tops <= named, f"resources missing from the API root: {sorted(tops - named)}"
    for name, url in listed.items():
        assert url.startswith("http://testserver/api/v1/"), name
        assert coordinator.get(url).status_code in (200, 400, 405), name  # 400: needs parameters


def test_an_anonymous_request_is_401_with_a_challenge(anon_client: APIClient) -> None:
    for url in ("/api/v1/", "/api/v1/cases/", "/api/v1/fill/", "/api/v1/staff/1/calendar.ics"):
        response = anon_client.get(url)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"


def test_a_logged_in_browser_session_still_reads_and_needs_csrf_to_write(coordinator_user: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(coordinator_user)
    assert browser.get("/api/v1/cases/").status_code == 200
    refused = browser.post("/api/v1/sites/", {"name": "X"}, content_type="application/json")
    assert_error(refused, 403, "permission_denied")


def test_a_case_route_that_does_not_exist_for_the_id_is_a_json_404(coordinator: APIClient) -> None:
    assert_error(coordinator.get("/api/v1/cases/999999/plan/"), 404, "not_found")
    assert not Case.objects.exists()


@pytest.mark.parametrize("query", ["page_size=null", "page_size=0", "page_size=501", "page_size=10&page_size=20"])
def test_a_page_size_that_is_not_one_whole_number_from_1_to_500_is_a_400(coordinator: APIClient, query: str) -> None:
    """Found by the fuzzer: `?page_size=null&page_size=null` was read as the default page."""
    response = coordinator.get(f"/api/v1/patients/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "page_size" in response.json()["errors"]
