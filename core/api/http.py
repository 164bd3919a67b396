"""Everything under /api/ answers JSON `{code, detail}`, even where DRF never sees the request.

- an unknown URL under /api/ (a catch-all at the end of the URLconf): 404 `not_found`;
- a request body over `API_MAX_BODY_BYTES`, refused before anything reads it: 413 `too_large`;
- Django's own 400 and 500 handlers, for requests under /api/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt

from core.errors import ErrorCode

API_PREFIX = "/api/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt  # it changes nothing, and a POST with a session cookie must get the 404 too
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all under /api/: no such resource (said the same way for every caller)."""
    return error(404, ErrorCode.NOT_FOUND.value, "Not found.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return error(400, ErrorCode.BAD_REQUEST.value, "The request could not be read.")
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return error(500, ErrorCode.SERVER_ERROR.value, "The server failed to answer; the error has been logged.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/ (DRF's own views answer CSRF failures themselves)."""
    if request.path.startswith(API_PREFIX):
        return error(403, "permission_denied", "CSRF check failed: send the X-CSRFToken header with a session.")
    return csrf.csrf_failure(request, reason)


class ApiBodyLimitMiddleware:
    """413 `too_large` for a body declared longer than the limit, before any parser reads it.

    DRF's JSON parser reads the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE alone does
    not stop a megabyte body there; the field limits (core/api/strict.py) then refuse what fits.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Writes only: a GET's body has no meaning and is never read (the schema documents 413 for
        # every write, core/api/schema.py).
        if request.path.startswith(API_PREFIX) and request.method in WRITE_METHODS:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error(400, ErrorCode.BAD_REQUEST.value, "The Content-Length header is not a number.")
            if length > settings.API_MAX_BODY_BYTES:
                limit = settings.API_MAX_BODY_BYTES
                return error(413, ErrorCode.TOO_LARGE.value, f"The request body is over the limit of {limit} bytes.")
        return self.get_response(request)
