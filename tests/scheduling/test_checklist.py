"""The WHO Surgical Safety Checklist: sign in, time out, sign out, in that order, with
the exact WHO 2009 items, signed and timed; it carries the case into theatre and out of it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from core.audit import history
from core.errors import InvalidInput
from scheduling.checklist import ITEMS, PHASE_ORDER, validate_items
from scheduling.models import Case, CaseStatus, ChecklistEntry
from tests.builders.clinic import PHASE_ITEMS, SIGN_IN, Clinic, build_clinic
from tests.conftest import FreezeClock, client_for
from tests.factories import london

URL = "/api/v1/cases/{}/checklist/"


@pytest.fixture
def clinic(db: None, freeze_clock: FreezeClock) -> Clinic:
    """A confirmed case at 08:00 on Monday 1 March 2027, and the clock stopped at 07:55 that day:
    the team signs in the anaesthetic room on the day of the list."""
    clinic = build_clinic(confirmed=True)
    freeze_clock(london(2027, 3, 1, 7, 55))
    return clinic


def sign(clinic: Clinic, phase: str, role: str = "anaesthetist", items: Any = None) -> Any:
    body = {"phase": phase, "items": PHASE_ITEMS[phase] if items is None else items}
    return clinic.client(role).post(URL.format(clinic.case.pk), body, format="json")


# --- The items as data --------------------------------------------------------------------------


@pytest.mark.pure
def test_the_checklist_holds_the_who_2009_items_of_each_phase() -> None:
    assert PHASE_ORDER == ("sign_in", "time_out", "sign_out")
    codes = {phase: [item.code for item in ITEMS[phase]] for phase in PHASE_ORDER}
    assert codes["sign_in"] == [
        "identity_site_procedure_consent",
        "site_marked",
        "anaesthesia_safety_check",
        "pulse_oximeter",
        "known_allergy",
        "difficult_airway_aspiration_risk",
        "blood_loss_risk",
    ]
    assert codes["time_out"] == [
        "team_introduced",
        "patient_site_procedure_confirmed",
        "antibiotic_prophylaxis",
        "surgeon_critical_events",
        "anaesthetist_critical_events",
        "nursing_critical_events",
        "essential_imaging_displayed",
    ]
    assert codes["sign_out"] == [
        "procedure_recorded",
        "counts_complete",
        "specimen_labelled",
        "equipment_problems_addressed",
        "recovery_concerns_reviewed",
    ]
    labels = " ".join(item.label for phase in PHASE_ORDER for item in ITEMS[phase])
    for words in ("Pulse oximeter", "500 mL", "60 minutes", "introduced themselves", "counts", "Specimen"):
        assert words in labels


@pytest.mark.pure
def test_missing_unknown_and_unticked_items_are_all_named() -> None:
    items = {**SIGN_IN, "pulse_oximeter": False, "coffee_ready": True}
    del items["site_marked"], items["blood_loss_risk"]
    with pytest.raises(InvalidInput) as caught:
        validate_items(phase="sign_in", items=items)
    detail = caught.value.detail
    assert "site_marked" in detail and "blood_loss_risk" in detail
    assert "coffee_ready" in detail and "pulse_oximeter" in detail
    assert caught.value.extra["missing"] == ["site_marked", "blood_loss_risk"]
    assert caught.value.extra["unknown"] == ["coffee_ready"]


@pytest.mark.pure
def test_an_answer_must_be_one_the_item_accepts() -> None:
    with pytest.raises(InvalidInput):
        validate_items(phase="sign_in", items={**SIGN_IN, "known_allergy": "maybe"})
    with pytest.raises(InvalidInput):  # 1 is not a ticked box, though 1 == True in Python
        validate_items(phase="sign_in", items={**SIGN_IN, "pulse_oximeter": 1})
    assert validate_items(phase="sign_in", items={**SIGN_IN, "site_marked": "not_applicable"})["site_marked"] == (
        "not_applicable"
    )


# --- Recording phases ---------------------------------------------------------------------------


def test_a_surgeon_from_another_list_cannot_sign_this_patient_in(clinic: Clinic) -> None:
    refused = sign(clinic, "sign_in", "other_surgeon")
    assert refused.status_code == 403
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.CONFIRMED
    assert not ChecklistEntry.objects.filter(case=clinic.case).exists()


def test_the_three_phases_take_a_confirmed_case_into_theatre_and_complete_it(clinic: Clinic) -> None:
    first = sign(clinic, "sign_in", "anaesthetist")
    assert first.status_code == 201
    assert first.json()["case_status"] == "in_theatre"
    assert sign(clinic, "time_out", "surgeon").json()["case_status"] == "in_theatre"
    last = sign(clinic, "sign_out", "anaesthetist")
    assert last.status_code == 201
    assert last.json()["case_status"] == "completed"
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.COMPLETED
    entries = list(ChecklistEntry.objects.filter(case=clinic.case).order_by("signed_at"))
    assert [(e.phase, e.signed_by.username) for e in entries] == [
        ("sign_in", "anaesthetist"),
        ("time_out", "surgeon"),
        ("sign_out", "anaesthetist"),
    ]
    assert entries[0].items == SIGN_IN
    assert entries[0].signed_at <= entries[1].signed_at <= entries[2].signed_at
    actions = list(history(clinic.case).values_list("action", flat=True))
    assert actions[-5:] == [
        "case.checklist_sign_in",
        "case.in_theatre",
        "case.checklist_time_out",
        "case.checklist_sign_out",
        "case.completed",
    ]


def test_signing_out_shows_the_pending_pre_op_reminders_skipped_at_once(clinic: Clinic) -> None:
    """A case completed early in the morning: its pre-op advice is over. It is marked skipped with
    `case_completed` at the sign out (audited as the signer's write), not left pending until due;
    its follow-ups stay pending, to go out after the operation."""
    from scheduling.models import Reminder

    for phase in PHASE_ORDER:
        assert sign(clinic, phase).status_code == 201
    rows = {r.kind.split("@")[0]: r for r in Reminder.objects.filter(case=clinic.case)}
    pre_op = [r for kind, r in rows.items() if not kind.startswith("follow_up")]
    assert pre_op and all(r.status == "skipped" and r.skip_reason == "case_completed" for r in pre_op)
    follow_ups = [r for kind, r in rows.items() if kind.startswith("follow_up")]
    assert follow_ups and all(r.status == "pending" for r in follow_ups)
    entry = history(pre_op[0]).get(action="reminder.skipped")
    assert entry.actor_label == "user:anaesthetist"


@pytest.mark.parametrize(
    ("done", "phase"),
    [([], "time_out"), ([], "sign_out"), (["sign_in"], "sign_out"), (["sign_in"], "sign_in")],
)
def test_a_phase_out_of_order_or_twice_is_refused(clinic: Clinic, done: list[str], phase: str) -> None:
    for earlier in done:
        assert sign(clinic, earlier).status_code == 201
    response = sign(clinic, phase)
    assert response.status_code == 409
    assert response.json()["code"] == "checklist_order"
    assert ChecklistEntry.objects.filter(case=clinic.case).count() == len(done)


def test_a_completed_case_cannot_be_signed_again(clinic: Clinic) -> None:
    for phase in PHASE_ORDER:
        sign(clinic, phase)
    response = sign(clinic, "sign_out")
    assert response.status_code == 409
    assert response.json()["code"] == "checklist_order"


def test_missing_items_get_400_naming_them_and_change_nothing(clinic: Clinic) -> None:
    items = {k: v for k, v in SIGN_IN.items() if k not in {"pulse_oximeter", "known_allergy"}}
    response = sign(clinic, "sign_in", items=items)
    assert response.status_code == 400
    body = response.json()
    assert body["missing"] == ["pulse_oximeter", "known_allergy"]
    assert "pulse_oximeter" in body["errors"]["items"][0]
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.CONFIRMED
    assert not ChecklistEntry.objects.filter(case=clinic.case).exists()
    assert not history(clinic.case).filter(action__startswith="case.checklist").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"phase": "sign_in", "items": {**SIGN_IN, "extra_box": True}},
        {"phase": "sign_in", "items": list(SIGN_IN)},
        {"phase": "debrief", "items": {}},
        {"items": SIGN_IN},
    ],
)
def test_malformed_phases_get_400(clinic: Clinic, body: dict[str, Any]) -> None:
    response = clinic.client("anaesthetist").post(URL.format(clinic.case.pk), body, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("status", [CaseStatus.BOOKED, CaseStatus.WAITING, CaseStatus.CANCELLED])
def test_sign_in_needs_a_confirmed_case(clinic: Clinic, status: str) -> None:
    Case.objects.filter(pk=clinic.case.pk).update(status=status)
    response = sign(clinic, "sign_in")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert not ChecklistEntry.objects.filter(case=clinic.case).exists()


def test_sign_in_on_a_merely_booked_case_is_an_invalid_transition(db: None) -> None:
    clinic = build_clinic(approved=True)
    response = sign(clinic, "sign_in")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_a_plan_changed_after_confirmation_does_not_go_into_theatre(clinic: Clinic) -> None:
    Case.objects.filter(pk=clinic.case.pk).update(levels=["T12"])  # bypassing withdraw_approval
    response = sign(clinic, "sign_in")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


@pytest.mark.parametrize("role", ["coordinator", "viewer", "admin", "anonymous"])
def test_only_the_theatre_team_signs(clinic: Clinic, role: str) -> None:
    assert sign(clinic, "sign_in", role).status_code == (401 if role == "anonymous" else 403)
    assert not ChecklistEntry.objects.filter(case=clinic.case).exists()


def test_reading_the_checklist_shows_recorded_phases_and_the_next_one(clinic: Clinic) -> None:
    sign(clinic, "sign_in")
    body = clinic.client("viewer").get(URL.format(clinic.case.pk)).json()
    assert body["next_phase"] == "time_out"
    assert [p["phase"] for p in body["phases"]] == ["sign_in"]
    assert body["phases"][0]["signed_by"]["username"] == "anaesthetist"
    assert [d["phase"] for d in body["definition"]] == list(PHASE_ORDER)


# serialized_rollback: the flush after this test must not wipe the role groups and seeded
# templates (migration data) that later tests rely on, nor re-create content types.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_devices_signing_in_at_once_record_it_once(freeze_clock: FreezeClock) -> None:
    """Given a confirmed case, when the anaesthetist and the surgeon both press sign in at the
    same moment on separate connections, then one is recorded and the other gets checklist_order."""
    clinic = build_clinic(confirmed=True)
    freeze_clock(london(2027, 3, 1, 7, 55))  # on the list's day
    barrier = threading.Barrier(2)
    results: list[int] = []

    def press(role: str) -> None:
        try:
            client = client_for(clinic.users[role])
            barrier.wait()
            response = client.post(URL.format(clinic.case.pk), {"phase": "sign_in", "items": SIGN_IN}, format="json")
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(role,)) for role in ("anaesthetist", "surgeon")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 409]
    assert ChecklistEntry.objects.filter(case=clinic.case, phase="sign_in").count() == 1
    assert history(clinic.case).filter(action="case.in_theatre").count() == 1


def test_a_confirmed_case_edited_after_approval_goes_in_only_once_re_approved_and_confirmed(clinic: Clinic) -> None:
    edited = clinic.client("coordinator").patch(f"/api/v1/cases/{clinic.case.pk}/", {"levels": ["L1"]}, format="json")
    assert edited.status_code == 200
    assert edited.json()["status"] == "booked"  # the confirmation rested on the old plan
    refused = sign(clinic, "sign_in")
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    assert clinic.client("surgeon").post(f"/api/v1/cases/{clinic.case.pk}/plan/approve/").status_code == 200
    assert sign(clinic, "sign_in").status_code == 409  # approved again, but not yet re-confirmed
    assert clinic.client("coordinator").post(f"/api/v1/cases/{clinic.case.pk}/confirm/").status_code == 200
    assert sign(clinic, "sign_in").status_code == 201
