"""Thin views: input serializer → one service → output serializer. Errors are raised, never built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.error_codes import raises
from core.api.pagination import LargePagePagination
from core.audit import Actor
from core.errors import ErrorCode
from core.idempotency import idempotent
from core.permissions import CoordinatorWritesOthersRead
from core.roles import can_see_patient_identifiers
from scheduling import booking, case_warnings, cases
from scheduling.api import serializers as s
from scheduling.availability import availability_for
from scheduling.models import Case, CaseWarning, Patient
from theatre.models import TheatreSession


class IdentifiedContextMixin(viewsets.GenericViewSet[Any]):
    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["identified"] = can_see_patient_identifiers(self.request.user)
        return context


class PatientViewSet(IdentifiedContextMixin, viewsets.ModelViewSet[Patient]):
    """Patients: coordinators write; clinicians read; viewers see ids and nothing identifying."""

    permission_classes = [CoordinatorWritesOthersRead]
    serializer_class = s.PatientOutput
    pagination_class = LargePagePagination  # the new-case form's patient picker reads one page
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Patient]:
        queryset = Patient.objects.all()
        # Sorting by name would let a viewer infer names from the order: viewers get id order.
        return queryset if can_see_patient_identifiers(self.request.user) else queryset.order_by("id")

    @raises(400, *cases.PATIENT_DUPLICATES)
    @extend_schema(request=s.PatientInput, responses=s.PatientOutput)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.PatientInput(data=request.data)
        data.is_valid(raise_exception=True)
        patient = cases.create_patient(actor=Actor.of(request.user), data=data.validated_data)
        return Response(self.get_serializer(patient).data, status=status.HTTP_201_CREATED)

    @raises(400, *cases.PATIENT_DUPLICATES)
    @extend_schema(request=s.PatientInput, responses=s.PatientOutput)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_object()
        data = s.PatientInput(patient, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        patient = cases.update_patient(actor=Actor.of(request.user), patient_id=patient.pk, changes=data.validated_data)
        return Response(self.get_serializer(patient).data)

    @raises(409, ErrorCode.PATIENT_HAS_CASES)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        cases.delete_patient(actor=Actor.of(request.user), patient_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseViewSet(
    IdentifiedContextMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Case],
):
    """The waiting list and bookings. Coordinators write; every role reads."""

    permission_classes = [CoordinatorWritesOthersRead]
    serializer_class = s.CaseOutput
    pagination_class = LargePagePagination
    filterset_fields = ["status", "surgeon", "priority"]

    def get_queryset(self) -> QuerySet[Case]:
        return (
            Case.objects.select_related(
                "patient", "procedure", "procedure_version", "reminder_plan", "cancellation__session"
            )
            .prefetch_related(
                "equipment_claims__unit",
                "unavailability",
                Prefetch(
                    "warnings",
                    queryset=CaseWarning.objects.filter(cleared_at__isnull=True).order_by("created_at", "id"),
                    to_attr="open_warnings",
                ),
            )
            .order_by("id")
        )

    def _respond(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=case.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=s.CaseInput, responses=s.CaseOutput)
    def create(self, request: Request) -> Response:
        data = s.CaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        case = cases.create_case(
            actor=Actor.of(request.user),
            patient_id=fields.pop("patient"),
            surgeon_id=fields.pop("surgeon"),
            **fields,
        )
        return self._respond(case, status.HTTP_201_CREATED)

    @raises(400, ErrorCode.REASON_REQUIRED)
    # A booked case re-fits its slot when its plan changes (booking.refit_case).
    @raises(409, *booking.SLOT_REFUSALS, ErrorCode.INVALID_TRANSITION)
    @extend_schema(request=s.CaseUpdateInput, responses=s.CaseOutput)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        data = s.CaseUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        case = cases.update_case(actor=Actor.of(request.user), case_id=case.pk, changes=data.validated_data)
        return self._respond(case)

    def _place(self, request: Request, service: Callable[..., Case]) -> Response:
        """book and move take the same input and answer alike; only the service differs."""
        case = self.get_object()
        data = s.PlacementInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = get_object_or_404(TheatreSession, pk=data.validated_data["session"])
        placed = service(
            case_id=case.pk,
            session_id=session.pk,
            start=data.validated_data.get("start"),
            override=data.validated_data["override"],
            override_reason=data.validated_data["override_reason"],
            actor=Actor.of(request.user),
        )
        return self._respond(placed)

    @raises(409, *booking.PLACEMENT_REFUSALS)
    @extend_schema(request=s.PlacementInput, responses=s.CaseOutput)
    @action(detail=True, methods=["post"])
    @idempotent
    def book(self, request: Request, pk: str | None = None) -> Response:
        return self._place(request, booking.book_case)

    @raises(409, *booking.PLACEMENT_REFUSALS)
    @extend_schema(request=s.PlacementInput, responses=s.CaseOutput)
    @action(detail=True, methods=["post"])
    @idempotent
    def move(self, request: Request, pk: str | None = None) -> Response:
        return self._place(request, booking.move_case)

    @raises(409, ErrorCode.INVALID_TRANSITION)
    @extend_schema(request=s.CancelInput, responses=s.CaseOutput)
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        data = s.CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        cancelled = booking.cancel_case(
            case_id=case.pk,
            reason=data.validated_data["reason"],
            note=data.validated_data["note"],
            actor=Actor.of(request.user),
        )
        return self._respond(cancelled)

    @raises(409, ErrorCode.INVALID_TRANSITION)
    @extend_schema(request=s.ClearWarningInput, responses=s.CaseOutput)
    @action(detail=True, methods=["post"], url_path="warnings/clear", url_name="warnings-clear")
    def clear_warning(self, request: Request, pk: str | None = None) -> Response:
        """A coordinator clears one open warning of the case (e.g. after moving it), with a note; audited."""
        case = self.get_object()
        data = s.ClearWarningInput(data=request.data)
        data.is_valid(raise_exception=True)
        case_warnings.clear_warning(
            case_id=case.pk,
            warning_id=data.validated_data["warning"],
            note=data.validated_data["note"],
            actor=Actor.of(request.user),
        )
        return self._respond(case)


class AvailabilityView(APIView):
    """GET /availability/: the earliest slot in each of the surgeon's open lists, earliest first."""

    # Expensive (a search or a solver per request): per-user rate limit, 429 `throttled` past it.
    throttle_scope = "expensive"

    # For a `case` whose screening is not eligible (availability_for), as booking it would answer.
    @raises(409, ErrorCode.NOT_ELIGIBLE)
    @extend_schema(
        parameters=[s.AvailabilityInput],
        responses=inline_serializer(
            "AvailabilityPage",
            {"count": serializers.IntegerField(), "results": s.SlotOutput(many=True)},
        ),
    )
    def get(self, request: Request) -> Response:
        params = s.AvailabilityInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        slots = availability_for(
            case_id=p.get("case"),
            procedure=p.get("procedure"),
            levels=p.get("levels", ()),
            anaesthesia=p.get("anaesthesia"),
            surgeon_id=p.get("surgeon"),
            date_from=p["date_from"],
            date_to=p["date_to"],
            limit=p["limit"],
        )
        return Response({"count": len(slots), "results": s.SlotOutput(slots, many=True).data})
