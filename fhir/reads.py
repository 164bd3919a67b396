"""Reading and searching each resource type, in a fixed number of queries per page.

Each type answers `read(id)` and `search(Search)`. A search page costs: the count, the page's rows
(joined, never fetched per row), and for Slot the lists and their cases; the view adds the audit
insert. What is served about a patient is returned as `shown`, so the view audits it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from fhir import mapping as build
from fhir import terms
from fhir.models import ReferralIdentifier
from fhir.outcomes import invalid, not_found
from fhir.search import DateBound, Search, parse_date, parse_int_id, parse_reference, tokens
from fhir.slots import Booked, ListWindow, SlotInterval, list_slots, parse_slot_id
from scheduling.models import OCCUPYING_STATUSES, Case, CaseStatus, Patient
from scheduling.slots import OPEN_SESSION_STATUSES
from theatre.models import SessionStatus, Site, StaffMember, Theatre, TheatreSession

Resource = build.Resource


@dataclass
class Page:
    total: int
    resources: list[Resource]
    # (patient id, "Type/id") for every resource on the page that discloses a patient's record.
    shown: list[tuple[int, str]] = field(default_factory=list)


M = TypeVar("M", bound=Model)


def _slice(search: Search, queryset: QuerySet[M]) -> tuple[int, list[M]]:
    total = queryset.count()
    if search.count == 0:
        return total, []
    return total, list(queryset[search.offset : search.offset + search.count])


def _ids(search: Search, name: str = "_id") -> list[int | None]:
    return [parse_int_id(name, raw) for raw in tokens(search, name)]


# --- Patient ----------------------------------------------------------------------------------

PATIENT_PARAMS = ("_id", "identifier")


def read_patient(ident: str) -> tuple[Resource, list[tuple[int, str]]]:
    pk = parse_int_id("id", ident)
    patient = Patient.objects.filter(pk=pk).first() if pk is not None else None
    if patient is None:
        raise not_found(f"Patient/{ident} is not known.")
    return build.patient_resource(patient), [(patient.pk, f"Patient/{patient.pk}")]


def _identifier_filter(raw: str) -> Q:
    system, bar, value = raw.partition("|")
    if not bar:
        return Q(nhs_number=raw) | Q(mrn=raw)
    if system == terms.NHS_NUMBER_SYSTEM:
        return Q(nhs_number=value.replace(" ", ""))
    if system == terms.MRN_SYSTEM:
        return Q(mrn=value)
    if system == "":
        return Q(nhs_number=value) | Q(mrn=value)
    return Q(pk__in=[])  # an identifier system we do not hold matches nobody


def search_patients(search: Search) -> Page:
    queryset = Patient.objects.order_by("id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    for raw in search.values("identifier"):
        condition = Q()
        for value in raw.split(","):
            condition |= _identifier_filter(value)
        queryset = queryset.filter(condition)
    total, rows = _slice(search, queryset)
    page = Page(total=total, resources=[build.patient_resource(p) for p in rows])
    page.shown = [(int(r["id"]), f"Patient/{r['id']}") for r in page.resources]
    return page


# --- Practitioner, Location, Schedule ----------------------------------------------------------

PRACTITIONER_PARAMS = ("_id", "active")


def read_practitioner(ident: str) -> Resource:
    pk = parse_int_id("id", ident)
    staff = StaffMember.objects.filter(pk=pk).first() if pk is not None else None
    if staff is None:
        raise not_found(f"Practitioner/{ident} is not known.")
    return build.practitioner_resource(staff)


def _active(search: Search) -> bool | None:
    value = search.one("active")
    if value is None:
        return None
    if value not in ("true", "false"):
        raise invalid("`active` is true or false.", expression=["active"])
    return value == "true"


def search_practitioners(search: Search) -> Page:
    queryset = StaffMember.objects.order_by("id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    active = _active(search)
    if active is not None:
        queryset = queryset.filter(active=active)
    total, rows = _slice(search, queryset)
    return Page(total=total, resources=[build.practitioner_resource(s) for s in rows])


LOCATION_PARAMS = ("_id",)


def read_location(ident: str) -> Resource:
    kind, _, raw = ident.partition("-")
    pk = parse_int_id("id", raw)
    if kind == "theatre" and pk is not None:
        theatre = Theatre.objects.select_related("site").filter(pk=pk).first()
        if theatre is not None:
            return build.theatre_location_resource(theatre)
    if kind == "site" and pk is not None:
        site = Site.objects.filter(pk=pk).first()
        if site is not None:
            return build.site_location_resource(site)
    raise not_found(f"Location/{ident} is not known.")


def search_locations(search: Search) -> Page:
    """Sites first, then theatres (two queries; the estate is small, so no count query)."""
    wanted = tokens(search, "_id")
    sites = Site.objects.order_by("id")
    theatres = Theatre.objects.select_related("site").order_by("id")
    if wanted:
        sites = sites.filter(pk__in=[int(w[5:]) for w in wanted if w.startswith("site-") and w[5:].isdigit()])
        theatres = theatres.filter(pk__in=[int(w[8:]) for w in wanted if w.startswith("theatre-") and w[8:].isdigit()])
    everything = [build.site_location_resource(s) for s in sites] + [
        build.theatre_location_resource(t) for t in theatres
    ]
    return Page(total=len(everything), resources=everything[search.offset : search.offset + search.count])


SCHEDULE_PARAMS = ("_id", "actor", "active")


def read_schedule(ident: str) -> Resource:
    pk = parse_int_id("id", ident)
    theatre = Theatre.objects.select_related("site").filter(pk=pk).first() if pk is not None else None
    if theatre is None:
        raise not_found(f"Schedule/{ident} is not known.")
    return build.schedule_resource(theatre)


def search_schedules(search: Search) -> Page:
    queryset = Theatre.objects.select_related("site").order_by("id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    for raw in search.values("actor"):
        location = parse_reference("actor", raw, kind="Location")
        pk = parse_int_id("actor", location.removeprefix("theatre-")) if location.startswith("theatre-") else None
        queryset = queryset.filter(pk=pk) if pk is not None else queryset.none()
    active = _active(search)
    if active is not None:
        queryset = queryset.filter(active=active)
    total, rows = _slice(search, queryset)
    return Page(total=total, resources=[build.schedule_resource(t) for t in rows])


# --- Slot -------------------------------------------------------------------------------------

SLOT_PARAMS = ("_id", "schedule", "start", "status")
# A Slot search computes the lists' gaps, so it covers a bounded window: at most 62 days.
MAX_SLOT_WINDOW = dt.timedelta(days=62)


def _windows(sessions: QuerySet[TheatreSession]) -> list[tuple[ListWindow, list[Booked]]]:
    """The lists and their live cases (two queries)."""
    listed = list(sessions.select_related("theatre"))
    booked: dict[int, list[Booked]] = defaultdict(list)
    cases = Case.objects.filter(session_id__in=[s.pk for s in listed], status__in=OCCUPYING_STATUSES)
    for pk, session_id, start, end in cases.values_list("pk", "session_id", "start", "end"):
        assert start is not None and end is not None  # noqa: S101 - a live case has its slot (DB check)
        booked[session_id].append(Booked(pk, start, end))
    return [
        (
            ListWindow(
                session_id=s.pk,
                theatre_id=s.theatre_id,
                start=s.start,
                end=s.end,
                open=s.status in OPEN_SESSION_STATUSES and s.theatre.active,
            ),
            booked[s.pk],
        )
        for s in listed
    ]


def slots_of(sessions: QuerySet[TheatreSession]) -> list[SlotInterval]:
    return [slot for window, cases in _windows(sessions) for slot in list_slots(window, cases)]


def read_slot(ident: str) -> Resource:
    try:
        kind, pk = parse_slot_id(ident)
    except ValueError:
        raise not_found(f"Slot/{ident} is not known.") from None
    if kind == "case":
        session_ids = Case.objects.filter(pk=pk, status__in=OCCUPYING_STATUSES).values("session_id")
        sessions = TheatreSession.objects.filter(pk__in=session_ids)
    else:
        sessions = TheatreSession.objects.filter(pk=pk)
    for slot in slots_of(sessions.exclude(status=SessionStatus.CANCELLED)):
        if slot.id == ident:
            return build.slot_resource(slot)
    raise not_found(f"Slot/{ident} is not known.")


def _start_range(search: Search, bounds: list[DateBound]) -> tuple[dt.datetime, dt.datetime]:
    """The outer instants a start may take, from the lower (ge/gt/eq) and upper (lt/le/eq) bounds.

    A missing lower bound is the start of today (local); a missing upper one, 62 days after the
    lower. Implied bounds join `bounds` and the search's `self` link, so the Bundle says what ran.
    """
    lowers = [b.lower if b.prefix in ("ge", "eq") else b.upper for b in bounds if b.prefix in ("ge", "gt", "eq")]
    uppers = [b.upper if b.prefix in ("le", "eq") else b.lower for b in bounds if b.prefix in ("lt", "le", "eq")]
    if not lowers:
        today = dt.datetime.combine(timezone.localdate(), dt.time(0), tzinfo=timezone.get_current_timezone())
        lowers = [today]
        bounds.append(DateBound("ge", today, today + dt.timedelta(microseconds=1)))
        search.used.append(("start", f"ge{today.isoformat()}"))
    if not uppers:
        implied = max(lowers) + MAX_SLOT_WINDOW
        uppers = [implied]
        bounds.append(DateBound("lt", implied, implied + dt.timedelta(microseconds=1)))
        search.used.append(("start", f"lt{implied.isoformat()}"))
    lower, upper = max(lowers), min(uppers)
    if upper - lower > MAX_SLOT_WINDOW:
        raise invalid("The `start` window of a Slot search is at most 62 days.", expression=["start"])
    return lower, upper


def search_slots(search: Search) -> Page:
    bounds = [parse_date("start", raw) for raw in search.values("start")]
    lower, upper = _start_range(search, bounds)
    sessions = TheatreSession.objects.exclude(status=SessionStatus.CANCELLED).filter(start__lt=upper, end__gt=lower)
    schedules = tokens(search, "schedule")
    if schedules:
        ids = [parse_int_id("schedule", parse_reference("schedule", raw, kind="Schedule")) for raw in schedules]
        sessions = sessions.filter(theatre_id__in=[i for i in ids if i is not None])
    statuses = set(tokens(search, "status"))
    if statuses - terms.SLOT_STATUS_CODES:
        raise invalid(f"`status` is one of {', '.join(sorted(terms.SLOT_STATUS_CODES))}.", expression=["status"])
    wanted_ids = set(tokens(search, "_id"))
    slots = [
        slot
        for slot in slots_of(sessions.order_by("start", "theatre_id"))
        if all(b.matches(slot.start) for b in bounds)
        and (not statuses or slot.status in statuses)
        and (not wanted_ids or slot.id in wanted_ids)
    ]
    slots.sort(key=lambda s: (s.start, s.theatre_id, s.id))
    page = slots[search.offset : search.offset + search.count]
    return Page(total=len(slots), resources=[build.slot_resource(s) for s in page])


# --- The case: Appointment, ServiceRequest, Procedure --------------------------------------------


def _cases() -> QuerySet[Case]:
    return Case.objects.select_related("procedure", "session", "cancellation__session", "times")


def _referrals(cases: Sequence[Case]) -> dict[int, tuple[str, str]]:
    rows = ReferralIdentifier.objects.filter(case_id__in=[c.pk for c in cases]).values_list(
        "case_id", "system", "value"
    )
    return {case_id: (system, value) for case_id, system, value in rows}


def _patient_filter(search: Search, name: str = "patient") -> Q | None:
    values = search.values(name)
    if not values:
        return None
    condition = Q(pk__in=[])
    for raw in values:
        for part in raw.split(","):
            pk = parse_int_id(name, parse_reference(name, part, kind="Patient"))
            if pk is not None:
                condition |= Q(patient_id=pk)
    return condition


def _status_filter(
    search: Search, mapping: dict[str, str], codes: frozenset[str], extra: dict[str, Q] | None = None
) -> Q | None:
    """Cases whose mapped status is one of the `status` tokens; a token outside the FHIR value set
    `codes` is a 400, a valid one we never use matches nothing."""
    wanted = tokens(search, "status")
    if not wanted:
        return None
    unknown = [w for w in wanted if w not in codes]
    if unknown:
        raise invalid(f"`status` {', '.join(unknown)} is not a code of its FHIR value set.", expression=["status"])
    condition = Q(pk__in=[])
    for want in wanted:
        ours = [case_status for case_status, theirs in mapping.items() if theirs == want]
        condition |= Q(status__in=ours)
        if extra and want in extra:
            condition |= extra[want]
    return condition


APPOINTMENT_PARAMS = ("_id", "date", "patient", "practitioner", "status")
_HAS_APPOINTMENT = Q(status__in=OCCUPYING_STATUSES) | Q(
    status=CaseStatus.CANCELLED, cancellation__session__isnull=False
)


def read_appointment(ident: str, *, identified: bool) -> tuple[Resource, list[tuple[int, str]]]:
    pk = parse_int_id("id", ident)
    case = _cases().filter(_HAS_APPOINTMENT, pk=pk).first() if pk is not None else None
    if case is None:
        raise not_found(f"Appointment/{ident} is not known.")
    return build.appointment_resource(case, identified=identified), [(case.patient_id, f"Appointment/{case.pk}")]


def search_appointments(search: Search, *, identified: bool) -> Page:
    queryset = _cases().filter(_HAS_APPOINTMENT).order_by("start", "id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    for raw in search.values("date"):
        bound = parse_date("date", raw)
        queryset = queryset.filter(
            {
                "ge": Q(start__gte=bound.lower),
                "gt": Q(start__gte=bound.upper),
                "lt": Q(start__lt=bound.lower),
                "le": Q(start__lt=bound.upper),
                "eq": Q(start__gte=bound.lower, start__lt=bound.upper),
            }[bound.prefix]
        )
    patient = _patient_filter(search)
    if patient is not None:
        queryset = queryset.filter(patient)
    for raw in search.values("practitioner"):
        condition = Q(pk__in=[])
        for part in raw.split(","):
            pk = parse_int_id("practitioner", parse_reference("practitioner", part, kind="Practitioner"))
            if pk is not None:
                condition |= Q(surgeon_id=pk) | Q(anaesthetist_id=pk)
        queryset = queryset.filter(condition)
    status = _status_filter(search, terms.APPOINTMENT_STATUS, terms.APPOINTMENT_STATUS_CODES)
    if status is not None:
        queryset = queryset.filter(status)
    total, rows = _slice(search, queryset)
    cases: list[Case] = rows
    return Page(
        total=total,
        resources=[build.appointment_resource(c, identified=identified) for c in cases],
        shown=[(c.patient_id, f"Appointment/{c.pk}") for c in cases],
    )


SERVICE_REQUEST_PARAMS = ("_id", "status", "patient", "identifier")


def service_request_of(case: Case, *, identified: bool) -> Resource:
    referral = ReferralIdentifier.objects.filter(case=case).values_list("system", "value").first()
    return build.service_request_resource(case, identified=identified, referral=referral)


def read_service_request(ident: str, *, identified: bool) -> tuple[Resource, list[tuple[int, str]]]:
    pk = parse_int_id("id", ident)
    case = _cases().filter(pk=pk).first() if pk is not None else None
    if case is None:
        raise not_found(f"ServiceRequest/{ident} is not known.")
    return service_request_of(case, identified=identified), [(case.patient_id, f"ServiceRequest/{case.pk}")]


def search_service_requests(search: Search, *, identified: bool) -> Page:
    queryset = _cases().order_by("id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    status = _status_filter(search, terms.SERVICE_REQUEST_STATUS, terms.REQUEST_STATUS_CODES)
    if status is not None:
        queryset = queryset.filter(status)
    patient = _patient_filter(search)
    if patient is not None:
        queryset = queryset.filter(patient)
    for raw in search.values("identifier"):
        system, bar, value = raw.partition("|")
        if not bar:
            system, value = "", raw
        if system == terms.CASE_REFERENCE_SYSTEM:
            queryset = queryset.filter(reference=value)
        else:
            referrals = ReferralIdentifier.objects.filter(value=value)
            if system:
                referrals = referrals.filter(system=system)
            by_reference = Q(reference=value) if not system else Q(pk__in=[])
            queryset = queryset.filter(Q(pk__in=referrals.values("case_id")) | by_reference)
    total, rows = _slice(search, queryset)
    cases: list[Case] = rows
    referrals_of = _referrals(cases)
    return Page(
        total=total,
        resources=[
            build.service_request_resource(c, identified=identified, referral=referrals_of.get(c.pk)) for c in cases
        ],
        shown=[(c.patient_id, f"ServiceRequest/{c.pk}") for c in cases],
    )


PROCEDURE_PARAMS = ("_id", "status", "patient")
_HAS_PROCEDURE = Q(status__in=list(terms.PROCEDURE_STATUS)) | Q(
    status=CaseStatus.CANCELLED, cancellation__from_status=CaseStatus.IN_THEATRE
)


def read_procedure(ident: str) -> tuple[Resource, list[tuple[int, str]]]:
    pk = parse_int_id("id", ident)
    case = _cases().filter(_HAS_PROCEDURE, pk=pk).first() if pk is not None else None
    if case is None:
        raise not_found(f"Procedure/{ident} is not known.")
    return build.procedure_resource(case), [(case.patient_id, f"Procedure/{case.pk}")]


def search_procedures(search: Search) -> Page:
    queryset = _cases().filter(_HAS_PROCEDURE).order_by("id")
    ids = _ids(search)
    if ids:
        queryset = queryset.filter(pk__in=[i for i in ids if i is not None])
    status = _status_filter(
        search,
        terms.PROCEDURE_STATUS,
        terms.EVENT_STATUS_CODES,
        extra={terms.ABANDONED_PROCEDURE_STATUS: Q(status=CaseStatus.CANCELLED)},
    )
    if status is not None:
        queryset = queryset.filter(status)
    patient = _patient_filter(search)
    if patient is not None:
        queryset = queryset.filter(patient)
    total, rows = _slice(search, queryset)
    cases: list[Case] = rows
    return Page(
        total=total,
        resources=[build.procedure_resource(c) for c in cases],
        shown=[(c.patient_id, f"Procedure/{c.pk}") for c in cases],
    )
