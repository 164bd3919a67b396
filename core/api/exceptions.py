"""The single exception handler: every error leaves the API as `{code, detail, ...}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.db import is_lock_contention
from core.errors import DomainError, ErrorCode


def _first_code(codes: Any) -> str:
    """DRF's get_codes() is a str, a list or a dict of those; find the first leaf."""
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    if isinstance(codes, dict) and codes:
        return _first_code(next(iter(codes.values())))
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _handle(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # An error is JSON whatever the client asked for (`?format=html` on a plan, `.ics` on a
        # calendar): the {code, detail} body is the one contract every client can read.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"
    return response


def _handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, OverflowError):
        # A date far in the future (year 9999) overflowing date arithmetic is bad input, not a crash.
        return Response(
            {
                "code": ErrorCode.OUT_OF_RANGE.value,
                "detail": "A date or time in the request is outside the supported range.",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if is_lock_contention(exc):
        # Any write (not only booking) that could not get its row lock in time: the request
        # rolled back whole, so the client may simply try again.
        return Response(
            {"code": ErrorCode.BUSY.value, "detail": "The schedule is busy with another change; try again."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"code": ErrorCode.TOO_LARGE.value, "detail": "The request body is over the size limit."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        # 400 keeps DRF's field errors under `errors` and adds the machine-readable code.
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            {"code": ErrorCode.INVALID.value, "detail": "The request has invalid fields.", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {"code": _first_code(exc.get_codes()), "detail": detail}
    return response
