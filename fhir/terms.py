"""The code systems, extensions and value mappings the facade uses, each with its source.

Sources (stored copies of public specifications):
- NHS number identifier system and the UK Core NHS number verification status extension and code
  system: NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN (codesystems/CodeSystem-UKCore-
  NHSNumberVerificationStatusEngland.xml; guides/.../Extension-UKCore-NHSNumberVerificationStatus).
- Request priority, appointment, slot, request and procedure statuses: FHIR R4 value sets
  request-priority, appointmentstatus, slotstatus, request-status, event-status.
"""

from __future__ import annotations

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
NHS_NUMBER_VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
NHS_NUMBER_VERIFICATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
# We check the modulus-11 check digit but never trace the number with the Personal Demographics
# Service, so "02 Number present but not traced" is the status that applies to every patient.
NHS_NUMBER_NOT_TRACED = ("02", "Number present but not traced")

# Our own identifiers and codes. A trust deploying this replaces the MRN system with its own.
LOCAL = "urn:theatre-scheduling"
MRN_SYSTEM = f"{LOCAL}:mrn"
CASE_REFERENCE_SYSTEM = f"{LOCAL}:case-reference"
STAFF_ROLE_SYSTEM = f"{LOCAL}:staff-role"
CANCEL_REASON_SYSTEM = f"{LOCAL}:cancel-reason"
CASE_STATUS_SYSTEM = f"{LOCAL}:case-status"

# FHIR request-priority (routine < urgent < asap < stat) from the NHS surgical prioritisation
# classes (FSSA: P1 within 72 h, P2 within a month, P3 within 3 months, P4 later). One to one, in
# the same order, so the intake can map an incoming priority back without loss.
PRIORITY_TO_FHIR = {"P1": "stat", "P2": "asap", "P3": "urgent", "P4": "routine"}
PRIORITY_FROM_FHIR = {fhir: ours for ours, fhir in PRIORITY_TO_FHIR.items()}

# Case status -> Appointment.status (FHIR appointmentstatus). A case waiting has no appointment.
# `booked` cases are `pending` until the plan is approved and the coordinator confirms: FHIR's
# `booked` means every participant has accepted, which is what our `confirmed` records.
APPOINTMENT_STATUS = {
    "booked": "pending",
    "confirmed": "booked",
    "in_theatre": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
}

# Case status -> ServiceRequest.status (FHIR request-status): the request stays in force until the
# operation is done or the case is taken off the list.
SERVICE_REQUEST_STATUS = {
    "waiting": "active",
    "booked": "active",
    "confirmed": "active",
    "in_theatre": "active",
    "completed": "completed",
    "cancelled": "revoked",
}

# Case status -> Procedure.status (FHIR event-status); only cases that reached theatre have one.
PROCEDURE_STATUS = {"in_theatre": "in-progress", "completed": "completed"}
ABANDONED_PROCEDURE_STATUS = "stopped"


# The whole FHIR R4 value sets, for searches: a valid code we never use finds nothing; any other
# value is a 400.
APPOINTMENT_STATUS_CODES = frozenset(
    {
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
        "checked-in",
        "waitlist",
    }
)
REQUEST_STATUS_CODES = frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"})
EVENT_STATUS_CODES = frozenset(
    {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"}
)
SLOT_STATUS_CODES = frozenset({"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"})
