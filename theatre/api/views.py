"""Theatre API: the estate and timetables as audited CRUD.

Views are thin: an input serializer, one service, an output serializer. Coordinators and
admins write; every role reads (core.permissions.CoordinatorWritesOthersRead). The estate's
rules live in theatre/estate.py, which the admin calls too. The views that answer with lists,
/sessions/ and /timetables/{id}/generate/, show the work planned into each, so an app above
theatre serves them (see config/urls.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import models, transaction
from django.db.models import ProtectedError
from rest_framework import exceptions, serializers, viewsets

from core.api.error_codes import raises, raises_from
from core.audit import Actor, record, snapshot
from core.errors import DomainError, ErrorCode, InvalidInput
from core.permissions import CoordinatorWritesOthersRead
from theatre import estate, hooks
from theatre.api.serializers import (
    EquipmentUnitSerializer,
    SiteSerializer,
    StaffMemberSerializer,
    TheatreSerializer,
    TimetableSerializer,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, Timetable

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


def _pop_override(fields: dict[str, Any]) -> dict[str, Any]:
    """Take the override request fields out of the row's changes, as the estate services' arguments."""
    return {"override": bool(fields.pop("override", False)), "override_reason": fields.pop("override_reason", "")}


class EstateViewSet(viewsets.ModelViewSet[M]):
    """CRUD for the estate: writes go through the theatre.estate services (which audit them).

    Deletes are audited here; a row still in use is protected and answers 409.
    """

    permission_classes = [CoordinatorWritesOthersRead]
    # DRF's own actions, declared here: a row still in use is not deleted (perform_destroy).
    action_error_codes: ClassVar[dict[str, list[raises | raises_from]]] = {
        "destroy": [raises(409, ErrorCode.INVALID_TRANSITION)]
    }

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


# A theatre, unit or staff member that work planned above theatre depends on: a change that
# would strand that work (theatre.hooks.pre_estate_change) is refused unless overridden.
GUARDED_BY_ESTATE_HOOKS: dict[str, list[raises | raises_from]] = {
    **EstateViewSet.action_error_codes,
    "update": [raises_from(409, lambda: hooks.estate_change_refusals)],
}


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
    action_error_codes = GUARDED_BY_ESTATE_HOOKS

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Theatre:
        _pop_override(data)  # nothing depends on a new theatre yet
        return estate.create_theatre(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: Theatre, changes: dict[str, Any]) -> Theatre:
        return estate.update_theatre(actor=actor, theatre=obj, changes=changes, **_pop_override(changes))


class EquipmentUnitViewSet(EstateViewSet[EquipmentUnit]):
    queryset = EquipmentUnit.objects.all()
    serializer_class = EquipmentUnitSerializer
    filterset_fields = ["site", "kind", "active"]
    action_error_codes = GUARDED_BY_ESTATE_HOOKS

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> EquipmentUnit:
        _pop_override(data)
        return estate.create_equipment_unit(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: EquipmentUnit, changes: dict[str, Any]) -> EquipmentUnit:
        return estate.update_equipment_unit(actor=actor, unit=obj, changes=changes, **_pop_override(changes))


class StaffMemberViewSet(EstateViewSet[StaffMember]):
    queryset = StaffMember.objects.all()
    serializer_class = StaffMemberSerializer
    filterset_fields = ["role", "active"]
    action_error_codes = GUARDED_BY_ESTATE_HOOKS

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> StaffMember:
        _pop_override(data)
        return estate.create_staff_member(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: StaffMember, changes: dict[str, Any]) -> StaffMember:
        return estate.update_staff_member(actor=actor, staff=obj, changes=changes, **_pop_override(changes))


class TimetableViewSet(EstateViewSet[Timetable]):
    queryset = Timetable.objects.select_related("theatre")
    serializer_class = TimetableSerializer
    filterset_fields = ["theatre", "weekday", "surgeon", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Timetable:
        return estate.create_timetable(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: Timetable, changes: dict[str, Any]) -> Timetable:
        return estate.update_timetable(actor=actor, timetable=obj, changes=changes)
