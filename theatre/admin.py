"""Admin for the estate and the lists.

Every save goes through the same services as the API (theatre.estate, theatre.sessions), so the
estate's rules and the clash checks hold here too and a refusal shows on the form; each write
is audited with the reason "admin" (core.admin.ServiceAdmin).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.admin import ADMIN_REASON, ServiceAdmin, save_audited
from core.audit import Actor
from theatre import estate
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable
from theatre.sessions import create_session


class EstateOverrideForm(forms.ModelForm[Any]):
    """The override a change needs when future work depends on what it takes away (a capability, an
    active theatre, person or unit, a unit's kind): refused on the form without it, as the API does."""

    override = forms.BooleanField(
        required=False,
        help_text="Make the change although future work on the lists depends on it; that work is flagged "
        "for the coordinators.",
    )
    override_reason = forms.CharField(required=False, max_length=500, help_text="Required with the override; audited.")


def _pop_override(fields: dict[str, Any]) -> dict[str, Any]:
    return {"override": bool(fields.pop("override", False)), "override_reason": fields.pop("override_reason", "")}


@admin.register(Site)
class SiteAdmin(ServiceAdmin[Site]):
    list_display = ["name", "timezone", "phone"]
    search_fields = ["name"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Site:
        return estate.create_site(actor=actor, reason=ADMIN_REASON, **data)

    def update_object(self, *, actor: Actor, obj: Site, changes: dict[str, Any]) -> Site:
        return estate.update_site(actor=actor, site=obj, changes=changes, reason=ADMIN_REASON)


@admin.register(Theatre)
class TheatreAdmin(ServiceAdmin[Theatre]):
    form = EstateOverrideForm
    list_display = ["name", "site", "capabilities", "active"]
    list_filter = ["site", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Theatre:
        _pop_override(data)
        return estate.create_theatre(actor=actor, reason=ADMIN_REASON, **data)

    def update_object(self, *, actor: Actor, obj: Theatre, changes: dict[str, Any]) -> Theatre:
        override = _pop_override(changes)
        return estate.update_theatre(actor=actor, theatre=obj, changes=changes, reason=ADMIN_REASON, **override)


@admin.register(EquipmentUnit)
class EquipmentUnitAdmin(ServiceAdmin[EquipmentUnit]):
    form = EstateOverrideForm
    list_display = ["name", "kind", "serial", "site", "active"]
    list_filter = ["site", "kind", "active"]
    search_fields = ["name", "serial"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> EquipmentUnit:
        _pop_override(data)
        return estate.create_equipment_unit(actor=actor, reason=ADMIN_REASON, **data)

    def update_object(self, *, actor: Actor, obj: EquipmentUnit, changes: dict[str, Any]) -> EquipmentUnit:
        override = _pop_override(changes)
        return estate.update_equipment_unit(actor=actor, unit=obj, changes=changes, reason=ADMIN_REASON, **override)


@admin.register(StaffMember)
class StaffMemberAdmin(ServiceAdmin[StaffMember]):
    form = EstateOverrideForm
    list_display = ["name", "role", "user", "active"]
    list_filter = ["role", "active"]
    search_fields = ["name"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> StaffMember:
        _pop_override(data)
        return estate.create_staff_member(actor=actor, reason=ADMIN_REASON, **data)

    def update_object(self, *, actor: Actor, obj: StaffMember, changes: dict[str, Any]) -> StaffMember:
        override = _pop_override(changes)
        return estate.update_staff_member(actor=actor, staff=obj, changes=changes, reason=ADMIN_REASON, **override)


@admin.register(Timetable)
class TimetableAdmin(ServiceAdmin[Timetable]):
    list_display = ["theatre", "weekday", "period", "start_time", "end_time", "surgeon", "valid_from", "valid_to"]
    list_filter = ["theatre", "weekday", "period", "active"]

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Timetable:
        return estate.create_timetable(actor=actor, reason=ADMIN_REASON, **data)

    def update_object(self, *, actor: Actor, obj: Timetable, changes: dict[str, Any]) -> Timetable:
        return estate.update_timetable(actor=actor, timetable=obj, changes=changes, reason=ADMIN_REASON)


@admin.register(TheatreSession)
class TheatreSessionAdmin(ServiceAdmin[TheatreSession]):
    fields = ["theatre", "period", "start", "end", "surgeon", "anaesthetist", "status", "notes"]
    list_display = ["start", "end", "theatre", "surgeon", "anaesthetist", "status"]
    list_filter = ["status", "theatre"]
    date_hierarchy = "start"
    list_select_related = ["theatre__site", "surgeon", "anaesthetist"]

    # Once a list exists, its time, theatre, staff and status change only through the session
    # services (/api/v1/sessions/), which run the hooks that keep the work planned into the
    # list in step (theatre/hooks.py), ask for the 6-4-2 override and tell the team.
    SERVICE_FIELDS = ("theatre", "period", "start", "end", "surgeon", "anaesthetist", "status")

    def get_readonly_fields(self, request: HttpRequest, obj: TheatreSession | None = None) -> tuple[str, ...]:
        return self.SERVICE_FIELDS if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: TheatreSession | None = None) -> bool:
        return False  # a list is cancelled, never erased: the history of what was on it points at it

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> TheatreSession:
        return create_session(actor=actor, **data)

    def update_object(self, *, actor: Actor, obj: TheatreSession, changes: dict[str, Any]) -> TheatreSession:
        # Only the notes are editable here (SERVICE_FIELDS are read-only). A note moves nothing
        # and breaks no rule, so a porter's note may go on a locked list without the override.
        session = TheatreSession.objects.get(pk=obj.pk)
        for name, value in changes.items():
            setattr(session, name, value)
        return save_audited(session, actor=actor, adding=False)
