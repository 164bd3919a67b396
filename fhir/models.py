"""The facade's own data: which referral (by the sender's identifier) made which case."""

from __future__ import annotations

from django.db import models

from scheduling.models import Case


class ReferralIdentifier(models.Model):
    """The identifier an EPR gave its ServiceRequest. Unique, so a re-sent referral finds its case
    instead of adding the patient to the waiting list twice (the intake is idempotent on it)."""

    system = models.CharField(max_length=255)
    value = models.CharField(max_length=255)
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="referral_identifier")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "value"], name="referralidentifier_unique")]

    def __str__(self) -> str:
        return f"referral {self.system}|{self.value} for case {self.case_id}"
