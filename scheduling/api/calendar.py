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
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from core.roles import Role, has_role
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


class StaffCalendarView(APIView):
    renderer_classes = [JSONRenderer, ICalendarRenderer]

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.STR})
    def get(self, request: Request, pk: int) -> HttpResponse:
        staff = get_object_or_404(StaffMember, pk=pk)
        own = staff.user_id is not None and staff.user_id == request.user.pk
        if not (own or has_role(request.user, Role.COORDINATOR)):
            raise PermissionDenied("Only the staff member, coordinators and admins may read this calendar.")
        response = HttpResponse(staff_calendar(staff=staff), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="staff-{staff.pk}.ics"'
        return response
