"""The permission world every API-wide sweep runs against (tests/builders/clinic.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction
from pytest_django import DjangoDbBlocker

from tests.builders.clinic import PermissionWorld, build_permission_world


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[PermissionWorld]:
    """One world for the whole module, in a transaction rolled back at the end; every call
    runs in its own savepoint inside it (test_permissions.call, test_query_parameters), so the
    calls cannot see each other."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_permission_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
