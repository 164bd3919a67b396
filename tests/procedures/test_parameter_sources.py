"""Every number in the seeded templates carries its source, and a number a clinician changes never
keeps the source of the number it replaced (hazard H13, a template number without a source)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from core.audit import Actor
from core.errors import InvalidInput
from procedures.models import ProcedureTemplate, ProcedureVersion
from procedures.versions import (
    STEP_FIELDS,
    VERSION_FIELDS,
    create_version,
    latest_version,
    numeric_parameters,
    unsourced_parameters,
)

pytestmark = pytest.mark.django_db

V1 = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")
V2 = importlib.import_module("procedures.migrations.0005_seed_version_2_renal_holds_and_sources")
SYSTEM = Actor(user=None, label="test")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    V1.seed(apps, None)
    V2.seed(apps, None)


def version_data(version: ProcedureVersion) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(version, name) for name in VERSION_FIELDS}
    data["steps"] = [{name: getattr(step, name) for name in STEP_FIELDS} for step in version.steps.all()]
    return data


@pytest.mark.parametrize("slug", ["kyphoplasty", "vertebroplasty"])
def test_every_number_in_the_seeded_templates_has_a_source(slug: str) -> None:
    version = latest_version(slug=slug)
    assert version is not None
    data = version_data(version)
    numbers = numeric_parameters(data)
    # The walk reaches every kind of number: scalars, per-drug holds, renal bands, options, steps.
    for path in (
        "inr_max",
        "platelets_min",
        "turnover_minutes",
        "cement_ml_per_level",
        "anticoagulant_hold_days.dabigatran",
        "anticoagulant_renal_holds.dabigatran.0.stop_days_before",
        "anaesthesia_options.general.induction_minutes",
        "fasting.food_hours",
        "recovery.bed_rest_hours",
        "follow_up.review_6_weeks.after_days",
        "steps.1.minutes",
    ):
        assert path in numbers, path
    assert unsourced_parameters(data) == []
    assert all(isinstance(s, str) and len(s.strip()) > 20 for s in version.parameter_sources.values())


def test_the_api_lists_a_versions_unsourced_numbers(client: Any, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_superuser("admin-sources", password="x"))
    body = client.get("/api/v1/procedures/kyphoplasty/").json()
    assert body["latest_version"]["unsourced_parameters"] == []
    v1 = client.get("/api/v1/procedures/kyphoplasty/versions/1/").json()
    assert "inr_max" in v1["unsourced_parameters"]  # version 1 predates per-number sources


def test_a_changed_number_loses_its_inherited_source_unless_the_change_gives_one() -> None:
    template = ProcedureTemplate.objects.get(slug="kyphoplasty")
    changed = create_version(template=template, changes={"inr_max": "1.8"}, change_note="INR limit", actor=SYSTEM)
    assert "inr_max" not in changed.parameter_sources
    assert unsourced_parameters(version_data(changed)) == ["inr_max"]
    assert "platelets_min" in changed.parameter_sources  # what did not change keeps its source

    sourced = create_version(
        template=template,
        changes={"inr_max": "1.8", "parameter_sources": {"inr_max": "SIR 2019: INR at most 1.8 (local decision)"}},
        change_note="INR limit, sourced",
        actor=SYSTEM,
    )
    assert unsourced_parameters(version_data(sourced)) == []


def test_a_change_to_one_step_drops_the_source_that_covered_all_steps() -> None:
    template = ProcedureTemplate.objects.get(slug="vertebroplasty")
    latest = latest_version(slug="vertebroplasty")
    assert latest is not None
    steps = version_data(latest)["steps"]
    steps[0]["minutes"] += 2
    changed = create_version(template=template, changes={"steps": steps}, change_note="longer sign in", actor=SYSTEM)
    assert "steps" not in changed.parameter_sources
    assert "steps.1.minutes" in unsourced_parameters(version_data(changed))


@pytest.mark.parametrize(
    ("sources", "field"),
    [
        ({"inr_maximum": "a typo"}, "parameter_sources.inr_maximum"),
        ({"inr_max": "  "}, "parameter_sources.inr_max"),
        ({"positioning": "not a number"}, "parameter_sources.positioning"),
    ],
)
def test_a_source_that_names_no_number_or_says_nothing_is_refused(sources: dict[str, str], field: str) -> None:
    template = ProcedureTemplate.objects.get(slug="kyphoplasty")
    before = ProcedureVersion.objects.filter(template=template).count()
    with pytest.raises(InvalidInput) as refused:
        create_version(template=template, changes={"parameter_sources": sources}, change_note="x", actor=SYSTEM)
    assert refused.value.field == field
    assert ProcedureVersion.objects.filter(template=template).count() == before
