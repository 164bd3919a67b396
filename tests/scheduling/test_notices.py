"""Staff notices: a change to a published or locked list tells its surgeon and anaesthetist."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoCaptureOnCommitCallbacks

from core.audit import Actor
from core.models import AuditEntry
from scheduling.models import ReminderStatus, StaffNotice
from tests.builders.world import World, at, build_reminder_world, next_monday
from theatre.sessions import update_session
from theatre.signals import session_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_reminder_world()


def test_session_change_signal_queues_a_notice_for_surgeon_and_anaesthetist(world: World) -> None:
    session = world.session_on(next_monday())
    session_changed.send(sender=None, session_id=session.pk, change="updated", actor_label="user:coord")
    notices = StaffNotice.objects.filter(session=session)
    assert {n.staff_id for n in notices} == {world.surgeon.pk, world.anaesthetist.pk}
    assert all(n.status == ReminderStatus.PENDING and n.changes[0]["change"] == "updated" for n in notices)
    assert all(n.changes[0]["by"] == "user:coord" for n in notices)
    assert AuditEntry.objects.filter(action="staff_notice.queued", actor_label="user:coord").count() == 2


def test_changes_coalesce_into_the_pending_notice_and_start_a_new_one_once_sent(world: World) -> None:
    session = world.session_on(next_monday())
    for change in ("updated", "locked"):
        session_changed.send(sender=None, session_id=session.pk, change=change, actor_label="task:lock")
    notice = StaffNotice.objects.get(session=session, staff=world.surgeon)
    assert [c["change"] for c in notice.changes] == ["updated", "locked"]

    StaffNotice.objects.filter(session=session).update(status=ReminderStatus.SENT)
    session_changed.send(sender=None, session_id=session.pk, change="unlocked", actor_label="user:coord")
    assert StaffNotice.objects.filter(session=session, staff=world.surgeon).count() == 2


def test_staff_without_email_or_inactive_get_no_notice(world: World) -> None:
    world.anaesthetist.email = ""
    world.anaesthetist.save()
    session = world.session_on(next_monday())
    session_changed.send(sender=None, session_id=session.pk, change="updated", actor_label="x")
    assert list(StaffNotice.objects.values_list("staff_id", flat=True)) == [world.surgeon.pk]


def test_changing_a_published_list_through_theatre_notifies_its_team(
    world: World, coordinator_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    monday = next_monday()
    session = world.session_on(monday)
    with django_capture_on_commit_callbacks(execute=True):
        update_session(
            session=session,
            changes={"end": at(12, day=monday) + dt.timedelta(minutes=30)},
            actor=Actor.of(coordinator_user),
        )
    assert StaffNotice.objects.filter(session=session).count() == 2


def test_unknown_session_in_signal_is_ignored(world: World) -> None:
    session_changed.send(sender=None, session_id=999_999, change="updated", actor_label="x")
    assert not StaffNotice.objects.exists()
