"""List fill through the database and the API: POST /fill/ and GET /sessions/{id}/candidates/.

The pure core's rules are proven in test_fill.py; here, that the service loads the truth, that a
preview changes nothing, that a commit books exactly through `book_case` (audit, reminders, every
constraint) or nothing, and who may do what.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.audit import Actor, history
from core.models import AuditEntry
from scheduling.booking import book_case, cancel_case
from scheduling.list_fill import FillRequest, preview_fill
from scheduling.models import Case, Reminder, StaffNotice
from scheduling.unavailability import add_unavailability
from tests.builders.people import login
from tests.builders.world import MONDAY, World, at, build_world
from tests.conftest import client_for
from tests.factories import PatientFactory, StaffMemberFactory, SurgeonFactory
from theatre.models import TheatreSession

pytestmark = pytest.mark.django_db

TUESDAY = MONDAY + dt.timedelta(days=1)


@pytest.fixture
def world() -> World:
    return build_world(units=2)


@pytest.fixture
def coordinator(coordinator_user: User) -> APIClient:
    return client_for(coordinator_user)


def body(**fields: Any) -> dict[str, Any]:
    return {"date_from": MONDAY.isoformat(), "date_to": (MONDAY + dt.timedelta(days=6)).isoformat(), **fields}


def fill_api(client: APIClient, **fields: Any) -> Any:
    return client.post("/api/v1/fill/", body(**fields), format="json")


def waiting(world: World, n: int, *, minutes: int = 60, **fields: Any) -> list[Case]:
    return [world.case(estimated_minutes=minutes, **fields) for _ in range(n)]


def snapshot_of_cases() -> list[tuple[Any, ...]]:
    return list(Case.objects.order_by("pk").values_list("pk", "status", "session_id", "start", "end"))


# --- preview --------------------------------------------------------------------------------


def test_a_preview_places_waiting_cases_and_changes_nothing(world: World, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY)  # 08:00-13:00: five hours
    cases = waiting(world, 6, minutes=60)
    before, audits = snapshot_of_cases(), AuditEntry.objects.count()
    response = fill_api(coordinator)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["committed"] is False
    assert len(answer["placements"]) == 5
    assert {p["session"] for p in answer["placements"]} == {session.pk}
    starts = sorted(p["start"] for p in answer["placements"])
    assert starts[0] == "2027-01-04T08:00:00Z"  # GMT in January: London 08:00
    (left,) = answer["unplaced"]
    assert left == {"case": left["case"], "code": "session_full"}
    assert left["case"] in {c.pk for c in cases}
    assert answer["score"]["booked_minutes"] == 300
    assert answer["score"]["free_minutes"] == 0
    assert answer["solver"]["method"]
    assert snapshot_of_cases() == before
    assert AuditEntry.objects.count() == audits


def test_the_most_urgent_cases_get_the_room(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY, hours=2)
    routine = waiting(world, 2, minutes=60, priority="P4")
    urgent = world.case(estimated_minutes=60, priority="P2")
    answer = fill_api(coordinator).json()
    placed = {p["case"] for p in answer["placements"]}
    assert urgent.pk in placed
    assert len(placed & {c.pk for c in routine}) == 1


def test_each_case_left_waiting_says_why(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    not_eligible = world.case(screening_result={"result": "not_eligible", "blockers": ["x"], "warnings": []})
    other_surgeon = world.case(surgeon=SurgeonFactory())
    answer = fill_api(coordinator).json()
    codes = {u["case"]: u["code"] for u in answer["unplaced"]}
    assert codes == {not_eligible.pk: "not_eligible", other_surgeon.pk: "no_list_for_surgeon"}


def test_a_locked_list_is_filled_only_with_an_override_and_a_reason(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY, status="locked")
    case = world.case()
    answer = fill_api(coordinator).json()
    assert answer["unplaced"] == [{"case": case.pk, "code": "session_locked"}]
    refused = fill_api(coordinator, override=True)
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"
    answer = fill_api(coordinator, override=True, override_reason="theatre manager agreed").json()
    assert [p["case"] for p in answer["placements"]] == [case.pk]


def test_the_preview_reads_in_a_constant_number_of_queries(world: World, coordinator: APIClient) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert fill_api(coordinator).status_code == 200
        return len(captured)

    world.session_on(MONDAY)
    waiting(world, 2)
    queries()  # the first request also reads the user's roles (cached on the user after)
    few = queries()
    # the session check, then lists, cases, unavailable periods, history, live cases, led lists,
    # units with their claims
    assert few <= 8
    for day in range(1, 5):
        world.session_on(MONDAY + dt.timedelta(days=day))
    waiting(world, 15)
    world.booked(world.session_on(MONDAY + dt.timedelta(days=5)))
    assert queries() == few


def test_an_overrun_limit_keeps_every_list_under_it(world: World, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY, hours=4)
    waiting(world, 8, minutes=45)
    unlimited = fill_api(coordinator).json()
    limited = fill_api(coordinator, max_overrun_risk=0.1).json()
    assert limited["score"]["booked_minutes"] < unlimited["score"]["booked_minutes"]
    assert any(u["code"] == "overrun_risk" for u in limited["unplaced"])
    committed = fill_api(coordinator, max_overrun_risk=0.1, commit=True)
    assert committed.status_code == 201, committed.content
    # The list as every role reads it: its forecast, with the cases the fill booked, is under the limit.
    listed = coordinator.get(f"/api/v1/sessions/{session.pk}/").json()
    assert len(listed["cases"]) == len(committed.json()["placements"]) > 0
    assert listed["forecast"]["p_overrun"] <= 0.1


# --- commit ---------------------------------------------------------------------------------


def test_a_commit_books_every_placement_with_audit_and_reminders(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    world.session_on(TUESDAY)
    cases = waiting(world, 7, minutes=60)
    response = fill_api(coordinator, commit=True)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["committed"] is True
    assert len(answer["placements"]) == 7
    for placement in answer["placements"]:
        case = Case.objects.get(pk=placement["case"])
        assert case.status == "booked"
        assert case.session_id == placement["session"]
        assert case.start is not None and case.start.isoformat().replace("+00:00", "Z") == placement["start"]
        assert sorted(case.equipment_claims.values_list("unit_id", flat=True)) == sorted(placement["units"].values())
        entry = history(case).get(action="case.booked")
        assert entry.actor_label == "user:coord"
        assert entry.reason == "list fill"
        assert Reminder.objects.filter(case=case).exists()
    assert {c.pk for c in cases} == {p["case"] for p in answer["placements"]}


def test_reviewed_placements_are_booked_exactly_as_previewed(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    waiting(world, 3)
    preview = fill_api(coordinator).json()
    reviewed = [{k: p[k] for k in ("case", "session", "start", "units")} for p in preview["placements"]]
    response = fill_api(coordinator, commit=True, placements=reviewed)
    assert response.status_code == 201, response.content
    assert [(p["case"], p["start"]) for p in response.json()["placements"]] == [
        (p["case"], p["start"]) for p in preview["placements"]
    ]
    assert response.json()["solver"]["method"] == "as_reviewed"


def test_a_commit_whose_case_was_booked_meanwhile_books_nothing(world: World, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY)
    cases = waiting(world, 3)
    preview = fill_api(coordinator).json()
    reviewed = [{k: p[k] for k in ("case", "session", "start")} for p in preview["placements"]]
    # Meanwhile a coordinator books someone else into the time the second placement wanted.
    second = preview["placements"][1]
    book_case(
        case_id=world.case(estimated_minutes=30).pk,
        session_id=session.pk,
        start=dt.datetime.fromisoformat(second["start"]),
        actor=Actor.system("test"),
    )
    before, audits = snapshot_of_cases(), AuditEntry.objects.count()
    response = fill_api(coordinator, commit=True, placements=reviewed)
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "fill_conflict"
    assert error["case"] == second["case"]
    assert error["rule"] == "slot_taken"
    assert f"Case {second['case']}" in error["detail"]
    assert snapshot_of_cases() == before
    assert AuditEntry.objects.count() == audits
    assert all(Case.objects.get(pk=c.pk).status == "waiting" for c in cases)


def test_a_reviewed_case_no_longer_waiting_is_a_conflict(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    (case,) = waiting(world, 1)
    preview = fill_api(coordinator).json()
    cancel_case(case_id=case.pk, actor=Actor.system("test"), reason="patient_request")
    reviewed = [{k: p[k] for k in ("case", "session", "start")} for p in preview["placements"]]
    response = fill_api(coordinator, commit=True, placements=reviewed)
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["case"]) == ("fill_conflict", case.pk)


def test_a_repeated_commit_with_the_same_key_books_once(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    waiting(world, 2)
    first = coordinator.post("/api/v1/fill/", body(commit=True), format="json", HTTP_IDEMPOTENCY_KEY="fill-1")
    second = coordinator.post("/api/v1/fill/", body(commit=True), format="json", HTTP_IDEMPOTENCY_KEY="fill-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert AuditEntry.objects.filter(action="case.booked").count() == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"date_to": "2027-01-01"}, "date_to"),
        ({"date_to": "2027-06-30"}, "date_to"),
        ({"max_overrun_risk": 1.5}, "max_overrun_risk"),
        ({"theatres": ["x"]}, "theatres"),
        ({"placements": [{"case": 1, "session": 1, "start": "2027-01-04T08:00:00Z"}]}, "placements"),
        ({"commit": True, "placements": [{"case": 1, "session": 1, "start": "2027-01-04T08:00:00"}]}, "placements"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    world: World, coordinator: APIClient, fields: dict[str, Any], field: str
) -> None:
    world.session_on(MONDAY)
    response = fill_api(coordinator, **fields)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] in {"invalid", "out_of_range"}
    assert field in str(error)


def test_admins_preview_but_only_coordinators_commit(world: World) -> None:
    world.session_on(MONDAY)
    waiting(world, 1)
    admin = client_for(login("root", None, superuser=True))
    assert fill_api(admin).status_code == 200
    refused = fill_api(admin, commit=True)
    assert refused.status_code == 403
    assert Case.objects.get().status == "waiting"
    for role in ("surgeon", "anaesthetist", "viewer"):
        from core.roles import Role

        client = client_for(login(f"f-{role}", Role(role)))
        assert fill_api(client).status_code == 403


# --- candidates after a cancellation ----------------------------------------------------------


def test_a_cancellation_links_to_the_ranked_cases_that_fit_the_freed_time(world: World, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY, hours=2)
    booked = world.booked(session, at(8), estimated_minutes=120)
    routine = world.case(estimated_minutes=60, priority="P4", referral_date=dt.date(2026, 1, 5))
    urgent = world.case(estimated_minutes=90, priority="P2", referral_date=dt.date(2026, 11, 1))
    older_p2 = world.case(estimated_minutes=45, priority="P2", referral_date=dt.date(2026, 10, 1))
    world.case(estimated_minutes=150, priority="P1")  # longer than the list: does not fit
    world.case(estimated_minutes=30, surgeon=SurgeonFactory())  # another surgeon's case
    response = coordinator.post(f"/api/v1/cases/{booked.pk}/cancel/", {"reason": "patient_request"}, format="json")
    assert response.status_code == 200
    link = response.json()["cancellation"]["candidates"]
    assert link == f"/api/v1/sessions/{session.pk}/candidates/"
    page = coordinator.get(link).json()
    assert page["session"] == session.pk
    assert [r["case"] for r in page["results"]] == [older_p2.pk, urgent.pk, routine.pk]
    first = page["results"][0]
    assert first["start"] == "2027-01-04T08:00:00Z"
    assert first["treat_by"] == "2026-11-01"
    assert first["slot_minutes"] == 45
    assert "patient" not in first


def test_candidates_read_in_a_constant_number_of_queries(world: World, coordinator: APIClient) -> None:
    session = world.session_on(MONDAY)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert coordinator.get(f"/api/v1/sessions/{session.pk}/candidates/").status_code == 200
        return len(captured)

    waiting(world, 2)
    queries()  # the first request also reads the user's roles (cached on the user after)
    few = queries()
    waiting(world, 20, minutes=30)
    world.booked(session, at(12))
    assert queries() == few


def test_only_coordinators_rank_candidates(world: World) -> None:
    from core.roles import Role

    session = world.session_on(MONDAY)
    for role in ("surgeon", "viewer"):
        client = client_for(login(f"c-{role}", Role(role)))
        assert client.get(f"/api/v1/sessions/{session.pk}/candidates/").status_code == 403
    assert client_for(login("c-coord", Role.COORDINATOR)).get("/api/v1/sessions/999999/candidates/").status_code == 404


def test_coordinators_hear_of_time_freed_within_two_weeks(world: World) -> None:
    coordinator = StaffMemberFactory(role="coordinator", email="coord@example.org")
    StaffMemberFactory(role="coordinator", email="", name="no email")
    now = dt.datetime.now(dt.UTC)
    soon = world.session_on((now + dt.timedelta(days=5)).date())
    later = world.session_on((now + dt.timedelta(days=30)).date())
    actor = Actor.system("test")
    for session in (soon, later):
        case = world.booked(session, session.start)
        cancel_case(case_id=case.pk, actor=actor, reason="patient_request")
    notice = StaffNotice.objects.get(staff=coordinator)
    assert notice.session_id == soon.pk
    assert notice.changes[-1]["change"] == "time_freed"
    assert not StaffNotice.objects.filter(staff=coordinator, session=later).exists()


def test_the_freed_time_notice_says_where_the_candidates_are(world: World) -> None:
    from scheduling.reminders.delivery import render_notice

    StaffMemberFactory(role="coordinator", email="coord@example.org")
    now = dt.datetime.now(dt.UTC)
    session = world.session_on((now + dt.timedelta(days=3)).date())
    case = world.booked(session, session.start)
    cancel_case(case_id=case.pk, actor=Actor.system("test"), reason="patient_request")
    notice = StaffNotice.objects.get(staff__role="coordinator")
    message = render_notice(notice)
    assert f"/api/v1/sessions/{session.pk}/candidates/" in message.body
    assert case.patient.family_name not in message.body


def test_the_service_narrows_to_the_lists_asked_for(world: World) -> None:
    mine = world.session_on(MONDAY)
    world.session_on(TUESDAY)
    waiting(world, 8)
    outcome = preview_fill(request=FillRequest(date_from=MONDAY, date_to=TUESDAY, session_ids=(mine.pk,)))
    assert {p.session_id for p in outcome.result.placements} == {mine.pk}
    assert set(outcome.sessions) == {mine.pk}


def test_a_patient_is_never_placed_twice_at_once(world: World, coordinator: APIClient) -> None:
    patient = PatientFactory()
    world.session_on(MONDAY)
    other = world.other_session(surgeon=SurgeonFactory(), anaesthetist=None)
    mine = world.case(patient=patient, estimated_minutes=300)
    theirs = world.case(patient=patient, surgeon=other.surgeon, anaesthesia="local_sedation", estimated_minutes=60)
    answer = fill_api(coordinator, commit=True).json()
    placed = {p["case"] for p in answer["placements"]}
    assert len(placed & {mine.pk, theirs.pk}) == 1
    assert {u["code"] for u in answer["unplaced"]} == {"patient_busy"}
    assert TheatreSession.objects.count() == 2


# --- the patient's unavailable days and paused waits (issue 16) --------------------------------


def test_a_case_is_never_filled_into_a_day_its_patient_is_away(world: World, coordinator: APIClient) -> None:
    world.session_on(MONDAY)
    away = world.case()
    add_unavailability(
        actor=Actor.system("test"), case_id=away.pk, start_date=MONDAY, end_date=MONDAY, reason="holiday"
    )
    world.session_on(TUESDAY)
    answer = fill_api(coordinator, date_to=MONDAY.isoformat()).json()
    assert answer["unplaced"] == [{"case": away.pk, "code": "patient_unavailable"}]
    answer = fill_api(coordinator).json()  # Monday and Tuesday: it goes on Tuesday
    (placement,) = answer["placements"]
    assert placement["start"].startswith(TUESDAY.isoformat())


def test_a_patient_initiated_pause_moves_the_case_behind_one_that_waited_less(
    world: World, coordinator: APIClient
) -> None:
    session = world.session_on(MONDAY, hours=1)
    paused = world.case(estimated_minutes=60, priority="P3", referral_date=dt.date(2026, 9, 1))
    later = world.case(estimated_minutes=60, priority="P3", referral_date=dt.date(2026, 9, 20))
    # Without a pause the earlier referral is due first; a six-week pause it asked for puts it after.
    assert [p["case"] for p in fill_api(coordinator).json()["placements"]] == [paused.pk]
    add_unavailability(
        actor=Actor.system("test"),
        case_id=paused.pk,
        start_date=dt.date(2026, 10, 1),
        end_date=dt.date(2026, 11, 11),
        reason="patient_choice",
        patient_initiated=True,
    )
    assert [p["case"] for p in fill_api(coordinator).json()["placements"]] == [later.pk]
    ranked = coordinator.get(f"/api/v1/sessions/{session.pk}/candidates/").json()["results"]
    assert [r["case"] for r in ranked] == [later.pk, paused.pk]
    assert ranked[1]["treat_by"] == coordinator.get(f"/api/v1/cases/{paused.pk}/").json()["treat_by"]
