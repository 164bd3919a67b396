"""`latest_version`: the one reading of "the newest version of a template" that the procedures API,
case creation, availability and publishing share."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidInput
from procedures.versions import latest_version, version_to_pin
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
