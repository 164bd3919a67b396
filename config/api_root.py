"""GET /api/v1/: every resource of the API, by name, so a newcomer can walk it.

Each app's router makes its own root view, but only the first of them can answer /api/v1/; this
one lists them all, plus the single-purpose endpoints that routers do not know about.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# Name in the answer → URL name. Detail-only routes ({id} in the path) are reached from these.
RESOURCES: dict[str, str] = {
    "sites": "site-list",
    "theatres": "theatre-list",
    "equipment": "equipmentunit-list",
    "staff": "staffmember-list",
    "timetables": "timetable-list",
    "sessions": "session-list",
    "procedures": "procedure-list",
    "patients": "patient-list",
    "cases": "case-list",
    "availability": "availability",
    "fill": "fill",
    "reminders": "reminders",
    "cancel-reasons": "cancel-reasons",
    "reports/theatre-utilisation": "theatre-utilisation",
    "me": "me",
    "auth/login": "auth-login",
    "auth/logout": "auth-logout",
    "schema": "schema",
    "docs": "swagger-ui",
}


class ApiRootView(APIView):
    """The API's resources and where they live."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({name: reverse(url, request=request) for name, url in RESOURCES.items()})
