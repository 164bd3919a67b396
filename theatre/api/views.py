"""Theatre API: the estate as audited CRUD, timetables with generate, and the lists.

Views are thin: an input serializer, one service, an output serializer. Coordinators and
admins write; every role reads (core.permissions.CoordinatorWritesOthersRead). The estate's
rules live in theatre/estate.py, which the admin calls too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import django_filters
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import models, transaction
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode, InvalidInput
from core.permissions import CoordinatorWritesOthersRead
from core.roles import can_see_patient_identifiers
from theatre import estate
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

M = TypeVar("M", bound=models.Model)


@contextmanager
def _as_request_errors() -> Iterator[None]:
    """An estate service's refusal as the field-level 400 (or the 403) that clients know."""
    try:
        yield
    except InvalidInput as exc:
        raise serializers.ValidationError({exc.field: [exc.detail]}) from exc
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc


class EstateViewSet(viewsets.ModelViewSet[M]):
    """CRUD for the estate: writes go through the theatre.estate services (which audit them).

    Deletes are audited here; a row still in use is protected and answers 409.
    """

    permission_classes = [CoordinatorWritesOthersRead]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> M:
        raise NotImplementedError

    def update_object(self, *, actor: Actor, obj: M, changes: dict[str, Any]) -> M:
        raise NotImplementedError

    def perform_create(self, serializer: serializers.BaseSerializer[M]) -> None:
        with _as_request_errors():
            serializer.instance = self.create_object(
                actor=Actor.of(self.request.user), data=dict(serializer.validated_data)
            )

    def perform_update(self, serializer: serializers.BaseSerializer[M]) -> None:
        obj = cast(M, serializer.instance)  # an update always has its row (get_object)
        with _as_request_errors():
            serializer.instance = self.update_object(
                actor=Actor.of(self.request.user), obj=obj, changes=dict(serializer.validated_data)
            )

    def perform_destroy(self, instance: M) -> None:
        try:
            with transaction.atomic():
                record(
                    actor=Actor.of(self.request.user),
                    action=f"{instance._meta.model_name}.deleted",
                    obj=instance,
                    before=snapshot(instance),
                )
                instance.delete()
        except ProtectedError:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"{instance._meta.verbose_name} {instance.pk} is still in use; deactivate it instead of deleting it.",
            ) from None


class SiteViewSet(EstateViewSet[Site]):
    queryset = Site.objects.all()
    serializer_class = SiteSerializer

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Site:
        return estate.create_site(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: Site, changes: dict[str, Any]) -> Site:
        return estate.update_site(actor=actor, site=obj, changes=changes)


class TheatreViewSet(EstateViewSet[Theatre]):
    queryset = Theatre.objects.all()
    serializer_class = TheatreSerializer
    filterset_fields = ["site", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Theatre:
        return estate.create_theatre(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: Theatre, changes: dict[str, Any]) -> Theatre:
        return estate.update_theatre(actor=actor, theatre=obj, changes=changes)


class EquipmentUnitViewSet(EstateViewSet[EquipmentUnit]):
    queryset = EquipmentUnit.objects.all()
    serializer_class = EquipmentUnitSerializer
    filterset_fields = ["site", "kind", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> EquipmentUnit:
        return estate.create_equipment_unit(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: EquipmentUnit, changes: dict[str, Any]) -> EquipmentUnit:
        return estate.update_equipment_unit(actor=actor, unit=obj, changes=changes)


class StaffMemberViewSet(EstateViewSet[StaffMember]):
    queryset = StaffMember.objects.all()
    serializer_class = StaffMemberSerializer
    filterset_fields = ["role", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> StaffMember:
        return estate.create_staff_member(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: StaffMember, changes: dict[str, Any]) -> StaffMember:
        return estate.update_staff_member(actor=actor, staff=obj, changes=changes)


class TimetableViewSet(EstateViewSet[Timetable]):
    queryset = Timetable.objects.select_related("theatre")
    serializer_class = TimetableSerializer
    filterset_fields = ["theatre", "weekday", "surgeon", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Timetable:
        return estate.create_timetable(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: Timetable, changes: dict[str, Any]) -> Timetable:
        return estate.update_timetable(actor=actor, timetable=obj, changes=changes)

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


class SessionFilter(django_filters.FilterSet):
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
