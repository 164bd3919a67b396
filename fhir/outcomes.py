"""Errors as FHIR OperationOutcome: every failure of the facade, whatever raised it.

FHIR issue-type codes (http://hl7.org/fhir/issue-type): `not-found`, `invalid`, `code-invalid`,
`not-supported`, `login`, `forbidden`, `conflict`, `exception`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status

from core.db import is_lock_contention
from core.errors import DomainError

logger = logging.getLogger(__name__)


class FhirError(Exception):
    """A request the facade refuses: HTTP `status`, FHIR issue `code`, and what to tell the client."""

    def __init__(self, status: int, code: str, diagnostics: str, *, expression: list[str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression or []


def not_found(diagnostics: str) -> FhirError:
    return FhirError(status.HTTP_404_NOT_FOUND, "not-found", diagnostics)


def invalid(diagnostics: str, *, expression: list[str] | None = None, code: str = "invalid") -> FhirError:
    return FhirError(status.HTTP_400_BAD_REQUEST, code, diagnostics, expression=expression)


def operation_outcome(code: str, diagnostics: str, *, expression: list[str] | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# DRF's exceptions (authentication, permission, method, parsing, throttling) as FHIR issue codes.
_API_EXCEPTION_CODES: tuple[tuple[type[exceptions.APIException], str], ...] = (
    (exceptions.NotAuthenticated, "login"),
    (exceptions.AuthenticationFailed, "login"),
    (exceptions.PermissionDenied, "forbidden"),
    (exceptions.NotFound, "not-found"),
    (exceptions.MethodNotAllowed, "not-supported"),
    (exceptions.NotAcceptable, "not-supported"),
    (exceptions.UnsupportedMediaType, "not-supported"),
    (exceptions.ParseError, "structure"),
    (exceptions.ValidationError, "invalid"),
    (exceptions.Throttled, "throttled"),
)


def outcome_for(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(HTTP status, OperationOutcome) for any exception a FHIR view raised."""
    if isinstance(exc, FhirError):
        return exc.status, operation_outcome(exc.code, exc.diagnostics, expression=exc.expression)
    if isinstance(exc, DomainError):
        # A service's own refusal: 400 for bad values (naming the field), 409 for a broken rule.
        fields = list((exc.extra.get("errors") or {}).keys())
        code = "invalid" if exc.status == status.HTTP_400_BAD_REQUEST else "conflict"
        return exc.status, operation_outcome(code, f"{exc.code}: {exc.detail}", expression=fields)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        code = next((c for kind, c in _API_EXCEPTION_CODES if isinstance(exc, kind)), "processing")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return exc.status_code, operation_outcome(code, detail)
    if isinstance(exc, OverflowError):
        return status.HTTP_400_BAD_REQUEST, operation_outcome("invalid", "A date is outside the supported range.")
    if is_lock_contention(exc):
        return status.HTTP_409_CONFLICT, operation_outcome("conflict", "The schedule is busy; try again.")
    # A bug. Logged with its traceback; the client still gets FHIR, never an HTML error page.
    logger.exception("FHIR facade error")
    return status.HTTP_500_INTERNAL_SERVER_ERROR, operation_outcome("exception", "Internal error.")
