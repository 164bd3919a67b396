"""GET /staff/{id}/calendar.ics: a staff member's lists and cases as iCalendar.

Who may read it: the staff member themselves (StaffMember.user), coordinators and admins. Other
surgeons, anaesthetists and viewers get 403: the feed is a person's own diary (where they are
and when), and the lists they need are readable through /sessions/ anyway.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.audit import Actor
from core.roles import Role, has_role
from scheduling.calendar_feeds import revoke_feed, rotate_feed, staff_for_feed
from scheduling.staff_calendar import staff_calendar
from theatre.models import StaffMember


class ICalendarRenderer(BaseRenderer):
    """Lets a client ask for text/calendar; errors still come out as the usual {code, detail}."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode()


def _own_or_coordinator(request: Request, pk: int) -> StaffMember:
    staff = get_object_or_404(StaffMember, pk=pk)
    own = staff.user_id is not None and staff.user_id == request.user.pk
    if not (own or has_role(request.user, Role.COORDINATOR)):
        raise PermissionDenied("Only the staff member, coordinators and admins may read this calendar.")
    return staff


def _calendar_response(staff: StaffMember) -> HttpResponse:
    response = HttpResponse(staff_calendar(staff=staff), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="staff-{staff.pk}.ics"'
    return response


class StaffCalendarView(APIView):
    renderer_classes = [JSONRenderer, ICalendarRenderer]

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR})
    def get(self, request: Request, pk: int) -> HttpResponse:
        return _calendar_response(_own_or_coordinator(request, pk))


class FeedUrlOutput(serializers.Serializer[Any]):
    url = serializers.URLField(help_text="The feed's private URL: shown only now; subscribe to it in a calendar app.")


class StaffCalendarFeedView(APIView):
    """POST makes (or rotates) the staff member's private feed URL; DELETE revokes it.

    The staff member themselves, coordinators and admins. Rotating kills the old URL at once.
    """

    @extend_schema(request=None, responses={201: FeedUrlOutput})
    def post(self, request: Request, pk: int) -> Response:
        staff = _own_or_coordinator(request, pk)
        secret = rotate_feed(staff=staff, actor=Actor.of(request.user))
        url = request.build_absolute_uri(reverse("calendar-feed", kwargs={"secret": secret}))
        return Response({"url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        revoke_feed(staff=_own_or_coordinator(request, pk), actor=Actor.of(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalendarFeedView(APIView):
    """GET /calendar-feeds/{secret}.ics: a staff member's feed for a calendar app, without a login.

    The secret in the path is the credential; an unknown, rotated or revoked one is 404.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, ICalendarRenderer]

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR}, auth=[])
    def get(self, request: Request, secret: str) -> HttpResponse:
        staff = staff_for_feed(secret)
        if staff is None:
            raise NotFound()
        return _calendar_response(staff)
