"""The booking: patients, cases (waiting list → booked list), claimed equipment, reminders and
the WHO checklist.

On PostgreSQL, exclusion constraints (migration 0002) hold the booking invariants for every
case that occupies time (OCCUPYING_STATUSES): no overlap per session, surgeon, anaesthetist,
patient, or equipment unit. The services check first only to give a precise error code.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from procedures.models import Anaesthesia, ProcedureTemplate, ProcedureVersion
from scheduling.milestones import MILESTONES
from theatre.models import EquipmentUnit, StaffMember, TheatreSession


class CaseStatus(models.TextChoices):
    WAITING = "waiting"
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    IN_THEATRE = "in_theatre"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Statuses whose time is spent in a theatre: they hold their slot, staff and units.
OCCUPYING_STATUSES = (CaseStatus.BOOKED, CaseStatus.CONFIRMED, CaseStatus.IN_THEATRE, CaseStatus.COMPLETED)


class Approach(models.TextChoices):
    UNIPEDICULAR = "unipedicular"
    BIPEDICULAR = "bipedicular"


class Priority(models.TextChoices):
    # NHS surgical prioritisation (FSSA): P1 < 72 h, P2 < 1 month, P3 < 3 months, P4 > 3 months.
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"


class Patient(models.Model):
    nhs_number = models.CharField(max_length=10, unique=True)
    mrn = models.CharField("MRN", max_length=20, unique=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="Mobile, E.164 (+447…)")
    address = models.TextField(blank=True)
    reminder_channels = models.JSONField(default=list, blank=True)  # Channel codes, in preference order
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "id"]

    def __str__(self) -> str:
        # Deliberately not the name: __str__ ends up in logs and admin messages.
        return f"Patient #{self.pk}"


class Case(models.Model):
    reference = models.CharField(max_length=20, unique=True, help_text="Case reference shown on lists")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    procedure = models.ForeignKey(ProcedureTemplate, on_delete=models.PROTECT, related_name="+")
    procedure_version = models.ForeignKey(ProcedureVersion, on_delete=models.PROTECT, related_name="+")
    levels = models.JSONField(default=list)  # ["T12", "L1"]
    approach = models.CharField(max_length=20, choices=Approach.choices, default=Approach.BIPEDICULAR)
    anaesthesia = models.CharField(max_length=20, choices=Anaesthesia.choices)
    surgeon = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="cases")
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    referral_date = models.DateField()
    screening_answers = models.JSONField(default=dict, blank=True)
    screening_result = models.JSONField(default=dict, blank=True)
    estimated_minutes = models.PositiveIntegerField()
    # A person's override of the learned prediction (scheduling/predictions.py), in minutes with
    # turnover like the slot; null follows the prediction. Set only with a reason, audited.
    planned_minutes = models.PositiveIntegerField(null=True, blank=True)
    planned_minutes_reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=CaseStatus.choices, default=CaseStatus.WAITING, db_index=True)
    notes = models.TextField(blank=True)

    # Set while booked. `anaesthetist` is copied from the session so the database can keep
    # one anaesthetist out of two overlapping cases.
    session = models.ForeignKey(TheatreSession, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    anaesthetist = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.PROTECT, related_name="anaesthetised_cases"
    )

    cancel_reason = models.CharField(max_length=40, blank=True)
    cancel_note = models.TextField(blank=True)

    # Case-plan approval by the case's surgeon. `plan_fingerprint` is the hash of the plan that
    # was approved; any change to the case clears all three (scheduling/plans/approval.py).
    plan_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    plan_approved_at = models.DateTimeField(null=True, blank=True)
    plan_fingerprint = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__isnull=True) | Q(end__gt=F("start")), name="case_end_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[s.value for s in OCCUPYING_STATUSES])
                | (Q(session__isnull=False) & Q(start__isnull=False) & Q(end__isnull=False)),
                name="case_booked_has_slot",
            ),
            models.CheckConstraint(
                condition=Q(planned_minutes__isnull=True) | Q(planned_minutes__gt=0),
                name="case_planned_minutes_positive",
            ),
        ]
        indexes = [models.Index(fields=["session", "start"])]

    def __str__(self) -> str:
        return self.reference


class CaseEquipment(models.Model):
    """A unit claimed by a case for its interval. Deleted when the case is cancelled or moved."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="equipment_claims")
    unit = models.ForeignKey(EquipmentUnit, on_delete=models.PROTECT, related_name="claims")
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        ordering = ["case_id", "unit_id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "unit"], name="caseequipment_unique"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="caseequipment_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} for case {self.case_id}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Terminal: the sweep found the row's moment meaningless when it fell due (a day-before
    # reminder after the start, anything pre-op for a completed or cancelled case, a follow-up for
    # a case that never happened), so it was never sent. `skip_reason` says which rule.
    SKIPPED = "skipped"


