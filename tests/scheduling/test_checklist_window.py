"""The WHO sign in only on the day of the list, from shortly before its start, in the site's zone
(DESIGN §5.8); anything else is refused with its own code unless a coordinator overrides it with a
reason, and both the override and its use are audited."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pytest_django import Settings

from core.audit import Actor, history
from core.errors import ErrorCode
from scheduling.booking import move_case
from scheduling.checklist import sign_in_refusal
from scheduling.models import CaseStatus, ChecklistEntry
from tests.builders.clinic import PHASE_ITEMS, Clinic, build_clinic
from tests.conftest import FreezeClock
from tests.factories import london

LONDON = ZoneInfo("Europe/London")
URL = "/api/v1/cases/{}/checklist/"
OVERRIDE_URL = "/api/v1/cases/{}/checklist/sign-in-override/"
HOUR = dt.timedelta(hours=1)


# --- The rule (pure) ---------------------------------------------------------------------------


@pytest.mark.pure
@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        (london(2027, 3, 1, 7, 0), None),  # 60 minutes before the 08:00 list
        (london(2027, 3, 1, 6, 59), ErrorCode.SIGN_IN_TOO_EARLY),
        (london(2027, 3, 1, 12, 0), None),
        (london(2027, 3, 1, 23, 59), None),  # an overrunning list, still its day
        (london(2027, 3, 2, 0, 1), ErrorCode.NOT_LIST_DAY),
        (london(2027, 2, 28, 9, 0), ErrorCode.NOT_LIST_DAY),
        (london(2027, 2, 15, 8, 0), ErrorCode.NOT_LIST_DAY),  # a fortnight early, the case
    ],
)
def test_sign_in_is_on_the_lists_day_from_an_hour_before_it(now: dt.datetime, refusal: ErrorCode | None) -> None:
    assert sign_in_refusal(now=now, list_start=london(2027, 3, 1, 8, 0), zone=LONDON, lead=HOUR) == refusal


@pytest.mark.pure
def test_the_day_is_the_sites_local_date_not_utcs() -> None:
    """In British Summer Time 00:30 local is 23:30 UTC the evening before: with a long lead, a list
    at 08:00 BST may be signed in at 00:30 BST, and never at 23:30 BST the day before, whatever UTC says."""
    list_start = london(2027, 6, 7, 8, 0)
    lead = dt.timedelta(hours=10)
    just_after_midnight = dt.datetime(2027, 6, 6, 23, 30, tzinfo=dt.UTC)  # 00:30 BST on the 7th
    just_before_midnight = dt.datetime(2027, 6, 6, 22, 30, tzinfo=dt.UTC)  # 23:30 BST on the 6th
    assert sign_in_refusal(now=just_after_midnight, list_start=list_start, zone=LONDON, lead=lead) is None
    assert (
        sign_in_refusal(now=just_before_midnight, list_start=list_start, zone=LONDON, lead=lead)
        == ErrorCode.NOT_LIST_DAY
    )


@pytest.mark.pure
def test_on_the_spring_clock_change_the_hour_before_is_counted_in_real_time() -> None:
    """28 March 2027: clocks go forward at 01:00 GMT. A list at 02:30 BST (01:30 UTC) opens an hour
    earlier in real time, 00:30 GMT; 00:29 GMT is too early, on the same local day."""
    list_start = dt.datetime(2027, 3, 28, 2, 30, tzinfo=LONDON)
    opens = dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.UTC)
    assert sign_in_refusal(now=opens, list_start=list_start, zone=LONDON, lead=HOUR) is None
    early = opens - dt.timedelta(minutes=1)
    assert sign_in_refusal(now=early, list_start=list_start, zone=LONDON, lead=HOUR) == ErrorCode.SIGN_IN_TOO_EARLY


# --- Through the API -----------------------------------------------------------------------------


@pytest.fixture
def clinic(db: None) -> Clinic:
    """A confirmed case at 08:00 on Monday 1 March 2027 (GMT), list 08:00-13:00."""
    return build_clinic(confirmed=True)


def sign(clinic: Clinic, phase: str, role: str = "anaesthetist") -> tuple[int, dict[str, object]]:
    response = clinic.client(role).post(
        URL.format(clinic.case.pk), {"phase": phase, "items": PHASE_ITEMS[phase]}, format="json"
    )
    return response.status_code, response.json()


def test_no_phase_can_be_signed_a_fortnight_before_the_list(clinic: Clinic, freeze_clock: FreezeClock) -> None:
    """The gap the issue found: all three phases signed on 2 December for an operation on 17 December,
    and the case completed. Now the sign in is refused, and the later phases wait for it."""
    freeze_clock(london(2027, 2, 15, 10, 0))
    status, body = sign(clinic, "sign_in")
    assert (status, body["code"]) == (409, "not_list_day")
    assert "1 March 2027" in str(body["detail"])
    assert body["opens_at"] == london(2027, 3, 1, 7, 0).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    for phase in ("time_out", "sign_out"):
        assert sign(clinic, phase, "surgeon")[1]["code"] == "checklist_order"
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.CONFIRMED
    assert not ChecklistEntry.objects.filter(case=clinic.case).exists()
    assert not history(clinic.case).filter(action__startswith="case.checklist").exists()


def test_sign_in_too_early_on_the_day_names_the_opening_time(clinic: Clinic, freeze_clock: FreezeClock) -> None:
    freeze_clock(london(2027, 3, 1, 6, 30))
    status, body = sign(clinic, "sign_in")
    assert (status, body["code"]) == (409, "sign_in_too_early")
    assert "07:00" in str(body["detail"])

    freeze_clock(london(2027, 3, 1, 7, 0))
    assert sign(clinic, "sign_in")[0] == 201


def test_the_lead_is_a_setting(clinic: Clinic, freeze_clock: FreezeClock, settings: Settings) -> None:
    settings.CHECKLIST_SIGN_IN_LEAD_MINUTES = 30
    freeze_clock(london(2027, 3, 1, 7, 29))
    assert sign(clinic, "sign_in")[1]["code"] == "sign_in_too_early"
    freeze_clock(london(2027, 3, 1, 7, 30))
    assert sign(clinic, "sign_in")[0] == 201


def test_the_checklist_shows_when_sign_in_opens(clinic: Clinic) -> None:
    body = clinic.client("viewer").get(URL.format(clinic.case.pk)).json()
    assert body["sign_in_opens_at"] == london(2027, 3, 1, 7, 0).astimezone(dt.UTC).isoformat()
    assert body["sign_in_override"] is None


def test_a_coordinators_override_lets_the_team_sign_in_outside_the_window_audited(
    clinic: Clinic, freeze_clock: FreezeClock
) -> None:
    """Given the list overran past midnight, when a coordinator overrides with a reason, then the team
    can sign the patient in; the grant and its use are in the case's audit trail with the reason."""
    freeze_clock(london(2027, 3, 2, 0, 20))
    assert sign(clinic, "sign_in")[1]["code"] == "not_list_day"

    granted = clinic.client("coordinator").post(
        OVERRIDE_URL.format(clinic.case.pk), {"reason": "List overran past midnight; patient fasted and ready"}
    )
    assert granted.status_code == 200
    assert granted.json()["sign_in_override"]["reason"] == "List overran past midnight; patient fasted and ready"
    assert granted.json()["sign_in_override"]["granted_by"] == "coordinator"

    status, body = sign(clinic, "sign_in")
    assert status == 201 and body["case_status"] == "in_theatre"
    trail = {entry.action: entry for entry in history(clinic.case)}
    assert trail["case.sign_in_override_granted"].actor_label == "user:coordinator"
    assert trail["case.sign_in_override_granted"].reason == "List overran past midnight; patient fasted and ready"
    assert trail["case.sign_in_override_used"].actor_label == "user:anaesthetist"
    assert "not_list_day" in trail["case.checklist_sign_in"].reason
    assert "List overran past midnight" in trail["case.checklist_sign_in"].reason


