"""The served schema states the limits and errors the API enforces (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from core.api.schema import ERROR_CODES
from core.errors import ErrorCode
from tests.api.error_ledger import served_schema

pytestmark = pytest.mark.pure

SCHEMA: dict[str, Any] = served_schema()
COMPONENTS: dict[str, Any] = SCHEMA["components"]["schemas"]
# Text whose length its format already bounds.
BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "decimal"}


def unbounded(schema: dict[str, Any], where: str) -> list[str]:
    if "$ref" in schema:
        return []  # checked as its own component
    found: list[str] = []
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            found += unbounded(part, where)
    kind = schema.get("type")
    text = kind == "string" and "enum" not in schema and schema.get("format") not in BOUNDED_FORMATS
    if text and "maxLength" not in schema and "pattern" not in schema:
        found.append(where)
    if kind == "array":
        if "maxItems" not in schema:
            found.append(where)
        found += unbounded(schema.get("items", {}), f"{where}[]")
    for name, sub in schema.get("properties", {}).items():
        found += unbounded(sub, f"{where}.{name}")
    return found


def test_every_text_and_list_in_a_request_body_states_its_limit() -> None:
    problems: list[str] = []
    for name, component in COMPONENTS.items():
        if name.endswith("Request"):
            problems += unbounded(component, name)
    assert not problems, f"request fields without maxLength/maxItems: {problems}"


def test_request_bodies_refuse_unknown_fields_in_the_schema_too() -> None:
    open_bodies = [
        name
        for name, component in COMPONENTS.items()
        if name.endswith("Request")
        and component.get("type") == "object"
        and component.get("additionalProperties") is not False
    ]
    assert not open_bodies


def test_every_operation_documents_its_errors_with_the_error_body() -> None:
    problems: list[str] = []
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = set(operation["responses"])
            logged_in = "security" in operation  # AllowAny operations (login, a feed URL) have none
            needed = {"404"} | ({"401", "403"} if logged_in else set())
            if method in {"post", "put", "patch"}:
                needed |= {"400", "413", "415"}
            if method != "get":
                # Every write's Content-Length is judged before its view runs (413, or 400 if unreadable).
                needed |= {"400", "409", "413"}
            missing = needed - statuses
            if missing:
                problems.append(f"{method.upper()} {path}: {sorted(missing)}")
            for status in statuses:
                if status.startswith(("4", "5")):
                    # The status's error body, with `code` narrowed to this operation's own codes.
                    body, narrowed = operation["responses"][status]["content"]["application/json"]["schema"]["allOf"]
                    assert body == {"$ref": f"#/components/schemas/Error{status}"}, (method, path, status)
                    codes = narrowed["properties"]["code"]["enum"]
                    assert codes, (method, path, status)
                    assert set(codes) <= set(ERROR_CODES[int(status)]), (method, path, status)
    assert not problems, problems


def operation_codes(path: str, method: str) -> dict[str, set[str]]:
    responses = SCHEMA["paths"][path][method]["responses"]
    return {
        status: set(response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"])
        for status, response in responses.items()
        if status.startswith("4")
    }


def test_each_operation_documents_its_own_codes_not_every_code() -> None:
    book = operation_codes("/api/v1/cases/{id}/book/", "post")
    assert {"slot_taken", "session_locked", "idempotency_key_reused", "busy"} <= book["409"]
    assert "patient_has_cases" not in book["409"]
    assert operation_codes("/api/v1/patients/{id}/", "delete")["409"] == {"busy", "patient_has_cases"}
    assert operation_codes("/api/v1/patients/", "post")["400"] >= {"duplicate_nhs_number", "duplicate_mrn"}
    login = operation_codes("/api/v1/auth/login/", "post")
    assert login["401"] == {"invalid_credentials"} and login["429"] == {"locked_out"}
    # A write of the estate that booked cases depend on, declared for DRF's inherited actions.
    assert "affects_booked_cases" in operation_codes("/api/v1/theatres/{id}/", "patch")["409"]
    assert "invalid_transition" in operation_codes("/api/v1/theatres/{id}/", "delete")["409"]
    # Only the POST of an action that also answers GET takes the POST's declarations.
    assert "409" not in operation_codes("/api/v1/cases/{id}/checklist/", "get")
    assert "checklist_order" in operation_codes("/api/v1/cases/{id}/checklist/", "post")["409"]
    # A throttle answers only where a view names its scope.
    assert "429" in operation_codes("/api/v1/availability/", "get")
    assert "429" not in operation_codes("/api/v1/cases/", "get")


def test_the_error_codes_in_the_schema_cover_every_code_the_project_defines() -> None:
    documented = {code for codes in ERROR_CODES.values() for code in codes}
    # A 500 is a bug, never part of the contract.
    assert {code.value for code in ErrorCode} - {ErrorCode.SERVER_ERROR.value} <= documented
    for status, codes in ERROR_CODES.items():
        enum = COMPONENTS[f"Error{status}"]["properties"]["code"] if f"Error{status}" in COMPONENTS else None
        if enum is not None:
            values = COMPONENTS[enum["$ref"].rsplit("/", 1)[-1]]["enum"] if "$ref" in enum else enum["enum"]
            assert set(values) == set(codes), status


def test_creating_operations_link_to_the_operations_on_what_they_created() -> None:
    """The links the fuzzer's stateful phase follows: the created object's id fills the path."""
    by_id = {op["operationId"]: op for item in SCHEMA["paths"].values() for op in item.values() if "operationId" in op}
    for source, targets in {
        "cases_create": {"cases_book_create", "cases_cancel_create", "cases_plan_retrieve"},
        "sessions_create": {"sessions_retrieve", "sessions_cancel_create", "sessions_destroy"},
        "patients_create": {"patients_partial_update", "patients_destroy"},
    }.items():
        links = by_id[source]["responses"]["201"]["links"]
        assert targets <= set(links), source
        for link in links.values():
            assert link["operationId"] in by_id
            assert link["parameters"] == {"id": "$response.body#/id"}
            path = next(
                p for p, item in SCHEMA["paths"].items() for op in item.values() if op is by_id[link["operationId"]]
            )
            assert "{id}" in path
