"""theatre.estate: the estate's rules in one place, and the hook (pre_unit_move) through which
the apps above theatre keep an equipment unit at its site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from core.audit import Actor, history
from core.errors import InvalidInput
from tests.factories import EquipmentUnitFactory, SiteFactory, StaffMemberFactory, TheatreSessionFactory
from theatre import estate, hooks
from theatre.models import EquipmentUnit, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_loan() -> Iterator[list[tuple[int, int]]]:
    """A stand-in app that says every unit is on loan, and records each (unit, new site) asked."""
    asked: list[tuple[int, int]] = []

    def refuse(sender: Any, *, unit: EquipmentUnit, site: Site, **kwargs: Any) -> None:
        asked.append((unit.pk, site.pk))
        raise InvalidInput("site", "On loan to the spinal list until Friday.")

    hooks.pre_unit_move.connect(refuse, dispatch_uid="tests.on_loan")
    yield asked
    hooks.pre_unit_move.disconnect(dispatch_uid="tests.on_loan")


def test_a_receiver_keeps_a_unit_at_its_site(on_loan: list[tuple[int, int]], admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")
    with pytest.raises(InvalidInput) as refused:
        estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": other, "name": "X"})
    assert (refused.value.field, refused.value.detail) == ("site", "On loan to the spinal list until Friday.")
    assert on_loan == [(unit.pk, other.pk)]
    assert EquipmentUnit.objects.filter(pk=unit.pk, site=unit.site_id).exclude(name="X").exists()
    assert not history(unit).exists()


def test_receivers_are_asked_only_when_the_site_changes(on_loan: list[tuple[int, int]], admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": unit.site, "name": "Renamed"})
    assert on_loan == []
    assert EquipmentUnit.objects.get(pk=unit.pk).name == "Renamed"


def test_a_unit_nothing_is_committed_to_moves_site_audited(admin_user_: User) -> None:
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")
    moved = estate.update_equipment_unit(actor=Actor.of(admin_user_), unit=unit, changes={"site": other})
    assert moved.site_id == other.pk
    entry: Any  # before/after are JSON
    (entry,) = history(unit)
    assert (entry.action, entry.before["site"], entry.after["site"]) == (
        "equipmentunit.updated",
        unit.site_id,
        other.pk,
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
