"""The error ledger: every error the test suite sees under /api/v1/, checked against the schema.

Each operation documents its own error `code`s (core/api/error_codes.py, core/api/schema.py).
This ties that documentation to what the API really answers: tests/conftest.py puts
`ErrorLedgerMiddleware` first in MIDDLEWARE when the session starts, so every test Client and
the fuzzer's live server (pytest-django runs it in this process) pass through it. It records
each error response as (method, path, status, code, test). When the session ends, `undocumented`
compares the records with the schema, and any status or code an operation answered without
documenting it fails the run, with the test that produced it.

The invariant is observed ⊆ documented, so it holds for any subset of the suite. The reverse
(documented codes no test produced) is printed as a figure, not enforced: a code can be right to
document and still be hard to provoke (a lock timeout, a concurrent insert).

The same middleware holds every other answer to its schema too: a successful answer's status
must be documented, and any answer's content type and body must match what its operation
documents for that status (`breaches`, judged by schemathesis, the fuzzer's own
validator). The fuzzer checks that only for the calls its seed reaches: a bare array where the
schema promised a page was found on one random seed in many. Here every request of every test
is checked, the staff UI's through the live server included, and any breach fails the run.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse

PREFIX = "/api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")
MIDDLEWARE = "tests.api.error_ledger.ErrorLedgerMiddleware"


@dataclass(frozen=True)
class Observed:
    method: str
    path: str  # the path as requested
    status: int
    code: str | None  # None: the body was not a JSON object with a `code`
    test: str


@dataclass(frozen=True)
class Offence:
    observed: Observed
    operation: str  # "POST /api/v1/cases/{id}/book/"

    def __str__(self) -> str:
        o = self.observed
        return f"{self.operation} answered {o.status} `{o.code}` (requested {o.method} {o.path}) in {o.test}"


_lock = threading.Lock()
LEDGER: list[Observed] = []
# The test running now (set by tests/conftest.py); the live server's threads record under it too.
current_test = ""


def record(observed: Observed) -> None:
    with _lock:
        LEDGER.append(observed)


def _code_of(response: HttpResponse) -> str | None:
    if getattr(response, "streaming", False) or "json" not in response.get("Content-Type", ""):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


@dataclass(frozen=True)
class Breach:
    method: str
    path: str
    status: int
    problem: str
    test: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} answered {self.status} in {self.test}: {self.problem}"


BREACHES: list[Breach] = []
_judging = threading.Lock()


class ErrorLedgerMiddleware:
    """Records every 4xx under /api/v1/, and every answer that breaks its schema (outermost, so
    it sees what the client sees)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(PREFIX):
            return response
        method = (request.method or "").upper()
        # 4xx only: a 5xx is never part of the contract. The fuzzer fails on any it meets, and a
        # test that provokes one on purpose (a failure mid-publish rolls back) asserts it itself.
        if 400 <= response.status_code < 500:
            record(Observed(method, request.path, response.status_code, _code_of(response), current_test))
        if response.status_code < 500:
            try:
                problems = breaches(method, request.get_full_path(), response)
            except Exception as error:  # noqa: BLE001 - the check must not become the API's 500
                problems = [f"the contract check itself failed: {error!r}"]
            with _lock:
                BREACHES.extend(Breach(method, request.path, response.status_code, p, current_test) for p in problems)
        return response


# --- Bodies against the schema ------------------------------------------------------------------


@cache
def served_schema() -> dict[str, Any]:
    """The OpenAPI schema the API serves, generated once per process (about 1.4 s) for every test
    that reads it. Read it; never change it."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-untyped-call, no-any-return]


@cache
def _contract() -> Any:
    """schemathesis's reading of the served schema, on its own copy (it may resolve in place)."""
    import schemathesis

    return schemathesis.openapi.from_dict(copy.deepcopy(served_schema()))


