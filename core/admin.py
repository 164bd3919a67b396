from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from core.audit import Actor, record, snapshot
from core.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ["at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditedAdmin(admin.ModelAdmin[Any]):
    """ModelAdmin whose saves and deletes are audited like API writes."""

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change and obj.pk else None
        super().save_model(request, obj, form, change)
        record(
            actor=Actor.of(request.user),
            action=f"{obj._meta.model_name}.{'updated' if change else 'created'}",
            obj=obj,
            before=before,
            after=snapshot(obj),
            reason="admin",
        )

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        """ "Delete selected" in the changelist: one audit entry per row, like a single delete."""
        for obj in queryset:
            self.delete_model(request, obj)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        record(
            actor=Actor.of(request.user),
            action=f"{obj._meta.model_name}.deleted",
            obj=obj,
            before=snapshot(obj),
            reason="admin",
        )
        super().delete_model(request, obj)
