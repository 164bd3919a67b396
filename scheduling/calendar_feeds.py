"""Per-staff calendar feed URLs: a secret in the path, stored as a digest, rotated or revoked.

The feed (scheduling/staff_calendar.py) carries no patient identifiers, but it is still a
person's diary: the secret is 256 random bits (secrets.token_urlsafe(32)), compared by its
SHA-256 digest through a unique index, and the old URL dies when a new one is made.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction

from core.audit import Actor, record
from scheduling.models import StaffCalendarFeed
from theatre.models import StaffMember


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rotate_feed(*, staff: StaffMember, actor: Actor) -> str:
    """A new secret for the staff member's feed (the old one, if any, stops working); audited.
    Returns the secret: it is shown once and never stored."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        feed, created = StaffCalendarFeed.objects.update_or_create(staff=staff, defaults={"digest": _digest(secret)})
        record(
            actor=actor, action="staff.calendar_feed_created" if created else "staff.calendar_feed_rotated", obj=staff
        )
    return secret


def revoke_feed(*, staff: StaffMember, actor: Actor) -> bool:
    """Delete the staff member's feed URL; True if there was one. Audited."""
    with transaction.atomic():
        deleted, _ = StaffCalendarFeed.objects.filter(staff=staff).delete()
        if deleted:
            record(actor=actor, action="staff.calendar_feed_revoked", obj=staff)
    return bool(deleted)


def staff_for_feed(secret: str) -> StaffMember | None:
    """The staff member whose live feed URL carries `secret`, or None."""
    if not secret or len(secret) > 100:
        return None
    feed = StaffCalendarFeed.objects.select_related("staff").filter(digest=_digest(secret)).first()
    return feed.staff if feed is not None else None
