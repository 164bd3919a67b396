"""The case plan the surgeon reviews, assembled by pure functions from frozen inputs.

`build_plan` applies the pinned template version to the case: no database, no model instances,
no clock, so it is tested in microseconds. `scheduling.plans.loading` reads a case and builds the
inputs; `scheduling.plans.approval` records the surgeon's sign-off against `plan_fingerprint`.

The approval records a fingerprint of the plan's clinical inputs: booking, moving and editing the
case withdraw the approval explicitly (`withdraw_approval`), and a stored fingerprint that no
longer matches the case counts as not approved as well, so a change that forgot to withdraw can
never be taken into theatre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from procedures.estimates import AnaesthesiaOption, Estimate, EstimateLine, anaesthesia_option
from procedures.screening import AnticoagulantHold, ScreeningOutcome, hold_dates

# The audit actions of the approval; approval_state shows the last withdrawal read back from the trail.
APPROVED = "case.plan_approved"
WITHDRAWN = "case.plan_approval_withdrawn"

DEFAULT_ZONE = "Europe/London"


# --- Inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """Something the plan names: a theatre, a member of staff, a login."""

    id: int
    name: str


@dataclass(frozen=True)
class PlanStep:
    """One step of the pinned version; a version's steps come in their template order."""

    kind: str
    name: str
    minutes: int
    per_level: bool


@dataclass(frozen=True)
class PlanVersion:
    """The pinned template version: every clinical number the plan shows comes from here."""

    id: int
    number: int
    slug: str  # the template's
    name: str  # the template's
    sources: tuple[str, ...]
    anaesthesia_options: tuple[AnaesthesiaOption, ...]  # procedures.estimates.anaesthesia_options_of
    fasting: Mapping[str, Any]
    positioning: str
    imaging: Mapping[str, Any]
    cement_product: str
    cement_mixing_minutes: Decimal
    cement_working_minutes: Decimal
    cement_setting_minutes: Decimal
    cement_ml_per_level: Decimal
    cement_max_ml_per_level: Decimal
    cement_ml_by_approach: Mapping[str, Any]
    turnover_minutes: int
    required_equipment: tuple[str, ...]
    risks: tuple[Mapping[str, Any], ...]
    recovery: Mapping[str, Any]
    follow_up: tuple[Mapping[str, Any], ...]
    steps: tuple[PlanStep, ...]


@dataclass(frozen=True)
class PlanCase:
    """The case's own facts. No patient identifiers: the API adds them for the roles that may see them."""

    id: int
    reference: str
    status: str
    priority: str
    patient_id: int
    surgeon: Ref
    anaesthetist_id: int | None
    procedure_version_id: int
    levels: tuple[str, ...]
    approach: str
    anaesthesia: str
    session_id: int | None
    start: dt.datetime | None
    end: dt.datetime | None
    estimated_minutes: int
    screening_result: Mapping[str, Any]  # as stored: ScreeningOutcome.as_dict()

    @property
    def surgeon_id(self) -> int:
        return self.surgeon.id


@dataclass(frozen=True)
class PlanSession:
    """The list the case is booked into."""

    id: int
    status: str
    start: dt.datetime
    end: dt.datetime
    theatre: Ref
    site_name: str
    timezone: str  # the site's: the plan shows every time in it
    surgeon: Ref
    anaesthetist: Ref | None


@dataclass(frozen=True)
class PlanUnit:
    """An equipment unit the case has claimed."""

    id: int
    kind: str
    name: str
    serial: str


@dataclass(frozen=True)
class Approval:
    """The approval stored on the case; `approved_at` is None when there is none."""

    approved_at: dt.datetime | None
    approved_by: Ref | None  # the login that approved (its full name, else its username)
    fingerprint: str


@dataclass(frozen=True)
class Withdrawal:
    """The last withdrawal of the case's approval, from the audit trail."""

    at: dt.datetime
    by: str
    reason: str


# --- Fingerprint ------------------------------------------------------------------------------


class ClinicalInputs(Protocol):
    """What the fingerprint reads: a PlanCase, or a Case row itself (its own columns only, no query)."""

    @property
    def id(self) -> int: ...
    @property
    def patient_id(self) -> int: ...
    @property
    def procedure_version_id(self) -> int: ...
    @property
    def levels(self) -> Sequence[str]: ...
    @property
    def approach(self) -> str: ...
    @property
    def anaesthesia(self) -> str: ...
    @property
    def surgeon_id(self) -> int: ...
    @property
    def anaesthetist_id(self) -> int | None: ...
    @property
    def session_id(self) -> int | None: ...
    @property
    def start(self) -> dt.datetime | None: ...
    @property
    def end(self) -> dt.datetime | None: ...
    @property
    def screening_result(self) -> Any: ...


