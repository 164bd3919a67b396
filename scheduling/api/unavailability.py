"""/cases/{id}/unavailability/: the days a case's patient cannot come in (patient not ready).

DESIGN.md names no path for this; it sits under the case like the plan and the times, registered
on the router with the prefix `cases`. Every role reads the periods (viewers without the free-text
note, which can describe the patient); coordinators and admins add and remove them, audited.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.error_codes import raises
from core.audit import Actor
from core.errors import ErrorCode
from core.idempotency import idempotent
from core.permissions import CoordinatorWritesOthersRead
from core.roles import can_see_patient_identifiers
from scheduling import unavailability
from scheduling.api.serializers import IdentifierAware
from scheduling.models import Case, CaseUnavailability, UnavailabilityReason
from scheduling.waiting import pauses_the_wait


class UnavailabilityInput(serializers.Serializer[dict[str, Any]]):
    start_date = serializers.DateField(help_text="First local day the patient is unavailable.")
    end_date = serializers.DateField(help_text="Last local day the patient is unavailable (inclusive).")
    reason = serializers.ChoiceField(choices=UnavailabilityReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    patient_initiated = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The patient's own unavailability after declining reasonable offers of admission (at least "
        "two, each 3 or more weeks ahead): pauses the treat-by date (NHS RTT rules). Never for `unfit`.",
    )


class UnavailabilityOutput(IdentifierAware):
    # Free text a coordinator types can describe the patient, so only those who see identifiers
    # see it (and the schema does not promise it to the others).
    identifier_fields = ("note",)
    pauses_treat_by = serializers.SerializerMethodField(help_text="Whether this period moves the treat-by date.")

    class Meta:
        model = CaseUnavailability
        fields = [
            "id",
            "case",
            "start_date",
            "end_date",
            "reason",
            "note",
            "patient_initiated",
            "pauses_treat_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_pauses_treat_by(self, period: CaseUnavailability) -> bool:
        return pauses_the_wait(reason=period.reason, patient_initiated=period.patient_initiated)


class UnavailabilityAdded(UnavailabilityOutput):
    booked_inside = serializers.BooleanField(
        help_text="The case is already booked on one of these days: move or cancel it (the case shows "
        "unavailable_on_booked_date until then)."
    )
    treat_by = serializers.DateField(allow_null=True, help_text="The case's treat-by date with this period.")

    class Meta(UnavailabilityOutput.Meta):
        fields = [*UnavailabilityOutput.Meta.fields, "booked_inside", "treat_by"]
        read_only_fields = fields


class CaseUnavailabilityViewSet(viewsets.GenericViewSet[Case]):
    permission_classes = [CoordinatorWritesOthersRead]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Case]:
        return Case.objects.all()

    def _context(self) -> dict[str, Any]:
        return {"identified": can_see_patient_identifiers(self.request.user)}

    @extend_schema(
        methods=["GET"],
        responses={200: UnavailabilityOutput(many=True)},
        tags=["cases"],
        summary="The days the case's patient is unavailable",
    )
    @extend_schema(
        methods=["POST"],
        request=UnavailabilityInput,
        responses={201: UnavailabilityAdded},
        tags=["cases"],
        summary="Record days the patient is unavailable (409 patient_unavailable then refuses booking them)",
    )
    # The POST records through _add, which is idempotent; a closed case takes no periods.
    @raises(409, ErrorCode.INVALID_TRANSITION, ErrorCode.IDEMPOTENCY_MISMATCH, methods=["POST"])
    @action(detail=True, methods=["get", "post"], url_path="unavailability")
    def unavailability(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        if request.method == "GET":
            periods = CaseUnavailability.objects.filter(case=case).order_by("start_date", "id")
            # Paged like every other list in the API (the schema says so; a bare array broke it).
            page = self.paginator.paginate_queryset(periods, request, view=self) if self.paginator else None
            if page is None:
                return Response(UnavailabilityOutput(periods, many=True, context=self._context()).data)
            return self.get_paginated_response(UnavailabilityOutput(page, many=True, context=self._context()).data)
        return self._add(request, case)

    @idempotent
    def _add(self, request: Request, case: Case) -> Response:
        """A retried POST with its Idempotency-Key records the period once (as for booking)."""
        body = UnavailabilityInput(data=request.data)
        body.is_valid(raise_exception=True)
        added = unavailability.add_unavailability(actor=Actor.of(request.user), case_id=case.pk, **body.validated_data)
        fresh = Case.objects.prefetch_related("unavailability").get(pk=case.pk)
        added.period.booked_inside = added.booked_inside  # type: ignore[attr-defined]
        added.period.treat_by = unavailability.treat_by_of(fresh)  # type: ignore[attr-defined]
        return Response(UnavailabilityAdded(added.period, context=self._context()).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("unavailability_id", int, OpenApiParameter.PATH)],
        responses={204: None},
        tags=["cases"],
        summary="Remove one of the case's unavailable periods",
    )
    @raises(409, ErrorCode.INVALID_TRANSITION)
    @action(detail=True, methods=["delete"], url_path=r"unavailability/(?P<unavailability_id>\d+)")
    def remove_unavailability(self, request: Request, pk: str | None = None, unavailability_id: str = "") -> Response:
        case = self.get_object()
        unavailability.remove_unavailability(
            actor=Actor.of(request.user), case_id=case.pk, unavailability_id=int(unavailability_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