def test_an_override_needs_a_reason_and_a_coordinator(clinic: Clinic) -> None:
    url = OVERRIDE_URL.format(clinic.case.pk)
    refused = clinic.client("coordinator").post(url, {"reason": "  "}, format="json")
    assert refused.status_code == 400
    assert clinic.client("anaesthetist").post(url, {"reason": "I'd like to"}, format="json").status_code == 403
    assert not history(clinic.case).filter(action="case.sign_in_override_granted").exists()


def test_an_override_holds_for_the_booked_start_it_was_given_for(clinic: Clinic, freeze_clock: FreezeClock) -> None:
    """Moved to another list, the case needs a new override: it never carries a patient into a day
    nobody reviewed."""
    coordinator = clinic.users["coordinator"]
    assert coordinator is not None
    assert (
        clinic.client("coordinator")
        .post(OVERRIDE_URL.format(clinic.case.pk), {"reason": "Brought forward"}, format="json")
        .status_code
        == 200
    )
    move_case(
        case_id=clinic.case.pk,
        session_id=clinic.later_session.pk,
        actor=Actor.of(coordinator),
        now=london(2027, 2, 20, 9, 0),
    )
    clinic.case.refresh_from_db()
    assert clinic.case.status == CaseStatus.BOOKED  # the move withdrew the confirmation
    body = clinic.client("viewer").get(URL.format(clinic.case.pk)).json()
    assert body["sign_in_override"] is None
