"""The /procedures/ API: reads for every role in constant queries, publishing for template rights only,
screening and estimates."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.models import AuditEntry
from procedures.models import ProcedureStep, ProcedureVersion
from tests.builders.answers import eligible_answers
from tests.conftest import client_for
from tests.factories import ProcedureTemplateFactory, ProcedureVersionFactory

pytestmark = pytest.mark.django_db

SEED = importlib.import_module("procedures.migrations.0003_seed_kyphoplasty_vertebroplasty")
SEED_V2 = importlib.import_module("procedures.migrations.0005_seed_version_2_renal_holds_and_sources")
SEEDED = 2  # the seeded templates' latest version (0005 adds version 2 to 0003's version 1)
ROLES = ["coordinator", "surgeon", "anaesthetist", "viewer", "admin"]


def on_warfarin(**changes: Any) -> dict[str, Any]:
    """Eligible answers from a patient taking warfarin, which the seeded versions hold for 5 days."""
    return eligible_answers(anticoagulants=["warfarin"]) | changes


@pytest.fixture(autouse=True)
def _seeded() -> None:
    SEED.seed(apps, None)
    SEED_V2.seed(apps, None)


@pytest.fixture
def template_editor(surgeon_user: User) -> APIClient:
    """A surgeon holding procedures.add_procedureversion through a group."""
    group = Group.objects.create(name="template_editors")
    group.permissions.add(Permission.objects.get(codename="add_procedureversion"))
    surgeon_user.groups.add(group)
    return client_for(User.objects.get(pk=surgeon_user.pk))


def add_templates(count: int, versions_each: int = 3) -> None:
    for _ in range(count):
        template = ProcedureTemplateFactory()
        for number in range(1, versions_each + 1):
            ProcedureVersionFactory(template=template, number=number)


# --- Reads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_templates(role: str, request: pytest.FixtureRequest) -> None:
    client: APIClient = request.getfixturevalue(role)
    response = client.get("/api/v1/procedures/")
    assert response.status_code == 200
    slugs = [t["slug"] for t in response.json()["results"]]
    assert slugs == ["kyphoplasty", "vertebroplasty"]


def test_anonymous_and_roleless_users_are_refused(anon_client: APIClient, db: None) -> None:
    assert anon_client.get("/api/v1/procedures/").status_code in (401, 403)
    roleless = client_for(User.objects.create_user("nobody"))
    assert roleless.get("/api/v1/procedures/").status_code == 403
    assert roleless.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": {}}).status_code == 403


def test_detail_has_latest_version_with_steps_parameters_and_questionnaire(viewer: APIClient) -> None:
    data = viewer.get("/api/v1/procedures/kyphoplasty/").json()
    version = data["latest_version"]
    assert version["number"] == SEEDED and version["template"] == "kyphoplasty"
    assert version["default_anaesthesia"] == "general"
    assert version["cement_max_ml_per_level"] == "7.0"
    assert [s["order"] for s in version["steps"]] == list(range(1, 15))
    assert version["steps"][5] == {
        "order": 6,
        "kind": "trocar_access",
        "name": "Trocar access under fluoroscopy",
        "minutes": 7,
        "per_level": True,
        "description": version["steps"][5]["description"],
    }
    questions = {q["code"]: q for q in version["questionnaire"]}
    assert questions["inr"] == {"code": "inr", "type": "number", "label": "Latest INR", "unit": "", "required": True}
    assert questions["can_lie_prone"]["required"] is False


def test_unknown_template_is_404(viewer: APIClient) -> None:
    assert viewer.get("/api/v1/procedures/arthroscopy/").status_code == 404
    assert viewer.post("/api/v1/procedures/arthroscopy/screen/", {"answers": {}}).status_code == 404
    assert viewer.get("/api/v1/procedures/kyphoplasty/versions/9/").status_code == 404


@pytest.mark.parametrize("extra_templates", [0, 4])
def test_list_runs_in_constant_queries(
    extra_templates: int, viewer: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    add_templates(extra_templates)
    # 1 role lookup, 2 page count, 3 templates, 4 their newest versions (+ author), 5 those versions' steps
    with django_assert_num_queries(5):
        response = viewer.get("/api/v1/procedures/")
    assert response.json()["count"] == 2 + extra_templates
    assert all(t["latest_version"]["steps"] for t in response.json()["results"])


@pytest.mark.parametrize("versions", [1, 6])
def test_detail_runs_in_constant_queries(
    versions: int, viewer: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    template = ProcedureTemplateFactory(slug="many-versions")
    for number in range(1, versions + 1):
        ProcedureVersionFactory(template=template, number=number)
    # 1 role lookup, 2 template, 3 its newest version (+ author), 4 that version's steps
    with django_assert_num_queries(4):
        response = viewer.get("/api/v1/procedures/many-versions/")
    assert response.json()["latest_version"]["number"] == versions


@pytest.mark.parametrize("versions", [2, 6])
def test_history_is_newest_first_in_constant_queries(
    versions: int, viewer: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    template = ProcedureTemplateFactory(slug="history")
    for number in range(1, versions + 1):
        ProcedureVersionFactory(template=template, number=number)
    # 1 role lookup, 2 template, 3 page count, 4 versions (+ template, author), 5 their steps
    with django_assert_num_queries(5):
        response = viewer.get("/api/v1/procedures/history/versions/")
    assert [v["number"] for v in response.json()["results"]] == list(range(versions, 0, -1))


def test_an_older_version_stays_readable(template_editor: APIClient, viewer: APIClient) -> None:
    template_editor.post(
        "/api/v1/procedures/kyphoplasty/versions/", {"change_note": "Local turnover", "turnover_minutes": 20}
    )
    old = viewer.get(f"/api/v1/procedures/kyphoplasty/versions/{SEEDED}/").json()
    new = viewer.get(f"/api/v1/procedures/kyphoplasty/versions/{SEEDED + 1}/").json()
    assert (old["turnover_minutes"], new["turnover_minutes"]) == (15, 20)


# --- Publishing a version ---------------------------------------------------------------------------


def test_surgeon_with_template_rights_publishes_the_next_version(template_editor: APIClient) -> None:
    response = template_editor.post(
        "/api/v1/procedures/kyphoplasty/versions/",
        {"change_note": "INR limit per local haematology", "inr_max": "1.8", "max_levels": 2},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == SEEDED + 1 and body["created_by"] == "surg"
    assert (body["inr_max"], body["max_levels"]) == ("1.8", 2)
    v1 = ProcedureVersion.objects.get(template__slug="kyphoplasty", number=SEEDED)
    # Everything not posted is carried over from the latest version, steps included.
    assert body["risks"] == v1.risks and body["default_anaesthesia"] == "general"
    assert [s["name"] for s in body["steps"]] == [s.name for s in v1.steps.order_by("order")]
    latest = template_editor.get("/api/v1/procedures/kyphoplasty/").json()["latest_version"]
    assert latest["number"] == SEEDED + 1


def test_publishing_is_audited(template_editor: APIClient) -> None:
    body = template_editor.post(
        "/api/v1/procedures/vertebroplasty/versions/", {"change_note": "Longer turnover", "turnover_minutes": 25}
    ).json()
    version = ProcedureVersion.objects.get(template__slug="vertebroplasty", number=body["number"])
    entry: Any = AuditEntry.objects.get(action="procedureversion.created", object_id=str(version.pk))
    assert entry.actor_label == "user:surg" and entry.reason == "Longer turnover"
    assert entry.before == {"number": SEEDED}
    assert entry.after["turnover_minutes"] == 25 and len(entry.after["steps"]) == version.steps.count()


def test_steps_replace_the_whole_list(admin: APIClient) -> None:
    steps = [
        {"kind": "anaesthesia", "name": "Induction", "minutes": 0, "per_level": False},
        {"kind": "cement_injection", "name": "Cement", "minutes": 12, "per_level": True, "description": "slow"},
    ]
    body = admin.post(
        "/api/v1/procedures/vertebroplasty/versions/", {"change_note": "Short form", "steps": steps}, format="json"
    ).json()
    assert [(s["order"], s["name"], s["description"]) for s in body["steps"]] == [
        (1, "Induction", ""),
        (2, "Cement", "slow"),
    ]


def test_surgeon_with_direct_permission_may_publish(surgeon_user: User) -> None:
    surgeon_user.user_permissions.add(Permission.objects.get(codename="add_procedureversion"))
    client = client_for(User.objects.get(pk=surgeon_user.pk))
    response = client.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "x", "turnover_minutes": 10})
    assert response.status_code == 201


@pytest.mark.parametrize("role", ["coordinator", "surgeon", "anaesthetist", "viewer"])
def test_roles_without_template_rights_get_403(role: str, request: pytest.FixtureRequest) -> None:
    client: APIClient = request.getfixturevalue(role)
    response = client.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "x", "max_levels": 2})
    assert response.status_code == 403
    assert ProcedureVersion.objects.filter(template__slug="kyphoplasty").count() == SEEDED


def test_a_coordinator_holding_the_permission_is_still_refused(coordinator_user: User) -> None:
    coordinator_user.user_permissions.add(Permission.objects.get(codename="add_procedureversion"))
    client = client_for(User.objects.get(pk=coordinator_user.pk))
    assert client.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "x"}).status_code == 403


def _bad_steps(**step: Any) -> list[dict[str, Any]]:
    return [{"kind": "cement_injection", "name": "Cement", "minutes": 10, "per_level": True, **step}]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_levels": 0}, "max_levels"),
        ({"cement_ml_per_level": "5.0", "cement_max_ml_per_level": "4.0"}, "cement_max_ml_per_level"),
        (
            {
                "default_anaesthesia": "local_sedation",
                "anaesthesia_options": [{"code": "general", "induction_minutes": 15, "recovery_minutes": 10}],
            },
            "default_anaesthesia",
        ),
        (
            {
                "anaesthesia_options": [
                    {"code": "general", "induction_minutes": 5, "recovery_minutes": 5},
                    {"code": "local_sedation", "induction_minutes": 10, "recovery_minutes": 5},
                ]
            },
            "anaesthesia_options",
        ),
        (
            {"anaesthesia_options": [{"code": "general", "induction_minutes": -5, "recovery_minutes": 5}]},
            "anaesthesia_options.general.induction_minutes",
        ),
        (
            {"anaesthesia_options": [{"code": "spinal", "induction_minutes": 5, "recovery_minutes": 5}]},
            "anaesthesia_options",
        ),
        ({"required_capabilities": ["fluoroscopy", "teleportation"]}, "required_capabilities"),
        ({"required_equipment": ["c_arm", "laser_sword"]}, "required_equipment"),
        ({"allowed_levels": ["T10", "T12", "L1"]}, "allowed_levels"),
        ({"allowed_levels": ["L1", "T12"]}, "allowed_levels"),
        ({"allowed_levels": ["L9"]}, "allowed_levels"),
        ({"allowed_levels": []}, "allowed_levels"),
        ({"turnover_minutes": -1}, "turnover_minutes"),
        ({"steps": []}, "steps"),
        ({"steps": _bad_steps(minutes=-3)}, "steps"),
        ({"steps": _bad_steps(per_level=False)}, "steps"),
        ({"steps": _bad_steps(kind="anaesthesia")}, "steps.0.per_level"),
        ({"imaging": {"intra_op": ["xray_vision"]}}, "imaging.intra_op"),
        ({"contraindications": [{"code": "x", "severity": "blocker", "message": "m", "any": []}]}, "contraindications"),
        ({"anticoagulant_hold_days": {"warfarin": -1}}, "anticoagulant_hold_days"),
        ({"cement_ml_by_approach": {"unipedicular": 9.0}}, "cement_ml_by_approach.unipedicular"),
        ({"sources": []}, "sources"),
        ({"risks": [{"code": "x"}]}, "risks"),
        ({"follow_up": [{"code": "a", "after_days": -1, "title": "t"}]}, "follow_up.a.after_days"),
        ({"number": 7}, "number"),
        ({"inr_max": "abc"}, "inr_max"),
    ],
)
def test_a_version_that_breaks_its_own_rules_is_refused(changes: dict[str, Any], field: str, admin: APIClient) -> None:
    response = admin.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "bad", **changes}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert ProcedureVersion.objects.filter(template__slug="kyphoplasty").count() == SEEDED


def test_change_note_is_required(admin: APIClient) -> None:
    response = admin.post("/api/v1/procedures/kyphoplasty/versions/", {"max_levels": 2})
    assert response.status_code == 400
    assert "change_note" in response.json()["errors"]


def test_a_failed_publish_leaves_nothing_half_created(admin: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given steps that fail at insert time, when publishing, then neither version nor steps nor audit remain."""
    steps_before, audit_before = ProcedureStep.objects.count(), AuditEntry.objects.count()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("procedures.versions.record", boom)
    with pytest.raises(RuntimeError):
        admin.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "x", "max_levels": 2})
    assert ProcedureVersion.objects.filter(template__slug="kyphoplasty").count() == SEEDED
    assert (ProcedureStep.objects.count(), AuditEntry.objects.count()) == (steps_before, audit_before)


