"""`latest_version`: the one reading of "the newest version of a template" that the procedures API,
case creation, availability and publishing share; `pinned_version`, the in-process cache of the
versions cases pin, and the database's refusal to let a published version change under it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from core.errors import InvalidInput
from procedures.models import ProcedureVersion, VersionImmutable
from procedures.versions import latest_version, pinned_version, version_to_pin
from tests.factories import ProcedureTemplateFactory, ProcedureVersionFactory

pytestmark = pytest.mark.django_db


def test_latest_version_is_the_highest_number_with_its_steps(django_assert_num_queries: Any) -> None:
    template = ProcedureTemplateFactory()
    for number in (2, 3, 1):
        ProcedureVersionFactory(template=template, number=number)
    # the version with its template and author, then its ordered steps
    with django_assert_num_queries(2):
        latest = latest_version(slug=template.slug)
        assert latest is not None
        steps = [step.order for step in latest.steps.all()]
        assert (latest.number, latest.template.slug, steps) == (3, template.slug, [1, 2])


def test_a_template_without_versions_and_an_unknown_slug_have_no_latest_version() -> None:
    assert latest_version(slug=ProcedureTemplateFactory().slug) is None
    assert latest_version(slug="laminectomy") is None


def test_a_new_case_cannot_pin_an_unknown_procedure() -> None:
    version = ProcedureVersionFactory()
    assert version_to_pin(slug=version.template.slug) == version
    with pytest.raises(InvalidInput) as excinfo:
        version_to_pin(slug="laminectomy")
    assert (excinfo.value.field, excinfo.value.status) == ("procedure", 400)


def test_a_pinned_version_is_read_once_per_process_and_handed_out_as_a_copy(django_assert_num_queries: Any) -> None:
    version = ProcedureVersionFactory(fasting={"food_hours": 6, "clear_fluids_hours": 2})
    with django_assert_num_queries(1):
        first = pinned_version(version.pk)
    with django_assert_num_queries(0):
        second = pinned_version(version.pk)
    assert first == second == version
    assert first is not second
    assert (second.fasting, second.required_equipment) == (version.fasting, version.required_equipment)
    # A relation one caller loads stays with that caller's copy.
    assert first.template.name == version.template.name
    assert not type(second).template.is_cached(second)


def test_postgresql_refuses_any_change_to_a_published_version() -> None:
    """save() refuses an update; the database refuses the ones that pass it by (QuerySet.update,
    raw SQL), so a version cached in a process can never go stale."""
    version = ProcedureVersionFactory()
    with pytest.raises(VersionImmutable):
        version.save()
    with pytest.raises(IntegrityError, match="published and cannot change"), transaction.atomic():
        ProcedureVersion.objects.filter(pk=version.pk).update(inr_max=Decimal("3.0"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcedureVersion.objects.filter(pk=version.pk).update(fasting={"food_hours": 2})
    version.refresh_from_db()
    assert version.inr_max != Decimal("3.0")


def test_deleting_a_versions_author_still_clears_the_author(django_user_model: type[User]) -> None:
    author = django_user_model.objects.create_user(username="clinician")
    version = ProcedureVersionFactory(created_by=author)
    author.delete()  # created_by is SET NULL: the one UPDATE the trigger lets through
    version.refresh_from_db()
    assert version.created_by is None
