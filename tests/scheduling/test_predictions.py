"""Learned durations wired in (scheduling/predictions.py): predicted and planned minutes on the case,
every booked minute from slot_minutes, each list's forecast, and the per-procedure figures.
The pure estimator and forecast have their own tests (test_durations.py, test_forecast.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor, history
from scheduling.availability import availability_for
from scheduling.booking import book_case, move_case
from scheduling.cases import update_case
from scheduling.models import Case, CaseCancellation, CaseTimes
from scheduling.predictions import Durations, load_history
from tests.builders.world import MONDAY, BookingWorld, at, build_booking_world
from tests.factories import SurgeonFactory, TheatreSessionFactory, london
from theatre.models import StaffMember, TheatreSession

# Every test here runs on the hot paths' raw SQL and again on their ORM definitions (conftest).
pytestmark = pytest.mark.usefixtures("both_query_paths")

CASES = "/api/v1/cases/"
SESSIONS = "/api/v1/sessions/"
SYSTEM = Actor.system("test")


@pytest.fixture
def world(db: None) -> BookingWorld:
    return build_booking_world()


def past_list(world: BookingWorld, surgeon: StaffMember, *, day: int) -> TheatreSession:
    """A long list in the past for `surgeon`, to hang completed cases on (one per hour)."""
    start = london(2026, 6, 1, 0) + dt.timedelta(days=day)
    return TheatreSessionFactory(
        theatre=world.theatre, surgeon=surgeon, start=start, end=start + dt.timedelta(hours=23), status="published"
    )


def completed(world: BookingWorld, surgeon: StaffMember, touches: list[int], *, day: int = 0) -> list[Case]:
    """Completed cases of the world's procedure for `surgeon`, with these touch minutes recorded."""
    session = past_list(world, surgeon, day=day)
    cases = []
    for hour, touch in enumerate(touches):
        start = session.start + dt.timedelta(hours=hour)
        case = world.case(
            surgeon=surgeon, status="completed", session=session, start=start, end=start + dt.timedelta(minutes=59)
        )
        CaseTimes.objects.create(case=case, anaesthesia_start=start, out_of_theatre=start + dt.timedelta(minutes=touch))
        cases.append(case)
    return cases


def abandoned(world: BookingWorld, surgeon: StaffMember, *, touch: int) -> Case:
    """A case abandoned after sign in, with its (meaningless) touch time recorded."""
    start = london(2026, 5, 1, 9)
    case = world.case(surgeon=surgeon, status="cancelled", cancel_reason="abandoned_in_theatre")
    CaseTimes.objects.create(case=case, anaesthesia_start=start, out_of_theatre=start + dt.timedelta(minutes=touch))
    CaseCancellation.objects.create(
        case=case,
        from_status="in_theatre",
        reason="abandoned_in_theatre",
        category="clinical",
        on_the_day=True,
        session=past_list(world, surgeon, day=40),
        cancelled_at=start,
    )
    return case


