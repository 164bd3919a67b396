"""GET /reminders/?case=<id>: a case's reminders, their status and the planning warnings.

Coordinators, surgeons, anaesthetists and admins see where each reminder goes; viewers see the
same rows without the patient's address (no contact details for viewers, DESIGN §3).
Three queries whatever the number of rows: roles, the case with its plan and patient, the rows.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput
from core.roles import can_see_patient_identifiers
from scheduling.models import Case, Reminder
from scheduling.reminders.planning import patient_address, reminder_warnings


class WarningSerializer(serializers.Serializer[dict[str, str]]):
    code = serializers.CharField()
    detail = serializers.CharField()


class ReminderSerializer(serializers.ModelSerializer[Reminder]):
    recipient = serializers.SerializerMethodField()

    class Meta:
        model = Reminder
        fields = [
            "id",
            "kind",
            "channel",
            "due_at",
            "status",
            "sent_at",
            "attempts",
            "last_error",
            "skip_reason",
            "next_attempt_at",
            "recipient",
        ]
        extra_kwargs = {
            "skip_reason": {
                "help_text": "With status `skipped`: why the reminder was never sent "
                "(appointment_passed, case_completed, case_in_theatre, case_cancelled, case_not_completed)."
            }
        }

    # Left out for viewers: optional in the schema (core/api/schema.py).
    role_dependent_fields = ("recipient",)

    def get_recipient(self, row: Reminder) -> str | None:
        if not self.context.get("identified"):
            return None
        return patient_address(self.context["case"].patient, row.channel)

    def to_representation(self, instance: Reminder) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("identified"):
            data.pop("recipient", None)
            data["last_error"] = "" if not instance.last_error else "delivery failed"  # may quote an address
        return data


class CaseQuerySerializer(serializers.Serializer[dict[str, int]]):
    case = serializers.IntegerField(min_value=1)


class CaseRemindersView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("case", int, required=True)],
        responses=inline_serializer(
            "CaseReminders",
            {
                "case": serializers.IntegerField(),
                "reference": serializers.CharField(),
                "warnings": WarningSerializer(many=True),
                "count": serializers.IntegerField(),
                "results": ReminderSerializer(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = CaseQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidInput("case", "Give the case id, e.g. ?case=12.")
        case = get_object_or_404(
            Case.objects.select_related("patient", "reminder_plan"), pk=query.validated_data["case"]
        )
        rows = list(Reminder.objects.filter(case=case).order_by("due_at", "id"))
        identified = can_see_patient_identifiers(request.user)
        out = ReminderSerializer(rows, many=True, context={"identified": identified, "case": case})
        return Response(
            {
                "case": case.pk,
                "reference": case.reference,
                "warnings": reminder_warnings(case),
                "count": len(rows),
                "results": out.data,
            }
        )
