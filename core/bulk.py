"""Writing rows on the measured hot paths: many new rows of one model in one statement
(`insert_all` from instances, `insert_values` from values), and one row's fields with SQL made
once (`update_fields`).

`bulk_create` on PostgreSQL sends one array per column (INSERT … SELECT * FROM UNNEST), and with
Django's client-side parameter binding psycopg quotes every element of every array in Python: for
a booking's 14 reminder rows (10 KB of JSON) that quoting alone took 2.4 ms (bench/booking.py,
issue 18; measured before DB_SERVER_SIDE_BINDING). `insert_all` sends the rows as one JSON
document instead, made by one json.dumps and quoted by libpq in C, and PostgreSQL takes it apart
(jsonb_array_elements): the same rows with the same values, about 1.5 ms less per INSERT
(4.0 -> 2.6 ms for those 14 rows, measured side by side).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DatabaseError, connection, models
from django.utils import timezone

M = TypeVar("M", bound=models.Model)


def _verbatim_types(field: models.Field[Any, Any]) -> frozenset[type]:
    """The value types the field's get_db_prep_save hands back unchanged: such a value goes into
    the document as it is. Asking the field for each of a booking's 200-odd values cost more than
    the INSERT they go in (bench/booking.py, issue 18). Exact types only: a bool is an int to
    Python, and a TextChoices member a str, but not to the column."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.BooleanField):
        return frozenset({bool})
    if isinstance(field, models.IntegerField):
        return frozenset({int})
    if isinstance(field, models.CharField | models.TextField):
        return frozenset({str})
    return frozenset()


def _plain(field: models.Field[Any, Any], value: Any, *, verbatim: frozenset[type]) -> Any:
    """A column's value (not JSON) as JSON that PostgreSQL casts back to the column's type."""
    if type(value) in verbatim or (value is None and field.null):
        return value
    if type(value) is dt.datetime and value.tzinfo is not None and isinstance(field, models.DateTimeField):
        return value.isoformat()  # what get_db_prep_save hands back for an aware datetime, as below
    value = field.get_db_prep_save(value, connection)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()  # full precision, with its offset
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


@dataclass(frozen=True)
class _InsertPlan:
    """What `insert_all` needs of a model, worked out once per model (it cannot change)."""

    sql: str | None  # None: more than one JSON encoder, so bulk_create
    encoder: type[json.JSONEncoder] | None
    # Each column: its field, whether it is JSON, and the value types taken as they are.
    columns: tuple[tuple[models.Field[Any, Any], bool, frozenset[type]], ...]


_PLANS: dict[type[models.Model], _InsertPlan] = {}


def _plan(model: type[models.Model]) -> _InsertPlan:
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    json_fields = [field for field in fields if isinstance(field, models.JSONField)]
    encoders = {field.encoder for field in json_fields}
    columns = tuple((field, field in json_fields, _verbatim_types(field)) for field in fields)
    if len(encoders) > 1:
        return _InsertPlan(sql=None, encoder=None, columns=columns)  # one document, one encoder
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = ", ".join(
        f"NULLIF(e -> '{field.column}', 'null'::jsonb)"
        if isinstance(field, models.JSONField)
        # The base type, without its length: a cast to varchar(n) would cut a long value silently,
        # where the INSERT refuses it (Django's UNNEST casts the same way).
        else f"(e ->> '{field.column}')::{str(field.db_type(connection)).split('(')[0]}"
        for field in fields
    )
    pk = model._meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    # Rows go in, and come back from RETURNING, in the document's order (as bulk_create's do).
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({names}) "  # noqa: S608 - names from the model
        f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS rows (e, n) ORDER BY n "
        f"RETURNING {connection.ops.quote_name(pk.column)}"
    )
    return _InsertPlan(sql=sql, encoder=next(iter(encoders), None), columns=columns)