class Reminder(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set with status `skipped`: a code of scheduling.reminders.staleness (e.g. "appointment_passed").
    skip_reason = models.CharField(max_length=40, blank=True)
    context = models.JSONField(default=dict, blank=True)  # e.g. {"drug": "warfarin", "stop_on": "…"}
    # After a transient failure the sweep leaves the row alone until then (backoff with jitter).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "channel"], name="reminder_unique_case_kind_channel"),
            # A skipped row always says why, and only a skipped row carries a skip reason.
            models.CheckConstraint(
                condition=(Q(status="skipped") & ~Q(skip_reason="")) | (~Q(status="skipped") & Q(skip_reason="")),
                name="reminder_skip_reason_iff_skipped",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="reminder_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} for case {self.case_id}"


class ChecklistPhase(models.TextChoices):
    SIGN_IN = "sign_in"
    TIME_OUT = "time_out"
    SIGN_OUT = "sign_out"


class ChecklistEntry(models.Model):
    """One phase of the WHO Surgical Safety Checklist (2009), signed once."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="checklist")
    phase = models.CharField(max_length=10, choices=ChecklistPhase.choices)
    items = models.JSONField(default=dict)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["case_id", "signed_at"]
        constraints = [models.UniqueConstraint(fields=["case", "phase"], name="checklist_unique_phase")]

    def __str__(self) -> str:
        return f"{self.phase} for case {self.case_id}"


class CaseWarningKind(models.TextChoices):
    """Why a booked case needs a coordinator's attention: the estate changed under it by override."""

    THEATRE_DEACTIVATED = "theatre_deactivated"
    CAPABILITY_REMOVED = "capability_removed"
    STAFF_DEACTIVATED = "staff_deactivated"
    UNIT_DEACTIVATED = "unit_deactivated"
    UNIT_KIND_CHANGED = "unit_kind_changed"


class CaseWarning(models.Model):
    """Something a coordinator must look at on a booked case, until they clear it (audited).

    Written when an estate change made by override leaves the case where it can no longer be held
    as booked (scheduling/theatre_rules.py); shown on the case in the API while open. A row per
    reason, not a flag on the case: one case can be hit by two changes, each is cleared on its own
    once dealt with, and the history (who cleared what, when, why) stays.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="warnings")
    kind = models.CharField(max_length=32, choices=CaseWarningKind.choices)
    detail = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, help_text="The actor label of the change that raised it")
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cleared_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["case_id", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cleared_at__isnull=True, cleared_by__isnull=True)
                | Q(cleared_at__isnull=False, cleared_by__isnull=False),
                name="casewarning_cleared_by_someone",
            ),
        ]
        indexes = [models.Index(fields=["case"], condition=Q(cleared_at__isnull=True), name="casewarning_open")]

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id}"


class SignInOverride(models.Model):
    """A coordinator's permission to sign a case in outside the WHO sign-in window (a list running
    past midnight, a patient brought forward by hours), with the reason; audited when granted and
    when used (scheduling/checklist.py).

    It holds for the booked start it was given for only: a case moved since needs a new one, so an
    override never carries a patient into a day nobody reviewed.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="sign_in_override")
    start = models.DateTimeField(help_text="The case's booked start when the override was given")
    reason = models.CharField(max_length=500)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"sign-in override for case {self.case_id}"


class ReminderPlan(models.Model):
    """What the patient's reminders were last planned for (scheduling/reminders/planning.py), one per case.

    Remembers the list and start the patient was told about, so a move or a cancellation can
    tell the old list's staff and the patient, and carries the planning warnings the case shows
    (e.g. no email and no phone: no reminders at all).
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="reminder_plan")
    session = models.ForeignKey(TheatreSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    start = models.DateTimeField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)  # [{"code": …, "detail": …}]
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reminder plan for case {self.case_id}"


class StaffNotice(models.Model):
    """An email telling a list's surgeon or anaesthetist that the list changed.

    Changes coalesce: while a notice is pending, further changes to the same list are appended
    to it, so five bookings in a minute make one email, not five.
    """

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="notices")
    session = models.ForeignKey(TheatreSession, on_delete=models.CASCADE, related_name="staff_notices")
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    changes = models.JSONField(default=list, blank=True)  # [{"at", "change", "case"?, "by"}]
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["staff", "session"], condition=Q(status="pending"), name="staffnotice_one_pending_per_list"
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="staffnotice_pending_due"),
        ]

    def __str__(self) -> str:
        return f"notice to staff {self.staff_id} about session {self.session_id}"


# --- What happened in theatre (DESIGN §5.1) ---------------------------------------------------


def _milestones_in_order() -> Q:
    """Every pair of recorded milestones in order (a missing one constrains nothing)."""
    condition = Q()
    for i, earlier in enumerate(MILESTONES):
        for later in MILESTONES[i + 1 :]:
            either_missing = Q(**{f"{earlier}__isnull": True}) | Q(**{f"{later}__isnull": True})
            condition &= either_missing | Q(**{f"{earlier}__lte": F(later)})
    return condition


class CaseTimes(models.Model):
    """The milestones a theatre recorded for a case, to the minute, in UTC (scheduling/theatre_times.py).

    One row per case; every field is optional. The order is held by the database as well as by
    the service, so no import or admin edit can store `closure` before `knife_to_skin`.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="times", primary_key=True)
    anaesthesia_start = models.DateTimeField(null=True, blank=True)
    in_theatre = models.DateTimeField(null=True, blank=True)
    knife_to_skin = models.DateTimeField(null=True, blank=True)
    closure = models.DateTimeField(null=True, blank=True)
    out_of_theatre = models.DateTimeField(null=True, blank=True)
    in_recovery = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "case times"
        constraints = [models.CheckConstraint(condition=_milestones_in_order(), name="casetimes_in_order")]

    def __str__(self) -> str:
        return f"times for case {self.case_id}"


