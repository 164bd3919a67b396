"""Issue 3: every theatre model is in the admin; session saves are audited and clash-checked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.audit import history
from core.models import AuditEntry
from tests.factories import SiteFactory, TheatreFactory, TheatreSessionFactory
from theatre.models import Site, TheatreSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(admin_user_: User) -> Client:
    client = Client()
    client.force_login(admin_user_)
    return client


@pytest.mark.parametrize("model", ["site", "theatre", "equipmentunit", "staffmember", "timetable", "theatresession"])
def test_admin_changelists_load(admin_client_: Client, model: str) -> None:
    TheatreSessionFactory()
    assert admin_client_.get(f"/admin/theatre/{model}/").status_code == 200


def form_data(session: TheatreSession, **overrides: object) -> dict[str, object]:
    return {
        "theatre": session.theatre_id,
        "period": session.period,
        "start_0": session.start.strftime("%d/%m/%Y"),
        "start_1": session.start.strftime("%H:%M:%S"),
        "end_0": session.end.strftime("%d/%m/%Y"),
        "end_1": session.end.strftime("%H:%M:%S"),
        "surgeon": session.surgeon_id,
        "anaesthetist": session.anaesthetist_id,
        "status": session.status,
        "notes": "",
        **overrides,
    }


def test_admin_session_save_is_audited(admin_client_: Client) -> None:
    session = TheatreSessionFactory()
    response = admin_client_.post(f"/admin/theatre/theatresession/{session.pk}/change/", form_data(session, notes="x"))
    assert response.status_code == 302
    entry: Any  # before/after are JSON
    (entry,) = history(session)
    assert (entry.action, entry.reason, entry.after["notes"]) == ("theatresession.updated", "admin", "x")


def test_admin_refuses_a_new_list_that_clashes_with_a_form_error(admin_client_: Client) -> None:
    first = TheatreSessionFactory()
    elsewhere = TheatreFactory(site=first.theatre.site)
    data = form_data(first, theatre=elsewhere.pk, anaesthetist="")
    response = admin_client_.post("/admin/theatre/theatresession/add/", data)
    assert response.status_code == 200
    assert "surgeon_busy" in response.content.decode()
    assert TheatreSession.objects.count() == 1


def test_admin_cannot_change_a_lists_time_staff_or_status_around_the_services(admin_client_: Client) -> None:
    """Booked cases must stay inside their list and 6-4-2 must hold: the admin edits notes only."""
    session = TheatreSessionFactory(status="locked")
    later_end = session.end + dt.timedelta(hours=3)
    data = form_data(session, notes="porter booked", status="cancelled")
    data["end_1"] = later_end.strftime("%H:%M:%S")
    response = admin_client_.post(f"/admin/theatre/theatresession/{session.pk}/change/", data)
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.notes, session.status, session.end) == (
        "porter booked",
        "locked",
        later_end - dt.timedelta(hours=3),
    )


def test_admin_never_deletes_a_list(admin_client_: Client) -> None:
    session = TheatreSessionFactory()
    assert admin_client_.get(f"/admin/theatre/theatresession/{session.pk}/delete/").status_code == 403
    assert TheatreSession.objects.filter(pk=session.pk).exists()


def test_admin_bulk_delete_is_audited_row_by_row(admin_client_: Client) -> None:
    sites = [SiteFactory(name=f"Annexe {n}") for n in range(2)]
    response = admin_client_.post(
        "/admin/theatre/site/",
        {"action": "delete_selected", "_selected_action": [s.pk for s in sites], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Site.objects.filter(pk__in=[s.pk for s in sites]).exists()
    deleted = AuditEntry.objects.filter(action="site.deleted").values_list("object_id", flat=True)
    assert sorted(deleted) == sorted(str(s.pk) for s in sites)
