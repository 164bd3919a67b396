"""Hooks: how apps above theatre take part in its changes without theatre knowing them.

theatre sits at the bottom of the import order (DESIGN §1), yet other apps plan work into its
lists and onto its equipment, so creating, moving, restaffing or cancelling a list, or moving
a unit, can break their rules. Each hook here is a django Signal that theatre sends with
`send()` before it writes (the session hooks inside the service's transaction, with the
list's row locked):

- a receiver refuses the change by raising a DomainError, which reaches the caller unchanged
  (the same code and detail as theatre's own checks) and rolls the whole change back;
- a receiver may write its own rows in that transaction, so they commit or roll back with it.

With no receiver connected a hook does nothing, and theatre works on its own. Apps connect their
receivers in AppConfig.ready(), with a dispatch_uid, as they do for theatre.signals.

Every receiver takes `sender` (TheatreSession unless said otherwise) and keyword arguments,
plus **kwargs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import django.dispatch

from theatre.models import TheatreSession

pre_session_placement = django.dispatch.Signal()
"""Before lists take up a theatre, staff and time: created, generated, moved or restaffed.

Arguments: `footprints: list[ListFootprint]` (theatre.clashes), `zone: ZoneInfo` (the site's,
for messages), `exclude_session_id: int | None` (the list being changed, if any). Theatre has
already refused clashes between lists; raise a 409 if a list's staff are committed elsewhere.
"""

pre_session_change = django.dispatch.Signal()
"""Before a changed list is saved. Arguments: `change: SessionChange`. Raise to refuse it."""

post_session_change = django.dispatch.Signal()
"""After a changed list is saved, in the same transaction, before it is audited.

Arguments: `change: SessionChange`, `actor: core.audit.Actor`, `reason: str`. Bring rows that
follow the list into step, and audit what you change.
"""

pre_session_cancel = django.dispatch.Signal()
"""Before a live list is cancelled. Arguments: `session: TheatreSession`. Raise to refuse it."""

pre_unit_move = django.dispatch.Signal()
"""Before an equipment unit moves to another site (sender EquipmentUnit).

Arguments: `unit: EquipmentUnit` (still at its old site), `site: Site` (the new one). Raise
InvalidInput("site", …) to refuse it: a 400 on the site field.
"""


pre_estate_change = django.dispatch.Signal()
"""Before a theatre, an equipment unit or a staff member is changed (sender: its model class).

Arguments: `change: EstateChange`, `override: bool`, `override_reason: str`. Work planned above
theatre may need what the change takes away (a capability, an active theatre, person or unit, a
unit's kind). Raise a DomainError naming that work to refuse the change, unless `override` is set:
then the change goes ahead (theatre has checked the reason is given) and post_estate_change says so.
"""

# The codes pre_estate_change's receivers refuse with (409), as the apps that connect them declare
# in AppConfig.ready(): theatre's estate API documents them without knowing those apps.
estate_change_refusals: set[str] = set()

post_estate_change = django.dispatch.Signal()
"""After a theatre, an equipment unit or a staff member is saved, in the same transaction, before
it is audited (sender: its model class). Arguments: `change: EstateChange`, `actor`,
`override_reason: str`. A receiver flags the work the change affected (it can only be there by
override) and audits what it writes.
"""


@dataclass(frozen=True)
class EstateChange:
    """A change to a row of the estate: the row with the change applied (locked; saved only in
    post_estate_change), and its fields before and after (core.audit.snapshot: ids and ISO strings)."""

    instance: Any
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    def changed(self, *fields: str) -> bool:
        return any(self.before.get(f) != self.after.get(f) for f in fields)

    @property
    def deactivated(self) -> bool:
        return self.before.get("active") is True and self.after.get("active") is False


@dataclass(frozen=True)
class SessionChange:
    """A change to a list as the services see it: the row with the change applied (not yet saved,
    locked), and its audited fields before and after (core.audit.snapshot: ids and ISO strings)."""

    session: TheatreSession
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    def changed(self, *fields: str) -> bool:
        return any(self.before[f] != self.after[f] for f in fields)

    @property
    def moved(self) -> bool:
        """To another theatre or another time."""
        return self.changed("theatre", "start", "end")

    @property
    def restaffed(self) -> bool:
        return self.changed("surgeon", "anaesthetist")
