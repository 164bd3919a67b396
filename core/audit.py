"""Audit trail: every write to a clinical or scheduling record goes through `record`, or through
an `AuditBatch` that writes a service's entries together.

Services take an explicit `actor`, so writes from the API, the admin and Celery tasks are all
attributed: a person by their user, a process by a label such as "task:<task name>".
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import models

from core.bulk import insert_values
from core.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    user: User | None
    label: str

    @classmethod
    def of(cls, user: AbstractBaseUser | AnonymousUser) -> Actor:
        if not user.is_authenticated:
            raise ValueError("An anonymous request cannot write clinical records.")
        if not isinstance(user, User):
            raise TypeError("Actor.of needs a user model instance.")
        return cls(user=user, label=f"user:{user.get_username()}")

    @classmethod
    def system(cls, label: str) -> Actor:
        """A process, e.g. Actor.system("task:scheduling.send_due_reminders")."""
        return cls(user=None, label=label)


# Values JSON takes as they are. Checked by exact type first: a booking's dozen entries carry its
# reminders' message contexts, and walking them with the isinstance chain below cost about a tenth
# of a booking's Python time (bench/booking.py, issue 18).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _jsonable(v) for k, v in value.items()}
    if kind is list:
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` as JSON-ready data (foreign keys as ids)."""
    names = set(fields) if fields is not None else None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if names is not None and field.name not in names:
            continue
        key = field.attname if field.is_relation else field.name
        data[field.name] = _jsonable(getattr(obj, key))
    return data


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Only the keys whose values differ, as {"field": [old, new]}: handy in history views."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def _entry(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str,
) -> AuditEntry:
    """The entry, built but not written; its before and after are JSON from here on."""
    return AuditEntry(
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        reason=reason,
    )


def record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one audit entry; call it inside the same transaction as the write it describes."""
    entry = _entry(actor=actor, action=action, obj=obj, before=before, after=after, reason=reason)
    entry.save(force_insert=True)
    return entry


class AuditBatch:
    """A service's audit entries, written together in one INSERT by `flush`.

    A booking writes a dozen entries (the case, each reminder planned, the plan); one at a time
    they were 12 of its 48 queries (bench/booking.py). The entries are the ones `record` would
    write, in the same order, with their before and after frozen as JSON when recorded, kept as
    column values rather than AuditEntry instances (making those cost more than writing them,
    issue 18). An object not saved yet when recorded (a reminder bulk-created after the loop that
    planned it) gets its id at the flush. Flush inside the transaction of the writes, before the
    service returns: use `audit_batch()`, which flushes on the way out and writes nothing if the
    service raised (its transaction rolls back anyway). Never hold entries across a savepoint that
    may roll back.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[dict[str, Any], models.Model]] = []

    def record(
        self,
        *,
        actor: Actor,
        action: str,
        obj: models.Model,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> None:
        """Add the entry `record` would write now; it is written by the next `flush`."""
        values = {
            "actor_id": actor.user.pk if actor.user is not None else None,
            "actor_label": actor.label,
            "action": action,
            "object_type": obj._meta.label_lower,
            "before": _jsonable(before) if before is not None else None,
            "after": _jsonable(after) if after is not None else None,
            "reason": reason,
        }
        self._pending.append((values, obj))

    def flush(self) -> int:
        """Write the entries recorded since the last flush, in order, in one INSERT (none: no
        query); returns how many."""
        rows = []
        for values, obj in self._pending:
            if obj.pk is None:
                raise ValueError(f"An audited {obj._meta.label} must be saved before its entry is written.")
            rows.append({**values, "object_id": str(obj.pk)})
        self._pending = []
        return len(insert_values(AuditEntry, rows))


@contextmanager
def audit_batch() -> Iterator[AuditBatch]:
    """A batch flushed when the block ends normally (nothing written if it raises)."""
    batch = AuditBatch()
    yield batch
    batch.flush()


def record_saved(
    obj: models.Model, *, actor: Actor, before: Mapping[str, Any] | None = None, reason: str = ""
) -> AuditEntry:
    """Audit a save of `obj` just made: `<model>.created`, or `<model>.updated` given `before`."""
    verb = "created" if before is None else "updated"
    return record(
        actor=actor, action=f"{obj._meta.model_name}.{verb}", obj=obj, before=before, after=snapshot(obj), reason=reason
    )


def history(obj: models.Model) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).select_related("actor")


def record_reads(*, actor: Actor, action: str, reads: Iterable[tuple[type[models.Model], str, Any]]) -> int:
    """Append one entry per patient record disclosed by a read, in one insert (NHS IG: who saw whose
    data, when). Each read is (model, object id, what was shown). Returns the count."""
    entries = [
        AuditEntry(
            actor=actor.user,
            actor_label=actor.label,
            action=action,
            object_type=model._meta.label_lower,
            object_id=str(object_id),
            after=_jsonable(shown),
        )
        for model, object_id, shown in reads
    ]
    AuditEntry.objects.bulk_create(entries)
    return len(entries)
