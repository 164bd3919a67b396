"""WHAT is done: procedure templates with immutable, numbered versions.

Every clinical number (minutes, mL, INR limit, hold days…) is a field of a version, so a
clinician changes it by publishing a new version, never by changing code. Cases pin the
version they were planned with.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Anaesthesia(models.TextChoices):
    GENERAL = "general", "General anaesthesia"
    LOCAL_SEDATION = "local_sedation", "Local anaesthesia with sedation"


class StepKind(models.TextChoices):
    SIGN_IN = "sign_in"
    ANAESTHESIA = "anaesthesia"
    POSITIONING = "positioning"
    LEVEL_CONFIRMATION = "level_confirmation"
    TIME_OUT = "time_out"
    TROCAR_ACCESS = "trocar_access"
    DRILL = "drill"
    BALLOON_INFLATION = "balloon_inflation"
    CAVITY_CREATION = "cavity_creation"
    CEMENT_MIXING = "cement_mixing"
    CEMENT_INJECTION = "cement_injection"
    CEMENT_SETTING = "cement_setting"
    NEEDLE_REMOVAL = "needle_removal"
    IMAGING_CHECK = "imaging_check"
    CLOSURE = "closure"
    SIGN_OUT = "sign_out"


class VersionImmutable(Exception):
    """A saved version never changes: create the next version instead."""


class ProcedureTemplate(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class ProcedureVersion(models.Model):
    template = models.ForeignKey(ProcedureTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    change_note = models.TextField(blank=True)

    # Anaesthesia: [{"code": "general", "induction_minutes": 15, "recovery_minutes": 10}, …]
    anaesthesia_options = models.JSONField(default=list)
    default_anaesthesia = models.CharField(max_length=20, choices=Anaesthesia.choices)
    positioning = models.CharField(max_length=40, default="prone")
    # {"intra_op": ["fluoroscopy"], "intra_op_alternatives": [...], "post_op": ["xray", "ct"]}
    imaging = models.JSONField(default=dict)
    required_capabilities = models.JSONField(default=list)  # theatre.Capability codes
    required_equipment = models.JSONField(default=list)  # theatre.EquipmentKind codes
    allowed_levels = models.JSONField(default=list)  # contiguous vertebra codes, e.g. T5…L5
    max_levels = models.PositiveSmallIntegerField(default=3)
    # True: the levels of one case must be adjacent (T11–L1, not T8 + L2). Off for the seeded
    # templates: treating two separate painful fractures in one sitting is ordinary practice.
    levels_contiguous = models.BooleanField(default=False)
    turnover_minutes = models.PositiveSmallIntegerField(default=15)

    cement_product = models.CharField(max_length=200, blank=True)
    cement_mixing_minutes = models.DecimalField(max_digits=5, decimal_places=1)
    cement_working_minutes = models.DecimalField(max_digits=5, decimal_places=1)
    cement_setting_minutes = models.DecimalField(max_digits=5, decimal_places=1)
    cement_ml_per_level = models.DecimalField(max_digits=4, decimal_places=1)
    cement_max_ml_per_level = models.DecimalField(max_digits=4, decimal_places=1)
    # mL per level by approach, e.g. {"unipedicular": 4.1, "bipedicular": 4.9}; empty means
    # cement_ml_per_level for every approach.
    cement_ml_by_approach = models.JSONField(default=dict, blank=True)

    # Screening: rules + limits. See procedures/screening.py for the shape of each rule.
    contraindications = models.JSONField(default=list)
    inr_max = models.DecimalField(max_digits=3, decimal_places=1)
    platelets_min = models.PositiveIntegerField(help_text="×10⁹/L")
    anticoagulant_hold_days = models.JSONField(default=dict)  # {"warfarin": 5, "apixaban": 2, …}
    # Longer holds by kidney function: {"dabigatran": [{"crcl_min": 30, "crcl_max": 50,
    # "stop_days_before": 4}]} (procedures/screening.py, "Renal hold bands").
    anticoagulant_renal_holds = models.JSONField(default=dict, blank=True)
    fasting = models.JSONField(default=dict)  # {"food_hours": 6, "clear_fluids_hours": 2} (GA)

    risks = models.JSONField(default=list)  # [{"code", "name", "frequency"}] for consent
    recovery = models.JSONField(default=dict)  # {"bed_rest_hours", "discharge_hours", "advice": [...]}
    follow_up = models.JSONField(default=list)  # [{"code", "after_days", "advice"}]
    patient_information = models.JSONField(default=list)  # plain-English statements from the leaflet
    sources = models.JSONField(default=list)  # ["NICE TA279", …]
    # Where each number comes from: parameter path → source, e.g. {"inr_max": "SIR 2019 …",
    # "steps.6.minutes": "local estimate …"}. A path covers every number beneath it
    # (procedures/versions.py, "Sources of numbers").
    parameter_sources = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="procedureversion_unique_number"),
            models.CheckConstraint(condition=Q(max_levels__gte=1), name="procedureversion_max_levels_ge_1"),
            models.CheckConstraint(
                condition=Q(cement_max_ml_per_level__gte=F("cement_ml_per_level")),
                name="procedureversion_cement_max_ge_per_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.slug} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise VersionImmutable(f"{self} is published and cannot change; create a new version.")
        super().save(*args, **kwargs)


class ProcedureStep(models.Model):
    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=40, choices=StepKind.choices)
    name = models.CharField(max_length=200)
    minutes = models.PositiveSmallIntegerField()
    per_level = models.BooleanField(default=False)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["version_id", "order"]
        constraints = [models.UniqueConstraint(fields=["version", "order"], name="procedurestep_unique_order")]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"
