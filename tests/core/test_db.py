"""core.db.constraint_errors: the one translation of a broken constraint into its 409."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import IntegrityError

from core.db import constraint_errors
from core.errors import DomainError, ErrorCode

RULES = {"case_no_patient_overlap": (ErrorCode.PATIENT_BUSY, "The patient has another case at that time.")}


def broken(constraint: str | None) -> IntegrityError:
    """An IntegrityError as Django raises it from psycopg: the driver's error, with its diag, as cause."""
    cause = Exception()
    cause.diag = SimpleNamespace(constraint_name=constraint)  # type: ignore[attr-defined]
    error = IntegrityError("conflicting key value violates exclusion constraint")
    error.__cause__ = cause
    return error


@pytest.mark.pure
def test_a_named_constraint_becomes_its_domain_error() -> None:
    original = broken("case_no_patient_overlap")
    with pytest.raises(DomainError) as excinfo, constraint_errors(RULES):
        raise original
    assert (excinfo.value.code, excinfo.value.detail, excinfo.value.status) == (
        "patient_busy",
        "The patient has another case at that time.",
        409,
    )
    assert excinfo.value.__cause__ is original


@pytest.mark.pure
@pytest.mark.parametrize("constraint", ["session_no_theatre_overlap", None])
def test_any_other_integrity_error_passes_through_unchanged(constraint: str | None) -> None:
    original = broken(constraint)
    with pytest.raises(IntegrityError) as excinfo, constraint_errors(RULES):
        raise original
    assert excinfo.value is original


@pytest.mark.pure
def test_each_use_raises_a_fresh_error() -> None:
    """Shared exception instances would carry one request's traceback into the next."""
    errors = []
    for _ in range(2):
        with pytest.raises(DomainError) as excinfo, constraint_errors(RULES):
            raise broken("case_no_patient_overlap")
        errors.append(excinfo.value)
    assert errors[0] is not errors[1]
