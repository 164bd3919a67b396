"""Lock contention anywhere in the API is a clean 409 `busy`, and the request changes nothing."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from core.roles import Role
from tests.conftest import make_user
from tests.factories import TheatreSessionFactory
from theatre.models import TheatreSession

pytestmark = pytest.mark.django_db(transaction=True)


def test_editing_a_list_whose_row_another_change_holds_is_409_busy_not_500() -> None:
    """Given another transaction holding a list's row (say, a booking into it),
    when a coordinator edits the list and the lock does not come in time,
    then the answer is 409 busy and the list is unchanged."""
    session = TheatreSessionFactory(notes="before")
    client = APIClient()
    client.force_authenticate(make_user("editor", Role.COORDINATOR))
    holding, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                list(TheatreSession.objects.select_for_update().filter(pk=session.pk))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        response = client.patch(f"/api/v1/sessions/{session.pk}/", {"notes": "after"}, format="json")
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert response.status_code == 409
    assert response.json()["code"] == "busy"
    session.refresh_from_db()
    assert session.notes == "before"
