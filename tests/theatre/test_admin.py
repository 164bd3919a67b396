"""Issue 3: every theatre model is in the admin; session saves are audited and clash-checked."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.audit import history
from tests.factories import TheatreSessionFactory
from theatre.models import TheatreSession

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
    (entry,) = history(session)
    assert (entry.action, entry.reason, entry.after["notes"]) == ("theatresession.updated", "admin", "x")


def test_admin_refuses_a_surgeon_clash_with_a_form_error(admin_client_: Client) -> None:
    first = TheatreSessionFactory()
    second = TheatreSessionFactory(start=first.start.replace(day=first.start.day + 1))
    data = form_data(second, surgeon=first.surgeon_id, start_0=first.start.strftime("%d/%m/%Y"))
    data["end_0"] = data["start_0"]
    response = admin_client_.post(f"/admin/theatre/theatresession/{second.pk}/change/", data)
    assert response.status_code == 200
    assert "surgeon_busy" in response.content.decode()
    second.refresh_from_db()
    assert second.surgeon_id != first.surgeon_id
