"""theatre.estate: the estate's rules in one place, and the hook through which the apps above
theatre say that an equipment unit is committed to upcoming work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from core.audit import Actor, history
from core.errors import InvalidInput
from tests.factories import EquipmentUnitFactory, SiteFactory, StaffMemberFactory, TheatreSessionFactory
from theatre import estate
from theatre.models import EquipmentUnit, Site

pytestmark = pytest.mark.django_db

Asked = list[tuple[int, dt.datetime]]


@pytest.fixture
def on_loan() -> Iterator[Asked]:
    """A stand-in app that says every unit is on loan until further notice, and records the asks."""
    asked: Asked = []

    def source(*, unit: EquipmentUnit, now: dt.datetime) -> str | None:
        asked.append((unit.pk, now))
        return "On loan to the spinal list until Friday."

    estate.register_unit_commitments(source, uid="tests.on_loan")
    yield asked
    estate.unregister_unit_commitments(uid="tests.on_loan")


def test_a_registered_source_keeps_a_unit_at_its_site(on_loan: Asked, admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")
    with pytest.raises(InvalidInput) as refused:
        estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": other})
    assert (refused.value.field, refused.value.detail) == ("site", "On loan to the spinal list until Friday.")
    assert [pk for pk, _ in on_loan] == [unit.pk]
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == unit.site_id


def test_sources_are_asked_only_when_the_site_changes(on_loan: Asked, admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": unit.site, "name": "Renamed"})
    assert on_loan == []
    assert EquipmentUnit.objects.get(pk=unit.pk).name == "Renamed"


def test_registering_the_same_uid_again_replaces_the_source(on_loan: Asked) -> None:
    """AppConfig.ready() may run more than once: the second registration must not ask twice."""

    def back_by_monday(*, unit: EquipmentUnit, now: dt.datetime) -> str | None:
        return "Back on Monday."

    estate.register_unit_commitments(back_by_monday, uid="tests.on_loan")
    unit = EquipmentUnitFactory()
    assert estate.unit_commitments(unit=unit, now=dt.datetime(2027, 1, 4, tzinfo=dt.UTC)) == ["Back on Monday."]
    assert on_loan == []


def test_a_unit_nothing_is_committed_to_moves_site_audited(admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")
    moved = estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": other})
    assert moved.site_id == other.pk
    (entry,) = history(unit)
    assert (entry.action, entry.before["site"], entry.after["site"]) == (
        "equipmentunit.updated",
        unit.site_id,
        moved.site_id,
    )


def test_a_site_with_lists_keeps_its_time_zone_through_the_api(coordinator: APIClient) -> None:
    site = TheatreSessionFactory().theatre.site
    response = coordinator.patch(f"/api/v1/sites/{site.pk}/", {"timezone": "Europe/Dublin"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"timezone": ["A site that has lists cannot change its time zone."]}
    assert Site.objects.get(pk=site.pk).timezone == "Europe/London"
    assert not history(site).exists()


def test_a_process_cannot_link_a_login(surgeon_user: User) -> None:
    """Only a person who is an admin links a login: a task or a script is refused too."""
    staff = StaffMemberFactory(role="surgeon")
    with pytest.raises(PermissionDenied):
        estate.update_staff_member(actor=Actor.system("task:import"), staff=staff, changes={"user": surgeon_user})
    staff.refresh_from_db()
    assert staff.user_id is None


def test_unknown_fields_are_refused(admin_user_: User) -> None:
    site = SiteFactory()
    with pytest.raises(InvalidInput) as refused:
        estate.update_site(actor=Actor.of(admin_user_), site=site, changes={"pk": 99})
    assert refused.value.field == "pk"
