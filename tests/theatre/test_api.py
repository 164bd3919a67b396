"""The estate API, timetables with generate, and /sessions/ with cases and utilisation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import history
from core.models import AuditEntry
from tests.api.error_ledger import breaches
from tests.builders.world import placed_case
from tests.factories import (
    AnaesthetistFactory,
    CaseFactory,
    EquipmentUnitFactory,
    PatientFactory,
    ProcedureVersionFactory,
    SiteFactory,
    StaffMemberFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    TimetableFactory,
    london,
)
from theatre.models import EquipmentUnit, Site, Theatre, TheatreSession, Timetable

pytestmark = pytest.mark.django_db


def session_payload(**overrides: Any) -> dict[str, Any]:
    theatre = overrides.pop("theatre", None) or TheatreFactory()
    return {
        "theatre": theatre.pk,
        "start": "2027-03-01T08:00:00+00:00",
        "end": "2027-03-01T13:00:00+00:00",
        "surgeon": SurgeonFactory().pk,
        "anaesthetist": AnaesthetistFactory().pk,
        **overrides,
    }


# --- Permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/sites/", "/api/v1/theatres/", "/api/v1/equipment/", "/api/v1/staff/"])
def test_every_role_reads_the_estate(path: str, viewer: APIClient, surgeon: APIClient, anaesthetist: APIClient) -> None:
    TheatreFactory()
    for client in (viewer, surgeon, anaesthetist):
        assert client.get(path).status_code == 200


def test_anonymous_is_refused(anon_client: APIClient) -> None:
    assert anon_client.get("/api/v1/sessions/").status_code in (401, 403)


def test_viewer_and_surgeon_cannot_write(viewer: APIClient, surgeon: APIClient) -> None:
    for client in (viewer, surgeon):
        assert client.post("/api/v1/sites/", {"name": "Elsewhere"}).status_code == 403
        assert client.post("/api/v1/sessions/", session_payload()).status_code == 403
    assert not Site.objects.filter(name="Elsewhere").exists()
    assert not TheatreSession.objects.exists()


def test_coordinator_and_admin_write_the_estate(coordinator: APIClient, admin: APIClient) -> None:
    response = coordinator.post(
        "/api/v1/sites/", {"name": "Southfield Spine Centre", "timezone": "Europe/London", "address": "1 Road"}
    )
    assert response.status_code == 201, response.json()
    site_id = response.json()["id"]
    response = admin.post(
        "/api/v1/theatres/", {"site": site_id, "name": "Theatre A", "capabilities": ["fluoroscopy", "laminar_flow"]}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["capabilities"] == ["fluoroscopy", "laminar_flow"]
    response = coordinator.post(
        "/api/v1/equipment/", {"site": site_id, "kind": "kyphoplasty_system", "name": "KP 1", "serial": "KP-1"}
    )
    assert response.status_code == 201, response.json()
    response = coordinator.post("/api/v1/staff/", {"name": "Ms R Adiographer", "role": "radiographer"})
    assert response.status_code == 201, response.json()
    assert AuditEntry.objects.filter(action="site.created", actor_label="user:coord").count() == 1
    assert AuditEntry.objects.filter(action="theatre.created", actor_label="user:root").count() == 1


def test_estate_update_and_delete_are_audited_and_protected(coordinator: APIClient) -> None:
    theatre = TheatreFactory(name="Theatre 9")
    response = coordinator.patch(f"/api/v1/theatres/{theatre.pk}/", {"name": "Theatre 10"})
    assert response.status_code == 200
    entry: Any  # before/after are JSON
    (entry,) = history(theatre)
    assert (entry.before["name"], entry.after["name"]) == ("Theatre 9", "Theatre 10")
    # The site still has a theatre: deleting it would orphan the estate.
    response = coordinator.delete(f"/api/v1/sites/{theatre.site_id}/")
    assert response.status_code == 409
    assert Site.objects.filter(pk=theatre.site_id).exists()


# --- Validation ---------------------------------------------------------------------------------


def test_unknown_capability_code_is_400_naming_the_field(coordinator: APIClient) -> None:
    site = SiteFactory()
    response = coordinator.post("/api/v1/theatres/", {"site": site.pk, "name": "T", "capabilities": ["xray_vision"]})
    assert response.status_code == 400
    assert "capabilities" in response.json()["errors"]
    assert not Theatre.objects.filter(name="T").exists()


def test_unknown_equipment_kind_is_400_naming_the_field(coordinator: APIClient) -> None:
    site = SiteFactory()
    response = coordinator.post(
        "/api/v1/equipment/", {"site": site.pk, "kind": "flux_capacitor", "name": "X", "serial": "X-1"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kind"]


def test_unknown_time_zone_is_400(coordinator: APIClient) -> None:
    response = coordinator.post("/api/v1/sites/", {"name": "Mars Base", "timezone": "Mars/Olympus"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["timezone"]


def timetable_payload(**overrides: Any) -> dict[str, Any]:
    theatre = TheatreFactory()
    return {
        "theatre": theatre.pk,
        "weekday": 0,
        "period": "am",
        "surgeon": SurgeonFactory().pk,
        "anaesthetist": AnaesthetistFactory().pk,
        "valid_from": "2026-01-01",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": -1}, "weekday"),
        ({"period": "night"}, "period"),
        ({"start_time": "13:00", "end_time": "08:00"}, "end_time"),
        ({"valid_to": "2025-12-31"}, "valid_to"),
        ({"site": "other"}, "theatre"),
        ({"surgeon": "anaesthetist"}, "surgeon"),
    ],
)
def test_bad_timetable_is_400_naming_the_field(coordinator: APIClient, overrides: dict[str, Any], field: str) -> None:
    if overrides.get("site") == "other":
        overrides["site"] = SiteFactory(name="Other Hospital").pk
    if overrides.get("surgeon") == "anaesthetist":
        overrides["surgeon"] = AnaesthetistFactory().pk
    response = coordinator.post("/api/v1/timetables/", timetable_payload(**overrides))
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Timetable.objects.exists()


def test_timetable_takes_the_period_times_by_default(coordinator: APIClient) -> None:
    response = coordinator.post("/api/v1/timetables/", timetable_payload(period="pm"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["start_time"], body["end_time"]) == ("13:30:00", "18:00:00")
    assert body["site"] == Theatre.objects.get(pk=body["theatre"]).site_id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": "2027-03-01T08:00:00"}, "start"),
        ({"end": "2027-03-01T13:00:00"}, "end"),
        ({"end": "2027-03-01T07:00:00+00:00"}, "end"),
        ({"site": "other"}, "theatre"),
        ({"status": "cancelled"}, "status"),
        ({"surgeon": "nurse"}, "surgeon"),
    ],
)
def test_bad_session_is_400_naming_the_field(coordinator: APIClient, overrides: dict[str, Any], field: str) -> None:
    if overrides.get("site") == "other":
        overrides["site"] = SiteFactory(name="Other Hospital").pk
    if overrides.get("surgeon") == "nurse":
        overrides["surgeon"] = StaffMemberFactory(role="nurse").pk
    response = coordinator.post("/api/v1/sessions/", session_payload(**overrides))
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not TheatreSession.objects.exists()


def test_a_theatre_with_lists_cannot_move_site(coordinator: APIClient) -> None:
    session = TheatreSessionFactory()
    other = SiteFactory(name="Other Hospital")
    response = coordinator.patch(f"/api/v1/theatres/{session.theatre_id}/", {"site": other.pk})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["site"]


def test_equipment_claimed_by_upcoming_cases_cannot_move_site(coordinator: APIClient) -> None:
    session = TheatreSessionFactory(start=london(2099, 1, 5, 8), end=london(2099, 1, 5, 13))
    unit = EquipmentUnitFactory(site=session.theatre.site)
    placed_case(session, session.start, session.start + dt.timedelta(hours=1), units=[unit])
    other = SiteFactory(name="Other Hospital")
    response = coordinator.patch(f"/api/v1/equipment/{unit.pk}/", {"site": other.pk})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["site"]
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == session.theatre.site_id


# --- Sessions: writes ---------------------------------------------------------------------------


def test_coordinator_creates_a_session_with_offsets_in_the_response(coordinator: APIClient) -> None:
    response = coordinator.post(
        "/api/v1/sessions/",
        session_payload(start="2027-06-07T08:00:00+01:00", end="2027-06-07T13:00:00+01:00", status="published"),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["start"] == "2027-06-07T08:00:00+01:00"
    assert body["end"] == "2027-06-07T13:00:00+01:00"
    assert body["status"] == "published"
    assert body["cases"] == []
    assert body["utilisation"] == {"booked_minutes": 0, "session_minutes": 300, "percent": 0.0}
    # A list made by hand has no timetable period: "", which the schema allows.
    assert body["period"] == ""
    assert breaches("POST", "/api/v1/sessions/", response) == []


def test_overlapping_staff_get_409_through_the_api(coordinator: APIClient) -> None:
    first = TheatreSessionFactory(start=london(2027, 3, 1, 8), end=london(2027, 3, 1, 13))
    surgeon_clash = coordinator.post(
        "/api/v1/sessions/", session_payload(surgeon=first.surgeon_id, start="2027-03-01T12:00:00+00:00")
    )
    anaesthetist_clash = coordinator.post("/api/v1/sessions/", session_payload(anaesthetist=first.anaesthetist_id))
    theatre_clash = coordinator.post("/api/v1/sessions/", session_payload(theatre=first.theatre))
    assert (surgeon_clash.status_code, surgeon_clash.json()["code"]) == (409, "surgeon_busy")
    assert (anaesthetist_clash.status_code, anaesthetist_clash.json()["code"]) == (409, "anaesthetist_busy")
    assert (theatre_clash.status_code, theatre_clash.json()["code"]) == (409, "slot_taken")
    assert TheatreSession.objects.count() == 1


def test_locked_session_needs_override_and_reason_through_the_api(coordinator: APIClient) -> None:
    session = TheatreSessionFactory(status="locked")
    url = f"/api/v1/sessions/{session.pk}/"
    refused = coordinator.patch(url, {"notes": "swap order"})
    no_reason = coordinator.patch(url, {"notes": "swap order", "override": True})
    accepted = coordinator.patch(url, {"notes": "swap order", "override": True, "reason": "patient 2 first (diabetic)"})
    assert (refused.status_code, refused.json()["code"]) == (409, "session_locked")
    assert (no_reason.status_code, list(no_reason.json()["errors"])) == (400, ["reason"])
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["notes"] == "swap order"
    assert [e.action for e in history(session)] == ["session.lock_overridden", "session.updated"]


def test_patch_naive_datetime_is_400(coordinator: APIClient) -> None:
    session = TheatreSessionFactory()
    response = coordinator.patch(f"/api/v1/sessions/{session.pk}/", {"end": "2027-01-04T12:00:00"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["end"]


def test_delete_cancels_the_session(coordinator: APIClient) -> None:
    session = TheatreSessionFactory(status="published")
    response = coordinator.delete(f"/api/v1/sessions/{session.pk}/?reason=surgeon+unwell")
    assert response.status_code == 204
    session.refresh_from_db()
    assert session.status == "cancelled"
    assert history(session).get().reason == "surgeon unwell"


def test_cancel_action_needs_a_reason(coordinator: APIClient) -> None:
    session = TheatreSessionFactory()
    response = coordinator.post(f"/api/v1/sessions/{session.pk}/cancel/", {})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]
    response = coordinator.post(f"/api/v1/sessions/{session.pk}/cancel/", {"reason": "list merged"})
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")


# --- Generate -----------------------------------------------------------------------------------


def test_generate_returns_only_the_sessions_created(coordinator: APIClient) -> None:
    timetable = TimetableFactory(weekday=0)
    url = f"/api/v1/timetables/{timetable.pk}/generate/"
    first = coordinator.post(url, {"date_from": "2026-08-17", "date_to": "2026-09-13", "publish": True})
    second = coordinator.post(url, {"date_from": "2026-08-17", "date_to": "2026-09-13"})
    assert first.status_code == 201, first.json()
    assert [s["start"] for s in first.json()["results"]] == [
        "2026-08-17T08:00:00+01:00",
        "2026-08-24T08:00:00+01:00",
        "2026-09-07T08:00:00+01:00",
    ]
    assert {s["status"] for s in first.json()["results"]} == {"published"}
    assert second.json() == {"count": 0, "results": []}


def test_generate_finds_the_timetable_by_its_id_whatever_the_list_filters_say(coordinator: APIClient) -> None:
    """/timetables/'s filters are not generate's: `?active=false` made an existing timetable 404."""
    timetable = TimetableFactory(weekday=0)
    url = f"/api/v1/timetables/{timetable.pk}/generate/?active=false&weekday=3"
    response = coordinator.post(url, {"date_from": "2026-08-17", "date_to": "2026-08-23"})
    assert response.status_code == 201, response.json()
    assert response.json()["count"] == 1


def test_generate_reports_a_dst_trap_as_400(coordinator: APIClient) -> None:
    timetable = TimetableFactory(weekday=6, start_time=dt.time(1, 30), end_time=dt.time(4, 0))
    response = coordinator.post(
        f"/api/v1/timetables/{timetable.pk}/generate/", {"date_from": "2026-10-19", "date_to": "2026-10-26"}
    )
    assert response.status_code == 400
    assert "2026-10-25" in response.json()["errors"]["start_time"][0]


def test_generate_with_reversed_dates_is_400(coordinator: APIClient) -> None:
    timetable = TimetableFactory()
    response = coordinator.post(
        f"/api/v1/timetables/{timetable.pk}/generate/", {"date_from": "2026-10-26", "date_to": "2026-10-19"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["date_to"]


def test_viewer_cannot_generate(viewer: APIClient) -> None:
    timetable = TimetableFactory()
    response = viewer.post(
        f"/api/v1/timetables/{timetable.pk}/generate/", {"date_from": "2026-10-19", "date_to": "2026-10-26"}
    )
    assert response.status_code == 403
    assert not TheatreSession.objects.exists()


# --- Sessions: reads ----------------------------------------------------------------------------


def make_lists(count: int, *, cases_per_list: int = 2) -> list[TheatreSession]:
    """`count` published lists on consecutive days, each with booked cases and one cancelled case."""
    version = ProcedureVersionFactory()
    theatre = TheatreFactory()
    surgeon = SurgeonFactory()
    sessions = []
    for n in range(count):
        start = london(2027, 1, 4, 8) + dt.timedelta(days=n)
        end = start + dt.timedelta(hours=5)
        session = TheatreSessionFactory(theatre=theatre, surgeon=surgeon, start=start, end=end)
        for i in reversed(range(cases_per_list)):
            case_start = start + dt.timedelta(minutes=60 * i)
            CaseFactory(
                procedure_version=version,
                surgeon=surgeon,
                status="booked" if i % 2 == 0 else "confirmed",
                session=session,
                start=case_start,
                end=case_start + dt.timedelta(minutes=50),
            )
        CaseFactory(procedure_version=version, surgeon=surgeon, status="cancelled", session=session)
        sessions.append(session)
    return sessions


def test_session_list_shows_ordered_cases_and_utilisation(coordinator: APIClient) -> None:
    (session,) = make_lists(1, cases_per_list=3)
    body = coordinator.get(f"/api/v1/sessions/{session.pk}/").json()
    starts = [c["start"] for c in body["cases"]]
    assert starts == sorted(starts)
    assert len(body["cases"]) == 3
    assert body["utilisation"] == {"booked_minutes": 150, "session_minutes": 300, "percent": 50.0}
    case = body["cases"][0]
    assert set(case) == {
        "id",
        "reference",
        "status",
        "start",
        "end",
        "procedure",
        "levels",
        "anaesthesia",
        "surgeon",
        "estimated_minutes",
        "patient",
    }
    assert set(case["patient"]) == {"name", "nhs_number"}


def test_viewer_sees_lists_without_patient_identifiers(viewer: APIClient) -> None:
    patient = PatientFactory(given_name="Edith", family_name="Crawley")
    (session,) = make_lists(1, cases_per_list=1)
    session.cases.filter(status="booked").update(patient=patient)
    response = viewer.get("/api/v1/sessions/")
    text = response.content.decode()
    assert response.status_code == 200
    assert len(response.json()["results"][0]["cases"]) == 1
    assert "patient" not in response.json()["results"][0]["cases"][0]
    assert "Crawley" not in text
    assert patient.nhs_number not in text


def test_session_filters(viewer: APIClient) -> None:
    sessions = make_lists(5, cases_per_list=0)
    other = TheatreSessionFactory(start=london(2027, 1, 6, 13, 30), end=london(2027, 1, 6, 18))

    def ids(query: str) -> list[int]:
        response = viewer.get(f"/api/v1/sessions/?{query}")
        assert response.status_code == 200, response.json()
        return [s["id"] for s in response.json()["results"]]

    assert ids("date_from=2027-01-05&date_to=2027-01-06") == [sessions[1].pk, sessions[2].pk, other.pk]
    assert ids(f"theatre={other.theatre_id}") == [other.pk]
    assert ids(f"surgeon={sessions[0].surgeon_id}&date_to=2027-01-05") == [sessions[0].pk, sessions[1].pk]
    assert viewer.get("/api/v1/sessions/?date_from=yesterday").status_code == 400


@pytest.mark.parametrize("size", [5, 50])
def test_session_list_runs_a_constant_number_of_queries(
    size: int, surgeon: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    make_lists(size)
    surgeon.get("/api/v1/sessions/")  # warm the per-request role cache on the user object
    # 1 for the lists (theatre, site, staff joined), 1 for all their cases (patient and procedure
    # joined), 1 for the learned history behind every forecast; and 1 count, only when the lists
    # fill the page of 50 (a first page with room to spare is its own count).
    with django_assert_num_queries(3 if size < 50 else 4):
        response = surgeon.get("/api/v1/sessions/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == size
    assert all(len(s["cases"]) == 2 for s in response.json()["results"])


@pytest.mark.parametrize("size", [5, 50])
def test_estate_lists_run_a_constant_number_of_queries(
    size: int, viewer: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for n in range(size):
        TimetableFactory(weekday=n % 7)
        EquipmentUnitFactory()
    viewer.get("/api/v1/sites/")
    for path in ("/api/v1/theatres/", "/api/v1/equipment/", "/api/v1/staff/", "/api/v1/timetables/"):
        with django_assert_num_queries(2):  # count + page
            assert viewer.get(path).status_code == 200


def test_the_session_list_counts_a_page_with_room_to_spare_and_a_full_one_alike(viewer: APIClient) -> None:
    make_lists(7, cases_per_list=0)

    def page(query: str) -> tuple[int, bool, int]:
        body = viewer.get(f"/api/v1/sessions/?{query}").json()
        return body["count"], body["next"] is not None, len(body["results"])

    assert page("page_size=10") == (7, False, 7)  # room to spare: counted from the page
    assert page("page_size=7") == (7, False, 7)  # full: counted by the database
    assert page("page_size=5") == (7, True, 5)
    assert page("page_size=5&page=2") == (7, False, 2)
    assert page("date_from=2030-01-01") == (0, False, 0)
