"""ServiceAdmin when the data changes between the form's check and its save.

The admin asks the service once while it validates the form (a rehearsal, rolled back) and once
more to save. A change made by someone else in between can make the second call refuse. The admin
then shows the form again with that refusal and saves nothing, instead of answering 500.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import NON_FIELD_ERRORS
from django.dispatch import Signal
from django.test import Client

from core.admin import RACED
from core.errors import DomainError, ErrorCode, InvalidInput
from core.models import AuditEntry
from tests.factories import EquipmentUnitFactory, SiteFactory, SurgeonFactory, TheatreFactory, london
from theatre import hooks
from theatre.models import EquipmentUnit, Site, TheatreSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def refuse_on_second_call() -> Iterator[Callable[[Signal, Exception], list[int]]]:
    """Connect a receiver to a theatre hook that lets the first call (the rehearsal) through and
    raises `refusal` from the second (the save) on: as if another request changed the data in
    between. Returns the list of calls it saw, for the test to count."""
    connected: list[tuple[Signal, Callable[..., None]]] = []

    def connect(hook: Signal, refusal: Exception) -> list[int]:
        calls: list[int] = []

        def receiver(sender: Any, **kwargs: Any) -> None:
            calls.append(len(calls) + 1)
            if len(calls) > 1:
                raise refusal

        hook.connect(receiver, weak=False)
        connected.append((hook, receiver))
        return calls

    yield connect
    for hook, receiver in connected:
        hook.disconnect(receiver)


def shown_again(response: Any, field: str | None, message: str) -> None:
    """The admin answered with the form again, `message` beside `field` (None: above the form)."""
    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field or NON_FIELD_ERRORS]
    content = response.content.decode()
    assert html.escape(message) in content
    assert html.escape(RACED) in content


def move_unit(client: Client, unit: EquipmentUnit, site: Site) -> Any:
    data = {"site": site.pk, "kind": unit.kind, "name": unit.name, "serial": unit.serial, "active": "on"}
    return client.post(f"/admin/theatre/equipmentunit/{unit.pk}/change/", data)


def test_a_unit_move_refused_on_save_shows_the_refusal_and_moves_nothing(
    admin_client_: Client, refuse_on_second_call: Callable[[Signal, Exception], list[int]]
) -> None:
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")
    detail = "Claimed by a case booked a moment ago."
    calls = refuse_on_second_call(hooks.pre_unit_move, InvalidInput("site", detail))

    response = move_unit(admin_client_, unit, other)

    shown_again(response, "site", detail)
    assert calls == [1, 2]  # rehearsed, refused on save, and not asked a third time
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == unit.site_id
    assert not AuditEntry.objects.filter(action="equipmentunit.updated").exists()
    assert not LogEntry.objects.exists()


def test_a_new_list_refused_on_save_shows_the_409_and_creates_nothing(
    admin_client_: Client, refuse_on_second_call: Callable[[Signal, Exception], list[int]]
) -> None:
    theatre = TheatreFactory()
    surgeon = SurgeonFactory()
    detail = "The surgeon is operating on list 7 on Mon 01 Mar 2027 08:00–13:00."
    calls = refuse_on_second_call(hooks.pre_session_placement, DomainError(ErrorCode.SURGEON_BUSY, detail))
    start, end = london(2027, 3, 1, 8), london(2027, 3, 1, 13)
    data = {
        "theatre": theatre.pk,
        "period": "am",
        "start_0": start.strftime("%d/%m/%Y"),
        "start_1": start.strftime("%H:%M:%S"),
        "end_0": end.strftime("%d/%m/%Y"),
        "end_1": end.strftime("%H:%M:%S"),
        "surgeon": surgeon.pk,
        "anaesthetist": "",
        "status": "planned",
        "notes": "",
    }

    response = admin_client_.post("/admin/theatre/theatresession/add/", data)

    shown_again(response, None, f"surgeon_busy: {detail}")
    assert calls == [1, 2]
    assert not TheatreSession.objects.exists()
    assert not AuditEntry.objects.filter(action="session.created").exists()
    assert not LogEntry.objects.exists()


def test_a_save_the_service_accepts_still_saves_once(admin_client_: Client) -> None:
    """The guard changes nothing when the data holds still: rehearsal, then one real save."""
    unit = EquipmentUnitFactory()
    other = SiteFactory(name="Other Hospital")

    response = move_unit(admin_client_, unit, other)

    assert response.status_code == 302
    assert EquipmentUnit.objects.get(pk=unit.pk).site_id == other.pk
    assert AuditEntry.objects.filter(action="equipmentunit.updated").count() == 1
