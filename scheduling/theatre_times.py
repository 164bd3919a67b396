"""Recording what happened in theatre: the milestones of a case (DESIGN §5.1), all or nothing, audited.

Who records: the case's theatre team (its surgeon, the list's surgeon and anaesthetist) and
coordinators (who transcribe the theatre register), and admins as coordinators. When: once the
case is in theatre or completed, i.e. after the WHO sign in; before that nothing has happened.

A POST merges: the milestones sent are set, the others kept. Sending a different value for a
milestone already recorded, or null to clear it, is a correction: it needs a reason, and the
audit entry carries it. Re-sending the same value changes nothing and writes nothing, so a
tablet that retries on a flaky network is harmless.

The rules the merged times must obey are scheduling/milestones.py's: in order, not more than a
few minutes in the future (clock differences), inside the list's day, and, once the case is
signed out, with the operation begun before the sign out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import DateTimeField, F, Func, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from core.audit import Actor, record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.roles import Role, has_role
from core.time import ensure_aware
from scheduling import milestones
from scheduling.checklist import clock_tolerance, is_on_the_case
from scheduling.milestones import MILESTONES, Plausibility, Problem
from scheduling.models import (
    OCCUPYING_STATUSES,
    Case,
    CaseCancellation,
    CaseStatus,
    CaseTimes,
    ChecklistEntry,
    ChecklistPhase,
)
from theatre.models import TheatreSession

RECORDABLE = (CaseStatus.IN_THEATRE, CaseStatus.COMPLETED)


@dataclass(frozen=True)
class CaseTimesView:
    """A case's times as the API shows them: every milestone (None where unrecorded) and the touch time."""

    case: Case
    session_id: int | None
    milestones: dict[str, dt.datetime | None]

    @property
    def touch(self) -> tuple[dt.datetime, dt.datetime] | None:
        return milestones.touch_interval(self.milestones)


def may_record(user: AbstractBaseUser | AnonymousUser, case: Case) -> bool:
    """Coordinators and admins, or the theatre team of this case; not a surgeon from another list."""
    if has_role(user, Role.COORDINATOR):
        return True
    return has_role(user, Role.SURGEON, Role.ANAESTHETIST) and is_on_the_case(user, case)


def values_of(times: CaseTimes | None) -> dict[str, dt.datetime | None]:
    return {name: getattr(times, name) if times is not None else None for name in MILESTONES}


def _refused(problems: list[Problem]) -> InvalidInput:
    """One 400 for all the problems: the first one's code, and every milestone named under `errors`."""
    first = problems[0]
    error = InvalidInput(first.fields[0], " ".join(p.detail for p in problems), code=first.code)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        for name in problem.fields:
            errors.setdefault(name, []).append(problem.detail)
    error.extra["errors"] = errors
    error.extra["problems"] = [{"code": p.code, "fields": list(p.fields), "detail": p.detail} for p in problems]
    return error


def _rules(session: TheatreSession, *, now: dt.datetime, signed_out_at: dt.datetime | None) -> Plausibility:
    return Plausibility(
        now=now,
        future_tolerance=clock_tolerance(),
        window_start=session.start - dt.timedelta(minutes=settings.THEATRE_TIMES_EARLIEST_BEFORE_START_MINUTES),
        window_end=session.end + dt.timedelta(minutes=settings.THEATRE_TIMES_LATEST_AFTER_END_MINUTES),
        signed_out_at=signed_out_at,
    )


def clean_milestones(raw: Mapping[str, Any]) -> dict[str, dt.datetime | None]:
    """The milestones sent, to the minute in UTC; 400 naming unknown names and naive times."""
    unknown = sorted(str(name) for name in raw if name not in MILESTONES)
    if unknown:
        error = InvalidInput(
            unknown[0],
            f"Unknown milestones: {', '.join(unknown)}; use {', '.join(MILESTONES)}.",
            code=ErrorCode.UNKNOWN_MILESTONE,
        )
        error.extra["errors"] = {name: ["Not a milestone."] for name in unknown}
        raise error
    cleaned: dict[str, dt.datetime | None] = {}
    for name, value in raw.items():
        if value is not None and not isinstance(value, dt.datetime):
            raise InvalidInput(name, "Give the time as an ISO 8601 datetime with its UTC offset.")
        if value is not None:
            ensure_aware(value, field=name)
        cleaned[name] = milestones.to_minute(value) if value is not None else None
    return cleaned


