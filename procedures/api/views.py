"""Thin views: input serializer → one procedures service → output serializer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.audit import Actor
from core.permissions import HasRole
from procedures.api import serializers as s
from procedures.estimates import estimate, estimate_rules_of, validate_levels
from procedures.models import ProcedureTemplate, ProcedureVersion
from procedures.screening import screen, screening_rules_of
from procedures.versions import (
    can_publish_versions,
    create_version,
    latest_version,
    templates_with_latest,
    versions_with_steps,
)


class ReadOrPublish(BasePermission):
    """Every role reads; publishing a version needs an admin or a surgeon with template rights."""

    message = "Publishing a procedure version needs template rights (procedures.add_procedureversion)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return HasRole().has_permission(request, view)
        return can_publish_versions(request.user)


class ProcedureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ProcedureTemplate]):
    """Procedure templates with their latest version; history, new versions, screening, estimates."""

    serializer_class = s.TemplateSerializer
    lookup_field = "slug"
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[ProcedureTemplate]:
        return templates_with_latest()

    def _template(self) -> ProcedureTemplate:
        return get_object_or_404(ProcedureTemplate, slug=self.kwargs["slug"])

    def _version(self, number: int | None) -> ProcedureVersion:
        """The template's version `number`, or its latest, with steps prefetched (404 if none)."""
        if number is not None:
            return get_object_or_404(versions_with_steps().filter(template__slug=self.kwargs["slug"]), number=number)
        version = latest_version(slug=self.kwargs["slug"])
        if version is None:
            raise Http404("No such procedure, or it has no published version.")
        return version

    @extend_schema(methods=["GET"], responses=s.VersionSerializer(many=True), summary="Version history, newest first")
    @extend_schema(
        methods=["POST"],
        request=s.NewVersionSerializer,
        responses={201: s.VersionSerializer},
        summary="Publish the next version (a patch over the latest; steps replace the list)",
    )
    @action(detail=True, methods=["get", "post"], permission_classes=[ReadOrPublish])
    def versions(self, request: Request, slug: str) -> Response:
        if request.method == "POST":
            template = self._template()
            data = s.NewVersionSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            changes = dict(data.validated_data)
            change_note = changes.pop("change_note")
            version = create_version(
                template=template, changes=changes, change_note=change_note, actor=Actor.of(request.user)
            )
            return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)
        template = self._template()
        versions = versions_with_steps().filter(template=template).order_by("-number")
        page = self.paginate_queryset(versions)  # type: ignore[arg-type]
        if page is not None:
            return self.get_paginated_response(s.VersionSerializer(page, many=True).data)
        return Response(s.VersionSerializer(versions, many=True).data)

    @extend_schema(responses=s.VersionSerializer, summary="One version (older versions stay readable)")
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]+)")
    def version(self, request: Request, slug: str, number: str) -> Response:
        return Response(s.VersionSerializer(self._version(int(number))).data)

    @extend_schema(
        request=s.ScreenInputSchema,
        responses={200: s.ScreeningOutcomeSerializer},
        summary="Screen answers against the template's rules",
    )
    @action(detail=True, methods=["post"])
    def screen(self, request: Request, slug: str) -> Response:
        data = s.ScreenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = self._version(data.validated_data.get("version"))
        outcome = screen(rules=screening_rules_of(version), answers=data.validated_data["answers"])
        return Response({**outcome.as_dict(), "version": version.number})

    @extend_schema(
        request=s.EstimateInputSerializer,
        responses={200: s.EstimateSerializer},
        summary="Case duration with its breakdown",
    )
    @action(detail=True, methods=["post"])
    def estimate(self, request: Request, slug: str) -> Response:
        data = s.EstimateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = self._version(data.validated_data.get("version"))
        anaesthesia = data.validated_data.get("anaesthesia") or version.default_anaesthesia
        rules = estimate_rules_of(version)
        levels = validate_levels(rules=rules, levels=data.validated_data["levels"])
        result = estimate(rules=rules, levels=levels, anaesthesia=anaesthesia)
        return Response({**result.as_dict(), "levels": levels, "anaesthesia": anaesthesia, "version": version.number})
