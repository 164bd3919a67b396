"""The permission matrix: every endpoint in the OpenAPI schema × every role.

Each operation the schema lists must have a row below giving the status code each role gets;
an operation without a row fails, and so does a row whose operation left the schema. Every
cell runs against the same seeded world (tests/builders/clinic.py) inside its own savepoint, so one
role's write never changes what the next role sees. No denied response, and no response at
all to a viewer, may contain the seeded patient's identifiers.

Reading the table: `anonymous` gets 401 with a `WWW-Authenticate: Token` challenge (token
authentication is listed first, so DRF has a scheme to name; tests/api/test_contract_defects.py
checks the header). 400 in an allowed cell means the role passed the permission check
and the empty body was refused, which is all a permission test needs to know.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone as django_timezone

from tests.api.error_ledger import served_schema
from tests.builders.clinic import (
    PATIENT_ADDRESS,
    PATIENT_DOB,
    PATIENT_EMAIL,
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    PATIENT_MRN,
    PATIENT_NHS,
    PATIENT_PHONE,
    PHASE_ITEMS,
    PermissionWorld,
)
from tests.builders.people import ROLES

PREFIX = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Row:
    codes: dict[str, int]
    body: Callable[[PermissionWorld], Any] | None = None
    # path parameter → name of the world object to use instead of the default for its resource
    target: dict[str, str] = field(default_factory=dict)
    query: str | Callable[[PermissionWorld], str] = ""
    # The server's clock for this row's calls, if it matters (the WHO sign in: the list's day).
    clock: Callable[[PermissionWorld], dt.datetime] | None = None
    # How `body` is sent: "json", or "form" (application/x-www-form-urlencoded, FHIR's POST _search).
    format: str = "json"


def row(
    anonymous: int,
    viewer: int,
    coordinator: int,
    surgeon: int,
    other_surgeon: int,
    anaesthetist: int,
    admin: int,
    **options: Any,
) -> Row:
    codes = dict(zip(ROLES, (anonymous, viewer, coordinator, surgeon, other_surgeon, anaesthetist, admin), strict=True))
    return Row(codes=codes, **options)


def read(ok: int = 200, **options: Any) -> Row:
    """Every role reads; anonymous users get nothing."""
    return row(401, ok, ok, ok, ok, ok, ok, **options)


def fhir_read(ok: int = 200, **options: Any) -> Row:
    """Every role reads through FHIR; anonymous requests get 401 (a FHIR client's cue to log in)."""
    return row(401, ok, ok, ok, ok, ok, ok, **options)


NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def manage(ok: int, **options: Any) -> Row:
    """Coordinators and admins only."""
    return row(401, 403, ok, 403, 403, 403, ok, **options)


# --- The table ------------------------------------------------------------------------------
# Keys are "METHOD path" exactly as the schema spells the path (without /api/v1).

TABLE: dict[str, Row] = {
    # --- theatre: the estate, staff, timetables and sessions (coordinators manage, all read) ---
    "GET /me/": read(),  # who am I: roles and staff link, for the staff UI
    "GET /sites/": read(),
    "POST /sites/": manage(400),
    "GET /sites/{id}/": read(),
    "PUT /sites/{id}/": manage(400),
    "PATCH /sites/{id}/": manage(200),
    "DELETE /sites/{id}/": manage(409),  # in use: deactivate instead
    "GET /theatres/": read(),
    "POST /theatres/": manage(400),
    "GET /theatres/{id}/": read(),
    "PUT /theatres/{id}/": manage(400),
    "PATCH /theatres/{id}/": manage(200),
    "DELETE /theatres/{id}/": manage(409),
    "GET /equipment/": read(),
    "POST /equipment/": manage(400),
    "GET /equipment/{id}/": read(),
    "PUT /equipment/{id}/": manage(400),
    "PATCH /equipment/{id}/": manage(200),
    "DELETE /equipment/{id}/": manage(409),
    "GET /staff/": read(),
    "POST /staff/": manage(400),
    "GET /staff/{id}/": read(),
    "PUT /staff/{id}/": manage(400),
    "PATCH /staff/{id}/": manage(200),
    "DELETE /staff/{id}/": manage(409),
    "GET /timetables/": read(),
    "POST /timetables/": manage(400),
    "GET /timetables/{id}/": read(),
    "PUT /timetables/{id}/": manage(400),
    "PATCH /timetables/{id}/": manage(200),
    "DELETE /timetables/{id}/": manage(204),
    "POST /timetables/{id}/generate/": manage(201, body=lambda w: {"date_from": "2027-04-05", "date_to": "2027-04-11"}),
    "GET /sessions/": read(),
    "POST /sessions/": manage(400),
    "GET /sessions/{id}/": read(),
    "PUT /sessions/{id}/": manage(400),
    "PATCH /sessions/{id}/": manage(200),
    "DELETE /sessions/{id}/": manage(400),  # a reason is required
    "POST /sessions/{id}/cancel/": manage(400),
    # --- procedures: everyone reads and screens; publishing a version needs template rights ----
    "GET /procedures/": read(),
    "GET /procedures/{slug}/": read(),
    "GET /procedures/{slug}/versions/": read(),
    "POST /procedures/{slug}/versions/": row(401, 403, 403, 403, 403, 403, 400),
    "GET /procedures/{slug}/versions/{number}/": read(),
    "POST /procedures/{slug}/screen/": read(400),
    "POST /procedures/{slug}/estimate/": read(400),
    "GET /procedures/{slug}/durations/": read(),  # no patient data
    # --- scheduling: patients and cases (coordinators manage; identifiers hidden from viewers) --
    "GET /patients/": read(),
    "POST /patients/": manage(400),
    "GET /patients/{id}/": read(),
    "PATCH /patients/{id}/": manage(200),
    "DELETE /patients/{id}/": manage(409),  # the patient has cases
    "GET /cases/": read(),
    "POST /cases/": manage(400),
    "GET /cases/{id}/": read(),
    "PATCH /cases/{id}/": manage(200),
    "POST /cases/{id}/book/": manage(
        200, target={"id": "case_waiting"}, body=lambda w: {"session": w.other_session.pk}
    ),
    "POST /cases/{id}/move/": manage(200, body=lambda w: {"session": w.other_session.pk}),
    "POST /cases/{id}/cancel/": manage(200, body=lambda w: {"reason": "patient_request"}),
    # Clearing a warning the estate put on a case: coordinators and admins (the empty body is 400).
    "POST /cases/{id}/warnings/clear/": manage(400),
    "GET /availability/": read(400),  # needs ?case= or a procedure
    # List fill: coordinators and admins preview; only coordinators commit (see EXTRA).
    "POST /fill/": manage(200, body=lambda w: {"date_from": "2027-03-01", "date_to": "2027-03-31"}),
    "GET /sessions/{id}/candidates/": manage(200),
    # --- reminders and calendars ----------------------------------------------------------------
    "GET /reminders/": read(query=lambda w: f"?case={w.case.pk}"),
    # A staff member's own calendar, or a coordinator's or admin's view of it.
    "GET /staff/{id}/calendar.ics": row(401, 403, 200, 200, 403, 403, 200),
    # Their private feed URL: made (or rotated) and revoked by the same people.
    "POST /staff/{id}/calendar-feed/": row(401, 403, 201, 201, 403, 403, 201),
    "DELETE /staff/{id}/calendar-feed/": row(401, 403, 204, 204, 403, 403, 204),
    # The feed itself: the secret in the path is the credential; an unknown one is 404 for all.
    "GET /calendar-feeds/{secret}.ics": row(404, 404, 404, 404, 404, 404, 404),
    # Case plan, approval, confirmation, WHO checklist, history.
    "GET /cases/{id}/plan/": read(),
    # Only the case's own surgeon approves; not another surgeon, not a coordinator, not an admin.
    "POST /cases/{id}/plan/approve/": row(401, 403, 403, 200, 403, 403, 403, target={"id": "case_unapproved"}),
    "POST /cases/{id}/confirm/": manage(200),
    "GET /cases/{id}/checklist/": read(),
    # The theatre team of this case signs (its surgeon, its list's anaesthetist); not a surgeon
    # from another list, and not coordinators, viewers or admins.
    "POST /cases/{id}/checklist/": row(
        401,
        403,
        403,
        201,
        403,
        201,
        403,
        target={"id": "case_confirmed"},
        body=lambda w: {"phase": "sign_in", "items": PHASE_ITEMS["sign_in"]},
        clock=lambda w: w.case_confirmed.session.start,  # signed in on the day of the list
    ),
    # A coordinator (or admin) lets the team sign in outside the window, with a reason.
    "POST /cases/{id}/checklist/sign-in-override/": manage(
        200, target={"id": "case_confirmed"}, body=lambda w: {"reason": "list running past midnight"}
    ),
    "GET /cases/{id}/history/": row(401, 403, 200, 200, 403, 403, 200),
    # Theatre times: everyone reads; the case's theatre team and coordinators record (the empty
    # body is refused with 400 once the role is allowed); a surgeon from another list may not.
    "GET /cases/{id}/times/": read(target={"id": "case_in_theatre"}),
    "POST /cases/{id}/times/": row(401, 403, 400, 400, 403, 400, 400, target={"id": "case_in_theatre"}),
    # Patient not ready: every role reads (viewers without the note); coordinators and admins write.
    "GET /cases/{id}/unavailability/": read(),
    "POST /cases/{id}/unavailability/": manage(400),
    "DELETE /cases/{id}/unavailability/{unavailability_id}/": manage(204),
    "GET /cancel-reasons/": read(),
    # Theatre metrics: coordinators, admins and viewers (managers); no patient data in them.
    "GET /reports/theatre-utilisation/": row(401, 200, 200, 403, 403, 403, 200),
    # Authentication (DESIGN §5.7): anyone may try to log in (the empty body is refused); every
    # logged-in user may log out, a role or not.
    "POST /auth/login/": row(400, 400, 400, 400, 400, 400, 400),
    "POST /auth/logout/": row(401, 204, 204, 204, 204, 204, 204),
}

# Paths outside the schema that still carry patient data or are part of the contract.
EXTRA: dict[str, Row] = {
    "GET /cases/{id}/plan/?format=html": read(),
    "GET /availability/ for a case": read(
        query=lambda w: f"?case={w.case_waiting.pk}&date_from=2027-03-01&date_to=2027-03-09"
    ),
    "GET /reports/theatre-utilisation/?format=csv&group_by=surgeon": row(401, 200, 200, 403, 403, 403, 200),
    # Booking patients is a coordinator's act: an admin may preview a fill but not commit it.
    "POST /fill/ commit": row(
        401,
        403,
        201,
        403,
        403,
        403,
        403,
        body=lambda w: {"date_from": "2027-03-01", "date_to": "2027-03-31", "commit": True},
    ),
    # --- The FHIR R4 facade (/fhir/R4/, DESIGN §5.5): the API's roles, unchanged. Anonymous gets
    # 401 (token authentication first, so FHIR clients see `WWW-Authenticate: Token`). Viewers get
    # no Patient resource and no identifiers; coordinators (and admins) alone take referrals.
    "GET /fhir/R4/metadata": fhir_read(),
    "GET /fhir/R4/Patient": row(401, 403, 200, 200, 200, 200, 200),
    "GET /fhir/R4/Patient/{id}": row(401, 403, 200, 200, 200, 200, 200),
    "POST /fhir/R4/Patient/_search": row(
        401, 403, 200, 200, 200, 200, 200, format="form", body=lambda w: {"identifier": f"{NHS_SYSTEM}|{PATIENT_NHS}"}
    ),
    "GET /fhir/R4/Practitioner": fhir_read(),
    "GET /fhir/R4/Practitioner/{id}": fhir_read(target={"id": "surgeon_staff"}),
    "GET /fhir/R4/Location": fhir_read(),
    "GET /fhir/R4/Location/theatre-{id}": fhir_read(target={"id": "theatre"}),
    "GET /fhir/R4/Schedule": fhir_read(),
    "GET /fhir/R4/Schedule/{id}": fhir_read(target={"id": "theatre"}),
    "GET /fhir/R4/Slot": fhir_read(
        query=lambda w: f"?start=ge{w.session.start.date()}&start=lt{w.other_session.end.date()}"
    ),
    "GET /fhir/R4/Slot/case-{id}": fhir_read(target={"id": "case"}),
    "GET /fhir/R4/Appointment": fhir_read(query=lambda w: f"?patient=Patient/{w.patient.pk}"),
    "GET /fhir/R4/Appointment/{id}": fhir_read(),
    "GET /fhir/R4/ServiceRequest": fhir_read(query="?status=active"),
    "GET /fhir/R4/ServiceRequest/{id}": fhir_read(),
    "POST /fhir/R4/ServiceRequest": row(401, 403, 400, 403, 403, 403, 400),  # empty body: no identifier
    "GET /fhir/R4/Procedure": fhir_read(),
    "GET /fhir/R4/Procedure/{id}": fhir_read(target={"id": "case_in_theatre"}),
    # The staff UI's board reads a week of lists in one page (page_size up to 500).
    "GET /sessions/?page_size=500": read(),
    "GET /cases/?page_size=500&status=waiting": read(),
    "GET /patients/?page_size=500": read(),
}


# --- Machinery ------------------------------------------------------------------------------


def schema_operations() -> list[str]:
    schema = served_schema()
    return sorted(
        f"{method.upper()} {path.removeprefix(PREFIX)}"
        for path, item in schema["paths"].items()
        for method in item
        if method in METHODS
    )


OPERATIONS = schema_operations()

# The world object whose id fills a resource's {id} unless the row says otherwise.
DEFAULT_TARGETS: dict[str, str] = {
    "cases": "case",
    "patients": "patient",
    "sessions": "session",
    "sites": "site",
    "theatres": "theatre",
    "equipment": "unit",
    "staff": "surgeon_staff",
    "timetables": "timetable",
    "reminders": "reminder",
    "procedures": "template",
    "versions": "version",
    "unavailability": "unavailability",
    # FHIR resource types (the facade's paths have no trailing slash).
    "Patient": "patient",
    "Appointment": "case",
    "ServiceRequest": "case",
    "Procedure": "case",
    "calendar-feeds": "feed",
}


def _value(world: PermissionWorld, name: str, param: str) -> str:
    if name == "feed":
        return "not-a-live-feed-secret"
    obj: Any = world.patient if name == "patient" else world.version if name == "version" else None
    if name == "template":
        return world.version.template.slug
    if obj is None:
        obj = getattr(world, name)
    if param == "number":
        return str(obj.number)
    return str(obj.pk)


def fill(path: str, world: PermissionWorld, target: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        param = match.group(1)
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        name = target.get(param) or DEFAULT_TARGETS.get(before)
        if name is None:
            pytest.fail(f"No world object for {{{param}}} after /{before}/ in {path}: add one to DEFAULT_TARGETS.")
        return _value(world, name, param)

    return re.sub(r"\{(\w+)\}", substitute, path)


class _Rollback(Exception):
    pass


def call(world: PermissionWorld, role: str, operation: str, spec: Row) -> tuple[int, str]:
    method, path = operation.split(" ", 1)
    query = spec.query(world) if callable(spec.query) else spec.query
    url = ("" if path.startswith("/fhir/") else PREFIX) + fill(path, world, spec.target) + query
    client = world.client(role)
    body = spec.body(world) if spec.body is not None else {}
    result: tuple[int, str] = (0, "")
    clock = (
        mock.patch.object(django_timezone, "now", return_value=spec.clock(world))
        if spec.clock is not None
        else contextlib.nullcontext()
    )
    try:
        with clock, transaction.atomic():
            send = getattr(client, method.lower())
            if method == "GET":
                response = send(url)
            elif spec.format == "form":
                response = send(url, urlencode(body), content_type="application/x-www-form-urlencoded")
            else:
                response = send(url, body, format="json")
            result = (response.status_code, response.content.decode("utf-8", errors="replace"))
            raise _Rollback
    except _Rollback:
        pass
    return result


IDENTIFIERS = (PATIENT_GIVEN, PATIENT_FAMILY, PATIENT_NHS, f"{PATIENT_NHS[:3]} {PATIENT_NHS[3:6]} {PATIENT_NHS[6:]}")
# Viewers never see any identifier: name, NHS number, MRN, date of birth or contact details.
VIEWER_FORBIDDEN = (*IDENTIFIERS, PATIENT_MRN, PATIENT_DOB.isoformat(), PATIENT_EMAIL, PATIENT_PHONE, PATIENT_ADDRESS)


def leaks(role: str, status: int, body: str) -> list[str]:
    forbidden = VIEWER_FORBIDDEN if role == "viewer" else IDENTIFIERS if status >= 400 else ()
    return [text for text in forbidden if text in body]


def check(world: PermissionWorld, operation: str, spec: Row) -> None:
    problems: list[str] = []
    for role in ROLES:
        status, body = call(world, role, operation, spec)
        expected = spec.codes[role]
        if status != expected:
            problems.append(f"{role}: expected {expected}, got {status} {body[:160]}")
        leaked = leaks(role, status, body)
        if leaked:
            problems.append(f"{role}: response ({status}) contains patient identifiers {leaked}")
    assert not problems, f"{operation}\n  " + "\n  ".join(problems)


# --- Tests ----------------------------------------------------------------------------------


def test_every_schema_operation_has_a_row_and_every_row_an_operation() -> None:
    missing = [op for op in OPERATIONS if op not in TABLE]
    stale = [op for op in TABLE if op not in OPERATIONS]
    assert not missing, f"Endpoints without a row in the permission table: {missing}"
    assert not stale, f"Rows for endpoints no longer in the schema: {stale}"


@pytest.mark.django_db
def test_the_leak_check_finds_identifiers_where_they_are_allowed(world: PermissionWorld) -> None:
    """The control: the same check over a coordinator's view of the patient does find them."""
    status, body = call(world, "coordinator", "GET /patients/{id}/", TABLE["GET /patients/{id}/"])
    assert status == 200
    assert set(leaks("viewer", status, body)) == set(VIEWER_FORBIDDEN) - {IDENTIFIERS[-1]}


@pytest.mark.django_db
def test_the_served_schema_is_the_one_walked(world: PermissionWorld) -> None:
    response = world.client("admin").get(f"{PREFIX}/schema/", {"format": "json"})
    assert response.status_code == 200
    served = json.loads(response.content)["paths"]
    walked = {op.split(" ", 1)[1] for op in OPERATIONS}
    assert {path.removeprefix(PREFIX) for path in served} == walked


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS)
def test_permission_matrix(world: PermissionWorld, operation: str) -> None:
    spec = TABLE.get(operation)
    if spec is None:
        pytest.fail(f"{operation} is in the schema but has no row in the permission table.")
    check(world, operation, spec)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", sorted(EXTRA))
def test_permission_matrix_beyond_the_schema(world: PermissionWorld, operation: str) -> None:
    spec = EXTRA[operation]
    base, _, query = operation.partition("?")
    if query and not spec.query:
        spec = dataclasses.replace(spec, query=f"?{query}")
    check(world, " ".join(base.split(" ")[:2]), spec)
