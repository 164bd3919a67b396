"""Learned durations for cases: load what happened, learn once, predict each case (DESIGN §5.3).

The estimator is pure (scheduling/durations.py); this module is its loader and the one place the
rest of scheduling asks "how many minutes does this case occupy?" (`slot_minutes`).

Cost, and why there is no cache. `load_history` is one query over the completed (and abandoned)
cases of the procedures asked for, and `learn` is O(N), about 15 ms per 2,400 cases. A request
learns at most once: a list endpoint shares one `Durations` among all its rows (serializer
context), and a booking loads only its own procedure's history, inside its transaction. A cache
keyed on a fingerprint of the history would still cost a query to read the fingerprint, and it
would be one more thing to go stale across workers (no shared cache is configured), so the
query that reads the history itself is the honest price; revisit when a unit holds years of cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from django.db.models import Q, QuerySet

from core.db import hot_rows
from core.errors import InvalidInput
from procedures.estimates import estimate, estimate_rules_of
from procedures.models import ProcedureVersion
from scheduling.durations import (
    CaseKey,
    DurationHistory,
    PastCase,
    Prediction,
    TemplateEstimate,
    learn,
    predict,
    slot_minutes,
)
from scheduling.milestones import touch_bounds
from scheduling.models import Case, CaseCancellation, CaseStatus
from theatre.models import StaffMember, StaffRole

ABANDONED_REASON = "abandoned_in_theatre"

_PAST_FIELDS = (
    "pk",
    "surgeon_id",
    "procedure__slug",
    "levels",
    "anaesthesia",
    "estimated_minutes",
    "procedure_version__turnover_minutes",
    "status",
    "created_at",
    "times__anaesthesia_start",
    "times__in_theatre",
    "times__out_of_theatre",
    "cancellation__cancelled_at",
)

# The history query written out for PostgreSQL, the ORM's twin below (which `make run`'s SQLite
# runs): every availability search and booking sends it, and building and compiling it through the
# ORM (four joins and a subquery) cost about 1 ms of CPU per call, two thirds of the history's
# 1.6 ms at 40 lists (bench/availability.py; cProfile, issue 18). Columns in _PAST_FIELDS' order;
# timestamps and jsonb through psycopg's C loaders (core.db.raw_rows).
_PAST_CASES_SQL = """
SELECT c.id, c.surgeon_id, p.slug, c.levels, c.anaesthesia, c.estimated_minutes, v.turnover_minutes, c.status,
       c.created_at, t.anaesthesia_start, t.in_theatre, t.out_of_theatre, cc.cancelled_at
FROM scheduling_case c
JOIN procedures_proceduretemplate p ON p.id = c.procedure_id
JOIN procedures_procedureversion v ON v.id = c.procedure_version_id
LEFT JOIN scheduling_casetimes t ON t.case_id = c.id
LEFT JOIN scheduling_casecancellation cc ON cc.case_id = c.id
WHERE (c.status = %(completed)s
       OR (c.status = %(cancelled)s
           AND c.id IN (SELECT a.case_id FROM scheduling_casecancellation a WHERE a.reason = %(abandoned)s)))
  {slugs}
ORDER BY c.id
"""


def _past_case(row: tuple[Any, ...]) -> PastCase:
    """One row of the history query, in _PAST_FIELDS' order, as the estimator reads it (touch
    time in minutes, UTC). Unpacked by position: a dict per row was a tenth of reading 300 past
    cases (cProfile, bench/session_list.py)."""
    (pk, surgeon_id, procedure, levels, anaesthesia, estimated, turnover, status, created_at) = row[:9]
    anaesthesia_start, in_theatre, out_of_theatre, cancelled_at = row[9:13]
    bounds = touch_bounds(anaesthesia_start, in_theatre, out_of_theatre)
    touch = (bounds[1] - bounds[0]).total_seconds() / 60 if bounds else None
    at: dt.datetime = (bounds[0] if bounds else None) or cancelled_at or created_at
    return PastCase(
        case_id=pk,
        surgeon_id=surgeon_id,
        procedure=procedure,
        levels=len(levels or ()),
        anaesthesia=anaesthesia,
        touch_minutes=touch,
        template_minutes=estimated - turnover,
        abandoned=status == CaseStatus.CANCELLED,
        at=at,
    )


def past_cases(*, procedures: Collection[str] | None = None) -> list[PastCase]:
    """Every case that went to theatre: completed ones, and those abandoned after WHO sign in so
    the estimator can leave them out with a reason (one query; `procedures` by slug narrows it)."""
    # The abandoned ones by subquery, not by the joined cancellation's reason: an OR across the
    # case and its LEFT JOINed cancellation took PostgreSQL 15 8-20 ms to plan (0.3 ms this way),
    # on every availability search and booking (bench/availability.py, issue 18).
    sql = _PAST_CASES_SQL.format(slugs="" if procedures is None else "AND p.slug = ANY(%(slugs)s)")
    params = {
        "completed": str(CaseStatus.COMPLETED),
        "cancelled": str(CaseStatus.CANCELLED),
        "abandoned": ABANDONED_REASON,
        "slugs": None if procedures is None else list(procedures),
    }

    def definition() -> QuerySet[Case, tuple[Any, ...]]:
        abandoned = CaseCancellation.objects.filter(reason=ABANDONED_REASON).values("case_id")
        went_in = Q(status=CaseStatus.COMPLETED) | Q(status=CaseStatus.CANCELLED, pk__in=abandoned)
        rows = Case.objects.filter(went_in)
        if procedures is not None:
            rows = rows.filter(procedure__slug__in=list(procedures))
        return rows.order_by("pk").values_list(*_PAST_FIELDS)

    return [_past_case(row) for row in hot_rows(sql, params, definition=definition)]


def load_history(*, procedures: Collection[str] | None = None) -> DurationHistory:
    """The learned history of the procedures (all of them by default): one query, then O(cases)."""
    return learn(past_cases(procedures=procedures))


def key_of(case: Case) -> CaseKey:
    """The estimator's key for a case; `case.procedure` should be select_related."""
    return CaseKey(
        surgeon_id=case.surgeon_id,
        procedure=case.procedure.slug,
        levels=len(case.levels or ()),
        anaesthesia=case.anaesthesia,
    )


