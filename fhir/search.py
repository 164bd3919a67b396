"""FHIR search parameters: parsing, and FHIR's lenient or strict handling of unknown ones.

- Unknown parameters are ignored (FHIR's default, lenient handling) and left out of the Bundle's
  `self` link, which shows the search as it was run. With `Prefer: handling=strict` they are a
  400 naming them.
- A known parameter with a bad value is always a 400 OperationOutcome naming it.
- Dates: `YYYY-MM-DD` is that whole local day (Europe/London, the unit's planning zone); a
  date-time must carry its offset (the API's rule for every datetime). Prefixes ge, gt, le, lt, eq.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.dateparse import parse_datetime

from fhir.outcomes import invalid

# Parameters every search understands: paging and the format (JSON is all we serve).
COMMON = frozenset({"_count", "_offset", "_format"})
DEFAULT_COUNT = 50
MAX_COUNT = 200
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_PREFIXES = ("ge", "gt", "le", "lt", "eq")


@dataclass(frozen=True)
class DateBound:
    """A date parameter as the instants a value may take: [lower, upper) for `eq`."""

    prefix: str
    lower: dt.datetime
    upper: dt.datetime  # exclusive; equal to lower + 1 µs for an instant

    def matches(self, value: dt.datetime) -> bool:
        if self.prefix == "ge":
            return value >= self.lower
        if self.prefix == "gt":
            return value >= self.upper
        if self.prefix == "lt":
            return value < self.lower
        if self.prefix == "le":
            return value < self.upper
        return self.lower <= value < self.upper


@dataclass
class Search:
    """The parameters of one search, as parsed; `used` keeps what the `self` link shows."""

    params: Mapping[str, list[str]]
    strict: bool
    used: list[tuple[str, str]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0

    def values(self, name: str) -> list[str]:
        found = [v for v in self.params.get(name, []) if v != ""]
        self.used += [(name, v) for v in found]
        return found

    def one(self, name: str) -> str | None:
        found = self.values(name)
        if len(found) > 1:
            raise invalid(f"Give `{name}` once.", expression=[name])
        return found[0] if found else None

    def query_string(self, *, offset: int | None = None) -> str:
        pairs = [*self.used, ("_count", str(self.count))]
        if offset:
            pairs.append(("_offset", str(offset)))
        return urlencode(pairs)


def start_search(params: Mapping[str, list[str]], *, known: Iterable[str], prefer: str) -> Search:
    """Check the names (strict or lenient) and the paging parameters."""
    strict = "handling=strict" in prefer.replace(" ", "").lower()
    allowed = COMMON | set(known)
    unknown = sorted(name for name in params if name not in allowed)
    if strict and unknown:
        raise invalid(f"Unknown search parameters: {', '.join(unknown)}.", expression=unknown, code="not-supported")
    search = Search(params=params, strict=strict)
    for fmt in params.get("_format", []):
        if fmt not in JSON_FORMATS:
            raise invalid("Only JSON is served (_format=json).", expression=["_format"], code="not-supported")
    search.count = _bounded_int(params, "_count", default=DEFAULT_COUNT, low=0, high=MAX_COUNT)
    search.offset = _bounded_int(params, "_offset", default=0, low=0, high=10**9)
    return search


def _bounded_int(params: Mapping[str, list[str]], name: str, *, default: int, low: int, high: int) -> int:
    values = params.get(name, [])
    if not values:
        return default
    raw = values[-1]
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(f"`{name}` must be a whole number from {low} to {high}.", expression=[name])
    return int(raw)


def parse_date(name: str, raw: str) -> DateBound:
    prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
    value = raw[2:] if raw[:2] in _PREFIXES else raw
    zone = ZoneInfo(settings.TIME_ZONE)
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            lower = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
            upper = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
            return DateBound(prefix, lower, upper)
        moment = parse_datetime(value)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise invalid(f"`{name}={raw}` is not a FHIR date or date-time.", expression=[name])
    if moment.tzinfo is None:
        raise invalid(f"`{name}={raw}`: a date-time needs its offset (e.g. Z or +01:00).", expression=[name])
    return DateBound(prefix, moment, moment + dt.timedelta(microseconds=1))


def parse_reference(name: str, raw: str, *, kind: str) -> str:
    """`Kind/id`, `id` or a full URL ending in `Kind/id` → id."""
    tail = raw.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != kind:
        raise invalid(f"`{name}` must reference a {kind}.", expression=[name])
    ident = tail[-1]
    if not ident or len(ident) > 64:
        raise invalid(f"`{name}={raw}` is not a reference.", expression=[name])
    return ident


def parse_int_id(name: str, raw: str) -> int | None:
    """A numeric resource id, or None for one that cannot exist (matches nothing)."""
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


def tokens(search: Search, name: str) -> list[str]:
    """Every value of a token parameter, comma-separated values ORed."""
    return [part for raw in search.values(name) for part in raw.split(",") if part]
