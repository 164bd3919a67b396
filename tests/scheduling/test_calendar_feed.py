"""A staff member's private calendar feed URL: works without a login, dies when rotated or revoked."""

from __future__ import annotations

import icalendar
import pytest
from rest_framework.test import APIClient

from core.audit import history
from core.roles import Role
from scheduling.models import StaffCalendarFeed
from tests.builders.people import login
from tests.conftest import client_for
from tests.factories import SurgeonFactory, TheatreSessionFactory

pytestmark = pytest.mark.django_db


def make_feed(client: APIClient, staff_id: int) -> str:
    response = client.post(f"/api/v1/staff/{staff_id}/calendar-feed/")
    assert response.status_code == 201, response.content
    url: str = response.json()["url"]
    return url.removeprefix("http://testserver")


def test_the_feed_url_serves_only_its_owners_calendar_without_a_session() -> None:
    user = login("feed-surgeon", Role.SURGEON)
    staff = SurgeonFactory(user=user)
    session = TheatreSessionFactory(surgeon=staff)
    TheatreSessionFactory()  # someone else's list
    feed = make_feed(client_for(user), staff.pk)
    response = APIClient().get(feed)  # a phone's calendar app: no cookie, no token
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    uids = {str(e["uid"]) for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}
    assert {uid.split("@")[0] for uid in uids} == {f"session-{session.pk}"}
    # Only a digest is stored: the secret in the URL is nowhere in the database.
    secret = feed.rsplit("/", 1)[-1].removesuffix(".ics")
    assert not StaffCalendarFeed.objects.filter(digest__contains=secret).exists()
    assert [e.action for e in history(staff)] == ["staff.calendar_feed_created"]


def test_rotating_the_feed_url_kills_the_old_one(coordinator: APIClient) -> None:
    staff = SurgeonFactory()
    old = make_feed(coordinator, staff.pk)
    new = make_feed(coordinator, staff.pk)
    assert old != new
    refused = APIClient().get(old)
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    assert APIClient().get(new).status_code == 200


def test_revoking_the_feed_url_kills_it(coordinator: APIClient) -> None:
    staff = SurgeonFactory()
    feed = make_feed(coordinator, staff.pk)
    assert coordinator.delete(f"/api/v1/staff/{staff.pk}/calendar-feed/").status_code == 204
    assert APIClient().get(feed).status_code == 404
    assert "staff.calendar_feed_revoked" in [e.action for e in history(staff)]


def test_another_surgeon_cannot_make_someones_feed_url() -> None:
    staff = SurgeonFactory(user=login("owner", Role.SURGEON))
    other = client_for(login("other", Role.SURGEON))
    assert other.post(f"/api/v1/staff/{staff.pk}/calendar-feed/").status_code == 403
    assert not StaffCalendarFeed.objects.exists()


def test_a_guessed_feed_url_is_404() -> None:
    assert APIClient().get("/api/v1/calendar-feeds/guess.ics").status_code == 404
