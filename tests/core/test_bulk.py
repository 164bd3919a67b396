"""insert_all writes exactly the rows bulk_create writes, in one statement, ids in order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError, DataError, transaction

from core.bulk import insert_all, insert_values, update_fields
from core.models import AuditEntry
from scheduling.models import Case, Reminder, ReminderStatus
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

# Every column but the kind (which differs, for the unique constraint) and the timestamps of the write.
FIELDS = ("case_id", "channel", "due_at", "status", "sent_at", "attempts", "last_error", "skip_reason", "context")


def reminders(case_id: int, tag: str) -> list[Reminder]:
    due = dt.datetime(2027, 1, 4, 9, 30, 15, 123456, tzinfo=dt.UTC)  # microseconds survive
    return [
        Reminder(case_id=case_id, kind=f"{tag}-day_before", channel="email", due_at=due, context={"a": [1, "é\\'\""]}),
        Reminder(case_id=case_id, kind=f"{tag}-fasting", channel="sms", due_at=due + dt.timedelta(hours=1)),
    ]


def test_insert_all_writes_what_bulk_create_writes_with_ids_in_order(django_assert_num_queries: Any) -> None:
    case = CaseFactory()
    fast, slow = reminders(case.pk, "a"), reminders(case.pk, "b")
    with django_assert_num_queries(1):
        insert_all(fast)
    Reminder.objects.bulk_create(slow)
    assert [r.pk for r in fast] == sorted(r.pk for r in fast)
    for mine, theirs in zip(fast, slow, strict=True):
        stored, expected = Reminder.objects.get(pk=mine.pk), Reminder.objects.get(pk=theirs.pk)
        assert [getattr(stored, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
        assert stored.context == mine.context and stored.due_at == mine.due_at
        assert stored.created_at is not None and not mine._state.adding


def test_insert_all_keeps_sql_null_for_none_in_json_and_refuses_what_the_column_refuses() -> None:
    entry = AuditEntry(actor=None, actor_label="test", action="x.y", object_type="t", object_id="1", before=None)
    (saved,) = insert_all([entry])
    assert AuditEntry.objects.filter(pk=saved.pk, before__isnull=True, after__isnull=True).exists()
    with pytest.raises(DataError), transaction.atomic():
        insert_all([AuditEntry(actor_label="test", action="x" * 65, object_type="t", object_id="1")])


def test_a_value_of_another_type_than_the_column_is_converted_as_bulk_create_converts_it() -> None:
    """The fast path takes a value as it is only if it is exactly the column's own type: a
    TextChoices member or a bool in an integer column still goes through the field."""
    case = CaseFactory()

    def odd(tag: str) -> Reminder:
        due = dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # not UTC
        return Reminder(
            case_id=case.pk, kind=f"{tag}-x", channel="sms", due_at=due, status=ReminderStatus.SENT, attempts=True
        )

    (fast,) = insert_all([odd("a")])
    (slow,) = Reminder.objects.bulk_create([odd("b")])
    stored, expected = Reminder.objects.get(pk=fast.pk), Reminder.objects.get(pk=slow.pk)
    assert [getattr(stored, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
    assert stored.attempts == 1 and stored.status == "sent" and stored.due_at == odd("c").due_at


def test_update_fields_writes_what_save_with_update_fields_writes_and_refuses_a_missing_row(
    django_assert_num_queries: Any,
) -> None:
    mine, theirs = CaseFactory(), CaseFactory()
    for case in (mine, theirs):
        case.estimated_minutes, case.levels, case.notes = 95, ["T12"], "not saved: not named"
    with django_assert_num_queries(1):
        update_fields(mine, ["estimated_minutes", "levels", "updated_at"])
    theirs.save(update_fields=["estimated_minutes", "levels", "updated_at"])
    for case in (mine, theirs):
        stored = Case.objects.get(pk=case.pk)
        assert (stored.estimated_minutes, stored.levels, stored.notes) == (95, ["T12"], "")
        assert stored.updated_at == case.updated_at  # auto_now refreshed on the instance and the row
    gone = CaseFactory()
    Case.objects.filter(pk=gone.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        update_fields(gone, ["estimated_minutes"])


def test_insert_values_writes_what_insert_all_writes_from_instances(django_assert_num_queries: Any) -> None:
    """Fields left out take their defaults, auto_now(_add) now; ids come back in order."""
    case = CaseFactory()
    due = dt.datetime(2027, 1, 4, 9, 30, 15, 123456, tzinfo=dt.UTC)
    rows = [
        {"case_id": case.pk, "kind": "v-day_before", "channel": "email", "due_at": due, "context": {"a": [1, "é"]}},
        {"case_id": case.pk, "kind": "v-fasting", "channel": "sms", "due_at": due},
    ]
    with django_assert_num_queries(1):
        ids = insert_values(Reminder, rows)
    # The same rows for another case (the kind, channel and case are unique together).
    other = CaseFactory()
    slow = Reminder.objects.bulk_create([Reminder(**row | {"case_id": other.pk}) for row in rows])
    assert ids == sorted(ids)
    for mine, theirs in zip(ids, slow, strict=True):
        stored, expected = Reminder.objects.get(pk=mine), Reminder.objects.get(pk=theirs.pk)
        assert [getattr(stored, f) for f in FIELDS[1:]] == [getattr(expected, f) for f in FIELDS[1:]]
        assert stored.kind == expected.kind and stored.created_at is not None and stored.updated_at is not None
    assert insert_values(Reminder, []) == []
    with pytest.raises(TypeError, match="case"):
        insert_values(Reminder, [{"case": case, "kind": "x", "channel": "sms", "due_at": due}])  # not the attname
