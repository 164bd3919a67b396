"""The theatre admin: every model is there, and every save goes through the services the API uses,
so the estate's rules and the clash checks hold in the admin too, refused with a form error."""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import NON_FIELD_ERRORS
from django.test import Client

from core.audit import history
from core.models import AuditEntry
from tests.builders.world import placed_case
from tests.factories import (
    AnaesthetistFactory,
    EquipmentUnitFactory,
    SiteFactory,
    StaffMemberFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    TimetableFactory,
    london,
)
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable

pytestmark = pytest.mark.django_db


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


# --- The estate's rules hold in the admin as they do in the API ------------------------------------


def refusal(response: Any, field: str | None, message: str) -> None:
    """The admin re-showed the form with `message` beside `field` (None: above the form)."""
    assert response.status_code == 200, "the admin saved what the rule refuses"
    errors = response.context["adminform"].form.errors
    assert message in errors[field or NON_FIELD_ERRORS]
    assert html.escape(message) in response.content.decode()


def site_data(site: Site, **overrides: object) -> dict[str, object]:
    return {"name": site.name, "timezone": site.timezone, "address": site.address, "phone": site.phone, **overrides}


def test_admin_keeps_the_time_zone_of_a_site_with_lists(admin_client_: Client) -> None:
    site = TheatreSessionFactory().theatre.site
    response = admin_client_.post(
        f"/admin/theatre/site/{site.pk}/change/", site_data(site, timezone="Europe/Dublin", phone="0113")
    )
    refusal(response, "timezone", "A site that has lists cannot change its time zone.")
    site.refresh_from_db()
    assert (site.timezone, site.phone) == ("Europe/London", "")
    assert not history(site).exists()


def test_admin_changes_the_time_zone_of_a_site_without_lists_audited(admin_client_: Client) -> None:
    site = SiteFactory(name="Annexe")
    response = admin_client_.post(f"/admin/theatre/site/{site.pk}/change/", site_data(site, timezone="Europe/Dublin"))
    assert response.status_code == 302
    site.refresh_from_db()
    assert site.timezone == "Europe/Dublin"
    entry: Any  # before/after are JSON
    (entry,) = history(site)
    assert (entry.action, entry.reason, entry.before["timezone"], entry.after["timezone"]) == (
        "site.updated",
        "admin",
        "Europe/London",
        "Europe/Dublin",
    )


def test_admin_refuses_a_site_in_an_unknown_time_zone(admin_client_: Client) -> None:
    response = admin_client_.post("/admin/theatre/site/add/", {"name": "Mars Base", "timezone": "Mars/Olympus"})
    refusal(response, "timezone", "'Mars/Olympus' is not a known time zone (e.g. Europe/London).")
    assert not Site.objects.filter(name="Mars Base").exists()
    assert not AuditEntry.objects.exists()


def theatre_data(theatre: Theatre, **overrides: object) -> dict[str, object]:
    return {
        "site": theatre.site_id,
        "name": theatre.name,
        "capabilities": json.dumps(theatre.capabilities),
        "active": "on",
        **overrides,
    }


@pytest.mark.parametrize("holder", [TheatreSessionFactory, TimetableFactory])
def test_admin_keeps_a_theatre_with_lists_or_timetables_at_its_site(admin_client_: Client, holder: type) -> None:
    theatre = holder().theatre
    other = SiteFactory(name="Other Hospital")
    response = admin_client_.post(f"/admin/theatre/theatre/{theatre.pk}/change/", theatre_data(theatre, site=other.pk))
    refusal(response, "site", "A theatre with lists or timetables cannot move to another site.")
    assert Theatre.objects.get(pk=theatre.pk).site_id != other.pk
    assert not history(theatre).exists()


