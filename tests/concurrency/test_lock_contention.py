"""Lock contention anywhere in the API is a clean 409 `busy`, and the request changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.roles import Role
from tests.builders.people import login
from tests.concurrency.row_locks import row_held_elsewhere
from tests.factories import TheatreSessionFactory
from theatre.models import TheatreSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_editing_a_list_whose_row_another_change_holds_is_409_busy_not_500() -> None:
    """Given another transaction holding a list's row (say, a booking into it),
    when a coordinator edits the list and the lock does not come in time,
    then the answer is 409 busy and the list is unchanged."""
    session = TheatreSessionFactory(notes="before")
    client = APIClient()
    client.force_authenticate(login("editor", Role.COORDINATOR))
    with row_held_elsewhere(TheatreSession.objects.filter(pk=session.pk)):
        response = client.patch(f"/api/v1/sessions/{session.pk}/", {"notes": "after"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "busy"
    session.refresh_from_db()
    assert session.notes == "before"
