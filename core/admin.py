from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest, HttpResponse

from core.audit import Actor, record, record_saved, snapshot
from core.errors import DomainError, InvalidInput
from core.models import AuditEntry

M = TypeVar("M", bound=models.Model)

# The audit reason of every write made in the admin, so a reader can tell them from API writes.
ADMIN_REASON = "admin"


class ReadOnlyAdmin(admin.ModelAdmin[M]):
    """Rows that are never changed once written (the audit trail, published versions): shown, every
    field read-only, with no add, change or delete."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin[AuditEntry]):
    list_display = ["at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]


def save_audited(obj: M, *, actor: Actor, adding: bool) -> M:
    """Save `obj` as it stands and audit the write, for admin edits that no service owns."""
    before = None if adding else snapshot(type(obj)._default_manager.get(pk=obj.pk))
    obj.save()
    record_saved(obj, actor=actor, before=before, reason=ADMIN_REASON)
    return obj


class AuditedAdmin(admin.ModelAdmin[Any]):
    """ModelAdmin whose saves and deletes are audited like API writes."""

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        save_audited(obj, actor=Actor.of(request.user), adding=not change)

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
            reason=ADMIN_REASON,
        )
        super().delete_model(request, obj)


class _Rehearsal(Exception):
    """Raised to roll back a write that was made only to learn whether the service refuses it."""


class _RefusedOnSave(Exception):
    """The service refused in save_model what it accepted in the rehearsal: the data changed between."""

    def __init__(self, refusal: Exception) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


# The request attribute that carries a refusal met in save_model to the form shown again.
_REFUSAL = "_service_admin_refusal"

# What a service may refuse with; each shows on the form rather than as an error page.
_REFUSALS = (DomainError, PermissionDenied, IntegrityError)

RACED = "Nothing was saved: the data changed after the form was checked. Review the form and save again."


def _show_refusal(form: forms.ModelForm[Any], refusal: Exception) -> None:
    """Put a service's refusal on the form: beside its field, as the API names it in a 400; a 409 by its code."""
    if isinstance(refusal, InvalidInput):
        form.add_error(refusal.field if refusal.field in form.fields else None, refusal.detail)
    elif isinstance(refusal, DomainError):
        form.add_error(None, f"{refusal.code}: {refusal.detail}")
    elif isinstance(refusal, PermissionDenied):
        form.add_error(None, str(refusal))
    else:
        form.add_error(None, "A database rule refused the change.")


class _RehearsedForm(forms.ModelForm[Any]):
    """A form that is valid only if the admin's service would accept it (see ServiceAdmin)."""

    rehearse: ClassVar[Callable[[forms.ModelForm[Any]], None]]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            type(self).rehearse(self)
        return data


class ServiceAdmin(AuditedAdmin, Generic[M]):
    """An admin that saves through the app's write services, which hold the rules and audit.

    Django validates a form before it saves, but a service tells its refusal only when called. So
    the form's clean() calls the service once inside a savepoint that is always rolled back: a
    refusal shows on the form (beside its field, as the API names it in a 400; a 409 by its code)
    and nothing is written. save_model() then makes the same call for real. Subclasses say which
    services: create_object() and update_object().

    Another request can change the data between the two calls, so save_model() may still be
    refused. changeform_view() then lets Django's transaction roll the whole save back and shows
    the form again with that refusal on it, instead of an error page.
    """

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> M:
        raise NotImplementedError

    def update_object(self, *, actor: Actor, obj: M, changes: dict[str, Any]) -> M:
        raise NotImplementedError

    def _write(self, actor: Actor, form: forms.ModelForm[M], *, adding: bool) -> M:
        data = dict(form.cleaned_data)
        if adding:
            return self.create_object(actor=actor, data=data)
        return self.update_object(actor=actor, obj=form.instance, changes=data)

    def _rehearse(self, request: HttpRequest, form: forms.ModelForm[M]) -> None:
        refused_on_save = getattr(request, _REFUSAL, None)
        if refused_on_save is not None:
            # The form shown again after save_model was refused: that refusal is the answer, and
            # asking the service once more could pass and save on a second, unseen try.
            _show_refusal(form, refused_on_save)
            return
        try:
            with transaction.atomic():
                self._write(Actor.of(request.user), form, adding=form.instance._state.adding)
                raise _Rehearsal
        except _Rehearsal:
            pass
        except IntegrityError:
            # A broken database constraint: the model validation that runs next (validate_unique,
            # validate_constraints) names it on the form in Django's words.
            pass
        except _REFUSALS as exc:
            _show_refusal(form, exc)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)

        def rehearse(bound: forms.ModelForm[M]) -> None:
            self._rehearse(request, bound)

        return type(form.__name__, (_RehearsedForm, form), {"rehearse": staticmethod(rehearse)})

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _RefusedOnSave as exc:
            # Django's changeform_view saves inside transaction.atomic(), which the exception has
            # just rolled back: the service's writes, the admin log, everything. Show the same
            # POST again; its rehearsal now answers with the refusal (see _rehearse).
            setattr(request, _REFUSAL, exc.refusal)
            self.message_user(request, RACED, messages.ERROR)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        try:
            saved = self._write(Actor.of(request.user), form, adding=not change)
        except _REFUSALS as exc:
            raise _RefusedOnSave(exc) from exc
        # The admin goes on with `obj` (its change message, its redirect): make it the saved row.
        obj.pk = saved.pk
        obj.refresh_from_db()
