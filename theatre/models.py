"""WHERE and WHO: sites, theatres, equipment, staff, weekly timetables and the sessions they make.

On PostgreSQL, exclusion constraints (migration 0002) keep a theatre, a surgeon and an
anaesthetist from holding two overlapping live sessions, whatever the application does.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Capability(models.TextChoices):
    FLUOROSCOPY = "fluoroscopy", "Fluoroscopy (single-plane C-arm)"
    BIPLANAR_FLUOROSCOPY = "biplanar_fluoroscopy", "Biplanar fluoroscopy"
    LAMINAR_FLOW = "laminar_flow", "Laminar flow ventilation"
    CT = "ct", "Intra-operative CT"


class EquipmentKind(models.TextChoices):
    C_ARM = "c_arm", "C-arm image intensifier"
    BIPLANAR_C_ARM = "biplanar_c_arm", "Biplanar C-arm pair"
    KYPHOPLASTY_SYSTEM = "kyphoplasty_system", "Balloon kyphoplasty system"
    VERTEBROPLASTY_KIT = "vertebroplasty_kit", "Vertebroplasty cement delivery kit"


class StaffRole(models.TextChoices):
    SURGEON = "surgeon"
    ANAESTHETIST = "anaesthetist"
    RADIOGRAPHER = "radiographer"
    NURSE = "nurse"
    COORDINATOR = "coordinator"


class Period(models.TextChoices):
    AM = "am", "Morning"
    PM = "pm", "Afternoon"
    ALL_DAY = "all_day", "All day"


# Local wall-clock times of each period. Defaults for new timetables only: a
# timetable stores its own times, so a unit that starts at 07:30 just edits its rows.
PERIOD_TIMES: dict[str, tuple[dt.time, dt.time]] = {
    Period.AM: (dt.time(8, 0), dt.time(13, 0)),
    Period.PM: (dt.time(13, 30), dt.time(18, 0)),
    Period.ALL_DAY: (dt.time(8, 0), dt.time(18, 0)),
}


class SessionStatus(models.TextChoices):
    PLANNED = "planned"
    PUBLISHED = "published"
    LOCKED = "locked"
    CANCELLED = "cancelled"


class Site(models.Model):
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="Europe/London")
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        """The site's zone: its lists' wall-clock times ("08:00 local") and every time shown for them.

        The services accept only a known zone (theatre.estate.ensure_known_zone); a blank one in a
        row written around them reads as the unit's TIME_ZONE rather than failing at display time.
        """
        return ZoneInfo(self.timezone or settings.TIME_ZONE)


class Theatre(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="theatres")
    name = models.CharField(max_length=100)
    # Capability codes (Capability). A JSON list rather than an ArrayField so that the
    # embedded SQLite of `make run` can hold it too.
    capabilities = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="theatre_unique_name_per_site")]

    def __str__(self) -> str:
        return f"{self.site.name} / {self.name}"


class EquipmentUnit(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="equipment")
    kind = models.CharField(max_length=40, choices=EquipmentKind.choices)
    name = models.CharField(max_length=100)
    serial = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["site__name", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.serial})"


class StaffMember(models.Model):
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=StaffRole.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff_member"
    )
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class Timetable(models.Model):
    """A weekly rule: this theatre, this weekday, this period, led by this surgeon."""

    theatre = models.ForeignKey(Theatre, on_delete=models.PROTECT, related_name="timetables")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    period = models.CharField(max_length=10, choices=Period.choices)
    start_time = models.TimeField(help_text="Local wall-clock time at the site")
    end_time = models.TimeField(help_text="Local wall-clock time at the site")
    surgeon = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    anaesthetist = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["theatre", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="timetable_weekday_0_6"),
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="timetable_end_after_start"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="timetable_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.theatre} weekday {self.weekday} {self.period}"


class TheatreSession(models.Model):
    """One list: a theatre, a surgeon and an anaesthetist from `start` to `end` (UTC)."""

    theatre = models.ForeignKey(Theatre, on_delete=models.PROTECT, related_name="sessions")
    timetable = models.ForeignKey(Timetable, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    period = models.CharField(max_length=10, choices=Period.choices, blank=True)
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField()
    surgeon = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="led_sessions")
    anaesthetist = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.PROTECT, related_name="anaesthetised_sessions"
    )
    status = models.CharField(max_length=12, choices=SessionStatus.choices, default=SessionStatus.PLANNED)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "theatre_id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="session_end_after_start"),
            # Generating twice never duplicates a list, even from two workers at once. Cancelled
            # lists are left out so that a replacement can start at the same time.
            models.UniqueConstraint(
                fields=["theatre", "start"],
                condition=~Q(status="cancelled"),
                name="session_unique_theatre_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.theatre} {self.start:%Y-%m-%d %H:%M}"

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)
