"""GET/POST /cases/{id}/times/: what happened in theatre (DESIGN §5.1).

Registered on the router with the prefix `cases`, beside CaseViewSet, like the plan routes.
Every role reads a case's times (they carry no patient identifiers); the case's theatre team and
coordinators record them, and a surgeon from another list is refused before the body is read.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.error_codes import raises
from core.api.fields import AwareDateTimeField
from core.audit import Actor
from core.errors import ErrorCode
from core.idempotency import idempotent
from core.roles import Role, has_role
from scheduling import theatre_times
from scheduling.milestones import MILESTONES, RECORDING_REFUSALS, minutes_between
from scheduling.models import Case
from scheduling.theatre_times import CaseTimesView


class RecordsTimes(BasePermission):
    """Every role reads; coordinators, admins and this case's theatre team record."""

    message = "Times are recorded by this case's theatre team or a coordinator."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request.user, *Role)
        return has_role(request.user, Role.COORDINATOR, Role.SURGEON, Role.ANAESTHETIST)

    def has_object_permission(self, request: Request, view: Any, obj: Case) -> bool:
        return request.method in SAFE_METHODS or theatre_times.may_record(request.user, obj)


def _milestone_field(**kwargs: Any) -> AwareDateTimeField:
    return AwareDateTimeField(required=False, allow_null=True, **kwargs)


class MilestonesInput(serializers.Serializer[dict[str, Any]]):
    """The milestones to set (null clears one: a correction); unknown names are refused."""

    anaesthesia_start = _milestone_field(help_text="Anaesthesia starts (anaesthetic room or theatre).")
    in_theatre = _milestone_field(help_text="The patient enters theatre.")
    knife_to_skin = _milestone_field(help_text="The first incision (for KP/VP: the trocar goes in).")
    closure = _milestone_field(help_text="The wound is closed; the operation is over.")
    out_of_theatre = _milestone_field(help_text="The patient leaves theatre: touch time ends.")
    in_recovery = _milestone_field(help_text="The patient arrives in recovery.")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(str(name) for name in data if name not in MILESTONES)
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Not a milestone; use {', '.join(MILESTONES)}."] for name in unknown}
                )
        return dict(super().to_internal_value(data))


class TimesInput(serializers.Serializer[dict[str, Any]]):
    milestones = MilestonesInput()
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="Required when a recorded milestone is changed or cleared (a correction).",
    )


class TouchOutput(serializers.Serializer[dict[str, Any]]):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    minutes = serializers.IntegerField()


class MilestonesOutput(serializers.Serializer[dict[str, Any]]):
    anaesthesia_start = serializers.DateTimeField(allow_null=True)
    in_theatre = serializers.DateTimeField(allow_null=True)
    knife_to_skin = serializers.DateTimeField(allow_null=True)
    closure = serializers.DateTimeField(allow_null=True)
    out_of_theatre = serializers.DateTimeField(allow_null=True)
    in_recovery = serializers.DateTimeField(allow_null=True)


class TimesOutput(serializers.Serializer[CaseTimesView]):
    case = serializers.IntegerField(source="case.pk")
    reference = serializers.CharField(source="case.reference")
    status = serializers.CharField(source="case.status")
    session = serializers.IntegerField(source="session_id", allow_null=True)
    milestones = MilestonesOutput()
    touch = serializers.SerializerMethodField(help_text="anaesthesia_start (else in_theatre) to out_of_theatre.")
    order = serializers.SerializerMethodField(help_text="The milestones in the order they must happen.")

    @extend_schema_field(TouchOutput(allow_null=True))
    def get_touch(self, view: CaseTimesView) -> dict[str, Any] | None:
        touch = view.touch
        if touch is None:
            return None
        start, end = touch
        return dict(TouchOutput({"start": start, "end": end, "minutes": minutes_between(start, end)}).data)

    def get_order(self, view: CaseTimesView) -> list[str]:
        return list(MILESTONES)


class CaseTimesViewSet(viewsets.GenericViewSet[Case]):
    permission_classes = [RecordsTimes]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Case]:
        return Case.objects.select_related("session")

    @extend_schema(
        methods=["GET"],
        responses={200: TimesOutput},
        tags=["cases"],
        summary="The case's theatre milestones and touch time",
    )
    @extend_schema(
        methods=["POST"],
        request=TimesInput,
        responses={200: TimesOutput},
        tags=["cases"],
        summary="Record or correct theatre milestones (merged; a correction needs a reason)",
    )
    # The POST records through _record, which is idempotent; only a case in theatre takes times.
    @raises(400, *RECORDING_REFUSALS, methods=["POST"])
    @raises(409, ErrorCode.INVALID_TRANSITION, ErrorCode.IDEMPOTENCY_MISMATCH, methods=["POST"])
    @action(detail=True, methods=["get", "post"])
    def times(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        if request.method == "GET":
            return Response(TimesOutput(theatre_times.times_of(case)).data)
        return self._record(request, case)

    @idempotent
    def _record(self, request: Request, case: Case) -> Response:
        body = TimesInput(data=request.data)
        body.is_valid(raise_exception=True)
        recorded = theatre_times.record_times(
            case_id=case.pk,
            values=body.validated_data["milestones"],
            reason=body.validated_data["reason"],
            actor=Actor.of(request.user),
        )
        return Response(TimesOutput(recorded).data, status=status.HTTP_200_OK)