def test_admin_moves_an_unused_theatre_and_tidies_its_capabilities(admin_client_: Client) -> None:
    theatre = TheatreFactory()
    other = SiteFactory(name="Other Hospital")
    data = theatre_data(theatre, site=other.pk, capabilities='["laminar_flow", "fluoroscopy", "laminar_flow"]')
    response = admin_client_.post(f"/admin/theatre/theatre/{theatre.pk}/change/", data)
    assert response.status_code == 302
    theatre.refresh_from_db()
    assert (theatre.site_id, theatre.capabilities) == (other.pk, ["fluoroscopy", "laminar_flow"])
    entry: Any  # before/after are JSON
    (entry,) = history(theatre)
    assert (entry.action, entry.reason, entry.after["site"]) == ("theatre.updated", "admin", other.pk)


def test_admin_refuses_an_unknown_capability(admin_client_: Client) -> None:
    theatre = TheatreFactory()
    data = theatre_data(theatre, capabilities='["xray_vision"]')
    response = admin_client_.post(f"/admin/theatre/theatre/{theatre.pk}/change/", data)
    assert response.status_code == 200
    assert "capabilities" in response.context["adminform"].form.errors
    assert Theatre.objects.get(pk=theatre.pk).capabilities == theatre.capabilities


def unit_data(unit: EquipmentUnit, **overrides: object) -> dict[str, object]:
    fields = {"site": unit.site_id, "kind": unit.kind, "name": unit.name, "serial": unit.serial, "active": "on"}
    return {**fields, **overrides}


def claimed_unit(*, start: dt.datetime) -> EquipmentUnit:
    """A unit that a booked case claims for the first hour of a list starting at `start`."""
    session = TheatreSessionFactory(start=start, end=start + dt.timedelta(hours=5))
    unit = EquipmentUnitFactory(site=session.theatre.site)
    placed_case(session, start, start + dt.timedelta(hours=1), units=[unit])
    return unit


def test_admin_keeps_a_unit_claimed_by_upcoming_cases_at_its_site(admin_client_: Client) -> None:
    unit = claimed_unit(start=london(2099, 1, 5, 8))
    other = SiteFactory(name="Other Hospital")
    response = admin_client_.post(f"/admin/theatre/equipmentunit/{unit.pk}/change/", unit_data(unit, site=other.pk))
    refusal(response, "site", "This unit is claimed by upcoming cases at its site; release them before moving it.")
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == unit.site_id
    assert not history(unit).exists()


def test_admin_moves_a_unit_whose_claims_are_all_past(admin_client_: Client) -> None:
    unit = claimed_unit(start=london(2020, 1, 6, 8))
    other = SiteFactory(name="Other Hospital")
    response = admin_client_.post(f"/admin/theatre/equipmentunit/{unit.pk}/change/", unit_data(unit, site=other.pk))
    assert response.status_code == 302
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == other.pk
    assert [(e.action, e.reason) for e in history(unit)] == [("equipmentunit.updated", "admin")]


def staff_data(staff: StaffMember, **overrides: object) -> dict[str, object]:
    return {
        "name": staff.name,
        "role": staff.role,
        "user": staff.user_id or "",
        "email": staff.email,
        "phone": staff.phone,
        "active": "on",
        **overrides,
    }


@pytest.fixture
def clerk_client() -> Client:
    """A member of staff who may edit staff records in the admin but is not a superuser."""
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)  # noqa: S106
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_staffmember", "change_staffmember"]))
    client = Client()
    client.force_login(clerk)
    return client


