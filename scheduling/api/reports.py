"""GET /reports/theatre-utilisation/ (DESIGN §5.2) as JSON, or with ?format=csv the same rows as CSV.

Coordinators, admins and viewers read it. It holds no patient data at all: lists, minutes and
counts only. Queries are constant in the number of lists (scheduling/reports.py): the role
lookup and three loads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import Role, has_role
from scheduling.metrics import GroupBy, Report
from scheduling.reports import MAX_DAYS, default_range, theatre_utilisation
from scheduling.reports import thresholds as configured_thresholds

# --- Permissions ------------------------------------------------------------------------------


class ReadsReports(BasePermission):
    """Coordinators, admins and viewers (managers) read the theatre metrics."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, Role.COORDINATOR, Role.VIEWER)


# --- Input --------------------------------------------------------------------------------------


class ReportQuery(serializers.Serializer[dict[str, Any]]):
    date_from = serializers.DateField(required=False, help_text="First list date (local), default 27 days ago.")
    date_to = serializers.DateField(required=False, help_text="Last list date (local, inclusive), default today.")
    group_by = serializers.ChoiceField(choices=[g.value for g in GroupBy], required=False, default=GroupBy.THEATRE)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        default_from, default_to = default_range()
        date_to = attrs.setdefault(
            "date_to", attrs["date_from"] + dt.timedelta(days=27) if "date_from" in attrs else default_to
        )
        date_from = attrs.setdefault("date_from", date_to - (default_to - default_from))
        if date_to < date_from:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        if (date_to - date_from).days >= MAX_DAYS:
            raise serializers.ValidationError({"date_to": [f"Report at most {MAX_DAYS} days at a time."]})
        return attrs


# --- Output (the schema; the data comes from scheduling.metrics' as_dict) -----------------------


def _tally(name: str) -> serializers.Serializer[Any]:
    return inline_serializer(name, {"count": serializers.IntegerField(), "minutes": serializers.IntegerField()})


FIGURES: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "lists": serializers.IntegerField(help_text="Lists that ended, not cancelled, with their times recorded."),
    "planned_minutes": serializers.IntegerField(help_text="Σ session start to end of those lists."),
    "touch_minutes": serializers.IntegerField(help_text="Σ touch time, overruns included."),
    "capped_touch_minutes": serializers.IntegerField(help_text="Σ touch time clipped to each session."),
    "capped_utilisation": serializers.FloatField(allow_null=True, help_text="Σ capped touch ÷ Σ planned, %."),
    "uncapped_utilisation": serializers.FloatField(allow_null=True, help_text="Σ touch ÷ Σ planned, %."),
    "late_starts": _tally("LateStarts"),
    "early_finishes": _tally("EarlyFinishes"),
    "overruns": _tally("Overruns"),
    "cases": serializers.IntegerField(help_text="Operations done (abandoned cases are cancellations)."),
    "cases_per_list": serializers.FloatField(allow_null=True),
    "on_the_day_cancellations": inline_serializer(
        "OnTheDayCancellations",
        {
            "count": serializers.IntegerField(),
            "clinical": serializers.IntegerField(),
            "non_clinical": serializers.IntegerField(),
            "patient": serializers.IntegerField(),
        },
    ),
    "lists_missing_times": serializers.IntegerField(help_text="Ended lists with cases but no complete times."),
    "cancelled_lists": serializers.IntegerField(),
}

REPORT_SCHEMA = inline_serializer(
    "TheatreUtilisationReport",
    {
        "date_from": serializers.DateField(),
        "date_to": serializers.DateField(),
        "group_by": serializers.ChoiceField(choices=[g.value for g in GroupBy]),
        "thresholds": inline_serializer(
            "TheatreThresholds",
            {
                "late_start_minutes": serializers.IntegerField(),
                "early_finish_minutes": serializers.IntegerField(),
                "overrun_minutes": serializers.IntegerField(),
            },
        ),
        "rows": inline_serializer(
            "TheatreUtilisationRow",
            {"key": serializers.CharField(), "label": serializers.CharField(), **FIGURES},
            many=True,
        ),
        "totals": inline_serializer("TheatreUtilisationTotals", FIGURES),
    },
)


def report_data(report: Report, *, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    return {
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "group_by": report.group_by.value,
        "thresholds": configured_thresholds().as_dict(),
        "rows": [{"key": row.group.key, "label": row.group.label, **row.figures.as_dict()} for row in report.rows],
        "totals": report.totals.as_dict(),
    }


# --- CSV --------------------------------------------------------------------------------------


def _flatten(figures: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in figures.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}_{part}": inner for part, inner in value.items()})
        else:
            flat[name] = "" if value is None else value
    return flat


def _cell(value: Any) -> Any:
    # A theatre or surgeon name typed as "=HYPERLINK(…)" must not run as a spreadsheet formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return f"'{value}"
    return value


class ReportCSVRenderer(BaseRenderer):
    """The report's rows, then a `total` row, one column per figure (nested figures flattened)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        rows = [
            {"group_by": data["group_by"], "key": row["key"], "label": row["label"], **_flatten(row)}
            for row in data["rows"]
        ]
        rows.append({"group_by": data["group_by"], "key": "total", "label": "Total", **_flatten(data["totals"])})
        out = io.StringIO()
        columns = ["group_by", "key", "label", *_flatten(data["totals"])]
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: _cell(value) for name, value in row.items()})
        return out.getvalue().encode("utf-8")


# --- The view ---------------------------------------------------------------------------------


class TheatreUtilisationView(APIView):
    """GET /reports/theatre-utilisation/: Model Hospital theatre metrics per theatre, surgeon,
    site, week or day, with totals; `?format=csv` for a spreadsheet."""

    # Expensive (a search or a solver per request): per-user rate limit, 429 `throttled` past it.
    throttle_scope = "expensive"

    permission_classes = [ReadsReports]
    renderer_classes = [JSONRenderer, ReportCSVRenderer]

    @extend_schema(
        parameters=[
            ReportQuery,
            OpenApiParameter("format", str, enum=["json", "csv"], description="`csv`: the same rows as CSV"),
        ],
        responses={
            (200, "application/json"): REPORT_SCHEMA,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per group, then `total`."),
        },
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        date_from, date_to = query.validated_data["date_from"], query.validated_data["date_to"]
        report = theatre_utilisation(
            date_from=date_from, date_to=date_to, group_by=GroupBy(query.validated_data["group_by"])
        )
        response = Response(report_data(report, date_from=date_from, date_to=date_to))
        if getattr(request, "accepted_renderer", None) is not None and request.accepted_renderer.format == "csv":
            filename = f"theatre-utilisation-{date_from.isoformat()}-{date_to.isoformat()}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # Errors are JSON {code, detail, …} whatever format was asked for: a client switches on `code`.
        if response.status_code >= 400 and isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
