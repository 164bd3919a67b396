"""Admin for the estate and the lists. Every save is audited (core.admin.AuditedAdmin).

The session form runs the same clash check as the API, so a surgeon given two lists at once gets
a form error instead of the database's exclusion constraint surfacing as a server error.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.admin import AuditedAdmin
from core.errors import DomainError, InvalidInput
from theatre.clashes import ListFootprint, ensure_no_clash, zone_of
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable
from theatre.sessions import ensure_staff_roles


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["name", "timezone", "phone"]
    search_fields = ["name"]


@admin.register(Theatre)
class TheatreAdmin(AuditedAdmin):
    list_display = ["name", "site", "capabilities", "active"]
    list_filter = ["site", "active"]


@admin.register(EquipmentUnit)
class EquipmentUnitAdmin(AuditedAdmin):
    list_display = ["name", "kind", "serial", "site", "active"]
    list_filter = ["site", "kind", "active"]
    search_fields = ["name", "serial"]


@admin.register(StaffMember)
class StaffMemberAdmin(AuditedAdmin):
    list_display = ["name", "role", "user", "active"]
    list_filter = ["role", "active"]
    search_fields = ["name"]


@admin.register(Timetable)
class TimetableAdmin(AuditedAdmin):
    list_display = ["theatre", "weekday", "period", "start_time", "end_time", "surgeon", "valid_from", "valid_to"]
    list_filter = ["theatre", "weekday", "period", "active"]


class TheatreSessionForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TheatreSession
        fields = ["theatre", "period", "start", "end", "surgeon", "anaesthetist", "status", "notes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        theatre, surgeon, start, end = (data.get(k) for k in ("theatre", "surgeon", "start", "end"))
        if not (theatre and surgeon and start and end) or data.get("status") == "cancelled":
            return data
        if end <= start:
            raise forms.ValidationError({"end": "The end must be after the start."})
        anaesthetist = data.get("anaesthetist")
        try:
            ensure_staff_roles(surgeon=surgeon, anaesthetist=anaesthetist)
            footprint = ListFootprint(
                theatre_id=theatre.pk,
                surgeon_id=surgeon.pk,
                anaesthetist_id=anaesthetist.pk if anaesthetist else None,
                start=start,
                end=end,
            )
            ensure_no_clash(footprint, zone=zone_of(theatre), exclude_id=self.instance.pk)
        except InvalidInput as exc:
            raise forms.ValidationError({exc.field: exc.detail}) from exc
        except DomainError as exc:
            raise forms.ValidationError(f"{exc.code}: {exc.detail}") from exc
        return data


@admin.register(TheatreSession)
class TheatreSessionAdmin(AuditedAdmin):
    form = TheatreSessionForm
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
        return False  # a list is cancelled, never erased: the history of the work in it points at it
