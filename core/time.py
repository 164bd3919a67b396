"""Time rules every app shares. Pure: no database, no clock.

Request datetimes must carry their UTC offset (DESIGN §3). A naive "2027-03-28T01:30" is
ambiguous or missing altogether on a DST change day in Europe/London, so we never guess: the
caller gets a 400 naming the field.
"""

from __future__ import annotations

import datetime as dt

from core.errors import InvalidInput

NAIVE_DATETIME = "The datetime must carry a UTC offset, e.g. 2026-03-30T08:00:00+01:00."


def is_aware(value: dt.datetime) -> bool:
    """True if `value` knows its offset from UTC (a tzinfo that answers utcoffset())."""
    return value.tzinfo is not None and value.utcoffset() is not None


def ensure_aware(value: dt.datetime, *, field: str) -> None:
    """InvalidInput(field, …), a 400, unless `value` carries its UTC offset."""
    if not is_aware(value):
        raise InvalidInput(field, NAIVE_DATETIME)
