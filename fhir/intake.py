"""Referral intake: an EPR's ServiceRequest becomes a case on the waiting list, once.

- The patient must be known, by NHS number (`subject.identifier`) or as `subject.reference`.
- The procedure must be one we perform, by its SNOMED CT code (procedures/coding.py); each
  `bodySite` must be a vertebra code; the surgeon is `performer[0]` (else `requester`), a
  Practitioner who is an active surgeon here.
- Screening starts empty, so the case is `incomplete` until a clinician answers it.
- Idempotent on the request's identifier: the same identifier finds the same case (`created`
  False, HTTP 200) instead of listing the patient twice, even when two deliveries race.

Malformed input is a 400; input that is well formed but names a patient, code or practitioner we
do not know is a 422 (FHIR's "business rule" status), each naming what it could not use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import status

from core.audit import Actor, record
from fhir import terms
from fhir.models import ReferralIdentifier
from fhir.outcomes import FhirError, invalid
from fhir.search import parse_int_id
from procedures.coding import level_for_vertebra_code, slug_for_procedure_code
from scheduling.cases import create_case
from scheduling.models import Case, Patient


@dataclass(frozen=True)
class Referral:
    system: str
    value: str
    patient_id: int
    procedure: str
    levels: list[str]
    surgeon_id: int
    priority: str
    referral_date: dt.date


def unprocessable(diagnostics: str, expression: str, code: str = "code-invalid") -> FhirError:
    return FhirError(status.HTTP_422_UNPROCESSABLE_ENTITY, code, diagnostics, expression=[expression])


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(f"{where} must be a JSON object.", expression=[where])
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{where} must be a JSON array.", expression=[where])
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise invalid(f"{where} must be a non-empty string (at most 255 characters).", expression=[where])
    return value.strip()


def _identifier(body: Mapping[str, Any]) -> tuple[str, str]:
    for i, item in enumerate(_list(body.get("identifier"), "ServiceRequest.identifier")):
        where = f"ServiceRequest.identifier[{i}]"
        entry = _mapping(item, where)
        if "system" in entry or "value" in entry:
            return _string(entry.get("system"), f"{where}.system"), _string(entry.get("value"), f"{where}.value")
    raise invalid(
        "The referral needs an identifier (system and value): it is what makes a re-sent referral safe.",
        expression=["ServiceRequest.identifier"],
    )


def _patient(body: Mapping[str, Any]) -> int:
    subject = _mapping(body.get("subject"), "ServiceRequest.subject")
    if "identifier" in subject:
        ident = _mapping(subject["identifier"], "ServiceRequest.subject.identifier")
        system = _string(ident.get("system"), "ServiceRequest.subject.identifier.system")
        if system != terms.NHS_NUMBER_SYSTEM:
            raise unprocessable(
                f"Patients are found by NHS number ({terms.NHS_NUMBER_SYSTEM}), not {system}.",
                "ServiceRequest.subject.identifier.system",
            )
        number = _string(ident.get("value"), "ServiceRequest.subject.identifier.value").replace(" ", "")
        pk = Patient.objects.filter(nhs_number=number).values_list("pk", flat=True).first()
        # The number itself is not repeated back: it would land in the client's logs.
        if pk is None:
            raise unprocessable("No patient with this NHS number is known here.", "ServiceRequest.subject", "not-found")
        return pk
    reference = _string(subject.get("reference"), "ServiceRequest.subject.reference")
    kind, _, raw = reference.rpartition("/")
    pk = parse_int_id("subject", raw) if kind.endswith("Patient") else None
    if pk is None or not Patient.objects.filter(pk=pk).exists():
        raise unprocessable(f"{reference} is not a known patient.", "ServiceRequest.subject", "not-found")
    return pk


def _procedure(body: Mapping[str, Any]) -> str:
    code = _mapping(body.get("code"), "ServiceRequest.code")
    seen = []
    for i, item in enumerate(_list(code.get("coding"), "ServiceRequest.code.coding")):
        coding = _mapping(item, f"ServiceRequest.code.coding[{i}]")
        system, value = str(coding.get("system", "")), str(coding.get("code", ""))
        slug = slug_for_procedure_code(system=system, code=value)
        if slug is not None:
            return slug
        seen.append(f"{system}|{value}")
    raise unprocessable(
        f"No procedure performed here has the code {', '.join(seen) or '(none given)'}.", "ServiceRequest.code"
    )


def _levels(body: Mapping[str, Any]) -> list[str]:
    sites = _list(body.get("bodySite"), "ServiceRequest.bodySite")
    if not sites:
        raise invalid(
            "Give the vertebral levels as bodySite (SNOMED CT vertebra codes).", expression=["ServiceRequest.bodySite"]
        )
    levels = []
    for i, item in enumerate(sites):
        where = f"ServiceRequest.bodySite[{i}]"
        concept = _mapping(item, where)
        codings = [_mapping(c, f"{where}.coding") for c in _list(concept.get("coding"), f"{where}.coding")]
        found = [
            level
            for coding in codings
            if (
                level := level_for_vertebra_code(system=str(coding.get("system", "")), code=str(coding.get("code", "")))
            )
        ]
        if not found:
            codes = ", ".join(f"{c.get('system', '')}|{c.get('code', '')}" for c in codings) or "(none given)"
            raise unprocessable(f"{codes} is not a vertebra (T1–L5) code.", where)
        levels.append(found[0])
    return levels


def _surgeon(body: Mapping[str, Any]) -> int:
    performers = _list(body.get("performer"), "ServiceRequest.performer")
    where = "ServiceRequest.performer[0]" if performers else "ServiceRequest.requester"
    target = performers[0] if performers else body.get("requester")
    reference = _string(_mapping(target, where).get("reference"), f"{where}.reference")
    kind, _, raw = reference.rpartition("/")
    pk = parse_int_id(where, raw) if kind.endswith("Practitioner") else None
    if pk is None:
        raise unprocessable(f"{reference} is not a Practitioner here.", where, "not-found")
    return pk


def _priority(body: Mapping[str, Any]) -> str:
    raw = body.get("priority")
    if raw is None:
        return terms.PRIORITY_FROM_FHIR["routine"]  # FHIR: absent means routine
    if raw not in terms.PRIORITY_FROM_FHIR:
        raise unprocessable(f"Priority {raw!r} is not one of routine, urgent, asap, stat.", "ServiceRequest.priority")
    return terms.PRIORITY_FROM_FHIR[raw]


def _authored(body: Mapping[str, Any]) -> dt.date:
    raw = body.get("authoredOn")
    zone = ZoneInfo(settings.TIME_ZONE)
    if raw is None:
        return timezone.now().astimezone(zone).date()
    text = _string(raw, "ServiceRequest.authoredOn")
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid("authoredOn is a date, or a date-time with its offset.", expression=["ServiceRequest.authoredOn"])
    return moment.astimezone(zone).date()


def read_referral(body: object) -> Referral:
    """The referral in a ServiceRequest body, or the first thing wrong with it."""
    resource = _mapping(body, "ServiceRequest")
    if resource.get("resourceType") != "ServiceRequest":
        raise invalid("The body must be a ServiceRequest resource.", expression=["ServiceRequest.resourceType"])
    if resource.get("status", "active") != "active":
        raise invalid("A referral is received with status active.", expression=["ServiceRequest.status"])
    if resource.get("intent", "order") != "order":
        raise invalid("A referral is received with intent order.", expression=["ServiceRequest.intent"])
    system, value = _identifier(resource)
    return Referral(
        system=system,
        value=value,
        patient_id=_patient(resource),
        procedure=_procedure(resource),
        levels=_levels(resource),
        surgeon_id=_surgeon(resource),
        priority=_priority(resource),
        referral_date=_authored(resource),
    )


def _existing(system: str, value: str) -> Case | None:
    found = ReferralIdentifier.objects.filter(system=system, value=value).select_related("case").first()
    return found.case if found else None


def receive_referral(*, actor: Actor, body: object) -> tuple[Case, bool]:
    """Put the referred patient on the waiting list once per referral identifier; (case, created)."""
    resource = _mapping(body, "ServiceRequest")
    system, value = _identifier(resource)
    case = _existing(system, value)
    if case is not None:
        return case, False
    referral = read_referral(resource)
    try:
        with transaction.atomic():
            case = create_case(
                actor=actor,
                patient_id=referral.patient_id,
                procedure=referral.procedure,
                levels=referral.levels,
                surgeon_id=referral.surgeon_id,
                referral_date=referral.referral_date,
                priority=referral.priority,
            )
            ReferralIdentifier.objects.create(system=system, value=value, case=case)
            record(
                actor=actor,
                action="case.referral_received",
                obj=case,
                after={"identifier": {"system": system, "value": value}, "via": "FHIR ServiceRequest"},
            )
    except IntegrityError:
        # Another delivery of the same referral committed first: answer with its case.
        case = _existing(system, value)
        if case is None:
            raise
        return case, False
    return case, True
