"""Reading database errors (a broken constraint becomes its 409, lock contention a "busy" 409),
and reading rows fast on the measured hot paths (`value_rows`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, OperationalError, connections
from django.db.models import QuerySet
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.json import JsonbLoader

from core.errors import DomainError, ErrorCode

# SQLSTATEs of a lock we could not have in time: lock_not_available (our lock_timeout),
# deadlock_detected, serialization_failure.
BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001"})


def constraint_name(exc: BaseException) -> str | None:
    """The name of the database constraint an IntegrityError broke, if the driver reports it."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


@contextmanager
def constraint_errors(rules: Mapping[str, tuple[ErrorCode, str]]) -> Iterator[None]:
    """Turn an IntegrityError from a constraint named in `rules` into its DomainError (code, detail).

    The services check every rule first, for a precise message; this covers the request that
    raced past the check and met the database's constraint instead. Any other IntegrityError
    propagates unchanged. Put it outside the `transaction.atomic()` block that does the writes,
    so that block has rolled back before the 409 is raised.
    """
    try:
        yield
    except IntegrityError as exc:
        rule = rules.get(constraint_name(exc) or "")
        if rule is None:
            raise
        raise DomainError(*rule) from exc


def is_lock_contention(exc: BaseException) -> bool:
    """True for a PostgreSQL lock timeout, deadlock or serialisation failure (or SQLite's busy lock)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in BUSY_SQLSTATES:
        return True
    # SQLite under `make run`: a writer that waited out its timeout.
    return "database is locked" in str(exc)


def value_rows(queryset: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list()` queryset, with PostgreSQL timestamps parsed in C.

    Django reads every timestamptz through a pure-Python loader (a subclass of psycopg's, only to
    set the tzinfo; Django ticket #36960, psycopg #1273): about 3,100 values took 14.5 ms of an
    availability search at 400 lists (issue 18). psycopg's own loader, in C, gives equal aware
    datetimes (UTC, the session time zone Django sets) at a fraction of that. So this runs the
    queryset's SQL on a Django cursor (counted, wrapped and in the transaction like any query)
    whose timestamptz loader is psycopg's, and whose jsonb loader is psycopg's `json.loads` (what
    a JSONField without a custom decoder does). No other `from_db_value` converter runs: use it
    only for integers, text, timestamps and such JSON. Elsewhere (SQLite under `make run`) it is
    `list(queryset)`.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return list(queryset)
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return []
    rows = raw_rows(sql, params, using=queryset.db)
    width = compiler.col_count
    return rows if not rows or len(rows[0]) == width else [row[:width] for row in rows]


def is_postgresql(using: str = "default") -> bool:
    """Whether the connection is PostgreSQL (the hot paths' raw SQL), not `make run`'s SQLite."""
    return bool(connections[using].vendor == "postgresql")


def hot_rows(
    sql: str, params: Sequence[Any] | Mapping[str, Any], *, definition: Callable[[], QuerySet[Any, Any]]
) -> list[tuple[Any, ...]]:
    """The rows of a measured hot path's query (availability, booking, list fill: issue 18).

    On PostgreSQL its SQL, written out: building and compiling the queryset cost about 1 ms of
    CPU a statement (bench/availability.py). Elsewhere (SQLite under `make run`) its `definition`,
    the queryset the SQL must equal row for row, read by `value_rows`. The tests run both on the
    same PostgreSQL data (tests/scheduling/conftest.py, both_query_paths), so they cannot drift.
    """
    if is_postgresql():
        return raw_rows(sql, params)
    return value_rows(definition())


def raw_rows(sql: str, params: Sequence[Any] | Mapping[str, Any], *, using: str = "default") -> list[tuple[Any, ...]]:
    """The rows of PostgreSQL SQL on a Django cursor (counted, wrapped and in the transaction like
    any query), timestamps and jsonb read by psycopg's C loaders as `value_rows` explains."""
    with connections[using].cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.cursor.adapters.register_loader("jsonb", JsonbLoader)
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows
