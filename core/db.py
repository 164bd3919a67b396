"""Reading database errors: a broken constraint becomes its 409, lock contention a "busy" 409."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import IntegrityError, OperationalError

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
