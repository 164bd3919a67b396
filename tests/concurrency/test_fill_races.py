"""A list fill's commit racing a coordinator's manual booking into the same list, on real
PostgreSQL with real threads and connections, through HTTP.

Each round the fill wants the whole list while someone books another case at its start. Either
the fill commits first (the manual booking gets its 409), or the manual booking does (the fill
either saw it and fits around it, or is refused whole with `fill_conflict`): never a deadlock,
never a 500, never an overlap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.roles import Role
from scheduling.models import Case
from tests.builders.people import login
from tests.builders.world import MONDAY, build_booking_world
from tests.concurrency.test_booking_races import ROUNDS, overlaps, race
from tests.factories import SurgeonFactory

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.timeout(240)]

NO_OVERLAPS = dict.fromkeys(("session_id", "surgeon_id", "anaesthetist_id", "patient_id", "unit_id"), 0)


def call(user: User, path: str, body: dict[str, object], seen: list[tuple[str, int, object]]) -> Callable[[], int]:
    def run() -> int:
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(path, body, format="json")
        seen.append((path, response.status_code, response.json()))
        return response.status_code

    return run


def test_a_fill_commit_racing_a_manual_booking_never_double_books() -> None:
    user = login("fill-racer", Role.COORDINATOR)
    outcomes: Counter[tuple[int, int]] = Counter()
    for round_no in range(ROUNDS):
        world = build_booking_world(units=2, site_name=f"Fill site {round_no}")  # 08:00-13:00
        fill_cases = [world.case(estimated_minutes=60) for _ in range(5)]  # exactly fill the list
        # Another surgeon's case, outside the fill's waiting list (it fills this surgeon's cases),
        # booked by hand at the list's start: the very time the fill wants for its first case.
        manual = world.case(estimated_minutes=60, surgeon=SurgeonFactory(), anaesthesia="local_sedation")
        seen: list[tuple[str, int, object]] = []
        fill_body = {
            "date_from": MONDAY.isoformat(),
            "date_to": MONDAY.isoformat(),
            "sessions": [world.session.pk],
            "surgeons": [world.surgeon.pk],
            "commit": True,
        }
        statuses = race(
            [
                call(user, "/api/v1/fill/", fill_body, seen),
                call(
                    user,
                    f"/api/v1/cases/{manual.pk}/book/",
                    {"session": world.session.pk, "start": world.session.start.isoformat()},
                    seen,
                ),
            ]
        )
        assert 500 not in statuses, seen
        by_path = {path: (status, body) for path, status, body in seen}
        fill_status, fill_answer = by_path["/api/v1/fill/"]
        manual_status, manual_answer = by_path[f"/api/v1/cases/{manual.pk}/book/"]
        assert fill_status in (201, 409), fill_answer
        assert manual_status in (200, 409), manual_answer
        if fill_status == 409:
            assert isinstance(fill_answer, dict) and fill_answer["code"] in ("fill_conflict", "busy"), fill_answer
            assert manual_status == 200  # the fill lost to the manual booking, and booked nothing
            assert not Case.objects.filter(pk__in=[c.pk for c in fill_cases], status="booked").exists()
        if manual_status == 409:
            assert fill_status == 201
        booked = Case.objects.filter(session=world.session, status="booked")
        minutes = sum(int((c.end - c.start).total_seconds() // 60) for c in booked if c.start and c.end)
        assert minutes <= 300
        outcomes[(fill_status, manual_status)] += 1
    assert overlaps() == NO_OVERLAPS
    assert sum(outcomes.values()) == ROUNDS, outcomes