def _insert(plan: _InsertPlan, rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Run the plan's INSERT for rows, each given as its values in the plan's column order;
    returns their ids.

    A JSON column's value goes in as itself, encoded as the field would (its encoder); None is
    SQL NULL, as Django stores it. Other values go in as JSON text of what Django would send."""
    assert plan.sql is not None  # noqa: S101 - the callers fall back to bulk_create without one
    document = [
        {
            field.column: value if is_json else _plain(field, value, verbatim=verbatim)
            for (field, is_json, verbatim), value in zip(plan.columns, row, strict=True)
        }
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, [json.dumps(document, cls=plan.encoder)])
        return [row[0] for row in cursor.fetchall()]


def _plan_of(model: type[models.Model]) -> _InsertPlan:
    if model not in _PLANS:
        _PLANS[model] = _plan(model)
    return _PLANS[model]


def insert_all(objs: Sequence[M]) -> list[M]:
    """Insert unsaved instances of one model (with an auto primary key), in order, in one
    statement, and give them their ids: what `bulk_create` does, for rows heavy with JSON.
    Field defaults and auto_now(_add) apply as in `bulk_create`; no signals are sent. Elsewhere
    than PostgreSQL (SQLite under `make run`) it is `bulk_create`."""
    if not objs:
        return []
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_create(objs)
    plan = _plan_of(model)
    if plan.sql is None:
        return model._default_manager.bulk_create(objs)
    ids = _insert(plan, [[field.pre_save(obj, True) for field, _, _ in plan.columns] for obj in objs])
    for obj, obj_id in zip(objs, ids, strict=True):
        obj.pk = obj_id
        obj._state.adding = False
        obj._state.db = connection.alias
    return list(objs)


def _value_of(field: models.Field[Any, Any], row: Mapping[str, Any], now: dt.datetime) -> Any:
    """The row's value for the field, else what a new instance would be saved with."""
    if field.attname in row:
        return row[field.attname]
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


def insert_values(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Insert rows given as {field attname: value}, in order, in one statement; returns their ids.
    A field a row leaves out takes its default (auto_now and auto_now_add: now, one time for all
    the rows). What `insert_all` does without making instances first: for an AuditBatch's dozen
    entries, making the AuditEntry instances cost more than writing them (bench/booking.py,
    issue 18). Elsewhere than PostgreSQL, `bulk_create` of those instances."""
    if not rows:
        return []
    plan = _plan_of(model) if connection.vendor == "postgresql" else None
    if plan is None or plan.sql is None:
        return [obj.pk for obj in model._default_manager.bulk_create([model(**row) for row in rows])]
    attnames = {field.attname for field, _, _ in plan.columns}
    for row in rows:
        if not row.keys() <= attnames:  # as model(**row) would refuse it, not silently drop it
            raise TypeError(f"{model.__name__} has no fields {sorted(row.keys() - attnames)}")
    now = timezone.now()
    return _insert(plan, [[_value_of(field, row, now) for field, _, _ in plan.columns] for row in rows])


_UPDATES: dict[tuple[type[models.Model], tuple[str, ...]], tuple[str, list[models.Field[Any, Any]]]] = {}


def update_fields(obj: models.Model, names: Sequence[str]) -> None:
    """What `obj.save(update_fields=names)` writes (auto_now fields refreshed), as one UPDATE whose
    SQL is made once per model and set of fields. Django compiles the UPDATE on every save: on a
    booking that was about a twentieth of its Python time (bench/booking.py, issue 18). Sends no
    signals: only for models that have no receivers. Like save, refuses if no row was updated."""
    model = type(obj)
    key = (model, tuple(names))
    if key not in _UPDATES:
        fields = [field for name in names if isinstance(field := model._meta.get_field(name), models.Field)]
        if len(fields) != len(names):
            raise ValueError(f"update_fields takes concrete fields only: {names}")
        pk = model._meta.pk
        assert pk is not None  # noqa: S101 - every concrete model has one
        assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
        _UPDATES[key] = (
            f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {assignments} "  # noqa: S608 - names from the model
            f"WHERE {connection.ops.quote_name(pk.column)} = %s",
            fields,
        )
    sql, fields = _UPDATES[key]
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, obj.pk])
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")
