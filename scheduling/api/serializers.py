"""Input and output shapes for patients, cases, booking and availability.

Viewers never see patient identifiers: the output serializers take `identified=False` and
then leave out name, NHS number, MRN, date of birth and contact details entirely.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import AwareDateTimeField
from procedures.models import Anaesthesia
from scheduling import plans, reminders, unavailability
from scheduling.booking import CancelReason
from scheduling.case_warnings import open_warnings
from scheduling.models import Approach, Case, CaseCancellation, CaseWarning, Channel, Patient, Priority
from scheduling.predictions import durations_in
from theatre.models import SessionStatus

PATIENT_IDENTIFIERS = ("nhs_number", "mrn", "given_name", "family_name", "date_of_birth", "email", "phone", "address")


@extend_schema_field({"type": "string", "enum": list(Channel.values)})
class ChannelField(serializers.ChoiceField):
    """A reminder channel. Described inline so the schema keeps one `ChannelEnum` (reminders own it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Channel.choices, **kwargs)


class IdentifierAware(serializers.ModelSerializer[Any]):
    """Drops patient identifiers unless the context says `identified=True`."""

    identifier_fields: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        if not self.context.get("identified", False):
            for name in self.identifier_fields:
                fields.pop(name, None)
        return fields


# --- Patients -------------------------------------------------------------------------------


