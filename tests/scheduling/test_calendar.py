"""GET /staff/{id}/calendar.ics: the staff member's lists and cases, parsed back with icalendar."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.roles import Role
from tests.builders.people import login
from tests.builders.world import World, at, build_reminder_world, next_monday, next_october_change
from tests.conftest import client_for
from tests.factories import LONDON, SurgeonFactory, TheatreFactory, TheatreSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_reminder_world()


def url(staff_id: int) -> str:
    return f"/api/v1/staff/{staff_id}/calendar.ics"


def events(response: HttpResponse) -> dict[str, icalendar.Component]:
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_feed_lists_sessions_and_cases_with_stable_uids_and_no_patient_name(
    world: World, coordinator: APIClient
) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    named = {"given_name": "Zebedee", "family_name": "Quigglesworth"}
    first = world.booked(session, at(8, day=monday), patient_kwargs=named)
    second = world.booked(
        session,
        at(10, day=monday),
        anaesthesia="local_sedation",
        levels=["T12", "L1"],
        patient_kwargs={"given_name": "Wilhelmina", "family_name": "Zarathustra"},
    )
    cancelled = world.session_on(monday + dt.timedelta(days=1), status="cancelled")

    response = coordinator.get(url(world.surgeon.pk))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    found = events(response)
    assert set(found) == {
        f"session-{session.pk}@localhost",
        f"session-{cancelled.pk}@localhost",
        f"case-{first.pk}@localhost",
        f"case-{second.pk}@localhost",
    }
    for case in (first, second):
        event = found[f"case-{case.pk}@localhost"]
        assert str(event["summary"]).startswith(f"{case.reference} Balloon kyphoplasty")
        assert event.decoded("dtstart") == case.start and event.decoded("dtend") == case.end
        assert event["dtstart"].params["TZID"] == "Europe/London"
    assert "T12, L1" in str(found[f"case-{second.pk}@localhost"]["summary"])
    list_event = found[f"session-{session.pk}@localhost"]
    assert list_event.decoded("dtstart") == session.start and list_event.decoded("dtend") == session.end
    assert str(list_event["status"]) == "CONFIRMED"
    assert str(found[f"session-{cancelled.pk}@localhost"]["status"]) == "CANCELLED"
    text = response.content.decode()
    for case in (first, second):
        for identifier in (
            case.patient.given_name,
            case.patient.family_name,
            case.patient.nhs_number,
            case.patient.mrn,
        ):
            assert identifier not in text
    # Fetched again, the same events carry the same UIDs (calendars update rather than duplicate).
    assert set(events(coordinator.get(url(world.surgeon.pk)))) == set(found)


def test_anaesthetist_feed_and_shared_list_case_surgeon(world: World, coordinator: APIClient) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    guest = SurgeonFactory()
    guest_case = world.booked(session, at(9, day=monday), surgeon=guest)
    assert set(events(coordinator.get(url(world.anaesthetist.pk)))) == {
        f"session-{session.pk}@localhost",
        f"case-{guest_case.pk}@localhost",
    }
    # The guest surgeon sees their own case on someone else's list, not the whole list.
    guest_events = events(coordinator.get(url(guest.pk)))
    assert set(guest_events) == {f"case-{guest_case.pk}@localhost"}
    assert "case surgeon" in str(guest_events[f"case-{guest_case.pk}@localhost"]["description"])


def test_event_across_the_october_clock_change_keeps_its_real_length(world: World, coordinator: APIClient) -> None:
    """A night list 00:00-04:00 London on the day the clocks go back lasts five real hours."""
    change = next_october_change()
    start = dt.datetime(change.year, change.month, change.day, 0, 0, tzinfo=LONDON)
    end = dt.datetime(change.year, change.month, change.day, 4, 0, tzinfo=LONDON)
    session = TheatreSessionFactory(
        theatre=world.theatre, surgeon=world.surgeon, anaesthetist=world.anaesthetist, start=start, end=end
    )
    event = events(coordinator.get(url(world.surgeon.pk)))[f"session-{session.pk}@localhost"]
    dtstart, dtend = event.decoded("dtstart"), event.decoded("dtend")
    assert (dtstart.hour, dtstart.utcoffset()) == (0, dt.timedelta(hours=1))  # BST
    assert (dtend.hour, dtend.utcoffset()) == (4, dt.timedelta(0))  # GMT
    assert dtend.astimezone(dt.UTC) - dtstart.astimezone(dt.UTC) == dt.timedelta(hours=5)
    calendar = icalendar.Calendar.from_ical(coordinator.get(url(world.surgeon.pk)).content)
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]


def test_staff_member_reads_own_feed_but_not_a_colleagues(world: World) -> None:
    own_user = login("surgeon-own", Role.SURGEON)
    world.surgeon.user = own_user
    world.surgeon.save()
    other = SurgeonFactory()
    client = client_for(own_user)
    assert client.get(url(world.surgeon.pk)).status_code == 200
    refused = client.get(url(other.pk))
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("client_name", "status"),
    [("coordinator", 200), ("admin", 200), ("viewer", 403), ("surgeon", 403), ("anaesthetist", 403)],
)
def test_who_may_read_a_feed(world: World, client_name: str, status: int, request: pytest.FixtureRequest) -> None:
    assert request.getfixturevalue(client_name).get(url(world.surgeon.pk)).status_code == status


def test_unknown_staff_is_404_and_anonymous_is_refused(
    world: World, coordinator: APIClient, anon_client: APIClient
) -> None:
    assert coordinator.get(url(999_999)).status_code == 404
    assert anon_client.get(url(world.surgeon.pk)).status_code in (401, 403)


def test_client_asking_for_text_calendar_gets_it(world: World, coordinator: APIClient) -> None:
    response = coordinator.get(url(world.surgeon.pk), HTTP_ACCEPT="text/calendar")
    assert response.status_code == 200 and response.content.startswith(b"BEGIN:VCALENDAR")


def test_query_count_does_not_grow_with_sessions_and_cases(
    world: World, coordinator_user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    def client() -> APIClient:  # a fresh user object per request, as a real request loads it
        return client_for(User.objects.get(pk=coordinator_user.pk))

    monday = next_monday()
    world.booked(world.session_on(monday), at(8, day=monday))
    # 1 roles, 2 the staff member, 3 their sessions, 4 the cases
    fresh = client()
    with django_assert_num_queries(4):
        small = fresh.get(url(world.surgeon.pk))
    for n in range(1, 5):
        day = monday + dt.timedelta(days=n)
        session = world.session_on(day)
        world.booked(session, at(8, day=day))
        world.booked(session, at(10, day=day))
    other_theatre = TheatreFactory(site=world.site)
    TheatreSessionFactory(
        theatre=other_theatre, anaesthetist=world.anaesthetist, start=at(14, day=monday), end=at(18, day=monday)
    )
    fresh = client()
    with django_assert_num_queries(4):
        large = fresh.get(url(world.surgeon.pk))
    assert len(events(large)) > 4 * len(events(small))
