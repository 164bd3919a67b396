"""Staff are in one list at a time, lists lock two weeks ahead, locked lists need an override."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from core.audit import Actor, history
from core.errors import DomainError, InvalidInput
from tests.builders.world import SYSTEM, new_session
from tests.factories import (
    AnaesthetistFactory,
    SurgeonFactory,
    TheatreFactory,
    TheatreSessionFactory,
    london,
)
from theatre.clashes import save_sessions
from theatre.locking import check_open_for_changes, lock_due_sessions
from theatre.models import Theatre, TheatreSession
from theatre.sessions import cancel_session, create_session, update_session
from theatre.signals import session_changed
from theatre.tasks import lock_upcoming_sessions

Announcements = list[tuple[int, str, str]]  # (session_id, change, actor_label)


@pytest.fixture
def announcements() -> Iterator[Announcements]:
    """Every session_changed sent, as (session_id, change, actor_label)."""
    sent: list[tuple[int, str, str]] = []

    def receiver(sender: Any, session_id: int, change: str, actor_label: str, **kwargs: Any) -> None:
        sent.append((session_id, change, actor_label))

    session_changed.connect(receiver, weak=False)
    yield sent
    session_changed.disconnect(receiver)


# --- Staff and theatre clashes ------------------------------------------------------------------


@pytest.mark.django_db
def test_surgeon_cannot_lead_two_overlapping_lists() -> None:
    first = new_session()
    with pytest.raises(DomainError) as excinfo:
        new_session(surgeon=first.surgeon, start=london(2027, 3, 1, 12), end=london(2027, 3, 1, 17))
    assert excinfo.value.code == "surgeon_busy"
    assert TheatreSession.objects.count() == 1


@pytest.mark.django_db
def test_anaesthetist_cannot_be_in_two_overlapping_lists() -> None:
    first = new_session()
    with pytest.raises(DomainError) as excinfo:
        new_session(anaesthetist=first.anaesthetist)
    assert excinfo.value.code == "anaesthetist_busy"


@pytest.mark.django_db
def test_theatre_cannot_hold_two_overlapping_lists() -> None:
    first = new_session()
    with pytest.raises(DomainError) as excinfo:
        new_session(theatre=first.theatre, start=london(2027, 3, 1, 9))
    assert excinfo.value.code == "slot_taken"


@pytest.mark.django_db
def test_back_to_back_lists_and_cancelled_lists_do_not_clash() -> None:
    morning = new_session()
    afternoon = new_session(
        theatre=morning.theatre,
        surgeon=morning.surgeon,
        anaesthetist=morning.anaesthetist,
        start=london(2027, 3, 1, 13),
        end=london(2027, 3, 1, 18),
    )
    cancel_session(session=afternoon, actor=SYSTEM, reason="surgeon on leave")
    replacement = new_session(theatre=morning.theatre, start=london(2027, 3, 1, 13), end=london(2027, 3, 1, 17))
    assert replacement.pk


@pytest.mark.django_db
def test_database_constraint_race_becomes_the_same_409() -> None:
    """The exclusion constraint's name is mapped to the code when a racing insert slips past the check."""
    first = new_session()
    racer = TheatreSession(
        theatre=TheatreFactory(),
        start=first.start,
        end=first.end,
        surgeon=SurgeonFactory(),
        anaesthetist=first.anaesthetist,
    )
    with pytest.raises(DomainError) as excinfo:
        save_sessions([racer])
    assert excinfo.value.code == "anaesthetist_busy"


@pytest.mark.django_db(transaction=True)
def test_concurrent_lists_for_one_surgeon_leave_exactly_one() -> None:
    surgeon = SurgeonFactory()
    theatres = [TheatreFactory() for _ in range(6)]
    barrier = threading.Barrier(len(theatres))
    outcomes: list[str] = []

    def attempt(theatre: Theatre) -> None:
        try:
            barrier.wait()
            create_session(
                theatre=theatre,
                start=london(2027, 3, 1, 8),
                end=london(2027, 3, 1, 13),
                surgeon=surgeon,
                anaesthetist=None,
                actor=SYSTEM,
            )
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(t,)) for t in theatres]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["surgeon_busy"] * 5
    assert TheatreSession.objects.filter(surgeon=surgeon).count() == 1


@pytest.mark.django_db
def test_staff_roles_are_checked() -> None:
    with pytest.raises(InvalidInput) as wrong_surgeon:
        new_session(surgeon=AnaesthetistFactory())
    with pytest.raises(InvalidInput) as wrong_anaesthetist:
        new_session(anaesthetist=SurgeonFactory())
    assert wrong_surgeon.value.field == "surgeon"
    assert wrong_anaesthetist.value.field == "anaesthetist"


@pytest.mark.django_db
def test_moving_a_list_onto_a_busy_surgeon_is_refused_and_changes_nothing() -> None:
    first = new_session()
    second = new_session(surgeon=first.surgeon, start=london(2027, 3, 2, 8), end=london(2027, 3, 2, 13))
    with pytest.raises(DomainError) as excinfo:
        update_session(
            session=second, changes={"start": london(2027, 3, 1, 9), "end": london(2027, 3, 1, 12)}, actor=SYSTEM
        )
    assert excinfo.value.code == "surgeon_busy"
    second.refresh_from_db()
    assert second.start == london(2027, 3, 2, 8)


