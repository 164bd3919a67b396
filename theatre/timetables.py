"""Weekly timetables turned into dated lists (TheatreSession rows).

A timetable's times are wall-clock times at the site ("08:00 in Leeds"), so each date is
converted on its own: 08:00 is 08:00 GMT in winter and 08:00 BST (07:00 UTC) in summer,
including on the Sundays the clocks change. A time that the clocks skip or repeat on a date is
refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import holidays
from django.db import transaction

from core.audit import Actor, record, snapshot
from core.errors import InvalidInput
from theatre.clashes import clash_candidates, ensure_not_taken_elsewhere, find_clash, footprint_of, save_sessions
from theatre.models import SessionStatus, TheatreSession, Timetable
from theatre.sessions import ensure_staff_roles

# A generous bound so a typo (2062 for 2026) cannot create thousands of lists in one request.
MAX_GENERATION_DAYS = 366


@functools.lru_cache(maxsize=64)
def _bank_holidays_in(year: int) -> frozenset[dt.date]:
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    # The library lists a holiday that falls on a weekend under its own (weekend) date AND adds
    # the substitute weekday as "… (observed)", e.g. 2026: Boxing Day Sat 26 Dec and "Boxing Day
    # (observed)" Mon 28 Dec. gov.uk's bank holidays are the weekdays only, so keep those.
    return frozenset(day for day in calendar if day.weekday() < 5)


def england_bank_holidays(*, years: Iterable[int]) -> frozenset[dt.date]:
    """England's bank holidays as gov.uk lists them: substitute weekdays, never weekend dates."""
    result: set[dt.date] = set()
    for year in years:
        result |= _bank_holidays_in(year)
    return frozenset(result)


def local_datetime(*, day: dt.date, at: dt.time, zone: ZoneInfo, field: str) -> dt.datetime:
    """`day` at wall-clock `at` in `zone`; 400 naming `field` and the date if the time is a DST trap."""
    early = dt.datetime.combine(day, at, tzinfo=zone)  # fold=0
    late = early.replace(fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    # The two folds disagree only inside a transition. In a gap (spring forward) the wall time
    # does not survive a round trip through UTC; in an overlap (fall back) it does, twice.
    round_trip = early.astimezone(dt.UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != early.replace(tzinfo=None):
        problem = "does not exist (the clocks go forward)"
    else:
        problem = "is ambiguous (the clocks go back, so it happens twice)"
    raise InvalidInput(field, f"{at:%H:%M} {problem} in {zone.key} on {day.isoformat()}.")


def timetable_days(
    *,
    weekday: int,
    valid_from: dt.date,
    valid_to: dt.date | None,
    date_from: dt.date,
    date_to: dt.date,
    bank_holidays: frozenset[dt.date],
) -> list[dt.date]:
    """The dates in [date_from, date_to] on `weekday`, inside the validity, that are not bank holidays."""
    first = max(date_from, valid_from)
    last = min(date_to, valid_to) if valid_to is not None else date_to
    day = first + dt.timedelta(days=(weekday - first.weekday()) % 7)
    days: list[dt.date] = []
    while day <= last:
        if day not in bank_holidays:
            days.append(day)
        day += dt.timedelta(days=7)
    return days


def generate_sessions(
    *,
    timetable: Timetable,
    date_from: dt.date,
    date_to: dt.date,
    actor: Actor,
    status: str = SessionStatus.PLANNED,
) -> list[TheatreSession]:
    """Create the timetable's lists on every matching date in range, skipping England bank holidays.

    Never duplicates: a date that already has this timetable's list (in any status, even moved
    or cancelled by hand) or a live list in the theatre at the same start is skipped, so generating
    twice creates nothing the second time. All or nothing: a DST trap (400) or a staff or
    theatre clash (409, naming the list it clashes with) creates no list at all. An inactive
    timetable or theatre generates nothing.
    """
    if date_to < date_from:
        raise InvalidInput("date_to", "date_to must be on or after date_from.")
    if (date_to - date_from).days >= MAX_GENERATION_DAYS:
        raise InvalidInput("date_to", f"Generate at most {MAX_GENERATION_DAYS} days at a time.")
    if status not in (SessionStatus.PLANNED, SessionStatus.PUBLISHED):
        raise InvalidInput("status", "Generated lists are planned or published.")
    with transaction.atomic():
        # Serialise generation per timetable: two coordinators pressing "generate" together
        # would otherwise both see "no list yet" and collide on the unique (theatre, start).
        timetable = (
            Timetable.objects.select_for_update(of=("self",))
            .select_related("theatre__site", "surgeon", "anaesthetist")
            .get(pk=timetable.pk)
        )
        if not (timetable.active and timetable.theatre.active):
            return []
        ensure_staff_roles(surgeon=timetable.surgeon, anaesthetist=timetable.anaesthetist)
        new = _new_sessions(timetable, date_from=date_from, date_to=date_to, status=status)
        if not new:
            return []
        zone = timetable.theatre.site.zone
        footprints = [footprint_of(s) for s in new]
        others = clash_candidates(footprints)
        for footprint in footprints:
            error = find_clash(footprint, others, zone)
            if error is not None:
                error.detail = f"{footprint.start.astimezone(zone).date().isoformat()}: {error.detail}"
                error.extra["date"] = footprint.start.astimezone(zone).date().isoformat()
                raise error
        ensure_not_taken_elsewhere(footprints, zone=zone)  # a hook's 409 names the day itself
        save_sessions(new)
        reason = f"generated from timetable {timetable.pk} for {date_from.isoformat()}..{date_to.isoformat()}"
        for session in new:
            record(actor=actor, action="session.created", obj=session, after=snapshot(session), reason=reason)
    return new


def _new_sessions(timetable: Timetable, *, date_from: dt.date, date_to: dt.date, status: str) -> list[TheatreSession]:
    """Unsaved lists for the dates in range that have none yet (one query for what exists)."""
    zone = timetable.theatre.site.zone
    days = timetable_days(
        weekday=timetable.weekday,
        valid_from=timetable.valid_from,
        valid_to=timetable.valid_to,
        date_from=date_from,
        date_to=date_to,
        bank_holidays=england_bank_holidays(years=range(date_from.year, date_to.year + 1)),
    )
    if not days:
        return []
    wanted = [
        (
            day,
            local_datetime(day=day, at=timetable.start_time, zone=zone, field="start_time"),
            local_datetime(day=day, at=timetable.end_time, zone=zone, field="end_time"),
        )
        for day in days
    ]
    starts = {start for _, start, _ in wanted}
    existing = TheatreSession.objects.filter(
        start__gte=min(starts) - dt.timedelta(days=1), start__lte=max(starts) + dt.timedelta(days=1)
    ).filter(timetable=timetable) | TheatreSession.objects.filter(theatre=timetable.theatre, start__in=starts)
    taken_days: set[dt.date] = set()
    taken_starts: set[dt.datetime] = set()
    for session in existing.only("start", "status", "theatre_id", "timetable_id"):
        if session.status != SessionStatus.CANCELLED:
            taken_starts.add(session.start)
        if session.timetable_id == timetable.pk:
            taken_days.add(session.start.astimezone(zone).date())
    return [
        TheatreSession(
            theatre=timetable.theatre,
            timetable=timetable,
            period=timetable.period,
            start=start,
            end=end,
            surgeon=timetable.surgeon,
            anaesthetist=timetable.anaesthetist,
            status=status,
        )
        for day, start, end in wanted
        if day not in taken_days and start not in taken_starts
    ]
