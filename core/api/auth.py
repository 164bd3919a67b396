"""POST /api/v1/auth/login/ and /auth/logout/ (DESIGN §5.7): expiring API tokens for clients.

- Login checks the password through django-axes (AUTHENTICATION_BACKENDS), so the same lockout
  guards it as the browser's login pages: AXES_FAILURE_LIMIT failures for a username or from an
  address lock them out for the cool-off. The answers are the same whether or not the account
  exists: 401 `invalid_credentials` for a wrong name or password, 429 `locked_out` (with
  Retry-After) during a lockout, even with the right password.
- A token is django-rest-knox's: stored as a hash, one per device (a login makes a new one),
  expiring after API_TOKEN_TTL_HOURS (API_SERVICE_TOKEN_TTL_HOURS for a named service account),
  revoked by logout. It is shown once, in the login's answer.
- axes records every success (AccessLog), failure (AccessFailureLog) and lockout (AccessAttempt),
  with username and address, never a password; a lockout is also logged as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.error_codes import raises
from core.errors import ErrorCode

logger = logging.getLogger(__name__)


class InvalidCredentials(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "The username or password is not right."
    default_code = ErrorCode.INVALID_CREDENTIALS.value


class LockedOut(exceptions.Throttled):
    default_detail = "Too many failed logins: try again later."
    default_code = ErrorCode.LOCKED_OUT.value


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what any login answers during a lockout. Under /api/ the usual
    {code, detail} with Retry-After; elsewhere (the browser login pages) a plain 429 page. Neither
    names the account, so neither tells whether it exists."""
    wait = int(settings.AXES_COOLOFF_TIME.total_seconds())
    if request.path.startswith("/api/"):
        body = {"code": ErrorCode.LOCKED_OUT.value, "detail": LockedOut.default_detail}
        response: HttpResponse = JsonResponse(body, status=429)
    else:
        response = HttpResponse(
            "Too many failed logins: try again later.", status=429, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = str(wait)
    return response


class LoginInput(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class LoginOutput(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only here.")
    expires_at = serializers.DateTimeField()


def token_lifetime(user: User) -> dt.timedelta:
    """A person's token lasts a working day; a named service account's, longer."""
    if user.groups.filter(name=settings.API_SERVICE_ACCOUNT_GROUP).exists():
        return dt.timedelta(hours=settings.API_SERVICE_TOKEN_TTL_HOURS)
    return dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def issue_token(user: User) -> tuple[str, dt.datetime | None]:
    """A new token for one more device; the raw value is returned once and stored hashed.

    Expired tokens are cleared; past API_TOKENS_PER_USER live ones, the oldest is revoked (a new
    device pushes out the longest-unused login rather than locking the person out)."""
    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lt=timezone.now()).delete()
    keep = max(settings.API_TOKENS_PER_USER - 1, 0)
    stale = list(tokens.order_by("-created").values_list("pk", flat=True)[keep:])
    if stale:
        AuthToken.objects.filter(pk__in=stale).delete()
    instance, token = AuthToken.objects.create(user=user, expiry=token_lifetime(user))
    return token, instance.expiry


class LoginView(APIView):
    """An API token for a username and password, under the login lockout."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @raises(401, ErrorCode.INVALID_CREDENTIALS)
    @raises(429, ErrorCode.LOCKED_OUT)
    @extend_schema(request=LoginInput, responses={200: LoginOutput}, auth=[])
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        django_request = request._request
        user = authenticate(
            django_request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if getattr(django_request, "axes_locked_out", False):
            logger.warning("login locked out (API)")
            raise LockedOut(wait=settings.AXES_COOLOFF_TIME.total_seconds())
        if not isinstance(user, User):
            raise InvalidCredentials()
        token, expires_at = issue_token(user)
        # axes records the success and clears the failures; Django stamps last_login.
        user_logged_in.send(sender=User, request=django_request, user=user)
        return Response({"token": token, "expires_at": expires_at})


class LogoutView(APIView):
    """Revokes the token that made the request (or ends the browser session)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
