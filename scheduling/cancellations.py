"""On-the-day cancellations (DESIGN §5.1): which list a cancelled case was on, when, and whether
that was on the list's own day, kept for the theatre metrics (scheduling/reports.py).

The cancel itself, and the reasons with their categories, are scheduling/booking.py's.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from scheduling.models import Case, CaseCancellation, CaseStatus
from theatre.models import TheatreSession


def is_on_the_day(*, list_start: dt.datetime, cancelled_at: dt.datetime, zone: ZoneInfo) -> bool:
    """True when the cancel falls on the list's local date, or after it.

    Dates are compared in the site's zone, never UTC: a cancel at 00:30 BST on the morning of a
    list is that day's, though it is still the day before in UTC. A cancel recorded after the
    list's date (a patient who did not attend, entered the next morning) is a case that did not
    happen on the day, so it counts too: counting it as "in advance" would hide it.
    """
    return cancelled_at.astimezone(zone).date() >= list_start.astimezone(zone).date()


def record_cancellation(
    *,
    case: Case,
    session: TheatreSession | None,
    from_status: str,
    reason: str,
    category: str,
    cancelled_at: dt.datetime,
) -> CaseCancellation:
    """Keep the facts of the cancel; call inside the cancel's transaction, before the case lets go
    of its list. A case abandoned in theatre is on the day by definition: it was signed in."""
    on_the_day = False
    if session is not None:
        zone = session.theatre.site.zone
        on_the_day = from_status == CaseStatus.IN_THEATRE or is_on_the_day(
            list_start=session.start, cancelled_at=cancelled_at, zone=zone
        )
    return CaseCancellation.objects.create(
        case=case,
        session=session,
        from_status=from_status,
        reason=reason,
        category=category,
        on_the_day=on_the_day,
        cancelled_at=cancelled_at,
    )
