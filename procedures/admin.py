"""Admin: templates are edited (audited); versions are read-only, published through the service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.admin import AuditedAdmin, ReadOnlyAdmin
from procedures.models import ProcedureStep, ProcedureTemplate, ProcedureVersion


class ReadOnlyStepInline(admin.TabularInline[ProcedureStep, ProcedureVersion]):
    model = ProcedureStep
    fields = ("order", "kind", "name", "minutes", "per_level", "description")
    readonly_fields = ("order", "kind", "name", "minutes", "per_level", "description")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProcedureTemplate)
class ProcedureTemplateAdmin(AuditedAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cases pin its versions


@admin.register(ProcedureVersion)
class ProcedureVersionAdmin(ReadOnlyAdmin[ProcedureVersion]):
    """Read-only: a version never changes. Publish with POST /api/v1/procedures/{slug}/versions/."""

    list_display = ["template", "number", "created_at", "created_by", "default_anaesthesia", "max_levels"]
    list_filter = ["template"]
    list_select_related = ["template", "created_by"]
    inlines = [ReadOnlyStepInline]