def _utc_iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def fingerprint_content(case: ClinicalInputs) -> dict[str, Any]:
    """The clinical inputs of the plan: everything else in it derives from these.

    The pinned version is immutable, so its id stands for its steps, volumes, risks and
    follow-up. We hash the inputs rather than the rendered plan so that a new field in the
    plan's JSON (a code change) does not silently unapprove every plan on deploy.
    """
    return {
        "case": case.id,
        "patient": case.patient_id,
        "procedure_version": case.procedure_version_id,
        "levels": list(case.levels),
        "approach": case.approach,
        "anaesthesia": case.anaesthesia,
        "surgeon": case.surgeon_id,
        "anaesthetist": case.anaesthetist_id,
        "session": case.session_id,
        "start": _utc_iso(case.start),
        "end": _utc_iso(case.end),
        "screening_result": case.screening_result,
    }


def plan_fingerprint(case: ClinicalInputs) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of `fingerprint_content`."""
    canonical = json.dumps(fingerprint_content(case), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- The pure assembly ------------------------------------------------------------------------


def _local(value: dt.datetime, zone: ZoneInfo) -> dict[str, str]:
    local = value.astimezone(zone)
    return {"at": local.isoformat(), "clock": local.strftime("%H:%M")}


def _anaesthesia(version: PlanVersion, code: str) -> dict[str, Any]:
    # The same option the estimate counted, so the plan shows the minutes the case was booked for.
    option = anaesthesia_option(options=version.anaesthesia_options, anaesthesia=code)
    return {
        "code": code,
        "label": option.label,
        "induction_minutes": option.induction_minutes,
        "recovery_minutes": option.recovery_minutes,
        # Fasting applies to general anaesthesia only (clinical-standards: 6 h food, 2 h clear fluids).
        "fasting": dict(version.fasting) if code == "general" and version.fasting else None,
    }


class CementTerms(Protocol):
    """A version's cement volumes: a PlanVersion, or a ProcedureVersion row."""

    @property
    def cement_ml_by_approach(self) -> Any: ...
    @property
    def cement_ml_per_level(self) -> Decimal: ...
    @property
    def cement_max_ml_per_level(self) -> Decimal: ...


def planned_volume_ml(version: CementTerms, approach: str) -> Decimal:
    """mL per level for this approach, never above the template's maximum per level.

    A version may give volumes per approach (`cement_ml_by_approach`, e.g. KP 4.1 mL
    unipedicular / 4.9 mL bipedicular); otherwise `cement_ml_per_level` applies to both.
    """
    by_approach = version.cement_ml_by_approach or {}
    planned = Decimal(str(by_approach.get(approach, version.cement_ml_per_level)))
    return min(planned, Decimal(version.cement_max_ml_per_level))


def _levels(version: PlanVersion, case: PlanCase) -> list[dict[str, Any]]:
    volume = planned_volume_ml(version, case.approach)
    return [
        {
            "level": level,
            "approach": case.approach,
            "cement_product": version.cement_product,
            "planned_ml": str(volume),
            "max_ml": str(version.cement_max_ml_per_level),
        }
        for level in case.levels
    ]


def _estimate_order(steps: Sequence[PlanStep], estimate: Estimate) -> list[PlanStep | EstimateLine]:
    """The steps in the estimate's order, with its anaesthesia lines where it put them.

    The estimate lists each step it counts once, in template order, and puts the chosen option's
    induction where the template's anaesthesia step is (or first, if there is none). It does not
    count that step when the step has no minutes of its own: the induction stands in its place,
    so the steps it left out are the ones right after the induction.
    """
    lines = [line for line in estimate.lines if line.kind != "turnover"]
    uncounted = len(steps) - sum(1 for line in lines if line.kind == "step")
    remaining = list(steps)
    order: list[PlanStep | EstimateLine] = []
    for line in lines:
        if line.kind == "step":
            order.append(remaining.pop(0))
            continue
        order.append(line)
        del remaining[:uncounted]
        uncounted = 0
    return order