def record_times(
    *,
    case_id: int,
    values: Mapping[str, Any],
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> CaseTimesView:
    """Merge `values` into the case's milestones: in order, plausible and permitted, or nothing
    changes; a correction needs a reason; every change audited."""
    incoming = clean_milestones(values)
    if not incoming:
        raise InvalidInput("milestones", f"Give at least one milestone: {', '.join(MILESTONES)}.")
    now = now or timezone.now()
    with transaction.atomic():
        # The case row lock makes two devices recording at once queue; the second merges on top.
        case = Case.objects.select_for_update(of=("self",)).select_related("session__theatre__site").get(pk=case_id)
        if case.status not in RECORDABLE or case.session is None:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"Times are recorded once the case is in theatre (after WHO sign in); this one is {case.status}.",
            )
        if actor.user is not None and not may_record(actor.user, case):
            raise PermissionDenied("Times are recorded by this case's theatre team or a coordinator.")
        row = CaseTimes.objects.filter(case=case).first()
        before = values_of(row)
        changed = {name for name, at in incoming.items() if before[name] != at}
        corrected = sorted((name for name in changed if before[name] is not None), key=MILESTONES.index)
        if corrected and not reason.strip():
            error = InvalidInput(
                "reason",
                f"Changing {', '.join(corrected)} needs a reason (a correction).",
                code=ErrorCode.REASON_REQUIRED,
            )
            error.extra["fields"] = corrected
            raise error
        after = {**before, **incoming}
        sign_out = ChecklistEntry.objects.filter(case=case, phase=ChecklistPhase.SIGN_OUT).first()
        rules = _rules(case.session, now=now, signed_out_at=sign_out.signed_at if sign_out else None)
        problems = milestones.recording_problems(after, changed=changed, rules=rules)
        if problems:
            raise _refused(problems)
        if changed:
            row = row or CaseTimes(case=case)
            for name in changed:
                setattr(row, name, after[name])
            row.save()
            record(
                actor=actor,
                action="case.times_corrected" if corrected else "case.times_recorded",
                obj=case,
                before={name: before[name] for name in sorted(changed, key=MILESTONES.index)},
                after={name: after[name] for name in sorted(changed, key=MILESTONES.index)},
                reason=reason.strip(),
            )
    return CaseTimesView(case=case, session_id=case.session_id, milestones=after)


def times_of(case: Case) -> CaseTimesView:
    """The case's times; for a case abandoned in theatre, with the list it was on (two queries)."""
    row = CaseTimes.objects.filter(case=case).first()
    session_id = case.session_id
    if session_id is None:
        session_id = CaseCancellation.objects.filter(case=case).values_list("session_id", flat=True).first()
    return CaseTimesView(case=case, session_id=session_id, milestones=values_of(row))


# --- Per list: when it actually started and ended ------------------------------------------------


def _touch_start(prefix: str) -> Coalesce:
    """A case's touch start in SQL: the rule of milestones.touch_bounds (anaesthesia_start, else in_theatre)."""
    return Coalesce(f"{prefix}anaesthesia_start", f"{prefix}in_theatre")


def _earliest(rows: QuerySet[Any], value: Any) -> Subquery:
    return Subquery(rows.annotate(moment=value).filter(moment__isnull=False).order_by("moment").values("moment")[:1])


def _latest(rows: QuerySet[Any], value: Any) -> Subquery:
    return Subquery(rows.annotate(moment=value).filter(moment__isnull=False).order_by("-moment").values("moment")[:1])


def _either(first: Subquery, second: Subquery, pick: type[Least] | type[Greatest]) -> Func:
    # Both sides may be NULL; SQLite's MIN/MAX of a NULL is NULL, so each falls back on the other.
    return pick(Coalesce(first, second), Coalesce(second, first), output_field=DateTimeField())


def list_actual_times() -> dict[str, Func]:
    """Annotations for a TheatreSession queryset, in the same statement: `actual_start`, the first
    touch start on the list, and `actual_end`, its last out_of_theatre, over its cases and any case
    abandoned in theatre (which has let go of the list but used its time). NULL until recorded."""
    listed = Case.objects.filter(session=OuterRef("pk"), status__in=OCCUPYING_STATUSES)
    abandoned = CaseCancellation.objects.filter(session=OuterRef("pk"), from_status=CaseStatus.IN_THEATRE)
    return {
        "actual_start": _either(
            _earliest(listed, _touch_start("times__")), _earliest(abandoned, _touch_start("case__times__")), Least
        ),
        "actual_end": _either(
            _latest(listed, F("times__out_of_theatre")), _latest(abandoned, F("case__times__out_of_theatre")), Greatest
        ),
    }
