"""GET /reminders/?case=: a case's reminders, status and warnings; contact data hidden from viewers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from scheduling.models import Reminder, ReminderStatus
from tests.builders.world import World, build_reminder_world, next_monday
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/reminders/"


@pytest.fixture
def world() -> World:
    return build_reminder_world()


@pytest.mark.parametrize("client_name", ["coordinator", "surgeon", "anaesthetist", "admin"])
def test_clinical_roles_see_each_reminder_with_its_status_and_recipient(
    world: World, client_name: str, request: pytest.FixtureRequest
) -> None:
    case = world.booked(world.session_on(next_monday(), status="planned"))
    failed = Reminder.objects.get(case=case, kind="preop_assessment")
    Reminder.objects.filter(pk=failed.pk).update(status=ReminderStatus.FAILED, last_error="SMTPDataError: 554 refused")

    response = request.getfixturevalue(client_name).get(URL, {"case": case.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["case"] == case.pk and body["reference"] == case.reference
    assert body["count"] == Reminder.objects.filter(case=case).count() == len(body["results"])
    row = next(r for r in body["results"] if r["id"] == failed.pk)
    assert row["status"] == "failed" and row["last_error"] == "SMTPDataError: 554 refused"
    assert row["recipient"] == case.patient.email
    assert {"kind", "channel", "due_at", "sent_at", "attempts"} <= set(row)


def test_viewer_sees_statuses_but_no_contact_details(world: World, viewer: APIClient) -> None:
    case = world.booked(world.session_on(next_monday(), status="planned"))
    Reminder.objects.filter(case=case, kind="preop_assessment").update(
        status=ReminderStatus.FAILED, last_error=f"550 <{case.patient.email}> unknown"
    )
    response = viewer.get(URL, {"case": case.pk})
    assert response.status_code == 200
    assert case.patient.email not in response.content.decode()
    assert case.patient.phone not in response.content.decode()
    assert all("recipient" not in r for r in response.json()["results"])
    assert any(r["status"] == "failed" for r in response.json()["results"])


def test_patient_without_contact_details_shows_the_warning(world: World, coordinator: APIClient) -> None:
    case = world.booked(world.session_on(next_monday(), status="planned"), patient_kwargs={"email": "", "phone": ""})
    body = coordinator.get(URL, {"case": case.pk}).json()
    assert body["results"] == []
    assert [w["code"] for w in body["warnings"]] == ["no_contact_details"]
    # The coordinator sees it on the case too, where the booking is made.
    on_case = coordinator.get(f"/api/v1/cases/{case.pk}/").json()
    assert [w["code"] for w in on_case["reminder_warnings"]] == ["no_contact_details"]


def test_case_is_required_and_must_exist(world: World, coordinator: APIClient) -> None:
    missing = coordinator.get(URL)
    assert missing.status_code == 400 and missing.json()["errors"] == {"case": ["Give the case id, e.g. ?case=12."]}
    assert coordinator.get(URL, {"case": "abc"}).status_code == 400
    assert coordinator.get(URL, {"case": 999_999}).status_code == 404


def test_anonymous_is_refused(world: World, anon_client: APIClient) -> None:
    assert anon_client.get(URL, {"case": 1}).status_code in (401, 403)


def test_query_count_does_not_grow_with_the_number_of_reminders(
    world: World, coordinator_user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    monday = next_monday()
    small = world.booked(world.session_on(monday, status="planned"), anaesthesia="local_sedation")
    large = world.booked(
        world.session_on(monday, hour=14, hours=4, status="planned"),
        patient_kwargs={"reminder_channels": ["email", "sms"]},
        screening_result={"result": "eligible", "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]},
    )
    assert Reminder.objects.filter(case=large).count() > 2 * Reminder.objects.filter(case=small).count()
    for case in (small, large):
        client = client_for(User.objects.get(username="coord"))  # a fresh user, as each request loads it
        # 1 the user's groups (roles), 2 the case with its patient and reminder plan, 3 the reminders
        with django_assert_num_queries(3):
            assert client.get(URL, {"case": case.pk}).status_code == 200