def _row(item: PlanStep | EstimateLine, level: str | None) -> dict[str, Any]:
    name = item.label if isinstance(item, EstimateLine) else item.name
    return {"kind": item.kind, "name": name, "level": level, "minutes": item.minutes}


def timeline(*, steps: Sequence[PlanStep], levels: Sequence[str], estimate: Estimate) -> list[dict[str, Any]]:
    """The steps in theatre order with their minutes and minute offsets from the start.

    Where the anaesthesia goes is the estimate's answer (procedures.estimates.estimate: the
    chosen option's induction takes the place of the template's anaesthesia step, or opens the
    list if there is none, and its recovery closes it), so the plan and the booked minutes
    cannot disagree. A run of consecutive per-level steps is done level by level, cranial to
    caudal (access, balloon, cement at T12, then the same at L1), so each level is finished
    before the next is started.
    """
    rows: list[dict[str, Any]] = []
    order = _estimate_order(steps, estimate)
    for per_level, run in groupby(order, key=lambda item: isinstance(item, PlanStep) and item.per_level):
        items = list(run)
        if per_level:
            rows += [_row(step, level) for level in levels for step in items]
        else:
            rows += [_row(item, None) for item in items]
    offset = 0
    for number, row in enumerate(rows, start=1):
        row["order"] = number
        row["offset_minutes"] = offset
        offset += row["minutes"]
    return rows


def _timed_steps(rows: list[dict[str, Any]], start: dt.datetime | None, zone: ZoneInfo) -> list[dict[str, Any]]:
    timed = []
    for row in rows:
        item = dict(row)
        if start is None:
            item.update(start=None, end=None, start_clock=None, end_clock=None)
        else:
            # Arithmetic in UTC, display in the site's zone: a list that crosses a DST change
            # still gives each step its real length.
            begin = start.astimezone(dt.UTC) + dt.timedelta(minutes=row["offset_minutes"])
            finish = begin + dt.timedelta(minutes=row["minutes"])
            b, f = _local(begin, zone), _local(finish, zone)
            item.update(start=b["at"], end=f["at"], start_clock=b["clock"], end_clock=f["clock"])
        timed.append(item)
    return timed


def _session(session: PlanSession | None, zone: ZoneInfo) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "id": session.id,
        "theatre": {"id": session.theatre.id, "name": session.theatre.name},
        "site": session.site_name,
        "status": session.status,
        "start": session.start.astimezone(zone).isoformat(),
        "end": session.end.astimezone(zone).isoformat(),
        "surgeon": {"id": session.surgeon.id, "name": session.surgeon.name},
        "anaesthetist": (
            {"id": session.anaesthetist.id, "name": session.anaesthetist.name} if session.anaesthetist else None
        ),
    }


def anticoagulant_holds(screening_result: Mapping[str, Any], procedure_date: dt.date | None) -> list[dict[str, Any]]:
    """The anticoagulant holds the case's screening found, with their dates (procedures.screening).

    Read from the stored result (`ScreeningOutcome.as_dict()`). Per drug: the last day a dose may
    be taken and the first day without it, both None while the case has no procedure day. The
    plan shows these dates and the patient's hold reminders are planned from them.
    """
    stored = screening_result.get("anticoagulant_holds") or []
    holds = tuple(AnticoagulantHold(drug=str(h["drug"]), stop_days_before=int(h["stop_days_before"])) for h in stored)
    if procedure_date is None:
        return [
            {"drug": h.drug, "stop_days_before": h.stop_days_before, "last_dose_on": None, "stop_from": None}
            for h in holds
        ]
    outcome = ScreeningOutcome(
        result=str(screening_result.get("result", "")), blockers=(), warnings=(), missing=(), holds=holds
    )
    return hold_dates(outcome=outcome, procedure_date=procedure_date)


def _holds(screening_result: Mapping[str, Any], procedure_date: dt.date | None) -> list[dict[str, Any]]:
    return [
        {
            **hold,
            "last_dose_on": hold["last_dose_on"].isoformat() if hold["last_dose_on"] else None,
            "stop_from": hold["stop_from"].isoformat() if hold["stop_from"] else None,
        }
        for hold in anticoagulant_holds(screening_result, procedure_date)
    ]


def _follow_up(version: PlanVersion, procedure_date: dt.date | None) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "due_on": (
                (procedure_date + dt.timedelta(days=int(item["after_days"]))).isoformat()
                if procedure_date is not None and "after_days" in item
                else None
            ),
        }
        for item in version.follow_up
    ]