def template_of(case: Case) -> TemplateEstimate:
    """The case's template estimate split into touch time and turnover; `case.procedure_version`
    should be select_related. With no history the prediction's p50 is exactly `estimated_minutes`."""
    turnover = case.procedure_version.turnover_minutes
    return TemplateEstimate(touch_minutes=case.estimated_minutes - turnover, turnover_minutes=turnover)


class Durations:
    """Predictions for any number of cases from one history, learned on first use (one query).

    Give it `procedures` to learn only theirs (a booking), or nothing for all (a list endpoint).
    """

    def __init__(self, *, procedures: Collection[str] | None = None) -> None:
        self._procedures = procedures
        self._history: DurationHistory | None = None

    @property
    def history(self) -> DurationHistory:
        if self._history is None:
            self._history = load_history(procedures=self._procedures)
        return self._history

    def predict(self, case: Case) -> Prediction:
        return self.predict_for(key=key_of(case), template=template_of(case))

    def predict_for(self, *, key: CaseKey, template: TemplateEstimate) -> Prediction:
        """The prediction for a case given by its key and template estimate (a list's rows, no model).
        Each key's posterior is worked out once per history (durations.predict keeps it)."""
        return predict(history=self.history, key=key, template=template)

    def slot_minutes(self, case: Case) -> int:
        """What the case occupies: its planned minutes if a person set them, else the predicted p50."""
        return slot_minutes(prediction=self.predict(case), planned_minutes=case.planned_minutes)


def slot_minutes_of(case: Case) -> int:
    """The one case's slot, learning its procedure's history (one query). Loops use `Durations`."""
    if case.planned_minutes is not None:
        return case.planned_minutes
    return Durations(procedures=[case.procedure.slug]).slot_minutes(case)


def predict_new(
    *,
    history: DurationHistory,
    surgeon_id: int,
    procedure: str,
    levels: int,
    anaesthesia: str,
    total_minutes: int,
    turnover_minutes: int,
) -> Prediction:
    """The prediction for a case not yet created: its template estimate (total, with turnover) and key."""
    return predict(
        history=history,
        key=CaseKey(surgeon_id=surgeon_id, procedure=procedure, levels=levels, anaesthesia=anaesthesia),
        template=TemplateEstimate(touch_minutes=total_minutes - turnover_minutes, turnover_minutes=turnover_minutes),
    )


def duration_figures(*, version: ProcedureVersion, surgeon_id: int | None = None) -> dict[str, Any]:
    """The estimator's figures for a procedure's latest version (steps prefetched), per number of
    levels and anaesthesia: n, touch p50 and p80, the template's touch estimate, and the group the
    prediction rests on. For a surgeon, their predictions; without one, the unit's (the fallback
    for a surgeon with no history of their own). One query for the history (two with a surgeon)."""
    if surgeon_id is not None and not StaffMember.objects.filter(pk=surgeon_id, role=StaffRole.SURGEON).exists():
        raise InvalidInput("surgeon", "Choose a staff member whose role is surgeon.")
    rules = estimate_rules_of(version)
    slug = version.template.slug
    history = load_history(procedures=[slug])
    rows = []
    for count in range(1, rules.max_levels + 1):
        levels = rules.allowed_levels[:count]
        for option in rules.anaesthesia_options:
            # Surgeon id 0 is no one's: its groups are empty, so the prediction is the unit's.
            prediction = predict_new(
                history=history,
                surgeon_id=surgeon_id or 0,
                procedure=slug,
                levels=count,
                anaesthesia=option.code,
                total_minutes=estimate(rules=rules, levels=levels, anaesthesia=option.code).total_minutes,
                turnover_minutes=rules.turnover_minutes,
            )
            template = prediction.template
            rows.append(
                {
                    "levels": count,
                    "anaesthesia": option.code,
                    "n": prediction.n,
                    "p50": prediction.p50 - template.turnover_minutes,
                    "p80": prediction.p80 - template.turnover_minutes,
                    "template_minutes": template.touch_minutes,
                    "turnover_minutes": template.turnover_minutes,
                    "basis": prediction.level.value,
                    "excluded": len(prediction.excluded),
                }
            )
    return {"procedure": slug, "version": version.number, "surgeon": surgeon_id, "rows": rows}


def durations_in(context: dict[str, Any]) -> Durations:
    """The request's shared `Durations`, kept in a serializer context so a list learns once."""
    durations = context.get("durations")
    if not isinstance(durations, Durations):
        durations = context["durations"] = Durations()
    return durations
