"""The audit trail and the one error shape that every view relies on."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.exceptions import ValidationError

from core.api.exceptions import exception_handler
from core.audit import Actor, AuditBatch, audit_batch, changed, history, record, snapshot
from core.errors import DomainError, ErrorCode, InvalidInput
from core.models import AuditEntry
from tests.factories import SiteFactory
from theatre.models import Site


@pytest.mark.django_db
def test_audit_records_who_what_before_after_and_why(coordinator_user: User) -> None:
    site = SiteFactory()
    before = snapshot(site)
    site.address = "New address"
    site.save()
    record(
        actor=Actor.of(coordinator_user),
        action="site.updated",
        obj=site,
        before=before,
        after=snapshot(site),
        reason="moved",
    )
    entry: Any  # before/after are JSON
    (entry,) = history(site)
    assert entry.actor == coordinator_user
    assert entry.actor_label == "user:coord"
    assert entry.reason == "moved"
    assert changed(entry.before, entry.after) == {"address": [before["address"], "New address"]}


@pytest.mark.django_db
def test_audit_attributes_process_writes_to_the_process() -> None:
    site = SiteFactory()
    entry = record(actor=Actor.system("task:theatre.tasks.lock_upcoming_sessions"), action="x", obj=site)
    assert entry.actor is None
    assert entry.actor_label == "task:theatre.tasks.lock_upcoming_sessions"


@pytest.mark.pure
def test_domain_error_becomes_409_with_code_and_detail() -> None:
    response = exception_handler(DomainError(ErrorCode.SLOT_TAKEN, "That time is taken."), {})
    assert response is not None
    assert response.status_code == 409
    assert response.data == {"code": "slot_taken", "detail": "That time is taken."}


@pytest.mark.pure
def test_invalid_input_becomes_400_naming_the_field() -> None:
    response = exception_handler(InvalidInput("levels", "L9 is not a vertebra."), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data["errors"] == {"levels": ["L9 is not a vertebra."]}
    assert response.data["code"] == "invalid"


@pytest.mark.pure
def test_validation_error_keeps_field_errors_and_adds_a_code() -> None:
    response = exception_handler(ValidationError({"start": ["Must carry an offset."]}), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert response.data["errors"] == {"start": ["Must carry an offset."]}


@pytest.mark.django_db
def test_remembered_idempotent_responses_are_forgotten_after_a_day(coordinator_user: User) -> None:
    """They hold patient details; a retry needs minutes, not weeks."""
    import datetime as dt

    from django.utils import timezone

    from core.models import IdempotencyRecord
    from core.tasks import purge_idempotency_records

    def remembered(key: str, age: dt.timedelta) -> None:
        IdempotencyRecord.objects.create(
            user=coordinator_user,
            key=key,
            method="POST",
            path="/x/",
            request_hash="h",
            response_status=200,
            response_body={"patient_detail": {"family_name": "Quarrington001"}},
        )
        IdempotencyRecord.objects.filter(key=key).update(created_at=timezone.now() - age)

    remembered("old", dt.timedelta(hours=25))
    remembered("fresh", dt.timedelta(minutes=5))
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db
def test_an_audit_batch_writes_its_entries_in_order_in_one_insert(django_assert_num_queries: Any) -> None:
    """What `record` would write, one INSERT for all; an object saved after it was recorded gets
    its id at the flush, and a block that raises writes nothing."""
    site, actor = SiteFactory(), Actor.system("test")
    later = Site(name="Saved after its entry was recorded")
    with django_assert_num_queries(2), audit_batch() as audit:  # the site's INSERT, then the entries'
        audit.record(actor=actor, action="site.checked", obj=site, before={"address": site.address}, reason="first")
        audit.record(actor=actor, action="site.created", obj=later, after=snapshot(later))
        later.save()
    first: Any  # before/after are JSON
    second: Any
    first, second = AuditEntry.objects.order_by("id")
    assert (first.action, first.object_id, first.before, first.reason) == (
        "site.checked",
        str(site.pk),
        {"address": site.address},
        "first",
    )
    assert (second.action, second.object_id, second.after["name"]) == ("site.created", str(later.pk), later.name)

    with pytest.raises(RuntimeError), audit_batch() as audit:
        audit.record(actor=actor, action="site.checked", obj=site)
        raise RuntimeError("the service failed")
    assert AuditEntry.objects.count() == 2


@pytest.mark.django_db
def test_an_audit_batch_refuses_an_entry_for_an_object_never_saved() -> None:
    batch = AuditBatch()
    batch.record(actor=Actor.system("test"), action="site.created", obj=Site(name="Never saved"))
    with pytest.raises(ValueError, match="must be saved"):
        batch.flush()