def build_plan(
    *,
    case: PlanCase,
    version: PlanVersion,
    session: PlanSession | None,
    units: Sequence[PlanUnit],
    estimate: Estimate,
) -> dict[str, Any]:
    """The pinned version applied to this case: pure, from frozen inputs.

    `estimate` is procedures.estimates.estimate for the case's levels and anaesthesia; the timed
    steps follow it. Patient identifiers are not part of the plan; the API adds them for the
    roles that may see them.
    """
    zone = ZoneInfo(session.timezone if session is not None else DEFAULT_ZONE)
    start = case.start
    procedure_date = start.astimezone(zone).date() if start is not None else None
    rows = timeline(steps=version.steps, levels=case.levels, estimate=estimate)
    steps = _timed_steps(rows, start, zone)
    screening = case.screening_result or {}
    return {
        "case": {
            "id": case.id,
            "reference": case.reference,
            "status": case.status,
            "priority": case.priority,
            "surgeon": {"id": case.surgeon.id, "name": case.surgeon.name},
        },
        "procedure": {
            "slug": version.slug,
            "name": version.name,
            "version": version.number,
            "version_id": version.id,
            "sources": list(version.sources),
        },
        "timezone": str(zone),
        "start": start.astimezone(zone).isoformat() if start is not None else None,
        # For people: "Mon 1 Mar 2027, 08:00" in the site's zone.
        "start_display": (
            f"{start.astimezone(zone):%a} {start.astimezone(zone).day} {start.astimezone(zone):%b %Y, %H:%M}"
            if start is not None
            else None
        ),
        "end": case.end.astimezone(zone).isoformat() if case.end is not None else None,
        "session": _session(session, zone),
        "anaesthesia": _anaesthesia(version, case.anaesthesia),
        "positioning": version.positioning,
        "imaging": {
            "intra_op": list(version.imaging.get("intra_op", [])),
            "post_op": list(version.imaging.get("post_op", [])),
        },
        "approach": case.approach,
        "levels": _levels(version, case),
        "cement": {
            "product": version.cement_product,
            "mixing_minutes": str(version.cement_mixing_minutes),
            "working_minutes": str(version.cement_working_minutes),
            "setting_minutes": str(version.cement_setting_minutes),
            "total_planned_ml": str(planned_volume_ml(version, case.approach) * len(case.levels)),
        },
        "steps": steps,
        "theatre_minutes": sum(row["minutes"] for row in rows),
        "turnover_minutes": version.turnover_minutes,
        "estimated_minutes": case.estimated_minutes,
        "required_equipment": list(version.required_equipment),
        "equipment": [{"id": u.id, "kind": u.kind, "name": u.name, "serial": u.serial} for u in units],
        "screening": {
            "result": screening.get("result"),
            "blockers": list(screening.get("blockers", [])),
            "warnings": list(screening.get("warnings", [])),
            "missing": list(screening.get("missing", [])),
        },
        "anticoagulant_holds": _holds(screening, procedure_date),
        "risks": list(version.risks),
        "recovery": dict(version.recovery),
        "follow_up": _follow_up(version, procedure_date),
        "fingerprint": plan_fingerprint(case),
    }


def approval_state(
    *, approval: Approval, fingerprint: str, withdrawal: Withdrawal | None, zone: ZoneInfo | None = None
) -> dict[str, Any]:
    """approved | not_approved | withdrawn (with when, by whom and why). Pure; times in `zone`."""
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    if approval.approved_at is not None:
        approver = approval.approved_by
        approved = {
            "approved_by": {"id": approver.id, "name": approver.name} if approver is not None else None,
            "approved_at": approval.approved_at.astimezone(zone).isoformat(),
            "approved_fingerprint": approval.fingerprint,
        }
        if approval.fingerprint == fingerprint:
            return {"approved": True, "state": "approved", **approved}
        # Defence in depth: a change that did not call withdraw_approval still unapproves.
        return {
            "approved": False,
            "state": "withdrawn",
            "withdrawn_at": None,
            "withdrawn_by": None,
            "reason": "The plan has changed since it was approved (its fingerprint no longer matches).",
            **approved,
        }
    if withdrawal is not None:
        return {
            "approved": False,
            "state": "withdrawn",
            "withdrawn_at": withdrawal.at.astimezone(zone).isoformat(),
            "withdrawn_by": withdrawal.by,
            "reason": withdrawal.reason,
        }
    return {"approved": False, "state": "not_approved"}