class PatientInput(serializers.Serializer[Any]):
    nhs_number = serializers.CharField(max_length=14)
    mrn = serializers.CharField(max_length=20)
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.RegexField(r"^\+?[0-9 ]{7,19}$", required=False, allow_blank=True, max_length=20)
    address = serializers.CharField(required=False, allow_blank=True)
    reminder_channels = serializers.ListField(child=ChannelField(), required=False, max_length=2)

    def validate_date_of_birth(self, value: dt.date) -> dt.date:
        if value > dt.datetime.now(dt.UTC).date():
            raise serializers.ValidationError("The date of birth is in the future.")
        return value

    def validate_reminder_channels(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("List each channel once.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        channels = attrs.get("reminder_channels")
        if channels is None and self.instance is not None:
            channels = self.instance.reminder_channels
        email = attrs.get("email", getattr(self.instance, "email", ""))
        phone = attrs.get("phone", getattr(self.instance, "phone", ""))
        if channels and "email" in channels and not email:
            raise serializers.ValidationError({"reminder_channels": ["Email reminders need an email address."]})
        if channels and "sms" in channels and not phone:
            raise serializers.ValidationError({"reminder_channels": ["SMS reminders need a phone number."]})
        return attrs


class PatientOutput(IdentifierAware):
    identifier_fields = PATIENT_IDENTIFIERS

    class Meta:
        model = Patient
        fields = ["id", *PATIENT_IDENTIFIERS, "reminder_channels", "created_at", "updated_at"]
        read_only_fields = fields


# --- Cases ----------------------------------------------------------------------------------


class CaseInput(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    procedure = serializers.SlugField()
    levels = serializers.ListField(child=serializers.CharField(max_length=4), allow_empty=False, max_length=25)
    anaesthesia = serializers.ChoiceField(choices=Anaesthesia.choices, required=False)
    approach = serializers.ChoiceField(choices=Approach.choices, required=False)
    surgeon = serializers.IntegerField()
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    referral_date = serializers.DateField()
    screening_answers = serializers.DictField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class CaseUpdateInput(serializers.Serializer[Any]):
    levels = serializers.ListField(child=serializers.CharField(max_length=4), allow_empty=False, max_length=25)
    anaesthesia = serializers.ChoiceField(choices=Anaesthesia.choices)
    approach = serializers.ChoiceField(choices=Approach.choices)
    surgeon = serializers.IntegerField()
    priority = serializers.ChoiceField(choices=Priority.choices)
    referral_date = serializers.DateField()
    screening_answers = serializers.DictField()
    notes = serializers.CharField(allow_blank=True)
    planned_minutes = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=24 * 60,
        help_text="A person's override of the predicted minutes (turnover included); null follows the prediction.",
    )
    planned_minutes_reason = serializers.CharField(
        allow_blank=True, max_length=500, help_text="Required whenever planned_minutes is set, changed or cleared."
    )


class PatientSummary(IdentifierAware):
    identifier_fields = ("nhs_number", "mrn", "given_name", "family_name", "date_of_birth")

    class Meta:
        model = Patient
        fields = ["id", "nhs_number", "mrn", "given_name", "family_name", "date_of_birth"]
        read_only_fields = fields


class ClaimedUnit(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="unit.id")
    kind = serializers.CharField(source="unit.kind")
    name = serializers.CharField(source="unit.name")
    serial = serializers.CharField(source="unit.serial")


class CancellationOutput(serializers.ModelSerializer[CaseCancellation]):
    """How a cancelled case was cancelled: `on_the_day` against its list's local date, and the reason's category."""

    # A plain string in the schema: the case statuses already have their enum on `status`.
    from_status = serializers.CharField(read_only=True, help_text="The case's status when it was cancelled.")

    candidates = serializers.SerializerMethodField(
        help_text="For a case cancelled from a list that has not ended: where the waiting cases that "
        "fit the freed time are ranked (GET /sessions/{id}/candidates/); else null."
    )

    class Meta:
        model = CaseCancellation
        fields = ["reason", "category", "on_the_day", "from_status", "session", "cancelled_at", "candidates"]
        read_only_fields = fields

    def get_candidates(self, cancellation: CaseCancellation) -> str | None:
        session = cancellation.session
        if session is None or session.end <= timezone.now() or session.status == SessionStatus.CANCELLED:
            return None
        return reverse("session-candidates", kwargs={"pk": session.pk})


class PredictedMinutesOutput(serializers.Serializer[Any]):
    """The learned prediction (scheduling/durations.py): minutes with turnover, and the past cases it rests on."""

    p50 = serializers.IntegerField(help_text="Median minutes, turnover included; with n = 0, estimated_minutes.")
    p80 = serializers.IntegerField(help_text="Minutes that 80% of such cases fit in, turnover included.")
    n = serializers.IntegerField(help_text="Completed cases the prediction learned from (0: the template alone).")


class CaseWarningOutput(serializers.ModelSerializer[CaseWarning]):
    class Meta:
        model = CaseWarning
        fields = ["id", "kind", "detail", "created_at", "created_by"]
        read_only_fields = fields


class ClearWarningInput(serializers.Serializer[Any]):
    warning = serializers.IntegerField(help_text="The id of an open warning of this case.")
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="What was done about it (audited)."
    )


class CaseOutput(IdentifierAware):
    """A case as every role reads it; `patient_detail` only with identifiers allowed."""

    # Free text a coordinator types (and the health answers) can name or describe the patient:
    # viewers, who read lists without identifiers, do not get them.
    identifier_fields = ("notes", "cancel_note", "screening_answers", "planned_minutes_reason")
    role_dependent_fields = ("patient_detail",)

    procedure: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    procedure_version = serializers.IntegerField(source="procedure_version.number", read_only=True)
    patient_detail = serializers.SerializerMethodField()
    equipment = ClaimedUnit(source="equipment_claims", many=True, read_only=True)
    plan_approved = serializers.SerializerMethodField()
    reminder_warnings = serializers.SerializerMethodField(
        help_text="Why some reminders could not be planned, e.g. no contact details or a hold date already past."
    )
    cancellation = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="Open warnings for the coordinator: the estate changed under this booked case by override "
        "(a theatre, person or unit deactivated, a capability removed, a unit's kind changed). "
        "Cleared with POST /cases/{id}/warnings/clear/."
    )
    predicted_minutes = serializers.SerializerMethodField()
    slot_minutes = serializers.SerializerMethodField(
        help_text="What booking, availability and fill occupy: planned_minutes if set, else predicted_minutes.p50."
    )
    treat_by = serializers.SerializerMethodField(
        help_text="Referral date + the priority's maximum wait (P1 72 h, P2 1 month, P3 3 months; null for P4), "
        "moved later by the patient-initiated unavailable periods (NHS RTT clock pauses)."
    )
    unavailable_on_booked_date = serializers.SerializerMethodField(
        help_text="Booked on a day the patient said they are unavailable: move or cancel the case."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "patient",
            "patient_detail",
            "procedure",
            "procedure_version",
            "levels",
            "approach",
            "anaesthesia",
            "surgeon",
            "priority",
            "referral_date",
            "treat_by",
            "screening_answers",
            "screening_result",
            "estimated_minutes",
            "predicted_minutes",
            "planned_minutes",
            "planned_minutes_reason",
            "slot_minutes",
            "status",
            "unavailable_on_booked_date",
            "session",
            "start",
            "end",
            "anaesthetist",
            "equipment",
            "cancel_reason",
            "cancel_note",
            "cancellation",
            "plan_approved",
            "plan_approved_at",
            "reminder_warnings",
            "warnings",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        if not self.context.get("identified", False):
            fields.pop("patient_detail")
        return fields

    def get_patient_detail(self, case: Case) -> dict[str, Any]:
        return dict(PatientSummary(case.patient, context=self.context).data)

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_reminder_warnings(self, case: Case) -> list[dict[str, str]]:
        return reminders.reminder_warnings(case)

    @extend_schema_field(CancellationOutput(allow_null=True, help_text="null unless the case was cancelled."))
    def get_cancellation(self, case: Case) -> dict[str, Any] | None:
        try:
            return dict(CancellationOutput(case.cancellation).data)
        except CaseCancellation.DoesNotExist:
            return None

    @extend_schema_field(CaseWarningOutput(many=True))
    def get_warnings(self, case: Case) -> list[dict[str, Any]]:
        return list(CaseWarningOutput(open_warnings(case), many=True).data)

    @extend_schema_field(PredictedMinutesOutput)
    def get_predicted_minutes(self, case: Case) -> dict[str, int]:
        # One Durations per request (the context is shared by a page's rows): one history query.
        return durations_in(self.context).predict(case).as_dict()

    def get_slot_minutes(self, case: Case) -> int:
        return durations_in(self.context).slot_minutes(case)

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_treat_by(self, case: Case) -> str | None:
        day = unavailability.treat_by_of(case)
        return day.isoformat() if day is not None else None

    def get_unavailable_on_booked_date(self, case: Case) -> bool:
        return unavailability.unavailable_on_booked_date(case)

    def get_plan_approved(self, case: Case) -> bool:
        # Approved *and* for the plan as it is now (defence in depth beside withdraw_approval).
        return plans.approval_is_current(case)


# --- Booking --------------------------------------------------------------------------------


class PlacementInput(serializers.Serializer[Any]):
    session = serializers.IntegerField()
    start = AwareDateTimeField(required=False, allow_null=True)
    override = serializers.BooleanField(required=False, default=False)
    override_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class CancelInput(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=CancelReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# --- Availability ---------------------------------------------------------------------------


class AvailabilityInput(serializers.Serializer[Any]):
    case = serializers.IntegerField(required=False)
    procedure = serializers.SlugField(required=False, max_length=50)  # a template's slug (SlugField's 50)
    # As many levels as a case may have (25 of at most 4 characters) and their commas: a query
    # value short enough that its URL fits any server's request line.
    levels = serializers.CharField(required=False, max_length=124, help_text="Comma-separated, e.g. T12,L1")
    anaesthesia = serializers.ChoiceField(choices=Anaesthesia.choices, required=False)
    surgeon = serializers.IntegerField(required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "case" not in attrs:
            missing = [f for f in ("procedure", "levels", "surgeon") if not attrs.get(f)]
            if missing:
                raise serializers.ValidationError(
                    {f: ["Required unless `case` is given."] for f in missing},
                )
        if "levels" in attrs:
            attrs["levels"] = [level.strip() for level in attrs["levels"].split(",") if level.strip()]
        today = dt.datetime.now(dt.UTC).date()
        date_from = attrs.setdefault("date_from", today)
        date_to = attrs.setdefault("date_to", date_from + dt.timedelta(days=28))
        if date_to < date_from:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        if (date_to - date_from).days > 92:
            raise serializers.ValidationError({"date_to": ["Search at most 92 days at a time."]})
        return attrs


class SlotOutput(serializers.Serializer[Any]):
    session = serializers.IntegerField(source="session_id")
    theatre = serializers.IntegerField(source="theatre_id")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
