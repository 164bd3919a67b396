"""When a patient reminder's moment has passed: the rule the sweep applies under the row's lock.

A reminder is about one appointment (the `start` in its context). It is sent only while it can
still mean something to the patient:

- pre-op rows (pre-op assessment, anticoagulant hold, fasting, day before, rescheduled) only
  before the appointment starts, and only while the case is still to happen (booked, confirmed,
  or waiting for a row made outside booking). A hold or fasting instruction after the start, a
  "see you tomorrow" after the operation, or any of them for a case completed, in theatre or
  cancelled, would at best confuse and at worst make a patient stop warfarin for nothing;
- a follow-up only after a case that actually happened (`completed`), and not more than
  FOLLOW_UP_GRACE after it fell due: "it is now 14 days since your operation" a month late
  is wrong, and the clinic has seen the patient (or chased them) by then;
- a cancellation notice only before the appointment it cancels would have started.

Anything else (a kind this module does not know) is never held back. Pure: no database, no
clock; `delivery` loads the case and asks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

# Machine-readable reasons, stored on the row as `skip_reason` and shown by GET /reminders/.
APPOINTMENT_PASSED = "appointment_passed"  # due after the appointment it is about had started
CASE_COMPLETED = "case_completed"  # pre-op advice for an operation already done
CASE_IN_THEATRE = "case_in_theatre"  # pre-op advice for a patient already in theatre
CASE_CANCELLED = "case_cancelled"  # the operation will not happen
CASE_NOT_COMPLETED = "case_not_completed"  # a follow-up for an operation that has not happened
FOLLOW_UP_OVERDUE = "follow_up_overdue"  # a follow-up that fell due more than FOLLOW_UP_GRACE ago

SKIP_REASONS = (
    APPOINTMENT_PASSED,
    CASE_COMPLETED,
    CASE_IN_THEATRE,
    CASE_CANCELLED,
    CASE_NOT_COMPLETED,
    FOLLOW_UP_OVERDUE,
)

# Delivery policy of the unit, not a clinical number: how late a follow-up may still go out
# (a worker down over a long weekend still sends Tuesday's review invitation on Friday).
FOLLOW_UP_GRACE = dt.timedelta(days=3)

PRE_OP_KINDS = frozenset({"preop_assessment", "anticoagulant_hold", "fasting", "day_before", "rescheduled"})
FOLLOW_UP = "follow_up"
CANCELLATION = "cancellation"

# Case statuses, as scheduling.models.CaseStatus spells them (kept as strings: this module is pure).
_OVER_FOR_PRE_OP = {"completed": CASE_COMPLETED, "in_theatre": CASE_IN_THEATRE, "cancelled": CASE_CANCELLED}


def base_kind(kind: str) -> str:
    """ "anticoagulant_hold:warfarin@2027-01-04" -> "anticoagulant_hold"."""
    return kind.split("@", 1)[0].split(":", 1)[0]


def appointment_start(context: Mapping[str, Any]) -> dt.datetime | None:
    """The start of the appointment a row is about, from its context (an aware ISO string)."""
    value = context.get("start")
    if not isinstance(value, str):
        return None
    try:
        start = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


def stale_reason(
    *,
    kind: str,
    case_status: str,
    start: dt.datetime | None,
    due_at: dt.datetime,
    now: dt.datetime,
    after_days: int | None = None,
) -> str | None:
    """Why a reminder due at `due_at` must not be sent `now` (one of SKIP_REASONS), or None to send it.

    `after_days` is a follow-up's distance from the operation (its context has it): its moment is
    then the operation's day plus that, even when it was planned late and so fell due "at once".
    """
    base = base_kind(kind)
    if base == FOLLOW_UP:
        if case_status != "completed":
            return CASE_CANCELLED if case_status == "cancelled" else CASE_NOT_COMPLETED
        moment = due_at if start is None or after_days is None else start + dt.timedelta(days=after_days)
        return FOLLOW_UP_OVERDUE if now - moment > FOLLOW_UP_GRACE else None
    if base == CANCELLATION:
        return APPOINTMENT_PASSED if start is not None and start <= now else None
    if base in PRE_OP_KINDS:
        over = _OVER_FOR_PRE_OP.get(case_status)
        if over is not None:
            return over
        if start is not None and start <= now:
            return APPOINTMENT_PASSED
    return None
