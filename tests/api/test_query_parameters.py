"""Every query parameter the schema documents refuses a value its schema forbids.

The fuzzer checks this (schemathesis ST201, "schema-violating request accepted") only for what
its seed happens to generate: it found `?format=` answered 200 on one random seed, and
`POST /timetables/{id}/generate/?page=abc` answered 201 was never found by it at all. Here each
documented query parameter gets the values its schema rules out (an empty or unknown enum
value, text for a number, a number past its bound, an impossible date), every run, on the
permission world's objects (tests/builders/clinic.py) as a coordinator, each call rolled back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from django.db import transaction

from tests.api.error_ledger import served_schema
from tests.api.test_permissions import PREFIX, TABLE, fill
from tests.builders.clinic import PermissionWorld

SCHEMA: dict[str, Any] = served_schema()


def forbidden_values(schema: dict[str, Any]) -> list[str]:
    """Values a query parameter's schema rules out, as they would appear in a URL."""
    if "enum" in schema or "enum" in schema.get("items", {}):
        return ["", "not-one-of-them"]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        values = ["", "abc"]
        if "minimum" in schema:
            values.append(str(schema["minimum"] - 1))
        if "maximum" in schema:
            values.append(str(schema["maximum"] + 1))
        return values
    if kind == "boolean":
        return ["", "maybe"]
    if schema.get("format") == "date":
        return ["", "2027-13-45"]
    values = ["!!"] if "pattern" in schema else []
    if "maxLength" in schema:
        values.append("x" * (schema["maxLength"] + 1))
    return values


def cases() -> list[tuple[str, str, str]]:
    """(operation, parameter, forbidden value) for every documented query parameter."""
    found: list[tuple[str, str, str]] = []
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for value in forbidden_values(parameter.get("schema", {})):
                    found.append((f"{method.upper()} {path.removeprefix(PREFIX)}", parameter["name"], value))
    return found


CASES = cases()


def test_the_sweep_covers_the_parameters_the_fuzzer_found_wanting() -> None:
    assert ("GET /cases/{id}/plan/", "format", "") in CASES
    assert ("GET /sessions/", "status", "not-one-of-them") in CASES
    assert ("GET /sessions/{id}/candidates/", "limit", "201") in CASES
    assert ("GET /availability/", "levels", "x" * 125) in CASES


# A URL's request line has a limit (gunicorn's default is 4,094 bytes; the test server's 65,536),
# and past it the HTTP server answers a bare 414 before the API sees the request: the fuzzer met
# one with 10,000 characters of `levels`, each written as four %-escaped bytes.
QUERY_TEXT_LIMIT = 255


def test_every_text_query_parameter_is_short_enough_for_a_request_line() -> None:
    too_long = [
        f"{method.upper()} {path} {parameter['name']}: {parameter['schema'].get('maxLength')}"
        for path, item in SCHEMA["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and parameter["schema"].get("type") == "string"
        and "enum" not in parameter["schema"]
        and parameter["schema"].get("format") != "date"
        and parameter["schema"].get("maxLength", QUERY_TEXT_LIMIT + 1) > QUERY_TEXT_LIMIT
    ]
    assert not too_long, f"query text without a maxLength of at most {QUERY_TEXT_LIMIT}: {too_long}"


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "parameter", "value"), CASES)
def test_a_query_value_the_schema_forbids_is_refused(
    world: PermissionWorld, operation: str, parameter: str, value: str
) -> None:
    spec = TABLE[operation]
    method, path = operation.split(" ", 1)
    base = spec.query(world) if callable(spec.query) else spec.query
    query = dict(parse_qsl(base.lstrip("?"), keep_blank_values=True)) | {parameter: value}
    url = f"{PREFIX}{fill(path, world, spec.target)}?{urlencode(query)}"
    body = spec.body(world) if spec.body is not None else {}
    client = world.client("coordinator")
    with transaction.atomic():
        response = client.get(url) if method == "GET" else getattr(client, method.lower())(url, body, format="json")
        transaction.set_rollback(True)
    assert 400 <= response.status_code < 500, f"{operation} ?{parameter}={value!r}: {response.status_code}"
    assert response.json()["code"], response.content
