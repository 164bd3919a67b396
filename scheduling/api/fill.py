"""POST /fill/ and GET /sessions/{id}/candidates/ (DESIGN §5.4): thin views over scheduling/list_fill.py."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.error_codes import raises
from core.api.fields import AwareDateTimeField
from core.audit import Actor
from core.errors import ErrorCode
from core.idempotency import idempotent
from core.permissions import IsCoordinator
from core.roles import Role, roles_of
from scheduling.list_fill import (
    COMMIT_REFUSALS,
    MAX_RANGE_DAYS,
    ChosenPlacement,
    FillRequest,
    commit_fill,
    fill_answer,
    preview_fill,
    session_candidates,
)
from theatre.models import SessionStatus, TheatreSession

# Enough for a quarter's lists in a large unit; a longer list of ids is a mistake, not a request.
_MAX_IDS = 500
_MAX_PLACEMENTS = 2000


class _Ids(serializers.ListField):
    child = serializers.IntegerField(min_value=1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, default=list, max_length=_MAX_IDS, **kwargs)


class ReviewedPlacementInput(serializers.Serializer[Any]):
    case = serializers.IntegerField(min_value=1)
    session = serializers.IntegerField(min_value=1)
    start = AwareDateTimeField()
    units = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        default=None,
        help_text="The preview's units (equipment kind -> unit id); omitted: the lowest free unit of each kind.",
    )


class FillInput(serializers.Serializer[Any]):
    date_from = serializers.DateField()
    date_to = serializers.DateField(help_text=f"Inclusive; at most {MAX_RANGE_DAYS} days after date_from.")
    theatres = _Ids(help_text="Only lists in these theatres.")
    surgeons = _Ids(help_text="Only lists of these surgeons, and only their waiting cases.")
    sessions = _Ids(help_text="Only these lists.")
    max_overrun_risk = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1,
        help_text="No list is filled past this probability of overrunning (its forecast's p_overrun).",
    )
    override = serializers.BooleanField(required=False, default=False, help_text="Fill locked (6-4-2) lists too.")
    override_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    commit = serializers.BooleanField(required=False, default=False, help_text="Book the fill (coordinators only).")
    placements = serializers.ListField(
        child=ReviewedPlacementInput(),
        required=False,
        allow_null=True,
        default=None,
        max_length=_MAX_PLACEMENTS,
        help_text="With commit: book exactly these placements from a preview, or nothing (409 fill_conflict).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("placements") is not None and not attrs["commit"]:
            raise serializers.ValidationError({"placements": "Placements are committed: send them with commit: true."})
        return attrs


class FillPlacementOutput(serializers.Serializer[Any]):
    case = serializers.IntegerField()
    session = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    units = serializers.DictField(child=serializers.IntegerField(), help_text="Equipment kind -> unit id.")


class FillUnplacedOutput(serializers.Serializer[Any]):
    case = serializers.IntegerField()
    code = serializers.CharField(help_text="The rule that kept the case waiting (a booking error code).")


class FillScoreOutput(serializers.Serializer[Any]):
    booked_minutes = serializers.IntegerField()
    free_minutes = serializers.IntegerField()
    utilisation = serializers.FloatField()
    priority_score = serializers.FloatField()


class FillSolverOutput(serializers.Serializer[Any]):
    method = serializers.CharField()
    elapsed_ms = serializers.FloatField()


class FillOutput(serializers.Serializer[Any]):
    placements = FillPlacementOutput(many=True)
    unplaced = FillUnplacedOutput(many=True)
    score = FillScoreOutput()
    solver = FillSolverOutput()
    committed = serializers.BooleanField()


class FillView(APIView):
    """POST /fill/: a preview of the fill of the lists in a date range; `commit: true` books it."""

    # Expensive (a search or a solver per request): per-user rate limit, 429 `throttled` past it.
    throttle_scope = "expensive"

    permission_classes = [IsCoordinator]

    @raises(400, ErrorCode.OUT_OF_RANGE)
    @raises(409, *COMMIT_REFUSALS)
    @extend_schema(request=FillInput, responses={200: FillOutput, 201: FillOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        data = FillInput(data=request.data)
        data.is_valid(raise_exception=True)
        p = data.validated_data
        fill_request = FillRequest(
            date_from=p["date_from"],
            date_to=p["date_to"],
            theatre_ids=tuple(p["theatres"]),
            surgeon_ids=tuple(p["surgeons"]),
            session_ids=tuple(p["sessions"]),
            max_overrun_risk=p["max_overrun_risk"],
            override=p["override"],
            override_reason=p["override_reason"],
        )
        if not p["commit"]:
            return Response(fill_answer(preview_fill(request=fill_request)))
        # Admins may look, but booking patients is a coordinator's act (DESIGN §5.4).
        if Role.COORDINATOR not in roles_of(request.user):
            raise PermissionDenied("Only a coordinator may commit a fill.")
        reviewed = p["placements"]
        outcome = commit_fill(
            request=fill_request,
            actor=Actor.of(request.user),
            placements=None
            if reviewed is None
            else [
                ChosenPlacement(case_id=r["case"], session_id=r["session"], start=r["start"], units=r["units"])
                for r in reviewed
            ],
        )
        return Response(fill_answer(outcome), status=status.HTTP_201_CREATED)


class CandidateOutput(serializers.Serializer[Any]):
    case = serializers.IntegerField(source="case.pk")
    reference = serializers.CharField(source="case.reference")
    priority = serializers.CharField(source="case.priority")
    referral_date = serializers.DateField(source="case.referral_date")
    treat_by = serializers.DateField(allow_null=True, help_text="Referral plus the class's maximum wait; P4: none.")
    procedure = serializers.CharField(source="case.procedure.slug")
    levels = serializers.ListField(child=serializers.CharField(), source="case.levels")
    slot_minutes = serializers.IntegerField(source="minutes")
    start = serializers.DateTimeField(help_text="The earliest start in the list; book with {session, start}.")
    end = serializers.DateTimeField()


class CandidatesInput(serializers.Serializer[Any]):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)


class SessionCandidatesView(APIView):
    """GET /sessions/{id}/candidates/: the waiting cases that fit the list's free time, most urgent first."""

    # Expensive (a search or a solver per request): per-user rate limit, 429 `throttled` past it.
    throttle_scope = "expensive"

    permission_classes = [IsCoordinator]

    @extend_schema(
        parameters=[CandidatesInput],
        responses=inline_serializer(
            "SessionCandidatesPage",
            {
                "session": serializers.IntegerField(),
                "locked": serializers.BooleanField(help_text="Booking into a locked list needs an override."),
                "count": serializers.IntegerField(),
                "results": CandidateOutput(many=True),
            },
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        session = get_object_or_404(TheatreSession, pk=pk)
        params = CandidatesInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = session_candidates(session_id=session.pk, limit=params.validated_data["limit"])
        return Response(
            {
                "session": session.pk,
                "locked": session.status == SessionStatus.LOCKED,
                "count": len(found),
                "results": CandidateOutput(found, many=True).data,
            }
        )
