"""Plan approval: only the case's own surgeon signs it off; any later change withdraws
it; a case is confirmed only with an approved, current plan."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection

from core.audit import history
from scheduling.models import Case, CaseStatus
from scheduling.plans.assembly import fingerprint_content, plan_fingerprint
from tests.builders.clinic import Clinic, build_clinic
from tests.builders.versions import kp_version
from tests.conftest import client_for
from tests.factories import london

APPROVE = "/api/v1/cases/{}/plan/approve/"
CONFIRM = "/api/v1/cases/{}/confirm/"
PLAN = "/api/v1/cases/{}/plan/"


@pytest.fixture
def clinic(db: None) -> Clinic:
    return build_clinic()


@pytest.fixture
def approved(db: None) -> Clinic:
    return build_clinic(approved=True)


def approval_of(clinic: Clinic, role: str = "surgeon") -> Any:
    return clinic.client(role).get(PLAN.format(clinic.case.pk)).json()["approval"]


# --- The fingerprint (pure) ---------------------------------------------------------------------


def _case(**changes: Any) -> Case:
    base = Case(
        pk=7,
        patient_id=1,
        procedure_version_id=3,
        levels=["T12", "L1"],
        approach="bipedicular",
        anaesthesia="general",
        surgeon_id=4,
        session_id=9,
        start=london(2027, 3, 1, 8),
        end=london(2027, 3, 1, 10, 8),
        screening_result={"result": "eligible"},
        priority="P3",
        notes="",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


@pytest.mark.pure
@pytest.mark.parametrize(
    "change",
    [
        {"levels": ["T12"]},
        {"levels": ["L1", "T12"]},
        {"anaesthesia": "local_sedation"},
        {"approach": "unipedicular"},
        {"session_id": 10},
        {"start": london(2027, 3, 1, 9)},
        {"procedure_version_id": 4},
        {"surgeon_id": 5},
        {"screening_result": {"result": "eligible", "warnings": [{"code": "x", "message": "y"}]}},
    ],
)
def test_fingerprint_changes_with_every_clinical_input(change: dict[str, Any]) -> None:
    assert plan_fingerprint(_case(**change)) != plan_fingerprint(_case())


@pytest.mark.pure
def test_fingerprint_ignores_what_is_not_clinical_and_the_zone_a_time_is_written_in() -> None:
    same_instant = london(2027, 3, 1, 8).astimezone(dt.UTC)
    assert plan_fingerprint(_case(priority="P1", notes="call first")) == plan_fingerprint(_case())
    assert plan_fingerprint(_case(start=same_instant)) == plan_fingerprint(_case())
    assert len(plan_fingerprint(_case())) == 64
    assert set(fingerprint_content(_case())) >= {"levels", "anaesthesia", "approach", "session", "start"}


# --- Approving ----------------------------------------------------------------------------------


def test_the_cases_own_surgeon_approves_and_who_when_and_fingerprint_are_kept(clinic: Clinic) -> None:
    response = clinic.client("surgeon").post(APPROVE.format(clinic.case.pk))
    assert response.status_code == 200
    plan = response.json()
    clinic.case.refresh_from_db()
    assert clinic.case.plan_approved_by == clinic.users["surgeon"]
    assert clinic.case.plan_approved_at is not None
    assert clinic.case.plan_fingerprint == plan["fingerprint"] == plan_fingerprint(clinic.case)
    assert plan["approval"]["approved"] is True
    assert plan["approval"]["state"] == "approved"
    entry: Any = history(clinic.case).filter(action="case.plan_approved").get()
    assert entry.actor == clinic.users["surgeon"]
    assert entry.after["plan_fingerprint"] == plan["fingerprint"]


@pytest.mark.parametrize("role", ["other_surgeon", "coordinator", "anaesthetist", "viewer", "admin"])
def test_nobody_but_the_cases_surgeon_may_approve(clinic: Clinic, role: str) -> None:
    """An admin is refused too: the sign-off is clinical, and the record must name the surgeon."""
    response = clinic.client(role).post(APPROVE.format(clinic.case.pk))
    assert response.status_code == 403
    clinic.case.refresh_from_db()
    assert clinic.case.plan_approved_at is None
    assert not history(clinic.case).filter(action="case.plan_approved").exists()


def test_a_waiting_case_cannot_be_approved_before_it_has_a_time(clinic: Clinic) -> None:
    """Booking would withdraw it at once: the session and timed steps are part of the plan."""
    Case.objects.filter(pk=clinic.case.pk).update(status=CaseStatus.WAITING, session=None, start=None, end=None)
    response = clinic.client("surgeon").post(APPROVE.format(clinic.case.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_approving_a_plan_that_changed_since_it_was_read_approves_nothing(clinic: Clinic) -> None:
    surgeon = clinic.client("surgeon")
    seen = surgeon.get(PLAN.format(clinic.case.pk)).json()["fingerprint"]
    moved = clinic.client("coordinator").post(
        f"/api/v1/cases/{clinic.case.pk}/move/", {"session": clinic.later_session.pk}, format="json"
    )
    assert moved.status_code == 200
    response = surgeon.post(APPROVE.format(clinic.case.pk), {"fingerprint": seen}, format="json")
    assert response.status_code == 409
    clinic.case.refresh_from_db()
    assert clinic.case.plan_approved_at is None


def test_approving_twice_keeps_the_first_approval(approved: Clinic) -> None:
    approved.case.refresh_from_db()
    first = approved.case.plan_approved_at
    assert approved.client("surgeon").post(APPROVE.format(approved.case.pk)).status_code == 200
    approved.case.refresh_from_db()
    assert approved.case.plan_approved_at == first
    assert history(approved.case).filter(action="case.plan_approved").count() == 1


# --- Withdrawal -----------------------------------------------------------------------------------


def test_a_move_withdraws_the_approval_and_the_plan_says_when_and_why(approved: Clinic) -> None:
    response = approved.client("coordinator").post(
        f"/api/v1/cases/{approved.case.pk}/move/", {"session": approved.later_session.pk}, format="json"
    )
    assert response.status_code == 200
    approval = approval_of(approved)
    assert approval["approved"] is False
    assert approval["state"] == "withdrawn"
    assert approval["withdrawn_at"] is not None
    assert "session or start changed" in approval["reason"]
    assert approval["withdrawn_by"] == "user:coordinator"


@pytest.mark.parametrize(
    "change", [{"levels": ["T12"]}, {"anaesthesia": "local_sedation"}, {"approach": "unipedicular"}]
)
def test_a_clinical_edit_of_the_case_withdraws_the_approval(approved: Clinic, change: dict[str, Any]) -> None:
    response = approved.client("coordinator").patch(f"/api/v1/cases/{approved.case.pk}/", change, format="json")
    assert response.status_code == 200, response.content
    approval = approval_of(approved)
    assert approval["state"] == "withdrawn"
    assert approval["approved"] is False


def test_the_case_list_does_not_report_a_stale_approval_as_approved(approved: Clinic) -> None:
    coordinator = approved.client("coordinator")
    assert coordinator.get(f"/api/v1/cases/{approved.case.pk}/").json()["plan_approved"] is True
    newer = kp_version(template=approved.version.template, number=approved.version.number + 1)
    Case.objects.filter(pk=approved.case.pk).update(procedure_version=newer)  # bypasses withdraw_approval
    assert coordinator.get(f"/api/v1/cases/{approved.case.pk}/").json()["plan_approved"] is False


def test_a_new_template_version_withdraws_the_approval_even_without_the_hook(approved: Clinic) -> None:
    """Defence in depth: a change that never called withdraw_approval still unapproves."""
    newer = kp_version(template=approved.version.template, number=approved.version.number + 1)
    Case.objects.filter(pk=approved.case.pk).update(procedure_version=newer)
    approval = approval_of(approved)
    assert approval["approved"] is False
    assert approval["state"] == "withdrawn"
    assert "fingerprint" in approval["reason"]
    response = approved.client("coordinator").post(CONFIRM.format(approved.case.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_the_surgeon_can_approve_again_after_a_withdrawal(approved: Clinic) -> None:
    approved.client("coordinator").post(
        f"/api/v1/cases/{approved.case.pk}/move/", {"session": approved.later_session.pk}, format="json"
    )
    assert approved.client("surgeon").post(APPROVE.format(approved.case.pk)).status_code == 200
    assert approval_of(approved)["state"] == "approved"


# --- Confirmation -------------------------------------------------------------------------------


def test_a_coordinator_confirms_a_booked_case_with_an_approved_plan(approved: Clinic) -> None:
    response = approved.client("coordinator").post(CONFIRM.format(approved.case.pk))
    assert response.status_code == 200
    assert response.json()["case"]["status"] == "confirmed"
    approved.case.refresh_from_db()
    assert approved.case.status == CaseStatus.CONFIRMED
    entry = history(approved.case).filter(action="case.confirmed").get()
    assert (entry.before, entry.after) == ({"status": "booked"}, {"status": "confirmed"})
    assert entry.actor == approved.users["coordinator"]


def test_a_case_without_an_approved_plan_is_not_confirmed(clinic: Clinic) -> None:
    response = clinic.client("coordinator").post(CONFIRM.format(clinic.case.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.BOOKED
    assert not history(clinic.case).filter(action="case.confirmed").exists()


@pytest.mark.parametrize("status", [CaseStatus.WAITING, CaseStatus.CONFIRMED, CaseStatus.CANCELLED])
def test_only_a_booked_case_can_be_confirmed(approved: Clinic, status: str) -> None:
    Case.objects.filter(pk=approved.case.pk).update(status=status)
    response = approved.client("coordinator").post(CONFIRM.format(approved.case.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


@pytest.mark.parametrize("role", ["surgeon", "anaesthetist", "viewer"])
def test_only_coordinators_and_admins_confirm(approved: Clinic, role: str) -> None:
    assert approved.client(role).post(CONFIRM.format(approved.case.pk)).status_code == 403
    assert approved.client("admin").post(CONFIRM.format(approved.case.pk)).status_code == 200


def test_moving_a_confirmed_case_sends_it_back_to_booked_without_approval(db: None) -> None:
    clinic = build_clinic(confirmed=True)
    response = clinic.client("coordinator").post(
        f"/api/v1/cases/{clinic.case.pk}/move/", {"session": clinic.later_session.pk}, format="json"
    )
    assert response.status_code == 200
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.BOOKED
    assert approval_of(clinic)["state"] == "withdrawn"
    again = clinic.client("coordinator").post(CONFIRM.format(clinic.case.pk))
    assert again.status_code == 409


def test_a_repeated_confirm_with_the_same_idempotency_key_replays_the_first_answer(approved: Clinic) -> None:
    client = approved.client("coordinator")
    first = client.post(CONFIRM.format(approved.case.pk), HTTP_IDEMPOTENCY_KEY="confirm-1")
    again = client.post(CONFIRM.format(approved.case.pk), HTTP_IDEMPOTENCY_KEY="confirm-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert history(approved.case).filter(action="case.confirmed").count() == 1
    # Without the key, a second confirm is a second (refused) request.
    assert client.post(CONFIRM.format(approved.case.pk)).status_code == 409


# serialized_rollback: the flush after this test must not wipe the role groups and seeded
# templates (migration data) that later tests rely on, nor re-create content types.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_approval_racing_a_move_never_leaves_a_stale_approval() -> None:
    """Given a booked case, when its surgeon approves while a coordinator moves it, then either
    the move came second and withdrew the approval, or the approval came second and covers the
    moved plan: an approval never points at the old time."""
    clinic = build_clinic()
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def act(role: str, url: str, body: dict[str, Any]) -> None:
        try:
            client = client_for(clinic.users[role])
            barrier.wait()
            codes[role] = client.post(url, body, format="json").status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=("surgeon", APPROVE.format(clinic.case.pk), {})),
        threading.Thread(
            target=act,
            args=("coordinator", f"/api/v1/cases/{clinic.case.pk}/move/", {"session": clinic.later_session.pk}),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == {"surgeon": 200, "coordinator": 200}
    case = Case.objects.get(pk=clinic.case.pk)
    assert case.session_id == clinic.later_session.pk
    if case.plan_approved_at is not None:
        assert case.plan_fingerprint == plan_fingerprint(case)
    else:
        assert history(case).filter(action="case.plan_approval_withdrawn").exists()
