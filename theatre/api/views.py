"""Theatre API: the estate and timetables as audited CRUD.

Views are thin: an input serializer, one service, an output serializer. Coordinators and
admins write; every role reads (core.permissions.CoordinatorWritesOthersRead). The views that
answer with lists, /sessions/ and /timetables/{id}/generate/, show the work planned into each,
so an app above theatre serves them (see config/urls.py).
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import ProtectedError
from rest_framework import serializers, viewsets

from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode
from core.permissions import CoordinatorWritesOthersRead
from theatre.api.serializers import (
    EquipmentUnitSerializer,
    SiteSerializer,
    StaffMemberSerializer,
    TheatreSerializer,
    TimetableSerializer,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, Timetable


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
