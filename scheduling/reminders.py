"""Reminder planning and delivery (issue 6). The booking services call the two hooks below
inside their own transaction, so a booking and its reminder rows commit or roll back together.
"""

from __future__ import annotations

from core.audit import Actor
from scheduling.models import Case


def replan_for_case(*, case: Case, actor: Actor) -> None:
    """(Re)plan the case's reminder rows after it was booked or moved. Idempotent."""
    # Implemented in issue 6 (reminders); booking calls it from day one.


def cancel_for_case(*, case: Case, actor: Actor, reason: str) -> None:
    """Cancel the case's pending reminders and queue the patient's cancellation notice."""
    # Implemented in issue 6 (reminders); booking calls it from day one.
