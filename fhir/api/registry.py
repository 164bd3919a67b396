"""What the facade serves: each resource type, its interactions and search parameters.

The CapabilityStatement is built from this table, so it lists exactly what the views answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fhir import reads
from fhir.reads import Page, Resource
from fhir.search import Search

Shown = list[tuple[int, str]]


@dataclass(frozen=True)
class ResourceType:
    name: str
    params: dict[str, str]  # search parameter -> FHIR search param type
    read: Callable[[str, bool], tuple[Resource, Shown]]
    search: Callable[[Search, bool], Page]
    patient_data: bool  # reads are audited against the patient
    identifiers_only: bool = False  # refused to roles that may not see patient identifiers
    create: bool = False
    documentation: str = ""


def _plain(read: Callable[[str], Resource]) -> Callable[[str, bool], tuple[Resource, Shown]]:
    return lambda ident, identified: (read(ident), [])


TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "Patient",
            {"_id": "token", "identifier": "token"},
            read=lambda ident, identified: reads.read_patient(ident),
            search=lambda search, identified: reads.search_patients(search),
            patient_data=True,
            identifiers_only=True,
            documentation="NHS number (https://fhir.nhs.uk/Id/nhs-number) and MRN. Prefer POST Patient/_search.",
        ),
        ResourceType(
            "Practitioner",
            {"_id": "token", "active": "token"},
            read=_plain(reads.read_practitioner),
            search=lambda search, identified: reads.search_practitioners(search),
            patient_data=False,
            documentation="Theatre staff.",
        ),
        ResourceType(
            "Location",
            {"_id": "token"},
            read=_plain(reads.read_location),
            search=lambda search, identified: reads.search_locations(search),
            patient_data=False,
            documentation="Sites (site-N) and theatres (theatre-N, partOf their site).",
        ),
        ResourceType(
            "Schedule",
            {"_id": "token", "actor": "reference", "active": "token"},
            read=_plain(reads.read_schedule),
            search=lambda search, identified: reads.search_schedules(search),
            patient_data=False,
            documentation="One per theatre.",
        ),
        ResourceType(
            "Slot",
            {"_id": "token", "schedule": "reference", "start": "date", "status": "token"},
            read=_plain(reads.read_slot),
            search=lambda search, identified: reads.search_slots(search),
            patient_data=False,
            documentation=(
                "Busy: a booked case; free or busy-unavailable: the gaps of a list. Search needs start=ge and start=lt."
            ),
        ),
        ResourceType(
            "Appointment",
            {"_id": "token", "date": "date", "patient": "reference", "practitioner": "reference", "status": "token"},
            read=lambda ident, identified: reads.read_appointment(ident, identified=identified),
            search=lambda search, identified: reads.search_appointments(search, identified=identified),
            patient_data=True,
            documentation="A case on a list (booked, confirmed, in theatre, completed, or cancelled from a list).",
        ),
        ResourceType(
            "ServiceRequest",
            {"_id": "token", "status": "token", "patient": "reference", "identifier": "token"},
            read=lambda ident, identified: reads.read_service_request(ident, identified=identified),
            search=lambda search, identified: reads.search_service_requests(search, identified=identified),
            patient_data=True,
            create=True,
            documentation="A case as a waiting-list entry. create: referral intake, idempotent on identifier.",
        ),
        ResourceType(
            "Procedure",
            {"_id": "token", "status": "token", "patient": "reference"},
            read=lambda ident, identified: reads.read_procedure(ident),
            search=lambda search, identified: reads.search_procedures(search),
            patient_data=True,
            documentation="A case that reached theatre; performedPeriod from its recorded theatre times.",
        ),
    )
}
