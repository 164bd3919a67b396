"""A booking racing an unavailable period for the same day, on real PostgreSQL connections.

Both lock the case row first, so one waits for the other: either the booking wins and the period
answers `booked_inside: true` (the coordinator is told), or the period wins and the booking is
refused with `patient_unavailable`. Never a booking on that day that nobody was told about.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core.roles import Role
from scheduling.models import Case
from tests.builders.people import login
from tests.builders.world import MONDAY, build_booking_world

ROUNDS = 8

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.timeout(240)]


def both_at_once(calls: list[Callable[[], tuple[int, dict[str, Any]]]]) -> list[tuple[int, dict[str, Any]]]:
    """Start the calls together, each on its own thread and connection; their (status, body) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(calls)

    def run(index: int, call: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # a crash is a 500 as far as the client is concerned
            results[index] = (500, {"error": repr(exc)})
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_booking_racing_a_period_for_its_day_is_refused_or_flagged_never_silent() -> None:
    user = login("unavailability-racer", Role.COORDINATOR)
    outcomes: Counter[str] = Counter()
    for round_no in range(ROUNDS):
        world = build_booking_world(site_name=f"Race site {round_no}")
        case = world.case()

        def book(case_id: int = case.pk, session_id: int = world.session.pk) -> tuple[int, dict[str, Any]]:
            client = APIClient()
            client.force_authenticate(user)
            response = client.post(f"/api/v1/cases/{case_id}/book/", {"session": session_id}, format="json")
            return response.status_code, response.json()

        def away(case_id: int = case.pk) -> tuple[int, dict[str, Any]]:
            client = APIClient()
            client.force_authenticate(user)
            body = {"start_date": MONDAY.isoformat(), "end_date": MONDAY.isoformat(), "reason": "holiday"}
            response = client.post(f"/api/v1/cases/{case_id}/unavailability/", body, format="json")
            return response.status_code, response.json()

        (booked, booking), (added, period) = both_at_once([book, away])
        assert added == 201, period
        if booked == 200:
            assert period["booked_inside"] is True, "a booking on the day went unflagged"
            outcomes["booking first, flagged"] += 1
        else:
            assert (booked, booking["code"]) == (409, "patient_unavailable"), booking
            assert period["booked_inside"] is False
            assert Case.objects.get(pk=case.pk).status == "waiting"
            outcomes["period first, refused"] += 1
    assert sum(outcomes.values()) == ROUNDS, outcomes
