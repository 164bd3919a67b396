"""The surgeon's side of a case: its plan and approval, confirmation, the WHO checklist, history.

Registered on the router with the prefix `cases` next to the main CaseViewSet; it only adds
detail routes (/cases/{id}/plan/, …/plan/approve/, …/confirm/, …/checklist/, …/history/).
Permissions are per object: coordinators manage, only the case's own surgeon approves its plan,
the theatre team signs the checklist, and viewers never see patient identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils.html import escape
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.error_codes import raises
from core.audit import Actor, changed
from core.audit import history as audit_history
from core.errors import ErrorCode
from core.idempotency import idempotent
from core.models import AuditEntry
from core.permissions import HasRole, IsCoordinator
from core.roles import Role, can_see_patient_identifiers, has_role
from scheduling import checklist
from scheduling.models import Case, ChecklistEntry, ChecklistPhase, Patient, SignInOverride
from scheduling.plans.approval import APPROVAL_REFUSALS, approve_plan, can_approve, confirm_case, is_case_surgeon
from scheduling.plans.loading import case_plan, plan_queryset

# --- Permissions ------------------------------------------------------------------------------


class IsCaseSurgeon(BasePermission):
    """The case's own surgeon (StaffMember.user); not another surgeon, and not an admin."""

    message = "Only the case's own surgeon may approve its plan."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, Role.SURGEON)

    def has_object_permission(self, request: Request, view: Any, obj: Case) -> bool:
        return can_approve(request.user, obj)


class TheatreTeamSigns(BasePermission):
    """Every role reads the checklist; surgeons and anaesthetists record its phases."""

    message = "Checklist phases are signed by the theatre team (surgeons and anaesthetists)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request.user, *Role)
        return checklist.can_sign(request.user)