def breaches(method: str, url: str, response: HttpResponse) -> list[str]:
    """What in an answer its operation's schema does not say: a 1xx–3xx status it does not
    document (undocumented 4xx are the ledger's), a content type it does not document for the
    status, or a body that breaks the schema it documents. A path or method the schema lacks is
    not checked. (Headers are not: the schema marks none of them required.)"""
    import requests
    import schemathesis
    from schemathesis.core.failures import Failure, FailureGroup

    if method in ("HEAD", "OPTIONS") or getattr(response, "streaming", False):
        return []
    answered = schemathesis.Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.items()},
        content=response.content,
        request=requests.Request(method, f"http://testserver{url}").prepare(),
        elapsed=0.0,
        verify=True,
    )
    # drf-spectacular's schema generation, and schemathesis's operation lookup and validators,
    # are built lazily without locks of their own (two live-server threads generating the schema
    # at once crashed in drf-spectacular), and the live server answers the staff UI's parallel
    # requests on several threads.
    with _judging:
        operation = _contract().find_operation_by_path(method, url.split("?", 1)[0])
        if operation is None:
            return []
        documented = operation.definition.raw.get("responses", {}).get(str(response.status_code))
        if documented is None:
            return [] if response.status_code >= 400 else [f"status {response.status_code} is not documented"]
        # schemathesis validates the body against the schema of the answer's own media type, and
        # finds none (so judges nothing) when that media type is not documented.
        wrong_media = _media_type_breach(documented, response)
        if wrong_media:
            return [wrong_media]
        try:
            operation.validate_response(answered)
        except FailureGroup as group:
            return [_said(failure) for failure in group.exceptions]
        except Failure as failure:
            return [_said(failure)]
    return []


def _media_type_breach(documented: dict[str, Any], response: HttpResponse) -> str | None:
    """An answer with a body in a media type its status does not document (HTML where JSON is
    promised), or with a body where the status documents none."""
    media = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    content = documented.get("content") or {}
    if not content:
        return f"a body ({media or 'no content type'}) where none is documented" if response.content else None
    if media not in {name.lower() for name in content}:
        return f"content type {media or '(none)'} is not documented (documented: {', '.join(sorted(content))})"
    return None


def _said(failure: Any) -> str:
    """The failure's first paragraph: what is wrong, without the schema printed after it."""
    return f"{failure.title}: {failure.message.split(chr(10) * 2, 1)[0]}"[:400]


# --- The comparison --------------------------------------------------------------------------

Documented = dict[tuple[str, str], dict[int, frozenset[str]]]  # (METHOD, template) → status → codes


def _codes_of(response: Mapping[str, Any]) -> frozenset[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    for part in schema.get("allOf", [schema]):
        enum = part.get("properties", {}).get("code", {}).get("enum")
        if enum is not None:
            return frozenset(enum)
    return frozenset()


def documented(schema: Mapping[str, Any]) -> Documented:
    """Every operation's documented error statuses, each with its `code` enum."""
    found: Documented = {}
    for template, item in schema["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found[(method.upper(), template)] = {
                int(status): _codes_of(response)
                for status, response in operation["responses"].items()
                if status[0] in "45"
            }
    return found


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def template_of(path: str, templates: Iterable[str]) -> str | None:
    """The schema path a request path stands for: literal segments beat `{param}` ones
    (`/cases/{id}/plan/approve/` over a parameter that would swallow `plan`)."""
    matches = [t for t in templates if _pattern(t).match(path)]
    if not matches:
        return None
    return min(matches, key=lambda t: (t.count("{"), -len(re.sub(r"\{[^}]+\}", "", t))))


def undocumented(records: Iterable[Observed], docs: Documented) -> list[Offence]:
    """The records whose status, or whose code, their operation does not document. A path no
    operation has (an unknown URL, the schema itself) or a method it lacks (405) is not checked."""
    templates = {template for _, template in docs}
    offences: list[Offence] = []
    for observed in records:
        template = template_of(observed.path, templates)
        statuses = docs.get((observed.method, template)) if template else None
        if statuses is None:
            continue
        codes = statuses.get(observed.status)
        if codes is None or observed.code not in codes:
            offences.append(Offence(observed, f"{observed.method} {template}"))
    return offences


def exercised(records: Iterable[Observed], docs: Documented) -> set[tuple[str, str, int, str]]:
    """The documented (method, template, status, code) the records show."""
    templates = {template for _, template in docs}
    seen: set[tuple[str, str, int, str]] = set()
    for observed in records:
        template = template_of(observed.path, templates)
        if (
            template
            and observed.code
            and observed.code in docs.get((observed.method, template), {}).get(observed.status, ())
        ):
            seen.add((observed.method, template, observed.status, observed.code))
    return seen


def all_pairs(docs: Documented) -> set[tuple[str, str, int, str]]:
    return {
        (method, template, status, code)
        for (method, template), statuses in docs.items()
        for status, codes in statuses.items()
        for code in codes
    }