# --- 6-4-2 locking ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lock_due_sessions_locks_open_lists_within_two_weeks_once(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks, announcements: Announcements
) -> None:
    now = london(2027, 3, 1, 12)
    inside = TheatreSessionFactory(start=now + dt.timedelta(days=13), status="published")
    planned = TheatreSessionFactory(start=now + dt.timedelta(days=1), status="planned")
    running = TheatreSessionFactory(start=now - dt.timedelta(hours=2), status="published")
    outside = TheatreSessionFactory(start=now + dt.timedelta(days=15), status="published")
    finished = TheatreSessionFactory(start=now - dt.timedelta(days=1), status="published")
    cancelled = TheatreSessionFactory(start=now + dt.timedelta(days=2), status="cancelled")

    with django_capture_on_commit_callbacks(execute=True):
        locked = lock_due_sessions(now=now, actor=SYSTEM)
    again = lock_due_sessions(now=now, actor=SYSTEM)

    assert sorted(locked) == sorted([inside.pk, planned.pk, running.pk])
    assert again == []
    statuses = {s.pk: s.status for s in TheatreSession.objects.all()}
    assert statuses[outside.pk] == "published"
    assert statuses[finished.pk] == "published"
    assert statuses[cancelled.pk] == "cancelled"
    (entry,) = history(inside)
    assert (entry.action, entry.before, entry.after) == (
        "session.locked",
        {"status": "published"},
        {"status": "locked"},
    )
    # Staff were told about the published lists, not about the never-published one.
    assert sorted(announcements) == sorted([(inside.pk, "locked", "test"), (running.pk, "locked", "test")])


@pytest.mark.django_db
def test_beat_task_locks_with_a_system_actor() -> None:
    soon = TheatreSessionFactory(start=timezone.now() + dt.timedelta(days=3), status="published")
    assert lock_upcoming_sessions.apply().get() == 1
    soon.refresh_from_db()
    assert soon.status == "locked"
    assert history(soon).get().actor_label == "task:theatre.tasks.lock_upcoming_sessions"


@pytest.mark.django_db
def test_locked_list_refuses_a_change_without_override(coordinator_user: User) -> None:
    session = TheatreSessionFactory(status="locked")
    with pytest.raises(DomainError) as excinfo:
        update_session(session=session, changes={"notes": "x"}, actor=Actor.of(coordinator_user))
    assert excinfo.value.code == "session_locked"


@pytest.mark.django_db
def test_override_needs_a_coordinator_and_a_reason(surgeon_user: User, coordinator_user: User) -> None:
    session = TheatreSessionFactory(status="locked")
    with pytest.raises(DomainError) as not_coordinator:
        check_open_for_changes(session=session, actor=Actor.of(surgeon_user), override=True, reason="why not")
    with pytest.raises(DomainError) as system:
        check_open_for_changes(session=session, actor=SYSTEM, override=True, reason="why not")
    with pytest.raises(InvalidInput) as no_reason:
        check_open_for_changes(session=session, actor=Actor.of(coordinator_user), override=True, reason="  ")
    assert not_coordinator.value.code == system.value.code == "session_locked"
    assert no_reason.value.field == "reason"


@pytest.mark.django_db
def test_coordinator_override_changes_a_locked_list_and_audits_the_reason(
    coordinator_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    announcements: Announcements,
) -> None:
    session = TheatreSessionFactory(status="locked")
    new_end = session.end - dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        update_session(
            session=session,
            changes={"end": new_end},
            actor=Actor.of(coordinator_user),
            override=True,
            reason="Anaesthetist must leave at 12:00",
        )
    session.refresh_from_db()
    assert session.end == new_end
    assert session.status == "locked"
    change: Any  # before/after are JSON
    override, change = history(session)
    assert (override.action, override.reason, override.actor) == (
        "session.lock_overridden",
        "Anaesthetist must leave at 12:00",
        coordinator_user,
    )
    assert change.action == "session.updated"
    assert change.reason == "Anaesthetist must leave at 12:00"
    assert change.after["end"] == new_end.isoformat()
    assert announcements == [(session.pk, "updated", "user:coord")]


@pytest.mark.django_db
def test_unlocking_and_cancelling_are_announced(
    coordinator_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    announcements: Announcements,
) -> None:
    session = TheatreSessionFactory(status="locked")
    actor = Actor.of(coordinator_user)
    with django_capture_on_commit_callbacks(execute=True):
        update_session(session=session, changes={"status": "published"}, actor=actor, override=True, reason="re-plan")
    with django_capture_on_commit_callbacks(execute=True):
        cancel_session(session=session, actor=actor, reason="theatre flooded")
    assert [c for _, c, _ in announcements] == ["unlocked", "cancelled"]


@pytest.mark.django_db
def test_changes_to_a_planned_list_are_not_announced(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks, announcements: Announcements
) -> None:
    session = TheatreSessionFactory(status="planned")
    with django_capture_on_commit_callbacks(execute=True):
        update_session(session=session, changes={"notes": "bring the biplanar arm"}, actor=SYSTEM)
    assert announcements == []


@pytest.mark.django_db
def test_cancelled_list_takes_no_changes_even_with_override(coordinator_user: User) -> None:
    session = TheatreSessionFactory(status="cancelled")
    with pytest.raises(DomainError) as excinfo:
        check_open_for_changes(session=session, actor=Actor.of(coordinator_user), override=True, reason="please")
    assert excinfo.value.code == "session_locked"
