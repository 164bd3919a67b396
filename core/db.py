"""Reading database errors (a broken constraint becomes its 409, lock contention a "busy" 409),
and reading rows fast on the measured hot paths (`value_rows`, `hot_rows`, `CompiledQuery`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # not in django-stubs
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
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


M = TypeVar("M", bound=Model)

# Stands for the parameter while the query is compiled; never a real id, and inside the range of a
# 32-bit integer column (Django refuses a lookup out of a column's range before any SQL is made).
_SENTINEL = -2_000_000_011
_CACHE_ATTRIBUTE = "_compiled_queries"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiler: SQLCompiler
    start: int
    end: int
    init_list: list[str]
    populators: list[Any]
    annotations: dict[str, int]  # annotation name -> its column, set on each instance as Django does
    converters: dict[int, Any]
    for_update: bool


class CompiledQuery(Generic[M]):
    """A model queryset of one parameter, compiled once per connection and then run as that SQL.

    Django builds and compiles a queryset's SQL again on every evaluation. For a booking's two
    locked reads with their select_related (and its reminder rows) that was about a fifth of the
    booking's Python time (bench/booking.py, issue 18), for SQL that differs only in the id. So
    `build(parameter)` is compiled once, by Django's own compiler, and each run executes that SQL
    and makes the instances as Django's ModelIterable does: `from_db`, the field converters and the
    select_related populators, so the objects and their cached related objects are the ones the
    queryset gives (tests/core/test_compiled_query.py compares them). Only for querysets of model
    rows and their annotations (no extra selects, prefetches or known related objects) whose one
    parameter is the one `build` is given; anything else is refused when it is compiled. The
    parameter is bound as it is given (not prepared by the lookup as the ORM would), so give it the
    column's type; None is refused.
    """

    def __init__(self, build: Callable[[Any], QuerySet[M, M]]) -> None:
        self._build = build
        self._queryset: QuerySet[M, M] | None = None  # built at first use, once apps are ready

    @property
    def queryset(self) -> QuerySet[M, M]:
        """The queryset with the stand-in parameter: what is compiled (its SQL is never run)."""
        if self._queryset is None:
            self._queryset = self._build(_SENTINEL)
        return self._queryset

    def _compile(self, connection: BaseDatabaseWrapper, queryset: QuerySet[M, M]) -> _Compiled:
        query = queryset.query.clone()  # compiling sets up joins on the query: never on the shared one
        if query.extra_select or queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
            raise ValueError("CompiledQuery takes model rows (and their annotations) only")
        if queryset._known_related_objects:  # type: ignore[attr-defined]
            raise ValueError("CompiledQuery cannot set known related objects")
        compiler = query.get_compiler(connection=connection)
        if query.select_for_update and connection.features.has_select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        sql, params = compiler.as_sql()
        # The stand-in, as the lookup prepared it for its column (a text column's is a str).
        if [str(param) for param in params] != [str(_SENTINEL)] or compiler.has_extra_select:
            raise ValueError(f"CompiledQuery needs exactly its one parameter in the SQL, got {params!r}")
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None  # noqa: S101 - a model queryset always has it
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Compiled(
            sql=sql,
            compiler=compiler,
            start=start,
            end=end,
            init_list=[column[0].target.attname for column in select[start:end]],
            populators=get_related_populators(klass_info, select, connection.alias),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            # Django refuses a locking read in autocommit where the database has locking reads.
            for_update=bool(query.select_for_update) and connection.features.has_select_for_update,
        )

    def all(self, parameter: Any) -> list[M]:
        """The instances `build(parameter)` gives, in its order."""
        if parameter is None:
            # Bound as it is: `col = NULL` matches nothing, where the ORM would write IS NULL.
            raise ValueError("CompiledQuery binds its parameter as it is; None would match nothing")
        queryset = self.queryset
        connection = connections[queryset.db]
        # Kept on the connection (each thread has its own), so that it goes when the connection
        # goes: the compiled query refers back to it, and a cache outside would keep every
        # finished thread's connection, and its PostgreSQL session, alive.
        cache: dict[CompiledQuery[Any], _Compiled] = connection.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
        compiled = cache.get(self)
        if compiled is None:
            compiled = cache[self] = self._compile(connection, queryset)
        elif compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [parameter])
            rows = cursor.fetchall()
        model = queryset.model
        found = []
        if compiled.converters:  # as results_iter does, with the converters found once
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        for row in rows:
            obj = model.from_db(connection.alias, compiled.init_list, row[compiled.start : compiled.end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, column in compiled.annotations.items():
                setattr(obj, name, row[column])
            found.append(obj)
        return found

    def get(self, parameter: Any) -> M:
        """The one instance, as `QuerySet.get` gives it (DoesNotExist or MultipleObjectsReturned)."""
        found = self.all(parameter)
        if len(found) == 1:
            return found[0]
        model = self.queryset.model
        if not found:
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")  # type: ignore[attr-defined]
        raise model.MultipleObjectsReturned(  # type: ignore[attr-defined]
            f"get() returned more than one {model._meta.object_name}"
        )
