"""Idempotency-Key for booking POSTs (DESIGN §3): a repeat returns the first response.

The key is scoped to the user. The first request and its record commit in one transaction, so
a crash between "booked" and "remembered" cannot happen. Two requests with the same key at once
serialise on an advisory lock; the second then finds the record and replays it. Only successful
responses are remembered: a failed request changed nothing, so repeating it is safe.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.error_codes import raises
from core.errors import DomainError, ErrorCode
from core.models import IdempotencyRecord

HEADER = "Idempotency-Key"

# A client retries within seconds or minutes; a day is ample. The stored responses hold patient
# details, so they are not kept longer than the retry window needs.
RETENTION = dt.timedelta(hours=24)

ViewMethod = Callable[..., Response]


def _request_hash(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _serialise_same_key(user_id: int, key: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"idem:{user_id}:{key}"])
    # SQLite (make run) takes its write lock at BEGIN IMMEDIATE, which already serialises.


def idempotent(view_method: ViewMethod) -> ViewMethod:
    """Decorate a DRF view method (self, request, ...) so that it honours Idempotency-Key."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 255:
            raise exceptions.ValidationError({HEADER: ["Must be at most 255 characters."]})
        user = request.user
        if not isinstance(user, User):
            raise exceptions.NotAuthenticated()
        digest = _request_hash(request)
        with transaction.atomic():
            _serialise_same_key(user.pk, key)
            previous = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if previous is not None:
                if previous.request_hash != digest:
                    raise DomainError(
                        ErrorCode.IDEMPOTENCY_MISMATCH,
                        "This Idempotency-Key was already used for a different request.",
                    )
                replay = Response(previous.response_body, status=previous.response_status)
                replay["Idempotent-Replayed"] = "true"
                return replay
            response = view_method(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=request.method or "",
                    path=request.path[:255],
                    request_hash=digest,
                    response_status=response.status_code,
                    response_body=response.data,
                )
            return response

    # A reused key with another body: the one 409 this wrapper adds to the view's own.
    return raises(409, ErrorCode.IDEMPOTENCY_MISMATCH)(wrapper)


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete remembered responses older than RETENTION; returns how many went."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
