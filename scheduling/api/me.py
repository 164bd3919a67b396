"""GET /me/: who the logged-in user is, so a client (the staff UI) shows only what they may do.

It tells, it does not grant: every operation still checks its own permission on the server.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import can_see_patient_identifiers, is_admin, roles_of
from theatre.models import StaffMember


class StaffLinkSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


MeOutput = inline_serializer(
    "Me",
    {
        "id": serializers.IntegerField(),
        "username": serializers.CharField(),
        "name": serializers.CharField(help_text="The user's full name, or the username."),
        "roles": serializers.ListField(
            child=serializers.CharField(), help_text="Role groups: coordinator, surgeon, anaesthetist, viewer."
        ),
        "is_admin": serializers.BooleanField(),
        "identified": serializers.BooleanField(help_text="Whether this user may see patient identifiers."),
        "staff": StaffLinkSerializer(allow_null=True, help_text="The staff member this login belongs to, if any."),
        "time_zone": serializers.CharField(help_text="The zone times are shown in (TIME_ZONE)."),
    },
)


class MeView(APIView):
    """The current user's roles and staff link; every role may ask (default HasRole)."""

    @extend_schema(responses=MeOutput, summary="The logged-in user, their roles and staff link")
    def get(self, request: Request) -> Response:
        user = request.user
        # HasRole let only an authenticated user in, so there is a primary key.
        staff = StaffMember.objects.filter(user__pk=user.pk or 0).only("id", "name", "role").first()
        return Response(
            {
                "id": user.pk,
                "username": user.get_username(),
                "name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
                "roles": sorted(roles_of(user)),
                "is_admin": is_admin(user),
                "identified": can_see_patient_identifiers(user),
                "staff": {"id": staff.pk, "name": staff.name, "role": staff.role} if staff is not None else None,
                "time_zone": settings.TIME_ZONE,
            }
        )
