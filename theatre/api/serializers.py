"""Serializers for the estate (sites, theatres, equipment, staff, timetables) and the lists.

Input serializers check shapes and cross-field facts (end after start, a theatre at the site
given); the services in theatre/sessions.py and theatre/timetables.py hold the rules. The views
that answer with lists (/sessions/, /timetables/{id}/generate/) show the work planned into
each, so an app above theatre serves them (see config/urls.py), with the session inputs below.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from rest_framework import exceptions, serializers

from core.api.fields import AwareDateTimeField
from core.errors import InvalidInput
from core.roles import is_admin
from theatre import hooks
from theatre.models import (
    PERIOD_TIMES,
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
from theatre.sessions import ensure_staff_roles


def _raise_as_field_error(exc: InvalidInput) -> None:
    raise serializers.ValidationError({exc.field: [exc.detail]}) from exc


# --- Estate -------------------------------------------------------------------------------------


class SiteSerializer(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["id", "name", "timezone", "address", "phone"]

    def validate_timezone(self, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"{value!r} is not a known time zone (e.g. Europe/London).") from None
        # Lists are stored in UTC from local wall-clock times: a new zone would silently shift
        # every existing list by the difference.
        site = self.instance
        if site is not None and value != site.timezone and TheatreSession.objects.filter(theatre__site=site).exists():
            raise serializers.ValidationError("A site that has lists cannot change its time zone.")
        return value


class TheatreSerializer(serializers.ModelSerializer[Theatre]):
    capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=Capability.choices), allow_empty=True, required=False
    )

    class Meta:
        model = Theatre
        fields = ["id", "site", "name", "capabilities", "active"]

    def validate_capabilities(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate_site(self, value: Site) -> Site:
        theatre = self.instance
        # A theatre's lists and timetables are in its site's local time, and the work in its
        # lists uses that site's equipment: moving it would break both.
        moved = theatre is not None and value.pk != theatre.site_id
        if moved and (theatre.sessions.exists() or theatre.timetables.exists()):  # type: ignore[union-attr]
            raise serializers.ValidationError("A theatre with lists or timetables cannot move to another site.")
        return value


class EquipmentUnitSerializer(serializers.ModelSerializer[EquipmentUnit]):
    kind = serializers.ChoiceField(choices=EquipmentKind.choices)

    class Meta:
        model = EquipmentUnit
        fields = ["id", "site", "kind", "name", "serial", "active"]

    def validate_site(self, value: Site) -> Site:
        unit = self.instance
        if unit is not None and value.pk != unit.site_id:
            # Work planned onto the unit may hold it at its site (hooks.pre_unit_move).
            try:
                hooks.pre_unit_move.send(sender=EquipmentUnit, unit=unit, site=value)
            except InvalidInput as exc:
                raise serializers.ValidationError(exc.detail) from exc
        return value


class StaffMemberSerializer(serializers.ModelSerializer[StaffMember]):
    role = serializers.ChoiceField(choices=StaffRole.choices)
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)

    class Meta:
        model = StaffMember
        fields = ["id", "name", "role", "user", "email", "phone", "active"]

    def validate_user(self, value: User | None) -> User | None:
        staff = self.instance if isinstance(self.instance, StaffMember) else None
        current = staff.user_id if staff is not None else None
        if (value.pk if value else None) == current:
            return value
        # The link decides whose login signs as this clinician (a surgeon's approvals, for one):
        # a clinical identity, so only an admin changes it (coordinators manage the rest).
        request = self.context.get("request")
        if request is None or not is_admin(request.user):
            raise exceptions.PermissionDenied("Only an admin may link or unlink a staff member's login.")
        others = StaffMember.objects.filter(user=value)
        if staff is not None:
            others = others.exclude(pk=staff.pk)
        if value is not None and others.exists():
            raise serializers.ValidationError("This login already belongs to another staff member.")
        return value


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
        current = self.instance

        def value(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(current, name, None)

        self.check_site(site=attrs.pop("site", None), theatre=value("theatre"))
        period = value("period")
        if current is None or "period" in attrs:
            default_start, default_end = PERIOD_TIMES[period]
            attrs.setdefault("start_time", default_start)
            attrs.setdefault("end_time", default_end)
        if value("end_time") <= value("start_time"):
            raise serializers.ValidationError({"end_time": ["The end time must be after the start time."]})
        valid_to = value("valid_to")
        if valid_to is not None and valid_to < value("valid_from"):
            raise serializers.ValidationError({"valid_to": ["valid_to must be on or after valid_from."]})
        try:
            ensure_staff_roles(surgeon=value("surgeon"), anaesthetist=value("anaesthetist"))
        except InvalidInput as exc:
            _raise_as_field_error(exc)
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
