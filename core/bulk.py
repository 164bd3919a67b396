"""Inserting many new rows of one model in one statement, on the measured hot paths.

`bulk_create` on PostgreSQL sends one array per column (INSERT … SELECT * FROM UNNEST), and with
Django's client-side parameter binding psycopg quotes every element of every array in Python: for
a booking's 14 reminder rows and 16 audit entries, about 10 KB of JSON each, that quoting alone
took 2.4 ms per INSERT (bench/booking.py, issue 18). `insert_all` sends the rows as one JSON
document instead, which libpq quotes in C, and PostgreSQL takes it apart
(jsonb_array_elements): the same rows, the same values, 1.6 ms less per INSERT.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def _json_of(field: models.Field[Any, Any], value: Any) -> str:
    """The field's value as the JSON text PostgreSQL reads back into the column."""
    if isinstance(field, models.JSONField):
        # What the field itself would send (its encoder); None is SQL NULL, as Django stores it.
        return "null" if value is None else json.dumps(value, cls=field.encoder)
    value = field.get_db_prep_save(value, connection)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return json.dumps(value.isoformat())  # full precision, with its offset
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return json.dumps(str(value))
    return json.dumps(value)


def _row(obj: models.Model, fields: Sequence[models.Field[Any, Any]]) -> str:
    pairs = (f"{json.dumps(field.column)}: {_json_of(field, field.pre_save(obj, True))}" for field in fields)
    return "{" + ", ".join(pairs) + "}"


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
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    document = "[" + ", ".join(_row(obj, fields) for obj in objs) + "]"
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
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
    with connection.cursor() as cursor:
        # Rows go in, and come back from RETURNING, in the document's order (as bulk_create's do).
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
            f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS rows (e, n) ORDER BY n "
            f"RETURNING {connection.ops.quote_name(pk.column)}",
            [document],
        )
        ids = [row[0] for row in cursor.fetchall()]
    for obj, obj_id in zip(objs, ids, strict=True):
        obj.pk = obj_id
        obj._state.adding = False
        obj._state.db = connection.alias
    return list(objs)
