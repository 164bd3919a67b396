"""Recognising lock contention, so that "the schedule is busy" is a 409, never a 500."""

from __future__ import annotations

from django.db import OperationalError

# SQLSTATEs of a lock we could not have in time: lock_not_available (our lock_timeout),
# deadlock_detected, serialization_failure.
BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001"})


def constraint_name(exc: BaseException) -> str | None:
    """The name of the database constraint an IntegrityError broke, if the driver reports it."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def is_lock_contention(exc: BaseException) -> bool:
    """True for a PostgreSQL lock timeout, deadlock or serialisation failure (or SQLite's busy lock)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in BUSY_SQLSTATES:
        return True
    # SQLite under `make run`: a writer that waited out its timeout.
    return "database is locked" in str(exc)
