"""Signals theatre sends so that other apps can react without theatre importing them.

`session_changed` is sent after the transaction commits (never for a change that rolled back),
whenever a list that staff may already rely on (published or locked) changes. Arguments:
`session_id: int`, `change: str` ("updated" | "cancelled" | "locked" | "unlocked"),
`actor_label: str`. scheduling connects a receiver that queues staff notices.
"""

from __future__ import annotations

import django.dispatch

session_changed = django.dispatch.Signal()
