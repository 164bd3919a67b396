"""GET /procedures/{slug}/durations/: the estimator's figures beside the template's, per levels × anaesthesia.

Served by scheduling, which owns the history (procedures knows nothing of cases, DESIGN §1); the
procedures router has no `durations` route, so the path falls through to this one. No patient
data: every role that reads lists may read it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from procedures.versions import latest_version
from scheduling.predictions import duration_figures


class DurationsQuery(serializers.Serializer[Any]):
    surgeon = serializers.IntegerField(required=False, min_value=1, help_text="A surgeon's staff id.")


class DurationRow(serializers.Serializer[Any]):
    levels = serializers.IntegerField()
    anaesthesia = serializers.CharField()
    n = serializers.IntegerField(help_text="Completed cases the prediction learned from (0: the template alone).")
    p50 = serializers.IntegerField(help_text="Predicted median touch minutes (no turnover).")
    p80 = serializers.IntegerField(help_text="Touch minutes that 80% of such cases fit in.")
    template_minutes = serializers.IntegerField(help_text="The template's touch estimate (its estimate less turnover).")
    turnover_minutes = serializers.IntegerField()
    basis = serializers.CharField(help_text="The history group the prediction rests on, or `template`.")
    excluded = serializers.IntegerField(help_text="Past cases of that group left out (abandoned, implausible times).")


class DurationsOutput(serializers.Serializer[Any]):
    procedure = serializers.CharField()
    version = serializers.IntegerField()
    surgeon = serializers.IntegerField(allow_null=True)
    rows = DurationRow(many=True)


class ProcedureDurationsView(APIView):
    """Where the template is wrong at a glance: learned p50/p80 of touch time beside its estimate."""

    @extend_schema(
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH), DurationsQuery],
        responses=DurationsOutput,
    )
    def get(self, request: Request, slug: str) -> Response:
        params = DurationsQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        version = latest_version(slug=slug)
        if version is None:
            raise NotFound(f"Unknown procedure {slug!r}.")
        figures = duration_figures(version=version, surgeon_id=params.validated_data.get("surgeon"))
        return Response(DurationsOutput(figures).data)
