"""Serializers for the estate (sites, theatres, equipment, staff, timetables) and the lists.

Input serializers check shapes and cross-field facts (end after start, a theatre at the site
given); the services hold the rules: theatre/estate.py for the estate and timetables,
theatre/sessions.py and theatre/timetables.py for the lists. The views that answer with lists
(/sessions/, /timetables/{id}/generate/) show the work planned into each, so an app above theatre
serves them (see config/urls.py), with the session inputs below.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from core.api.fields import AwareDateTimeField
from theatre.models import (
    Capability,
    EquipmentKind,
    EquipmentUnit,
    Period,
    SessionStatus,
    Site,
    StaffMember,
    StaffRole,
    Theatre,
    TheatreSession,
    Timetable,
)

# --- Estate -------------------------------------------------------------------------------------


class SiteSerializer(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["id", "name", "timezone", "address", "phone"]


class EstateOverrideFields(serializers.Serializer[Any]):
    """The override of a change that future work depends on (DESIGN §5.8, issue 16): without it such
    a change is refused with 409 naming that work; with it and a reason, the change is made and the
    work flagged for the coordinators."""

    override = serializers.BooleanField(
        required=False,
        write_only=True,
        help_text="Make the change although future work on the lists depends on it (removing a capability it "
        "needs; deactivating the theatre, staff member or unit; changing a unit's kind). That work is then "
        "flagged for the coordinators. Without it such a change is refused with a 409 naming the work.",
    )
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        write_only=True,
        help_text="Required with override=true; audited and shown with each flag it raises.",
    )


class TheatreSerializer(EstateOverrideFields, serializers.ModelSerializer[Theatre]):
    capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=Capability.choices), allow_empty=True, required=False
    )

    class Meta:
        model = Theatre
        fields = ["id", "site", "name", "capabilities", "active", "override", "override_reason"]


class EquipmentUnitSerializer(EstateOverrideFields, serializers.ModelSerializer[EquipmentUnit]):
    kind = serializers.ChoiceField(choices=EquipmentKind.choices)

    class Meta:
        model = EquipmentUnit
        fields = ["id", "site", "kind", "name", "serial", "active", "override", "override_reason"]


class StaffMemberSerializer(EstateOverrideFields, serializers.ModelSerializer[StaffMember]):
    role = serializers.ChoiceField(choices=StaffRole.choices)
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)

    class Meta:
        model = StaffMember
        fields = ["id", "name", "role", "user", "email", "phone", "active", "override", "override_reason"]


class TheatreAtSiteMixin:
    """An optional `site` in the request must be the theatre's site (the client's cross-check)."""

    @staticmethod
    def check_site(*, site: Site | None, theatre: Theatre | None) -> None:
        if site is not None and theatre is not None and theatre.site_id != site.pk:
            raise serializers.ValidationError({"theatre": [f"Theatre {theatre.pk} is not at site {site.pk}."]})


class TimetableSerializer(TheatreAtSiteMixin, serializers.ModelSerializer[Timetable]):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all(), required=False, write_only=True)
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday … 6 = Sunday")
    period = serializers.ChoiceField(choices=Period.choices)
    start_time = serializers.TimeField(required=False, help_text="Local wall-clock time; defaults from the period")
    end_time = serializers.TimeField(required=False, help_text="Local wall-clock time; defaults from the period")

    class Meta:
        model = Timetable
        fields = [
            "id",
            "site",
            "theatre",
            "weekday",
            "period",
            "start_time",
            "end_time",
            "surgeon",
            "anaesthetist",
            "valid_from",
            "valid_to",
            "active",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        theatre = attrs.get("theatre", getattr(self.instance, "theatre", None))
        self.check_site(site=attrs.pop("site", None), theatre=theatre)
        return attrs

    def to_representation(self, instance: Timetable) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["site"] = instance.theatre.site_id
        return data


class GenerateSerializer(serializers.Serializer[Any]):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    publish = serializers.BooleanField(default=False, help_text="Create the lists published rather than planned")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["date_to"] < attrs["date_from"]:
            raise serializers.ValidationError({"date_to": ["date_to must be on or after date_from."]})
        attrs["status"] = SessionStatus.PUBLISHED if attrs.pop("publish") else SessionStatus.PLANNED
        return attrs


# --- Sessions -----------------------------------------------------------------------------------


class SessionCreateSerializer(TheatreAtSiteMixin, serializers.Serializer[Any]):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all(), required=False)
    theatre = serializers.PrimaryKeyRelatedField(queryset=Theatre.objects.select_related("site"))
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    surgeon = serializers.PrimaryKeyRelatedField(queryset=StaffMember.objects.all())
    anaesthetist = serializers.PrimaryKeyRelatedField(
        queryset=StaffMember.objects.all(), allow_null=True, required=False, default=None
    )
    status = serializers.ChoiceField(
        choices=[SessionStatus.PLANNED, SessionStatus.PUBLISHED], default=SessionStatus.PLANNED
    )
    period = serializers.ChoiceField(choices=Period.choices, allow_blank=True, default="")
    notes = serializers.CharField(allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.check_site(site=attrs.pop("site", None), theatre=attrs["theatre"])
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        return attrs


class SessionUpdateSerializer(TheatreAtSiteMixin, serializers.Serializer[Any]):
    """A change to a list. A locked list also needs override=true and a reason."""

    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all(), required=False)
    theatre = serializers.PrimaryKeyRelatedField(queryset=Theatre.objects.select_related("site"))
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    surgeon = serializers.PrimaryKeyRelatedField(queryset=StaffMember.objects.all())
    anaesthetist = serializers.PrimaryKeyRelatedField(queryset=StaffMember.objects.all(), allow_null=True)
    status = serializers.ChoiceField(
        choices=[SessionStatus.PLANNED, SessionStatus.PUBLISHED, SessionStatus.LOCKED], required=False
    )
    period = serializers.ChoiceField(choices=Period.choices, allow_blank=True, required=False)
    notes = serializers.CharField(allow_blank=True, required=False)
    override = serializers.BooleanField(default=False, write_only=True)
    reason = serializers.CharField(allow_blank=True, default="", write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        session: TheatreSession = self.context["session"]
        self.check_site(site=attrs.pop("site", None), theatre=attrs.get("theatre", session.theatre))
        if attrs.get("end", session.end) <= attrs.get("start", session.start):
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        return attrs


class SessionCancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField()
    override = serializers.BooleanField(default=False)


class SessionCancelQuery(SessionCancelSerializer):
    """The same, from DELETE's query string."""

    # Short enough that the URL fits any server's request line even written as %-escapes
    # (gunicorn's default limit is 4,094 bytes; a longer one is refused with a bare 414 before the
    # API sees it). A longer reason goes in the body, where the limit is the text limit.
    reason = serializers.CharField(max_length=255, help_text="Why the list is cancelled (audited).")
    override = serializers.BooleanField(default=False, help_text="Needed to cancel a locked list (6-4-2).")
