"""A staff member's iCalendar feed: their lists and the cases on them.

- Sessions where they are the list's surgeon or anaesthetist, cancelled ones included as
  STATUS:CANCELLED so that subscribed calendars drop them rather than keep a stale entry.
- Cases on those lists, plus cases where they are the case's surgeon or anaesthetist on
  someone else's list (shared lists).
- Stable UIDs (`session-<id>@<domain>`, `case-<id>@<domain>`): a calendar that refreshes the
  feed updates the same event instead of adding a copy.
- Times carry TZID=Europe/London (the site's zone) with its VTIMEZONE, so an event across a
  clock change shows at the right wall-clock time in any client.
- No patient identifiers: a calendar lives on phones and in shared mailboxes. Case events show
  the case reference, procedure, levels and anaesthesia only.

Three queries: the sessions, the cases, and nothing per event.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
from django.db.models import Q
from django.utils import timezone

from procedures.models import Anaesthesia
from scheduling.models import OCCUPYING_STATUSES, Case
from scheduling.reminders.delivery import mail_domain
from theatre.models import SessionStatus, StaffMember, TheatreSession

# The feed covers recent history and the lists ahead; older events are of no use on a phone.
PAST_DAYS = 60
FUTURE_DAYS = 400

_SESSION_STATUS = {
    SessionStatus.PLANNED: "TENTATIVE",
    SessionStatus.PUBLISHED: "CONFIRMED",
    SessionStatus.LOCKED: "CONFIRMED",
    SessionStatus.CANCELLED: "CANCELLED",
}


def _one_line(text: str) -> str:
    """A name as a calendar line: icalendar refuses a raw line break in a name-like property
    (X-WR-CALNAME), and a summary or location is shown on one line anyway."""
    return " ".join(text.split())


def _event(
    *,
    uid: str,
    stamp: dt.datetime,
    updated_at: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    zone: ZoneInfo,
    summary: str,
    location: str,
    status: str,
    description: str,
) -> icalendar.Event:
    """One event of the feed: UTC stamps, and start and end at the site's wall-clock time (TZID)."""
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("last-modified", updated_at.astimezone(dt.UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", _one_line(summary))
    event.add("location", _one_line(location))
    event.add("status", status)
    event.add("description", description)
    return event


def _session_event(
    session: TheatreSession, role: str, cases: list[Case], domain: str, stamp: dt.datetime
) -> icalendar.Event:
    zone = session.theatre.site.zone
    lines = [f"List status: {session.status}", f"Cases: {len(cases)}"]
    lines += [
        f"{c.start.astimezone(zone):%H:%M} {c.reference} {c.procedure_version.template.name} {', '.join(c.levels)}"
        for c in cases
        if c.start is not None
    ]
    return _event(
        uid=f"session-{session.pk}@{domain}",
        stamp=stamp,
        updated_at=session.updated_at,
        start=session.start,
        end=session.end,
        zone=zone,
        summary=f"Theatre list: {session.theatre.name} ({role})",
        location=f"{session.theatre.name}, {session.theatre.site.name}",
        status=_SESSION_STATUS.get(SessionStatus(session.status), "CONFIRMED"),
        description="\n".join(lines),
    )


def _case_event(case: Case, role: str, domain: str, stamp: dt.datetime) -> icalendar.Event:
    assert case.session is not None and case.start is not None and case.end is not None  # noqa: S101
    procedure = case.procedure_version.template.name
    return _event(
        uid=f"case-{case.pk}@{domain}",
        stamp=stamp,
        updated_at=case.updated_at,
        start=case.start,
        end=case.end,
        zone=case.session.theatre.site.zone,
        summary=f"{case.reference} {procedure} {', '.join(case.levels)}",
        location=f"{case.session.theatre.name}, {case.session.theatre.site.name}",
        status="CONFIRMED",
        description="\n".join(
            [
                f"Case {case.reference}: {procedure}",
                f"Levels: {', '.join(case.levels)} ({case.approach})",
                f"Anaesthesia: {Anaesthesia(case.anaesthesia).label}",
                f"Your role: {role}",
                f"Case status: {case.status}",
            ]
        ),
    )


def staff_calendar(*, staff: StaffMember, now: dt.datetime | None = None) -> bytes:
    """The staff member's sessions and cases as an iCalendar document (no patient identifiers)."""
    now = now or timezone.now()
    since, until = now - dt.timedelta(days=PAST_DAYS), now + dt.timedelta(days=FUTURE_DAYS)
    sessions = list(
        TheatreSession.objects.filter(Q(surgeon=staff) | Q(anaesthetist=staff), start__lt=until, end__gt=since)
        .select_related("theatre__site")
        .order_by("start", "id")
    )
    session_ids = [s.pk for s in sessions]
    cases = list(
        Case.objects.filter(
            Q(session_id__in=session_ids) | Q(surgeon=staff) | Q(anaesthetist=staff),
            status__in=OCCUPYING_STATUSES,
            start__lt=until,
            end__gt=since,
        )
        .select_related("procedure_version__template", "session__theatre__site")
        .order_by("start", "id")
    )
    by_session: dict[int, list[Case]] = {}
    for case in cases:
        if case.session_id is not None:
            by_session.setdefault(case.session_id, []).append(case)

    domain = mail_domain()
    stamp = now.astimezone(dt.UTC)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Spinal theatre scheduling//Staff calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _one_line(f"Theatre lists: {staff.name}"))
    for session in sessions:
        role = "surgeon" if session.surgeon_id == staff.pk else "anaesthetist"
        calendar.add_component(_session_event(session, role, by_session.get(session.pk, []), domain, stamp))
    for case in cases:
        if case.surgeon_id == staff.pk:
            role = "case surgeon"
        elif case.anaesthetist_id == staff.pk:
            role = "anaesthetist"
        else:
            role = "list team"
        calendar.add_component(_case_event(case, role, domain, stamp))
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
