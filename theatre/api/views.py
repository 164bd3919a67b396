"""Theatre API: the estate as audited CRUD, timetables with generate, and the lists.

Views are thin: an input serializer, one service, an output serializer. Coordinators and
admins write; every role reads (core.permissions.CoordinatorWritesOthersRead).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import django_filters
from django.conf import settings
from django.db import models, transaction
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode
from core.permissions import CoordinatorWritesOthersRead
from core.roles import can_see_patient_identifiers
from theatre.api.serializers import (
    EquipmentUnitSerializer,
    GenerateSerializer,
    SessionCancelSerializer,
    SessionCreateSerializer,
    SessionSerializer,
    SessionUpdateSerializer,
    SiteSerializer,
    StaffMemberSerializer,
    TheatreSerializer,
    TimetableSerializer,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable
from theatre.sessions import cancel_session, create_session, sessions_with_cases, update_session
from theatre.timetables import generate_sessions


class AuditedModelViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    """Plain CRUD for reference data, each write audited in the same transaction."""

    permission_classes = [CoordinatorWritesOthersRead]

    def _actor(self) -> Actor:
        return Actor.of(self.request.user)

    def _action_name(self, verb: str) -> str:
        model: type[models.Model] = self.get_queryset().model
        return f"{model._meta.model_name}.{verb}"

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with transaction.atomic():
            obj = serializer.save()
            record(actor=self._actor(), action=self._action_name("created"), obj=obj, after=snapshot(obj))

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with transaction.atomic():
            before = snapshot(serializer.instance)  # type: ignore[arg-type]
            obj = serializer.save()
            record(
                actor=self._actor(), action=self._action_name("updated"), obj=obj, before=before, after=snapshot(obj)
            )

    def perform_destroy(self, instance: models.Model) -> None:
        try:
            with transaction.atomic():
                record(
                    actor=self._actor(), action=self._action_name("deleted"), obj=instance, before=snapshot(instance)
                )
                instance.delete()
        except ProtectedError:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"{instance._meta.verbose_name} {instance.pk} is still in use; deactivate it instead of deleting it.",
            ) from None


class SiteViewSet(AuditedModelViewSet):
    queryset = Site.objects.all()
    serializer_class = SiteSerializer


class TheatreViewSet(AuditedModelViewSet):
    queryset = Theatre.objects.all()
    serializer_class = TheatreSerializer
    filterset_fields = ["site", "active"]


class EquipmentUnitViewSet(AuditedModelViewSet):
    queryset = EquipmentUnit.objects.all()
    serializer_class = EquipmentUnitSerializer
    filterset_fields = ["site", "kind", "active"]


class StaffMemberViewSet(AuditedModelViewSet):
    queryset = StaffMember.objects.all()
    serializer_class = StaffMemberSerializer
    filterset_fields = ["role", "active"]


class TimetableViewSet(AuditedModelViewSet):
    queryset = Timetable.objects.select_related("theatre")
    serializer_class = TimetableSerializer
    filterset_fields = ["theatre", "weekday", "surgeon", "active"]

    @extend_schema(request=GenerateSerializer, responses={201: SessionSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def generate(self, request: Request, pk: str | None = None) -> Response:
        """Create the timetable's lists in {date_from, date_to}; returns only the lists created."""
        timetable = self.get_object()
        params = GenerateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        created = generate_sessions(timetable=timetable, actor=Actor.of(request.user), **params.validated_data)
        sessions = sessions_with_cases().filter(pk__in=[s.pk for s in created]).order_by("start")
        data = SessionSerializer(sessions, many=True, context=session_context(request)).data
        return Response({"count": len(data), "results": data}, status=status.HTTP_201_CREATED)


def session_context(request: Request) -> dict[str, Any]:
    return {"request": request, "show_identifiers": can_see_patient_identifiers(request.user)}


def _local_midnight(day: dt.date) -> dt.datetime:
    # Dates in filters are days at the unit (TIME_ZONE, Europe/London): midnight always exists
    # there, so the DST changes never make a day boundary ambiguous.
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(settings.TIME_ZONE))


class SessionFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type hints
    date_from = django_filters.DateFilter(method="filter_date_from", label="Lists starting on or after this date")
    date_to = django_filters.DateFilter(method="filter_date_to", label="Lists starting on or before this date")
    theatre = django_filters.NumberFilter(field_name="theatre_id")
    surgeon = django_filters.NumberFilter(field_name="surgeon_id")
    site = django_filters.NumberFilter(field_name="theatre__site_id")
    status = django_filters.MultipleChoiceFilter(choices=TheatreSession._meta.get_field("status").choices)

    class Meta:
        model = TheatreSession
        fields = ["date_from", "date_to", "theatre", "surgeon", "site", "status"]

    def filter_date_from(self, queryset: Any, name: str, value: dt.date) -> Any:
        return queryset.filter(start__gte=_local_midnight(value))

    def filter_date_to(self, queryset: Any, name: str, value: dt.date) -> Any:
        return queryset.filter(start__lt=_local_midnight(value + dt.timedelta(days=1)))


class SessionViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    """Lists with their ordered cases and utilisation. DELETE cancels (a list is never erased)."""

    permission_classes = [CoordinatorWritesOthersRead]
    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    def get_queryset(self) -> models.QuerySet[TheatreSession]:
        return sessions_with_cases().order_by("start", "theatre_id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), **session_context(self.request)}

    def _read(self, session_id: int, *, status_code: int = status.HTTP_200_OK) -> Response:
        session = sessions_with_cases().get(pk=session_id)
        return Response(SessionSerializer(session, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(request=SessionCreateSerializer, responses={201: SessionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = SessionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        session = create_session(actor=Actor.of(request.user), **params.validated_data)
        return self._read(session.pk, status_code=status.HTTP_201_CREATED)

    @extend_schema(request=SessionUpdateSerializer, responses={200: SessionSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        params = SessionUpdateSerializer(
            data=request.data, partial=kwargs.get("partial", False), context={"session": session}
        )
        params.is_valid(raise_exception=True)
        changes = dict(params.validated_data)
        override = changes.pop("override", False)
        reason = changes.pop("reason", "")
        update_session(session=session, changes=changes, actor=Actor.of(request.user), override=override, reason=reason)
        return self._read(session.pk)

    @extend_schema(request=SessionCancelSerializer, responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel the list: {reason, override?} in the body or the query string."""
        session = self.get_object()
        params = SessionCancelSerializer(data=request.data or request.query_params)
        params.is_valid(raise_exception=True)
        cancel_session(session=session, actor=Actor.of(request.user), **params.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=SessionCancelSerializer, responses={200: SessionSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the list and return it: {reason, override?}."""
        session = self.get_object()
        params = SessionCancelSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        cancel_session(session=session, actor=Actor.of(request.user), **params.validated_data)
        return self._read(session.pk)