def test_only_a_superuser_links_a_login_to_a_staff_member_in_the_admin(
    clerk_client: Client, admin_client_: Client, surgeon_user: User
) -> None:
    staff = StaffMemberFactory(role="surgeon")
    url = f"/admin/theatre/staffmember/{staff.pk}/change/"

    refused = clerk_client.post(url, staff_data(staff, user=surgeon_user.pk))
    refusal(refused, None, "Only an admin may link or unlink a staff member's login.")
    staff.refresh_from_db()
    assert staff.user_id is None

    # The clerk still edits the rest of the record; the superuser links the login.
    assert clerk_client.post(url, staff_data(staff, phone="0113 496 0001")).status_code == 302
    assert admin_client_.post(url, staff_data(staff, phone="0113 496 0001", user=surgeon_user.pk)).status_code == 302
    linked = StaffMember.objects.get(pk=staff.pk)
    assert (linked.phone, linked.user_id) == ("0113 496 0001", surgeon_user.pk)
    entries: list[Any] = list(history(staff).order_by("id"))  # before/after are JSON
    assert [(e.actor_label, e.after["user"]) for e in entries] == [
        ("user:clerk", None),
        ("user:root", surgeon_user.pk),
    ]


def timetable_data(**overrides: object) -> dict[str, object]:
    return {
        "theatre": TheatreFactory().pk,
        "weekday": 0,
        "period": "am",
        "start_time": "08:00:00",
        "end_time": "13:00:00",
        "surgeon": SurgeonFactory().pk,
        "anaesthetist": "",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "active": "on",
        **overrides,
    }


def test_admin_refuses_a_timetable_led_by_someone_who_is_not_a_surgeon(admin_client_: Client) -> None:
    nurse = StaffMemberFactory(role="nurse")
    response = admin_client_.post("/admin/theatre/timetable/add/", timetable_data(surgeon=nurse.pk))
    refusal(response, "surgeon", f"Staff member {nurse.pk} is a nurse, not a surgeon.")
    assert not Timetable.objects.exists()


def test_admin_creates_a_timetable_audited(admin_client_: Client) -> None:
    response = admin_client_.post("/admin/theatre/timetable/add/", timetable_data())
    assert response.status_code == 302
    (timetable,) = Timetable.objects.all()
    assert [(e.action, e.reason) for e in history(timetable)] == [("timetable.created", "admin")]


# --- Lists are created through create_session ---------------------------------------------------


def new_list_data(**overrides: object) -> dict[str, object]:
    start = london(2027, 3, 1, 8)
    return {
        "theatre": TheatreFactory().pk,
        "period": "am",
        "start_0": start.strftime("%d/%m/%Y"),
        "start_1": "08:00:00",
        "end_0": start.strftime("%d/%m/%Y"),
        "end_1": "13:00:00",
        "surgeon": SurgeonFactory().pk,
        "anaesthetist": AnaesthetistFactory().pk,
        "status": "planned",
        "notes": "",
        **overrides,
    }


def test_admin_creates_a_list_through_the_session_service(admin_client_: Client) -> None:
    response = admin_client_.post("/admin/theatre/theatresession/add/", new_list_data())
    assert response.status_code == 302
    (session,) = TheatreSession.objects.all()
    assert (session.start, session.end) == (london(2027, 3, 1, 8), london(2027, 3, 1, 13))
    assert [e.action for e in history(session)] == ["session.created"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"status": "locked"}, "status", "A new session is planned or published."),
        ({"end_1": "07:00:00"}, "end", "The end must be after the start."),
        ({"theatre": "inactive"}, "theatre", "is not active."),
    ],
)
def test_admin_refuses_a_new_list_that_create_session_refuses(
    admin_client_: Client, overrides: dict[str, object], field: str, message: str
) -> None:
    if overrides.get("theatre") == "inactive":
        overrides["theatre"] = TheatreFactory(active=False).pk
    response = admin_client_.post("/admin/theatre/theatresession/add/", new_list_data(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field])
    assert not TheatreSession.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_database_constraint_the_service_trips_is_still_a_form_error(admin_client_: Client) -> None:
    """The rehearsal's IntegrityError is left to Django's model validation, which names it."""
    SiteFactory(name="Annexe")
    response = admin_client_.post("/admin/theatre/site/add/", {"name": "Annexe", "timezone": "Europe/London"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["Site with this Name already exists."]
    assert Site.objects.filter(name="Annexe").count() == 1
    assert not AuditEntry.objects.exists()
