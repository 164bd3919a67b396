"""theatre's hooks: the session services send them with what they promise, a receiver's error
refuses the change whole, and with nothing connected theatre stands on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import django.dispatch
import pytest

from core.audit import history
from core.errors import DomainError, ErrorCode
from tests.builders.world import SYSTEM, new_session, placed_case
from tests.factories import AnaesthetistFactory, london
from theatre import hooks
from theatre.clashes import ListFootprint, footprint_of
from theatre.models import TheatreSession
from theatre.sessions import cancel_session, update_session

SESSION_HOOKS = {
    "pre_session_placement": hooks.pre_session_placement,
    "pre_session_change": hooks.pre_session_change,
    "post_session_change": hooks.post_session_change,
    "pre_session_cancel": hooks.pre_session_cancel,
}
ALL_HOOKS = [*SESSION_HOOKS.values(), hooks.pre_unit_move]


@contextmanager
def nothing_connected() -> Iterator[None]:
    """The hooks as theatre sees them when no app above it is installed."""
    saved = [(hook, hook.receivers[:]) for hook in ALL_HOOKS]
    for hook in ALL_HOOKS:
        hook.receivers = []
        hook.sender_receivers_cache.clear()
    try:
        yield
    finally:
        for hook, receivers in saved:
            hook.receivers = receivers
            hook.sender_receivers_cache.clear()


@contextmanager
def connected(hook: django.dispatch.Signal, receiver: Callable[..., Any]) -> Iterator[None]:
    hook.connect(receiver, weak=False)
    try:
        yield
    finally:
        hook.disconnect(receiver)


@pytest.fixture
def sent() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every session hook sent, as (hook name, keyword arguments), in order."""
    calls: list[tuple[str, dict[str, Any]]] = []
    receivers = {}
    for name, hook in SESSION_HOOKS.items():

        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            calls.append((_name, {k: v for k, v in kwargs.items() if k != "signal"}))

        receivers[name] = receiver
        hook.connect(receiver, weak=False)
    yield calls
    for name, hook in SESSION_HOOKS.items():
        hook.disconnect(receivers[name])


@pytest.mark.django_db
def test_the_services_send_each_hook_with_its_arguments(sent: list[tuple[str, dict[str, Any]]]) -> None:
    session = new_session()
    (create,) = sent
    assert create[0] == "pre_session_placement"
    assert create[1]["footprints"] == [footprint_of(session)]
    assert create[1]["exclude_session_id"] is None
    assert create[1]["zone"].key == "Europe/London"

    sent.clear()
    replacement = AnaesthetistFactory()
    update_session(session=session, changes={"anaesthetist": replacement}, actor=SYSTEM, reason="cover")
    assert [name for name, _ in sent] == ["pre_session_placement", "pre_session_change", "post_session_change"]
    placement, before_save, after_save = (kwargs for _, kwargs in sent)
    assert placement["footprints"] == [
        ListFootprint(
            theatre_id=session.theatre_id,
            surgeon_id=session.surgeon_id,
            anaesthetist_id=replacement.pk,
            start=session.start,
            end=session.end,
        )
    ]
    assert placement["exclude_session_id"] == session.pk
    change = before_save["change"]
    assert after_save == {"change": change, "actor": SYSTEM, "reason": "cover"}
    assert (change.restaffed, change.moved) == (True, False)
    assert (change.before["anaesthetist"], change.after["anaesthetist"]) == (session.anaesthetist_id, replacement.pk)

    sent.clear()
    cancel_session(session=session, actor=SYSTEM, reason="theatre flooded")
    assert [(name, kwargs["session"].pk) for name, kwargs in sent] == [("pre_session_cancel", session.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize("hook_name", ["pre_session_change", "post_session_change"])
def test_a_receiver_that_refuses_a_change_rolls_it_back_whole(hook_name: str) -> None:
    session = new_session()
    refusal = DomainError(ErrorCode.INVALID_TRANSITION, "Not today.")

    def refuse(sender: Any, **kwargs: Any) -> None:
        raise refusal

    with connected(SESSION_HOOKS[hook_name], refuse), pytest.raises(DomainError) as excinfo:
        update_session(session=session, changes={"end": london(2027, 3, 1, 12)}, actor=SYSTEM)
    assert excinfo.value is refusal
    assert TheatreSession.objects.get(pk=session.pk).end == london(2027, 3, 1, 13)
    assert [entry.action for entry in history(session)] == ["session.created"]


@pytest.mark.django_db
def test_without_receivers_theatre_knows_no_rule_about_the_work_in_a_list() -> None:
    """Given a list holding a booked case, with no app connected to the hooks theatre shrinks
    it past the case, takes its anaesthetist away and cancels it: theatre itself holds no rule
    about the work in its lists, and touches none of it."""
    session = new_session()
    case = placed_case(session, london(2027, 3, 1, 11), london(2027, 3, 1, 12))
    first_anaesthetist = session.anaesthetist_id
    with nothing_connected():
        update_session(session=session, changes={"end": london(2027, 3, 1, 11, 30), "anaesthetist": None}, actor=SYSTEM)
        cancel_session(session=session, actor=SYSTEM, reason="no anaesthetist")
    session.refresh_from_db()
    assert (session.status, session.anaesthetist_id) == ("cancelled", None)
    case.refresh_from_db()
    assert (case.status, case.anaesthetist_id) == ("booked", first_anaesthetist)


@pytest.mark.django_db
def test_with_scheduling_installed_the_same_change_is_refused() -> None:
    """The control for the test above: scheduling's receivers are connected at start-up."""
    session = new_session()
    placed_case(session, london(2027, 3, 1, 11), london(2027, 3, 1, 12))
    with pytest.raises(DomainError) as excinfo:
        update_session(session=session, changes={"end": london(2027, 3, 1, 11, 30)}, actor=SYSTEM)
    assert excinfo.value.code == "outside_session"