def test_a_version_is_immutable_once_saved() -> None:
    from procedures.models import VersionImmutable

    version = ProcedureVersion.objects.get(template__slug="kyphoplasty", number=1)
    version.max_levels = 9
    with pytest.raises(VersionImmutable):
        version.save()


# --- Screening and estimates ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_screen(role: str, request: pytest.FixtureRequest) -> None:
    client: APIClient = request.getfixturevalue(role)
    response = client.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": on_warfarin()}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "result": "eligible",
        "blockers": [],
        "warnings": [],
        "missing": [],
        "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}],
        "version": SEEDED,
    }


def test_screen_reports_blockers_and_missing(viewer: APIClient) -> None:
    answers = on_warfarin()
    answers["active_infection"] = True
    del answers["inr"]
    body = viewer.post("/api/v1/procedures/vertebroplasty/screen/", {"answers": answers}, format="json").json()
    assert body["result"] == "ineligible"
    assert [b["code"] for b in body["blockers"]] == ["active_infection"]
    assert body["missing"] == ["inr"]


def test_screen_with_no_answers_is_incomplete(viewer: APIClient) -> None:
    body = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": {}}, format="json").json()
    assert body["result"] == "incomplete" and "inr" in body["missing"]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"inr": "1.2"}, "answers.inr"),
        ({"active_infection": "no"}, "answers.active_infection"),
        ({"shoe_size": 9}, "answers.shoe_size"),
        ({"anticoagulants": "warfarin"}, "answers.anticoagulants"),
    ],
)
def test_screen_rejects_malformed_answers_naming_the_field(
    answers: dict[str, Any], field: str, viewer: APIClient
) -> None:
    response = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": on_warfarin(**answers)}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_screen_needs_an_answers_object(viewer: APIClient) -> None:
    response = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": [1]}, format="json")
    assert response.status_code == 400 and "answers" in response.json()["errors"]
    response = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {}, format="json")
    assert response.status_code == 400 and "answers" in response.json()["errors"]


