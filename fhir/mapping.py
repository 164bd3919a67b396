"""Our rows as FHIR R4 resources: plain dicts, built without a database query.

Plain dicts rather than fhir.resources models at run time: building a pydantic model per entry
would double the cost of a page for no gain, since the tests validate every resource served
against the R4B models (tests/fhir/test_validation.py). Every datetime leaves as UTC with its
offset (+00:00), the same instants /api/v1/ gives in Europe/London.

`identified=False` (a viewer) leaves out every patient identifier: no Patient resource at all
(the view refuses it), and no identifiers or free text on the case resources. References to
`Patient/{id}` stay, as the API's `patient` id stays for viewers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir import terms
from fhir.slots import SlotInterval, case_slot_id
from procedures.coding import VERTEBRA_CODES, procedure_code
from procedures.models import ProcedureTemplate
from scheduling.models import OCCUPYING_STATUSES, Case, CaseCancellation, CaseStatus, CaseTimes, Patient
from theatre.models import Site, StaffMember, Theatre

Resource = dict[str, Any]

PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def ref(kind: str, pk: object, display: str | None = None) -> dict[str, str]:
    reference = {"reference": f"{kind}/{pk}"}
    if display:
        reference["display"] = display
    return reference


def theatre_location_id(theatre_id: int) -> str:
    return f"theatre-{theatre_id}"


def site_location_id(site_id: int) -> str:
    return f"site-{site_id}"


# --- Patient, Practitioner, Location, Schedule -------------------------------------------------


def patient_resource(patient: Patient) -> Resource:
    nhs_number = {
        "system": terms.NHS_NUMBER_SYSTEM,
        "value": patient.nhs_number,
        "extension": [
            {
                "url": terms.NHS_NUMBER_VERIFICATION_EXTENSION,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": terms.NHS_NUMBER_VERIFICATION_SYSTEM,
                            "code": terms.NHS_NUMBER_NOT_TRACED[0],
                            "display": terms.NHS_NUMBER_NOT_TRACED[1],
                        }
                    ]
                },
            }
        ],
    }
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "mobile"})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email, "use": "home"})
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": {"lastUpdated": instant(patient.updated_at)},
        "identifier": [nhs_number, {"use": "usual", "system": terms.MRN_SYSTEM, "value": patient.mrn}],
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.date_of_birth.isoformat(),
    }
    if telecom:
        resource["telecom"] = telecom
    if patient.address:
        resource["address"] = [{"use": "home", "text": patient.address}]
    return resource


def practitioner_resource(staff: StaffMember) -> Resource:
    resource: Resource = {
        "resourceType": "Practitioner",
        "id": str(staff.pk),
        "active": staff.active,
        "name": [{"text": staff.name}],
        # The theatre role (surgeon, anaesthetist, …) as a local identifier type would be a misuse;
        # PractitionerRole is not served, so the role is given as a qualification text.
        "qualification": [
            {
                "code": {
                    "coding": [{"system": terms.STAFF_ROLE_SYSTEM, "code": staff.role}],
                    "text": staff.get_role_display(),
                }
            }
        ],
    }
    telecom = [{"system": "email", "value": staff.email, "use": "work"}] if staff.email else []
    if staff.phone:
        telecom.append({"system": "phone", "value": staff.phone, "use": "work"})
    if telecom:
        resource["telecom"] = telecom
    return resource


def site_location_resource(site: Site) -> Resource:
    resource: Resource = {
        "resourceType": "Location",
        "id": site_location_id(site.pk),
        "status": "active",
        "name": site.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": LOCATION_PHYSICAL_TYPE, "code": "si", "display": "Site"}]},
    }
    if site.address:
        resource["address"] = {"text": site.address}
    if site.phone:
        resource["telecom"] = [{"system": "phone", "value": site.phone, "use": "work"}]
    return resource


def theatre_location_resource(theatre: Theatre) -> Resource:
    """A theatre is a room that is part of its site (`partOf`): we hold no Organization to manage it."""
    return {
        "resourceType": "Location",
        "id": theatre_location_id(theatre.pk),
        "status": "active" if theatre.active else "inactive",
        "name": theatre.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": LOCATION_PHYSICAL_TYPE, "code": "ro", "display": "Room"}]},
        "partOf": ref("Location", site_location_id(theatre.site_id), theatre.site.name),
    }


def schedule_resource(theatre: Theatre) -> Resource:
    return {
        "resourceType": "Schedule",
        "id": str(theatre.pk),
        "active": theatre.active,
        "actor": [ref("Location", theatre_location_id(theatre.pk), theatre.name)],
        "comment": f"The operating lists of {theatre.site.name} / {theatre.name}.",
    }


def slot_resource(slot: SlotInterval) -> Resource:
    return {
        "resourceType": "Slot",
        "id": slot.id,
        "schedule": ref("Schedule", slot.theatre_id),
        "status": slot.status,
        "start": instant(slot.start),
        "end": instant(slot.end),
        "comment": f"List {slot.session_id}",
    }


# --- The case: ServiceRequest, Appointment, Procedure ---------------------------------------------


def procedure_concept(template: ProcedureTemplate) -> Resource:
    concept: Resource = {"text": template.name}
    code = procedure_code(template.slug)
    if code is not None:
        concept["coding"] = [{"system": code.system, "code": code.code, "display": code.display}]
    return concept


def body_sites(levels: list[str]) -> list[Resource]:
    sites = []
    for level in levels:
        code = VERTEBRA_CODES.get(level)
        concept: Resource = {"text": level}
        if code is not None:
            concept["coding"] = [{"system": code.system, "code": code.code, "display": code.display}]
        sites.append(concept)
    return sites


def _case_identifiers(case: Case, referral: tuple[str, str] | None) -> list[Resource]:
    identifiers: list[Resource] = [{"system": terms.CASE_REFERENCE_SYSTEM, "value": case.reference}]
    if referral is not None:
        identifiers.insert(0, {"system": referral[0], "value": referral[1]})
    return identifiers


def _cancellation(case: Case) -> CaseCancellation | None:
    try:
        return case.cancellation
    except CaseCancellation.DoesNotExist:
        return None


def service_request_resource(case: Case, *, identified: bool, referral: tuple[str, str] | None = None) -> Resource:
    """The case as a waiting-list entry; `case.procedure` should be select_related."""
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(case.pk),
        "status": terms.SERVICE_REQUEST_STATUS[case.status],
        "intent": "order",
        "priority": terms.PRIORITY_TO_FHIR[case.priority],
        "code": procedure_concept(case.procedure),
        "subject": ref("Patient", case.patient_id),
        "authoredOn": case.referral_date.isoformat(),
        # The consultant who decided to operate and will: the case's surgeon.
        "requester": ref("Practitioner", case.surgeon_id),
        "performer": [ref("Practitioner", case.surgeon_id)],
    }
    if identified:
        resource["identifier"] = _case_identifiers(case, referral)
    if case.levels:
        resource["bodySite"] = body_sites(list(case.levels))
    return resource


def has_appointment(case: Case) -> bool:
    """A case has an Appointment once it was on a list: booked, or cancelled from a list."""
    if case.status in OCCUPYING_STATUSES:
        return True
    cancellation = _cancellation(case) if case.status == CaseStatus.CANCELLED else None
    return cancellation is not None and cancellation.session_id is not None


def appointment_resource(case: Case, *, identified: bool) -> Resource:
    """A booked case; `case.session`, `case.procedure` and `case.cancellation` should be select_related."""
    cancellation = _cancellation(case) if case.status == CaseStatus.CANCELLED else None
    session = case.session if case.session_id else (cancellation.session if cancellation else None)
    participants: list[Resource] = [
        {"actor": ref("Patient", case.patient_id), "required": "required", "status": "accepted"},
        {
            "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}]}],
            "actor": ref("Practitioner", case.surgeon_id),
            "required": "required",
            "status": "accepted",
        },
    ]
    anaesthetist_id = case.anaesthetist_id or (session.anaesthetist_id if session else None)
    if anaesthetist_id:
        participants.append(
            {
                "type": [
                    {"coding": [{"system": PARTICIPATION_TYPE, "code": "SPRF", "display": "secondary performer"}]}
                ],
                "actor": ref("Practitioner", anaesthetist_id),
                "required": "required",
                "status": "accepted",
            }
        )
    if session is not None:
        participants.append(
            {
                "actor": ref("Location", theatre_location_id(session.theatre_id)),
                "required": "required",
                "status": "accepted",
            }
        )
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(case.pk),
        "status": terms.APPOINTMENT_STATUS[case.status],
        "serviceType": [procedure_concept(case.procedure)],
        "description": case.procedure.name,
        "basedOn": [ref("ServiceRequest", case.pk)],
        "participant": participants,
    }
    if identified:
        resource["identifier"] = _case_identifiers(case, None)
    if case.start is not None and case.end is not None:
        resource["start"] = instant(case.start)
        resource["end"] = instant(case.end)
        resource["minutesDuration"] = int((case.end - case.start).total_seconds() // 60)
        resource["slot"] = [ref("Slot", case_slot_id(case.pk))]
    if cancellation is not None:
        resource["cancelationReason"] = {
            "coding": [{"system": terms.CANCEL_REASON_SYSTEM, "code": cancellation.reason}],
            "text": f"{cancellation.reason} ({cancellation.category})",
        }
    return resource


def has_procedure(case: Case) -> bool:
    if case.status in terms.PROCEDURE_STATUS:
        return True
    cancellation = _cancellation(case) if case.status == CaseStatus.CANCELLED else None
    return cancellation is not None and cancellation.from_status == CaseStatus.IN_THEATRE


def _times(case: Case) -> CaseTimes | None:
    try:
        return case.times
    except CaseTimes.DoesNotExist:
        return None


def performed_period(times: CaseTimes | None) -> Resource | None:
    """Knife to skin → closure, the operation itself; else the touch time's ends (anaesthesia start,
    else into theatre → out of theatre, DESIGN §5.1); only what was recorded."""
    if times is None:
        return None
    start = times.knife_to_skin or times.anaesthesia_start or times.in_theatre
    end = times.closure or times.out_of_theatre
    period = {}
    if start is not None:
        period["start"] = instant(start)
    if end is not None:
        period["end"] = instant(end)
    return period or None


def procedure_resource(case: Case) -> Resource:
    """A case that reached theatre; `times`, `session`, `procedure`, `cancellation` select_related."""
    cancellation = _cancellation(case) if case.status == CaseStatus.CANCELLED else None
    status = terms.PROCEDURE_STATUS.get(case.status, terms.ABANDONED_PROCEDURE_STATUS)
    performers = [{"actor": ref("Practitioner", case.surgeon_id)}]
    if case.anaesthetist_id:
        performers.append({"actor": ref("Practitioner", case.anaesthetist_id)})
    resource: Resource = {
        "resourceType": "Procedure",
        "id": str(case.pk),
        "status": status,
        "basedOn": [ref("ServiceRequest", case.pk)],
        "code": procedure_concept(case.procedure),
        "subject": ref("Patient", case.patient_id),
        "performer": performers,
    }
    session = case.session if case.session_id else (cancellation.session if cancellation else None)
    session_theatre = session.theatre_id if session is not None else None
    if session_theatre is not None:
        resource["location"] = ref("Location", theatre_location_id(session_theatre))
    if case.levels:
        resource["bodySite"] = body_sites(list(case.levels))
    period = performed_period(_times(case))
    if period is not None:
        resource["performedPeriod"] = period
    if cancellation is not None:
        resource["statusReason"] = {"coding": [{"system": terms.CANCEL_REASON_SYSTEM, "code": cancellation.reason}]}
    return resource
