"""/cases/: the waiting list. A case pins the latest version, is screened and estimated, and
re-screened and re-estimated when its answers, levels or anaesthesia change."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from core.audit import Actor, history
from procedures.estimates import estimate, estimate_rules_of
from procedures.models import ProcedureVersion
from scheduling.booking import book_case
from scheduling.models import Case
from tests.builders.answers import eligible_answers
from tests.builders.world import at, build_booking_world
from tests.factories import CaseFactory, PatientFactory, SurgeonFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/"


def kyphoplasty() -> ProcedureVersion:
    return ProcedureVersion.objects.filter(template__slug="kyphoplasty").order_by("-number").first()  # type: ignore[return-value]


def new_case(client: APIClient, **overrides: Any) -> Any:
    body = {
        "patient": overrides.pop("patient", None) or PatientFactory().pk,
        "procedure": "kyphoplasty",
        "levels": ["L1", "T12"],
        "anaesthesia": "general",
        "surgeon": overrides.pop("surgeon", None) or SurgeonFactory().pk,
        "priority": "P2",
        "referral_date": "2026-11-02",
        "screening_answers": eligible_answers(),
    }
    body.update(overrides)
    return client.post(URL, body, format="json")


def test_creating_a_case_puts_it_on_the_waiting_list_pinned_screened_and_estimated(coordinator: APIClient) -> None:
    version = kyphoplasty()
    response = new_case(coordinator)
    assert response.status_code == 201, response.data
    body = response.data
    assert body["status"] == "waiting"
    assert body["procedure"] == "kyphoplasty"
    assert body["procedure_version"] == version.number
    assert body["levels"] == ["T12", "L1"]  # ordered cranial to caudal
    assert body["screening_result"]["result"] == "eligible"
    assert (
        body["estimated_minutes"]
        == estimate(rules=estimate_rules_of(version), levels=["T12", "L1"], anaesthesia="general").total_minutes
    )
    assert body["reference"].startswith("KP-")
    assert history(Case.objects.get(pk=body["id"])).get().action == "case.created"


def test_missing_answers_give_incomplete_and_a_blocker_gives_ineligible(coordinator: APIClient) -> None:
    incomplete = new_case(coordinator, screening_answers={})
    ineligible = new_case(coordinator, screening_answers=eligible_answers(active_infection=True))
    assert incomplete.data["screening_result"]["result"] == "incomplete"
    assert ineligible.data["screening_result"]["result"] == "ineligible"
    assert "active_infection" in [b["code"] for b in ineligible.data["screening_result"]["blockers"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"levels": ["L9"]}, "levels"),
        ({"levels": ["C3"]}, "levels"),
        ({"levels": ["T5", "T6", "T7", "T8"]}, "levels"),
        ({"anaesthesia": "spinal"}, "anaesthesia"),
        ({"procedure": "laminectomy"}, "procedure"),
        ({"screening_answers": {"inr": "high"}}, "answers.inr"),
    ],
)
def test_invalid_case_input_is_400_naming_the_field(
    coordinator: APIClient, overrides: dict[str, Any], field: str
) -> None:
    response = new_case(coordinator, **overrides)
    assert response.status_code == 400, response.data
    assert field in response.data["errors"]
    assert not Case.objects.exists()


def test_surgeon_must_be_a_surgeon(coordinator: APIClient) -> None:
    response = new_case(coordinator, surgeon=SurgeonFactory(role="nurse").pk)
    assert response.status_code == 400
    assert "surgeon" in response.data["errors"]


def test_patch_of_levels_re_runs_estimate_and_withdraws_approval(coordinator: APIClient, surgeon_user: User) -> None:
    case_id = new_case(coordinator).data["id"]
    Case.objects.filter(pk=case_id).update(plan_approved_by=surgeon_user, plan_approved_at="2026-11-20T10:00:00Z")
    response = coordinator.patch(f"{URL}{case_id}/", {"levels": ["L1"]}, format="json")
    assert response.status_code == 200, response.data
    assert (
        response.data["estimated_minutes"]
        == estimate(rules=estimate_rules_of(kyphoplasty()), levels=["L1"], anaesthesia="general").total_minutes
    )
    assert response.data["plan_approved"] is False
    actions = list(history(Case.objects.get(pk=case_id)).values_list("action", flat=True))
    assert actions == ["case.created", "case.plan_approval_withdrawn", "case.updated"]


def test_patch_of_answers_re_runs_screening(coordinator: APIClient) -> None:
    case_id = new_case(coordinator).data["id"]
    answers = eligible_answers(cement_allergy=True)
    response = coordinator.patch(f"{URL}{case_id}/", {"screening_answers": answers}, format="json")
    assert response.data["screening_result"]["result"] == "ineligible"


def test_patch_of_a_booked_case_that_no_longer_fits_is_refused_and_changes_nothing(
    coordinator: APIClient, coordinator_user: User
) -> None:
    world = build_booking_world()
    first = world.case(estimated_minutes=60)
    book_case(case_id=first.pk, session_id=world.session.pk, start=at(9), actor=Actor.of(coordinator_user))
    book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(10), actor=Actor.of(coordinator_user))
    # The factory case claims 60 minutes; three levels under GA take longer and would hit 10:00.
    response = coordinator.patch(f"{URL}{first.pk}/", {"levels": ["L1", "L2", "L3"]}, format="json")
    assert response.status_code == 409
    assert response.data["code"] == "slot_taken"
    first.refresh_from_db()
    assert (first.levels, first.estimated_minutes, first.end) == (["L1"], 60, at(10))


def test_closed_cases_cannot_be_changed(coordinator: APIClient) -> None:
    case = CaseFactory(status="cancelled")
    response = coordinator.patch(f"{URL}{case.pk}/", {"priority": "P1"}, format="json")
    assert response.status_code == 409
    assert response.data["code"] == "invalid_transition"


def test_cases_filter_by_status_surgeon_and_priority(coordinator: APIClient) -> None:
    mine = SurgeonFactory()
    wanted = CaseFactory(surgeon=mine, priority="P1")
    CaseFactory(surgeon=mine, priority="P3")
    CaseFactory(priority="P1")
    CaseFactory(surgeon=mine, priority="P1", status="cancelled")
    body = coordinator.get(
        URL, cast(dict[str, str | int], {"status": "waiting", "surgeon": mine.pk, "priority": "P1"})
    ).data
    assert [c["id"] for c in body["results"]] == [wanted.pk]


@pytest.mark.parametrize("client_name", ["surgeon", "anaesthetist", "viewer"])
def test_only_coordinators_write_cases(request: pytest.FixtureRequest, client_name: str) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    case = CaseFactory()
    assert new_case(client).status_code == 403
    assert client.patch(f"{URL}{case.pk}/", {"priority": "P1"}, format="json").status_code == 403
    assert client.get(f"{URL}{case.pk}/").status_code == 200


def test_viewer_reads_cases_without_patient_identifiers(viewer: APIClient, surgeon: APIClient) -> None:
    case = CaseFactory()
    assert surgeon.get(f"{URL}{case.pk}/").data["patient_detail"]["nhs_number"] == case.patient.nhs_number
    body = viewer.get(f"{URL}{case.pk}/").data
    assert "patient_detail" not in body
    assert case.patient.nhs_number not in str(body)
    assert case.patient.family_name not in str(body)


def test_viewer_does_not_get_free_text_or_health_answers_that_could_identify(
    viewer: APIClient, coordinator: APIClient
) -> None:
    case = CaseFactory(notes="Mrs Quarrington's daughter will drive her", screening_answers={"inr": 1.1})
    assert coordinator.get(f"{URL}{case.pk}/").data["notes"] == case.notes
    body = viewer.get(f"{URL}{case.pk}/").data
    assert {"notes", "cancel_note", "screening_answers"}.isdisjoint(body)
    assert "Quarrington" not in str(body)


@pytest.mark.parametrize("count", [3, 30])
def test_case_list_uses_constant_queries(
    coordinator: APIClient, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    CaseFactory.create_batch(count)
    # role lookup, count, page (patient, procedure, version joined), equipment claims with units,
    # the open warnings, unavailable periods (treat_by, unavailable_on_booked_date), and the learned
    # history behind every row's predicted_minutes (once for the page)
    with django_assert_num_queries(7):
        assert len(coordinator.get(URL).data["results"]) == count