def test_screen_against_a_pinned_older_version(template_editor: APIClient, viewer: APIClient) -> None:
    template_editor.post("/api/v1/procedures/kyphoplasty/versions/", {"change_note": "x", "inr_max": "1.8"})
    answers = on_warfarin(inr=1.7)
    latest = viewer.post("/api/v1/procedures/kyphoplasty/screen/", {"answers": answers}, format="json").json()
    pinned = viewer.post(
        "/api/v1/procedures/kyphoplasty/screen/", {"answers": answers, "version": SEEDED}, format="json"
    ).json()
    assert (latest["result"], latest["version"]) == ("eligible", SEEDED + 1)
    assert (pinned["result"], pinned["version"]) == ("ineligible", SEEDED)


def test_estimate_endpoint_returns_the_breakdown(viewer: APIClient) -> None:
    body = viewer.post("/api/v1/procedures/kyphoplasty/estimate/", {"levels": ["L1", "T12"]}, format="json").json()
    assert body["levels"] == ["T12", "L1"] and body["anaesthesia"] == "general" and body["version"] == SEEDED
    assert body["total_minutes"] == sum(line["minutes"] for line in body["lines"])
    assert {"kind": "step", "label": "Balloon inflation × 2 levels", "minutes": 10} in body["lines"]
    assert body["lines"][-1] == {"kind": "turnover", "label": "Turnover", "minutes": 15}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"levels": ["L9"]}, "levels"),
        ({"levels": ["X1"]}, "levels"),
        ({"levels": ["L1", "L1"]}, "levels"),
        ({"levels": ["T10", "T11", "T12", "L1"]}, "levels"),
        ({"levels": ["C3"]}, "levels"),
        ({"levels": "L1"}, "levels"),
        ({"levels": ["L1"], "anaesthesia": "spinal"}, "anaesthesia"),
    ],
)
def test_estimate_rejects_bad_input_naming_the_field(payload: dict[str, Any], field: str, viewer: APIClient) -> None:
    response = viewer.post("/api/v1/procedures/kyphoplasty/estimate/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_schema_documents_the_screening_answers(admin: APIClient) -> None:
    response = admin.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for code in ("fracture_unhealed_on_imaging", "fragment_or_tumour_in_canal", "anticoagulants", "inr"):
        assert code in text
    assert "/api/v1/procedures/{slug}/versions/{number}/" in text
