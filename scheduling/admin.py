"""Admin for patients and cases, saved through scheduling.cases like the API (core.admin.ServiceAdmin).

Patients (identifiers) are for superusers only. A case's booking fields are read-only here:
placing, moving and cancelling go through scheduling.booking, which holds the invariants.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from core.admin import ServiceAdmin
from core.audit import Actor
from scheduling import cases
from scheduling.models import Case, CaseEquipment, Patient

# The admin's patient search term lives in the session, never in a URL (see PatientAdmin).
PATIENT_SEARCH_KEY = "admin_patient_search"


@admin.register(Patient)
class PatientAdmin(ServiceAdmin[Patient]):
    """Patients for superusers. The search posts its term (an identifier) and keeps it in the
    session: Django's ?q= would write NHS numbers and names into access logs and history."""

    fields = [*cases.PATIENT_FIELDS, "created_at", "updated_at"]
    list_display = ["id", "mrn", "family_name", "given_name", "date_of_birth"]
    search_fields = ["=nhs_number", "=mrn", "family_name"]
    readonly_fields = ["created_at", "updated_at"]
    change_list_template = "admin/scheduling/patient/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST" and "patient_search" in request.POST:
            request.session[PATIENT_SEARCH_KEY] = request.POST["patient_search"].strip()[:100]
            return HttpResponseRedirect(request.path)
        if "q" in request.GET:
            # A search in the URL (a bookmark, a typed link) is dropped, not run.
            return HttpResponseRedirect(request.path)
        context = {**(extra_context or {}), "patient_search": request.session.get(PATIENT_SEARCH_KEY, "")}
        return super().changelist_view(request, context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Patient], search_term: str
    ) -> tuple[QuerySet[Patient], bool]:
        return super().get_search_results(request, queryset, request.session.get(PATIENT_SEARCH_KEY, ""))

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

    def create_object(self, *, actor: Actor, data: dict[str, Any]) -> Patient:
        return cases.create_patient(actor=actor, data=data)

    def update_object(self, *, actor: Actor, obj: Patient, changes: dict[str, Any]) -> Patient:
        # New contact details or channels re-plan the reminders still to come, as in the API.
        return cases.update_patient(actor=actor, patient_id=obj.pk, changes=changes)


class CaseEquipmentInline(admin.TabularInline[CaseEquipment, Case]):
    model = CaseEquipment
    extra = 0
    can_delete = False
    readonly_fields = ["unit", "start", "end"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(ServiceAdmin[Case]):
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

    def update_object(self, *, actor: Actor, obj: Case, changes: dict[str, Any]) -> Case:
        # Priority and referral date are clinical facts: update_case refuses a closed case, re-plans
        # the reminders of a booked one and audits the change, as the API does.
        return cases.update_case(actor=actor, case_id=obj.pk, changes=changes)