def minutes_of(case: Case) -> int:
    assert case.start is not None and case.end is not None
    return int((case.end - case.start).total_seconds() // 60)


# --- On the case --------------------------------------------------------------------------------


def test_with_no_history_the_prediction_is_the_estimate(world: BookingWorld, coordinator: APIClient) -> None:
    case = world.case(estimated_minutes=60)
    body = coordinator.get(f"{CASES}{case.pk}/").data
    assert body["predicted_minutes"]["p50"] == 60
    assert body["predicted_minutes"]["n"] == 0
    assert body["predicted_minutes"]["p80"] > 60
    assert (body["planned_minutes"], body["slot_minutes"]) == (None, 60)


def test_surgeons_with_different_histories_get_different_predictions(
    world: BookingWorld, coordinator: APIClient
) -> None:
    quick, slow = world.surgeon, SurgeonFactory()
    completed(world, quick, [30, 32, 29, 31, 30, 33, 28, 30], day=0)
    completed(world, slow, [70, 66, 72, 69, 75, 68, 71, 70], day=1)
    fast_case, slow_case = world.case(surgeon=quick), world.case(surgeon=slow)
    fast = coordinator.get(f"{CASES}{fast_case.pk}/").data["predicted_minutes"]
    slower = coordinator.get(f"{CASES}{slow_case.pk}/").data["predicted_minutes"]
    assert fast["n"] == slower["n"] == 8
    # Template touch is 45 (60 less 15 turnover): one surgeon runs well under it, the other over.
    assert fast["p50"] < 60 < slower["p50"]
    assert slower["p50"] - fast["p50"] >= 25


def test_a_case_abandoned_after_sign_in_is_left_out_with_its_reason(world: BookingWorld) -> None:
    completed(world, world.surgeon, [40, 42, 41, 39, 43])
    abandoned(world, world.surgeon, touch=25)
    history_ = load_history()
    assert [(e.case.case_id, e.reason.value) for e in history_.excluded][0][1] == "abandoned_after_sign_in"
    prediction = Durations().predict(world.case())
    assert prediction.n == 5
    assert [e.reason.value for e in prediction.excluded] == ["abandoned_after_sign_in"]


def test_planned_minutes_need_a_reason(world: BookingWorld, coordinator: APIClient) -> None:
    case = world.case()
    response = coordinator.patch(f"{CASES}{case.pk}/", {"planned_minutes": 90}, format="json")
    assert (response.status_code, response.data["code"]) == (400, "reason_required")
    assert "planned_minutes_reason" in response.data["errors"]
    case.refresh_from_db()
    assert case.planned_minutes is None


@pytest.mark.parametrize("minutes", [0, -5, "ninety"])
def test_planned_minutes_must_be_a_positive_whole_number(
    world: BookingWorld, coordinator: APIClient, minutes: Any
) -> None:
    response = coordinator.patch(
        f"{CASES}{world.case().pk}/", {"planned_minutes": minutes, "planned_minutes_reason": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["code"]


def test_planned_minutes_override_the_slot_and_are_audited_with_their_reason(
    world: BookingWorld, coordinator: APIClient
) -> None:
    case = world.case()
    reason = "Revision of a failed cement augmentation: allow longer"
    response = coordinator.patch(
        f"{CASES}{case.pk}/", {"planned_minutes": 95, "planned_minutes_reason": reason}, format="json"
    )
    assert response.status_code == 200, response.data
    assert (response.data["planned_minutes"], response.data["slot_minutes"]) == (95, 95)
    # The prediction itself is untouched (the update re-ran the template's estimate: no history).
    assert response.data["predicted_minutes"]["p50"] == response.data["estimated_minutes"]
    entry = history(case).filter(action="case.updated").latest("pk")
    assert reason in entry.reason
    assert entry.before is not None and entry.after is not None
    assert (entry.before["planned_minutes"], entry.after["planned_minutes"]) == (None, 95)
    # Clearing it is a change too: it needs a reason.
    cleared = coordinator.patch(f"{CASES}{case.pk}/", {"planned_minutes": None}, format="json")
    assert (cleared.status_code, cleared.data["code"]) == (400, "reason_required")


# --- Every booked minute from slot_minutes -----------------------------------------------------


def test_a_case_with_planned_minutes_occupies_exactly_that_many(world: BookingWorld) -> None:
    case = update_case(
        actor=SYSTEM,
        case_id=world.case(estimated_minutes=60).pk,
        changes={"planned_minutes": 95, "planned_minutes_reason": "hard case"},
    )
    booked = book_case(case_id=case.pk, session_id=world.session.pk, actor=SYSTEM)
    assert minutes_of(booked) == 95
    assert booked.equipment_claims.get().end == booked.end


def test_a_case_without_planned_minutes_occupies_its_predicted_p50(world: BookingWorld) -> None:
    completed(world, world.surgeon, [70, 66, 72, 69, 75, 68, 71, 70])
    case = world.case(estimated_minutes=60)
    expected = Durations().slot_minutes(case)
    assert expected > 60
    assert minutes_of(book_case(case_id=case.pk, session_id=world.session.pk, actor=SYSTEM)) == expected


def test_availability_offers_only_gaps_as_long_as_the_slot(world: BookingWorld) -> None:
    """Given a 08:00–13:00 list with a case planned for 240 minutes from 08:00 (a 60-minute gap
    left), a case planned for 61 minutes finds no room there and one planned for 60 finds 12:00."""
    first = update_case(
        actor=SYSTEM, case_id=world.case().pk, changes={"planned_minutes": 240, "planned_minutes_reason": "long"}
    )
    book_case(case_id=first.pk, session_id=world.session.pk, start=at(8), actor=SYSTEM)

    def slots_for(minutes: int) -> list[Any]:
        case = update_case(
            actor=SYSTEM, case_id=world.case().pk, changes={"planned_minutes": minutes, "planned_minutes_reason": "x"}
        )
        return availability_for(case_id=case.pk, date_from=MONDAY, date_to=MONDAY)

    assert slots_for(61) == []
    fits = slots_for(60)
    assert [(s.session_id, s.start, s.end) for s in fits] == [(world.session.pk, at(12), at(13))]


def test_planned_minutes_on_a_booked_case_refit_its_slot(world: BookingWorld) -> None:
    case = world.booked(world.session)
    assert minutes_of(case) == 60
    update_case(actor=SYSTEM, case_id=case.pk, changes={"planned_minutes": 80, "planned_minutes_reason": "obese"})
    case.refresh_from_db()
    assert (case.start, minutes_of(case)) == (at(8), 80)


def test_booked_cases_keep_their_times_when_the_prediction_changes(world: BookingWorld) -> None:
    case = world.booked(world.session)
    completed(world, world.surgeon, [70, 66, 72, 69, 75, 68, 71, 70])
    case.refresh_from_db()
    assert minutes_of(case) == 60  # booked before the history: unchanged
    assert Durations().slot_minutes(case) > 60  # a new booking or a move would take the new value


def test_a_moved_case_takes_the_new_prediction(world: BookingWorld) -> None:
    case = world.booked(world.session)
    completed(world, world.surgeon, [70, 66, 72, 69, 75, 68, 71, 70])
    tuesday = world.session_on(MONDAY + dt.timedelta(days=1))
    moved = move_case(case_id=case.pk, session_id=tuesday.pk, actor=SYSTEM)
    assert minutes_of(moved) == Durations().slot_minutes(moved) > 60


@pytest.mark.parametrize("count", [3, 20])
def test_the_case_list_learns_the_history_once(
    world: BookingWorld, coordinator: APIClient, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    completed(world, world.surgeon, [40, 42, 41, 39, 43])
    for _ in range(count):
        world.case()
    coordinator.get(CASES)  # warm the per-request role cache on the user object
    # count, page (patient, procedure, version joined), equipment claims, open warnings, unavailable
    # periods, the learned history
    with django_assert_num_queries(6):
        results = coordinator.get(CASES, {"status": "waiting"}).data["results"]
    assert len(results) == count
    assert {r["predicted_minutes"]["n"] for r in results} == {5}


# --- Each list's forecast ----------------------------------------------------------------------


def forecast_of(client: APIClient, session: TheatreSession) -> Any:
    return client.get(f"{SESSIONS}{session.pk}/").data["forecast"]


def test_every_list_shows_its_forecast(world: BookingWorld, coordinator: APIClient) -> None:
    empty = world.session_on(MONDAY + dt.timedelta(days=1))
    assert forecast_of(coordinator, empty) == {"expected_end": None, "p_overrun": 0.0}
    world.booked(world.session)
    world.booked(world.session, at(9))
    light = forecast_of(coordinator, world.session)
    assert light["expected_end"] is not None and 0 <= light["p_overrun"] < 0.05
    # Fill the list to its end: the chance of running over rises.
    world.booked(world.session, at(10), planned_minutes=180, planned_minutes_reason="x")
    full = forecast_of(coordinator, world.session)
    assert full["p_overrun"] > light["p_overrun"]
    assert full["p_overrun"] > 0.3


def test_a_cancelled_list_has_no_forecast(world: BookingWorld, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY + dt.timedelta(days=2), status="cancelled")
    assert forecast_of(coordinator, session) is None


def test_a_finished_list_has_no_forecast(world: BookingWorld, coordinator: APIClient) -> None:
    (case,) = completed(world, world.surgeon, [40])
    assert case.session is not None
    assert forecast_of(coordinator, case.session) is None


def test_a_list_under_way_is_forecast_over_the_cases_still_to_finish(
    world: BookingWorld, coordinator: APIClient
) -> None:
    """Given a list whose first case is completed and whose second is booked, the forecast is over
    the second alone, from its booked start (09:00): it ends when its 45 touch minutes (60 less
    the turnover, which does not follow the last case) are over, a little later on average."""
    first = world.booked(world.session)
    world.booked(world.session, at(9))
    Case.objects.filter(pk=first.pk).update(status="completed")
    body = forecast_of(coordinator, world.session)
    expected_end = dt.datetime.fromisoformat(body["expected_end"])
    assert at(9, 45) < expected_end < at(9, 52)
    assert body["p_overrun"] < 0.001


@pytest.mark.parametrize("size", [2, 12])
def test_forecasts_learn_the_history_once_per_request(
    world: BookingWorld,
    coordinator: APIClient,
    coordinator_user: User,
    django_assert_num_queries: DjangoAssertNumQueries,
    size: int,
) -> None:
    completed(world, world.surgeon, [40, 42, 41, 39, 43])
    for n in range(size):
        world.booked(world.session_on(MONDAY + dt.timedelta(days=n + 1)))
    coordinator.get(SESSIONS)  # warm the per-request role cache on the user object
    # lists, their cases, the learned history (one page with room to spare: no count)
    with django_assert_num_queries(3):
        results = coordinator.get(SESSIONS).data["results"]
    assert sum(1 for s in results if s["forecast"] and s["forecast"]["expected_end"]) == size


# --- GET /procedures/{slug}/durations/ --------------------------------------------------------


def durations_url(world: BookingWorld) -> str:
    return f"/api/v1/procedures/{world.version.template.slug}/durations/"


def test_durations_show_the_learned_figures_beside_the_template(world: BookingWorld, viewer: APIClient) -> None:
    slow = SurgeonFactory()
    completed(world, slow, [70, 66, 72, 69, 75, 68, 71, 70])
    body = viewer.get(durations_url(world), {"surgeon": slow.pk}).data
    assert (body["procedure"], body["surgeon"]) == (world.version.template.slug, slow.pk)
    rows = {(r["levels"], r["anaesthesia"]): r for r in body["rows"]}
    assert set(rows) == {(n, a) for n in (1, 2, 3) for a in ("general", "local_sedation")}
    # His one-level GA cases ran about 70 minutes against a 45-minute template touch time.
    learned = rows[1, "general"]
    assert (learned["n"], learned["basis"]) == (8, "surgeon_procedure_levels_anaesthesia")
    assert learned["template_minutes"] == 50  # the version's own estimate: 65 less 15 turnover
    assert learned["p50"] > learned["template_minutes"] and learned["p80"] > learned["p50"]
    # Without a surgeon: the unit's figures, and the template where nobody has history.
    unit = {(r["levels"], r["anaesthesia"]): r for r in viewer.get(durations_url(world)).data["rows"]}
    assert unit[1, "general"]["basis"] == "procedure_levels_anaesthesia"
    assert (unit[3, "local_sedation"]["n"], unit[3, "local_sedation"]["basis"]) == (0, "template")
    assert unit[3, "local_sedation"]["p50"] == unit[3, "local_sedation"]["template_minutes"]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/procedures/no-such-procedure/durations/", {}, 404, "not_found"),
        (None, {"surgeon": "abc"}, 400, "invalid"),
        (None, {"surgeon": 0}, 400, "invalid"),
        (None, {"surgeon": 999999}, 400, "invalid"),
    ],
)
def test_durations_refuse_bad_input_with_a_code(
    world: BookingWorld, coordinator: APIClient, path: str | None, params: dict[str, Any], status: int, code: str
) -> None:
    response = coordinator.get(path or durations_url(world), params)
    assert (response.status_code, response.data["code"]) == (status, code)
