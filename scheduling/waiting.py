"""Treat-by dates: how long a case may wait, and which unavailable periods pause that wait. Pure.

The limits are the clinical priority classes of the Federation of Surgical Specialty Associations'
prioritisation (DESIGN §5.4): P1 within 72 hours, P2 within 1 month, P3 within 3 months, P4 no
limit. Months are calendar months (31 January + 1 month = the last day of February).

Pauses follow the NHS referral-to-treatment (RTT) rules for patient-initiated clock pauses
(NHS England, "Referral to treatment consultant-led waiting times: Rules Suite", rule 3.2.1
"Clock pauses", October 2015 and later editions): on an admitted pathway (a decision to admit has
been made, as for every case on this waiting list), the clock may be paused only when the
patient makes themselves unavailable, having declined reasonable offers of admission; the pause
runs from the earliest reasonable offer declined to the date the patient is available again.
What this module implements, and what it leaves to the people recording the period:

- Only a period marked `patient_initiated` pauses. A clinical reason (`unfit`) never does: under
  the rules a patient who is clinically unfit keeps waiting (or the clock is stopped for active
  monitoring, a clinical decision outside this system), so `unfit` cannot be patient-initiated.
- The coordinator marks a period patient-initiated only where the rules allow it, i.e. when the
  patient declined reasonable offers (at least two, each with 3 or more weeks' notice) and said
  when they are available again; the period's first day is the earliest declined offer. The
  system records offers nowhere, so it cannot check this part; the API says so beside the field.
- A pause counts from the referral date on (days before it are not waiting), only if it begins
  on or before the treat-by date as moved by the pauses before it (a wait that already passed its
  limit is not un-breached by a later holiday), and each day counts once however periods overlap.
- The treat-by date then moves later by the number of paused days.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

DateSpan = tuple[dt.date, dt.date]  # both ends inclusive

# The longest each class should wait from referral.
MAX_WAIT_DAYS = {"P1": 3}  # 72 hours
MAX_WAIT_MONTHS = {"P2": 1, "P3": 3}
NO_LIMIT = frozenset({"P4"})

# Reasons that are the patient's own choice (holiday, their own decision); `other` may be either.
CLINICAL_REASONS = frozenset({"unfit"})


def _add_months(day: dt.date, months: int) -> dt.date:
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def limit_date(*, priority: str, referral_date: dt.date) -> dt.date | None:
    """The treat-by date with no pause (None for P4: no limit)."""
    if priority in MAX_WAIT_DAYS:
        return referral_date + dt.timedelta(days=MAX_WAIT_DAYS[priority])
    if priority in MAX_WAIT_MONTHS:
        return _add_months(referral_date, MAX_WAIT_MONTHS[priority])
    if priority in NO_LIMIT:
        return None
    raise ValueError(f"unknown priority {priority!r}")


def merged(spans: Iterable[DateSpan]) -> list[DateSpan]:
    """The spans as disjoint runs of days, earliest first (overlapping or touching spans joined)."""
    runs: list[DateSpan] = []
    for start, end in sorted(spans):
        if runs and start <= runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs


def treat_by(*, priority: str, referral_date: dt.date, pauses: Iterable[DateSpan] = ()) -> dt.date | None:
    """The date by which the case should be treated: referral + its class's limit, moved later by
    the paused days (`pauses`: the patient-initiated unavailable periods only; see the module).
    None for P4."""
    deadline = limit_date(priority=priority, referral_date=referral_date)
    if deadline is None:
        return None
    for start, end in merged(pauses):
        first = max(start, referral_date)
        if first > deadline:
            break  # later pauses start later still
        if end >= first:
            deadline += dt.timedelta(days=(end - first).days + 1)
    return deadline


def pauses_the_wait(*, reason: str, patient_initiated: bool) -> bool:
    """Whether an unavailable period pauses the treat-by date (only patient-initiated, never clinical)."""
    return patient_initiated and reason not in CLINICAL_REASONS


def booked_inside(*, booked_days: DateSpan | None, spans: Iterable[DateSpan]) -> bool:
    """Whether a booking on the local days `booked_days` falls inside any unavailable span."""
    if booked_days is None:
        return False
    first, last = booked_days
    return any(start <= last and first <= end for start, end in spans)
