"""The `make run` demo, loaded once for the FHIR tests, and a helper that validates what we serve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from fhir.resources.R4B import get_fhir_model_class
from rest_framework.test import APIClient

from core.demo import seed_users
from scheduling.demo import seed_cases, seed_plan_demo
from scheduling.demo_history import seed_history
from theatre.demo import seed_estate

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="package")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, User]]:
    """The whole demo as `make run` loads it (lists, waiting list, plans, six weeks of history),
    once for the package, rolled back at the end. Yields the demo logins by username."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            users = seed_users()
            seed_estate()
            seed_cases()
            seed_plan_demo()
            seed_history()
            yield users
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def fhir_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource`, after fhir.resources' R4B model for its type accepted it (raises otherwise)."""
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)
    return resource


def body(response: Any) -> dict[str, Any]:
    """The FHIR JSON of a response, checking it is FHIR JSON (never HTML) and validates."""
    assert response["Content-Type"].startswith(FHIR_JSON), response["Content-Type"]
    data: dict[str, Any] = response.json()
    return validated(data)