class CancelCategory(models.TextChoices):
    """Who or what a cancellation is down to (DESIGN §5.1; NHS on-the-day cancellation returns)."""

    CLINICAL = "clinical"
    NON_CLINICAL = "non_clinical"  # the hospital: list overrun, equipment, staff, bed
    PATIENT = "patient"


class CaseCancellation(models.Model):
    """The facts of a case's cancellation, kept after the case lets go of its list.

    `session` is the list the case was on (none for a waiting-list entry): the metrics count an
    on-the-day cancellation against that list. `category` is the reason's category at the time.
    """

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="cancellation", primary_key=True)
    session = models.ForeignKey(TheatreSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=12, choices=CaseStatus.choices)
    reason = models.CharField(max_length=40)
    category = models.CharField(max_length=12, choices=CancelCategory.choices)
    on_the_day = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=[c.value for c in CancelCategory]), name="casecancellation_category_known"
            ),
            models.CheckConstraint(
                condition=Q(on_the_day=False) | Q(session__isnull=False), name="casecancellation_on_the_day_has_list"
            ),
            # A case in theatre (after WHO sign in) is abandoned, never cancelled for an ordinary reason.
            models.CheckConstraint(
                condition=~Q(from_status=CaseStatus.IN_THEATRE) | Q(reason="abandoned_in_theatre", on_the_day=True),
                name="casecancellation_in_theatre_is_abandoned",
            ),
        ]

    def __str__(self) -> str:
        return f"cancellation of case {self.case_id}"


class UnavailabilityReason(models.TextChoices):
    """Why a patient cannot come in for a while (scheduling/unavailability.py, scheduling/waiting.py)."""

    HOLIDAY = "holiday", "On holiday"
    UNFIT = "unfit", "Temporarily unfit for surgery (clinical)"
    PATIENT_CHOICE = "patient_choice", "Patient's own choice (e.g. declined offered dates)"
    OTHER = "other", "Other"


class CaseUnavailability(models.Model):
    """Local days [start_date, end_date] on which the case's patient is not available for surgery.

    Availability never offers these days and booking refuses them (`patient_unavailable`). A
    `patient_initiated` period pauses the case's treat-by date as the NHS RTT rules allow
    (scheduling/waiting.py); a clinical one (`unfit`) never does, so it cannot be patient-initiated.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="unavailability")
    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=20, choices=UnavailabilityReason.choices)
    note = models.TextField(blank=True)
    patient_initiated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["case_id", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="caseunavailability_end_not_before_start"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=[r.value for r in UnavailabilityReason]), name="caseunavailability_reason_known"
            ),
            models.CheckConstraint(
                condition=~Q(reason=UnavailabilityReason.UNFIT, patient_initiated=True),
                name="caseunavailability_unfit_is_not_patient_initiated",
            ),
        ]
        indexes = [models.Index(fields=["case", "start_date"])]

    def __str__(self) -> str:
        return f"case {self.case_id} unavailable {self.start_date}–{self.end_date} ({self.reason})"


class StaffCalendarFeed(models.Model):
    """A staff member's private calendar feed URL (a phone's calendar app cannot log in).

    Only a SHA-256 digest of the secret is kept: the URL is shown once, when it is made, and a
    database dump does not give anyone's diary away. Rotating replaces the digest, so the old URL
    stops working at once; revoking deletes the row.
    """

    staff = models.OneToOneField(StaffMember, on_delete=models.CASCADE, related_name="calendar_feed")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"calendar feed of staff {self.staff_id}"
