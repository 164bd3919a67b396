"""News theatre sends after a change commits, so that other apps can react without theatre importing them.

`session_changed` is sent after the transaction commits (never for a change that rolled back),
whenever a list that staff may already rely on (published or locked) changes. Arguments:
`session_id: int`, `change: str` ("updated" | "cancelled" | "locked" | "unlocked"),
`actor_label: str`. Apps connect receivers in AppConfig.ready(), e.g. to tell the list's team.

Hooks that take part in a change, inside its transaction, are in theatre/hooks.py.
"""

from __future__ import annotations

import logging

import django.dispatch
from django.db import transaction

from core.audit import Actor
from theatre.models import SessionStatus, TheatreSession

logger = logging.getLogger(__name__)

session_changed = django.dispatch.Signal()


def is_announced(status: str) -> bool:
    """Staff may already rely on a published or locked list, so its changes are announced."""
    return status in (SessionStatus.PUBLISHED, SessionStatus.LOCKED)


def announce(*, session_id: int, change: str, actor: Actor) -> None:
    """Send session_changed once the transaction has committed (never for a rolled-back change)."""

    def send() -> None:
        for receiver, result in session_changed.send_robust(
            sender=TheatreSession, session_id=session_id, change=change, actor_label=actor.label
        ):
            if isinstance(result, Exception):
                # The change is committed; a failing receiver must not turn it into a 500.
                logger.error("session_changed receiver %r failed for session %s: %r", receiver, session_id, result)

    transaction.on_commit(send)
