"""Site.zone: the one place a site's time zone is read, for its lists' wall-clock times and messages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pytest_django import Settings

from core.audit import Actor
from core.errors import DomainError
from tests.factories import SiteFactory, TheatreFactory, TimetableFactory
from theatre.models import Site
from theatre.sessions import create_session
from theatre.timetables import generate_sessions

NEW_YORK = ZoneInfo("America/New_York")
ACTOR = Actor.system("test")


@pytest.mark.pure
def test_a_sites_zone_is_its_timezone() -> None:
    assert Site(name="Midtown", timezone="America/New_York").zone == NEW_YORK


@pytest.mark.pure
def test_a_new_site_is_in_london() -> None:
    assert Site(name="Northgate").zone == ZoneInfo("Europe/London")


@pytest.mark.pure
def test_a_blank_zone_reads_as_the_units_time_zone(settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Dublin"
    assert Site(name="Northgate", timezone="").zone == ZoneInfo("Europe/Dublin")


@pytest.mark.django_db
def test_generated_lists_start_at_0800_in_their_sites_zone_and_clashes_are_told_in_it() -> None:
    """Given a site in New York (five hours behind London in January), when a Monday AM timetable
    generates, then its list starts at 08:00 New York time, 13:00 UTC; and a list that clashes with
    it is refused with the time as the site reads it."""
    site = SiteFactory(name="Midtown Spine Center", timezone="America/New_York")
    timetable = TimetableFactory(theatre=TheatreFactory(site=site), weekday=0)

    (session,) = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 1, 12), date_to=dt.date(2026, 1, 12), actor=ACTOR
    )

    assert session.start.astimezone(NEW_YORK) == dt.datetime(2026, 1, 12, 8, 0, tzinfo=NEW_YORK)
    assert session.start.astimezone(dt.UTC).hour == 13
    with pytest.raises(DomainError) as refused:
        create_session(
            theatre=TheatreFactory(site=site),
            start=session.start,
            end=session.end,
            surgeon=timetable.surgeon,
            anaesthetist=None,
            actor=ACTOR,
        )
    assert refused.value.code == "surgeon_busy"
    assert "Mon 12 Jan 2026 08:00–13:00" in refused.value.detail
