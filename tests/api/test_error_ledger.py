"""The error ledger's comparison (tests/api/error_ledger.py): undocumented answers are reported, and
answers whose body breaks the schema are found."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpResponse, JsonResponse

from tests.api.error_ledger import Observed, breaches, documented, exercised, template_of, undocumented

pytestmark = pytest.mark.pure


def _error(*codes: str) -> dict[str, Any]:
    narrowed = {"properties": {"code": {"enum": list(codes)}}}
    return {"content": {"application/json": {"schema": {"allOf": [{"$ref": "#/x"}, narrowed]}}}}


SCHEMA: dict[str, Any] = {
    "paths": {
        "/api/v1/cases/{id}/": {"get": {"responses": {"200": {}, "404": _error("not_found")}}},
        "/api/v1/cases/{id}/book/": {
            "post": {"responses": {"200": {}, "409": _error("slot_taken", "busy"), "404": _error("not_found")}}
        },
        "/api/v1/cases/{id}/plan/": {"get": {"responses": {"404": _error("not_found")}}},
        "/api/v1/cases/{id}/plan/approve/": {"post": {"responses": {"409": _error("not_eligible")}}},
    }
}
DOCS = documented(SCHEMA)


def seen(method: str, path: str, status: int, code: str | None) -> Observed:
    return Observed(method, path, status, code, "tests/x.py::test_y")


def test_a_documented_code_is_not_reported() -> None:
    assert undocumented([seen("POST", "/api/v1/cases/7/book/", 409, "slot_taken")], DOCS) == []


def test_an_undocumented_code_is_reported_with_its_operation_and_test() -> None:
    record = seen("POST", "/api/v1/cases/7/book/", 409, "session_full")
    [offence] = undocumented([record], DOCS)
    assert offence.operation == "POST /api/v1/cases/{id}/book/"
    assert "409 `session_full`" in str(offence) and "tests/x.py::test_y" in str(offence)


def test_an_undocumented_status_and_a_body_without_code_are_reported() -> None:
    records = [seen("POST", "/api/v1/cases/7/book/", 400, "invalid"), seen("GET", "/api/v1/cases/7/", 404, None)]
    assert [o.observed for o in undocumented(records, DOCS)] == records


def test_unknown_paths_and_methods_are_not_checked() -> None:
    records = [seen("GET", "/api/v1/nope/", 404, "not_found"), seen("PUT", "/api/v1/cases/7/", 405, "x")]
    assert undocumented(records, DOCS) == []


def test_literal_segments_win_over_parameters() -> None:
    templates = ["/api/v1/cases/{id}/plan/", "/api/v1/cases/{id}/{action}/approve/", "/api/v1/cases/{id}/plan/approve/"]
    assert template_of("/api/v1/cases/3/plan/approve/", templates) == "/api/v1/cases/{id}/plan/approve/"
    assert template_of("/api/v1/cases/3/plan/", templates) == "/api/v1/cases/{id}/plan/"
    assert template_of("/api/v1/staff/3/calendar.ics", ["/api/v1/staff/{id}/calendar.ics"]) is not None


def test_exercised_counts_only_documented_pairs() -> None:
    records = [seen("POST", "/api/v1/cases/7/book/", 409, "slot_taken"), seen("GET", "/api/v1/cases/7/", 409, "x")]
    assert exercised(records, DOCS) == {("POST", "/api/v1/cases/{id}/book/", 409, "slot_taken")}


# --- Bodies against the schema (the real schema) -------------------------------------------------

UNAVAILABILITY = "/api/v1/cases/1/unavailability/"
PAGE: dict[str, Any] = {"count": 0, "next": None, "previous": None, "results": []}


def test_an_answer_as_documented_has_no_breach() -> None:
    assert breaches("GET", UNAVAILABILITY, JsonResponse(PAGE)) == []
    assert breaches("GET", f"{UNAVAILABILITY}?page=1", JsonResponse(PAGE)) == []


def test_a_bare_array_where_a_page_is_promised_and_a_missing_field_are_breaches() -> None:
    """The defect a random fuzz seed found once (CI, issue 18's last run), caught every time."""
    bare = breaches("GET", UNAVAILABILITY, JsonResponse([], safe=False))
    assert bare == ['Response violates schema: [] is not of type "object"']
    missing = breaches("GET", UNAVAILABILITY, JsonResponse({"results": []}))
    assert missing == ['Response violates schema: "count" is a required property']


def test_an_undocumented_success_status_is_a_breach_and_an_error_status_is_the_ledgers() -> None:
    assert breaches("GET", UNAVAILABILITY, JsonResponse(PAGE, status=202)) == ["status 202 is not documented"]
    assert breaches("GET", UNAVAILABILITY, JsonResponse({"code": "x", "detail": "y"}, status=418)) == []


def test_paths_and_methods_outside_the_schema_are_not_judged() -> None:
    assert breaches("GET", "/api/v1/not-an-endpoint/", JsonResponse([], safe=False)) == []
    assert breaches("PUT", UNAVAILABILITY, JsonResponse([], safe=False)) == []


def test_a_media_type_the_status_does_not_document_is_a_breach() -> None:
    """schemathesis alone judges nothing when the answer's media type is not documented."""
    html = HttpResponse("<html>x</html>", content_type="text/html")
    assert breaches("GET", UNAVAILABILITY, html) == [
        "content type text/html is not documented (documented: application/json)"
    ]
    assert breaches("GET", "/api/v1/cases/1/", HttpResponse("<h1>Not found</h1>", status=404)) == [
        "content type text/html is not documented (documented: application/json)"
    ]