class CanReadCaseHistory(BasePermission):
    """Coordinators, admins and the case's own surgeon read its audit trail."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, Role.COORDINATOR, Role.SURGEON)

    def has_object_permission(self, request: Request, view: Any, obj: Case) -> bool:
        return has_role(request.user, Role.COORDINATOR) or is_case_surgeon(request.user, obj)


# --- Rendering --------------------------------------------------------------------------------


class PlanPrintRenderer(BaseRenderer):
    """`?format=html`: the one-page print view a surgeon takes into theatre."""

    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            detail = data.get("detail", "") if isinstance(data, dict) else ""
            return f"<!doctype html><title>{response.status_code}</title><p>{escape(detail)}</p>".encode()
        return render_to_string("plans/print.html", {"plan": data}).encode()


# --- Serializers ------------------------------------------------------------------------------


class ApproveInput(serializers.Serializer[Any]):
    fingerprint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The fingerprint of the plan the surgeon read; if the plan changed since, nothing is approved.",
    )


class ChecklistInput(serializers.Serializer[Any]):
    phase = serializers.ChoiceField(choices=ChecklistPhase.choices)
    items = serializers.JSONField(help_text="Item code → answer, exactly the WHO 2009 items of the phase.")


class SignInOverrideInput(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=500, help_text="Why the case may be signed in outside its window (audited, shown on the checklist)."
    )


class ChecklistEntryOutput(serializers.ModelSerializer[ChecklistEntry]):
    signed_by = serializers.SerializerMethodField()

    class Meta:
        model = ChecklistEntry
        fields = ["id", "phase", "items", "signed_by", "signed_at"]

    def get_signed_by(self, entry: ChecklistEntry) -> dict[str, Any]:
        user = entry.signed_by
        return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()}


class AuditEntryOutput(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "actor_label", "action", "reason", "before", "after", "changes"]

    def get_actor(self, entry: AuditEntry) -> dict[str, Any] | None:
        user = entry.actor
        return {"id": user.pk, "username": user.get_username()} if user is not None else None

    def get_changes(self, entry: AuditEntry) -> dict[str, Any]:
        if isinstance(entry.before, dict) and isinstance(entry.after, dict):
            return changed(entry.before, entry.after)
        return {}


def _patient(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.pk,
        "name": f"{patient.given_name} {patient.family_name}",
        "nhs_number": patient.nhs_number,
        "mrn": patient.mrn,
        "date_of_birth": patient.date_of_birth.isoformat(),
    }


def _sign_in_override(case: Case) -> dict[str, Any] | None:
    """The coordinator's override of the sign-in window, if one holds for the case's booked start."""
    if case.start is None:
        return None
    override = SignInOverride.objects.filter(case=case, start=case.start).select_related("granted_by").first()
    if override is None:
        return None
    return {
        "reason": override.reason,
        "granted_by": override.granted_by.get_username(),
        "granted_at": override.granted_at.isoformat(),
        "start": override.start.isoformat(),
    }


def _checklist_state(case: Case, entries: list[ChecklistEntry]) -> dict[str, Any]:
    done = {entry.phase for entry in entries}
    pending = [phase for phase in checklist.PHASE_ORDER if phase not in done]
    opens_at = checklist.sign_in_opens_at(case)
    return {
        "case": case.pk,
        "status": case.status,
        "next_phase": pending[0] if pending else None,
        # Sign in is accepted from this moment to the end of the list's local day (DESIGN §5.8).
        "sign_in_opens_at": opens_at.isoformat() if opens_at is not None else None,
        "sign_in_override": _sign_in_override(case),
        "phases": ChecklistEntryOutput(entries, many=True).data,
        "definition": checklist.definition(),
    }


# --- The viewset ------------------------------------------------------------------------------


@extend_schema(tags=["cases"])
class CasePlanViewSet(viewsets.GenericViewSet[Case]):
    queryset = Case.objects.all()
    lookup_value_regex = r"\d+"

    def get_permissions(self) -> list[BasePermission]:
        by_action: dict[str, type[BasePermission]] = {
            "approve": IsCaseSurgeon,
            "confirm": IsCoordinator,
            "checklist": TheatreTeamSigns,
            "sign_in_override": IsCoordinator,
            "history": CanReadCaseHistory,
        }
        return [by_action.get(self.action or "", HasRole)()]

    def get_queryset(self) -> QuerySet[Case]:
        # The plan reads everything it shows with the object itself; the writes re-read under lock.
        return plan_queryset() if self.action == "plan" else Case.objects.select_related("surgeon")

    def _plan_response(self, request: Request, case_id: int) -> Response:
        return self._render_plan(request, get_object_or_404(plan_queryset(), pk=case_id))

    def _render_plan(self, request: Request, case: Case) -> Response:
        data = case_plan(case=case)
        # Identifiers are added for the roles that may see them, never for viewers (DESIGN §3).
        data["patient"] = _patient(case.patient) if can_see_patient_identifiers(request.user) else None
        return Response(data)

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("format", str, enum=["json", "html"], description="`html`: the one-page print view")
        ],
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PlanPrintRenderer])
    def plan(self, request: Request, pk: str | None = None) -> Response:
        """The case plan: the pinned template version applied to this patient, with its approval."""
        return self._render_plan(request, self.get_object())

    @raises(409, *APPROVAL_REFUSALS)
    @extend_schema(request=ApproveInput, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="plan/approve", url_name="plan-approve")
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """The case's own surgeon approves the plan as it stands; returns the plan."""
        case = self.get_object()
        body = ApproveInput(data=request.data)
        body.is_valid(raise_exception=True)
        approve_plan(
            case_id=case.pk, actor=Actor.of(request.user), fingerprint=body.validated_data.get("fingerprint", "")
        )
        return self._plan_response(request, case.pk)

    @raises(409, *APPROVAL_REFUSALS)
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """booked → confirmed (coordinator); 409 invalid_transition unless the plan is approved."""
        case = self.get_object()
        confirm_case(case_id=case.pk, actor=Actor.of(request.user))
        return self._plan_response(request, case.pk)

    # The POST signs through _sign, which is idempotent.
    @raises(409, *checklist.SIGNING_REFUSALS, ErrorCode.IDEMPOTENCY_MISMATCH, methods=["POST"])
    @extend_schema(request=ChecklistInput, responses={200: OpenApiTypes.OBJECT, 201: ChecklistEntryOutput})
    @action(detail=True, methods=["get", "post"])
    def checklist(self, request: Request, pk: str | None = None) -> Response:
        """GET: the recorded phases and the form; POST {phase, items}: sign the next phase."""
        case = self.get_object()
        if request.method == "GET":
            entries = list(ChecklistEntry.objects.filter(case=case).select_related("signed_by").order_by("signed_at"))
            return Response(_checklist_state(case, entries))
        return self._sign(request, case)

    @idempotent
    def _sign(self, request: Request, case: Case) -> Response:
        body = ChecklistInput(data=request.data)
        body.is_valid(raise_exception=True)
        entry = checklist.record_phase(
            case_id=case.pk,
            phase=body.validated_data["phase"],
            items=body.validated_data["items"],
            actor=Actor.of(request.user),
        )
        case.refresh_from_db(fields=["status"])
        data = ChecklistEntryOutput(entry).data
        return Response({**data, "case_status": case.status}, status=status.HTTP_201_CREATED)

    @raises(400, ErrorCode.REASON_REQUIRED)
    @raises(409, ErrorCode.INVALID_TRANSITION)
    @extend_schema(request=SignInOverrideInput, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="checklist/sign-in-override", url_name="checklist-sign-in-override")
    def sign_in_override(self, request: Request, pk: str | None = None) -> Response:
        """A coordinator lets the team sign this case in outside the sign-in window (the list's day,
        from shortly before its start), for its current booked start, with a reason; audited.
        Returns the checklist, with `sign_in_override`."""
        case = self.get_object()
        body = SignInOverrideInput(data=request.data)
        body.is_valid(raise_exception=True)
        checklist.grant_sign_in_override(
            case_id=case.pk, reason=body.validated_data["reason"], actor=Actor.of(request.user)
        )
        case.refresh_from_db()
        entries = list(ChecklistEntry.objects.filter(case=case).select_related("signed_by").order_by("signed_at"))
        return Response(_checklist_state(case, entries))

    @extend_schema(responses={200: AuditEntryOutput(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """The case's audit trail, oldest first (coordinators, admins, the case's own surgeon)."""
        case = self.get_object()
        entries = audit_history(case).order_by("at", "id")
        page = self.paginator.paginate_queryset(entries, request, view=self) if self.paginator else None
        if page is None:
            return Response(AuditEntryOutput(entries, many=True).data)
        return self.get_paginated_response(AuditEntryOutput(page, many=True).data)
