"""Admin for patients and cases: every save audited (core.admin.AuditedAdmin).

Patients (identifiers) are for superusers only. A case's booking fields are read-only here:
placing, moving and cancelling go through scheduling.booking, which holds the invariants.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.admin import AuditedAdmin
from core.errors import InvalidInput
from scheduling.cases import clean_nhs_number
from scheduling.models import Case, CaseEquipment, Patient


class PatientForm(forms.ModelForm[Patient]):
    class Meta:
        model = Patient
        fields = [
            "nhs_number",
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "email",
            "phone",
            "address",
            "reminder_channels",
        ]

    def clean_nhs_number(self) -> str:
        try:
            return clean_nhs_number(self.cleaned_data["nhs_number"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.detail) from exc


@admin.register(Patient)
class PatientAdmin(AuditedAdmin):
    form = PatientForm
    list_display = ["id", "mrn", "family_name", "given_name", "date_of_birth"]
    search_fields = ["=nhs_number", "=mrn", "family_name"]
    readonly_fields = ["created_at", "updated_at"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and getattr(request.user, "is_superuser", False))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting goes through the API (refused while the patient has cases).
        return False


class CaseEquipmentInline(admin.TabularInline[CaseEquipment, Case]):
    model = CaseEquipment
    extra = 0
    can_delete = False
    readonly_fields = ["unit", "start", "end"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(AuditedAdmin):
    list_display = ["reference", "procedure", "status", "priority", "surgeon", "session", "start"]
    list_filter = ["status", "priority", "procedure"]
    search_fields = ["=reference"]
    inlines = [CaseEquipmentInline]
    readonly_fields = [
        "reference",
        "patient",
        "procedure",
        "procedure_version",
        "levels",
        "anaesthesia",
        "approach",
        "surgeon",
        "screening_answers",
        "screening_result",
        "estimated_minutes",
        "status",
        "session",
        "start",
        "end",
        "anaesthetist",
        "cancel_reason",
        "cancel_note",
        "plan_approved_by",
        "plan_approved_at",
        "plan_fingerprint",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases join the list through the API, which screens and estimates them

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancel instead: a case's history stays
