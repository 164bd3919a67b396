"""Recording theatre milestones (DESIGN §5.1): GET/POST /cases/{id}/times/, merged, in order,
plausible, corrected only with a reason, audited; and the WHO sign out refusing contradicting times."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from core.audit import history
from core.models import AuditEntry
from scheduling import checklist, theatre_times
from scheduling.milestones import MILESTONES
from scheduling.models import Case, CaseTimes, ChecklistEntry
from tests.builders.clinic import PHASE_ITEMS
from tests.builders.theatre_day import TheatreDay, at, build_theatre_day

DAY = dt.date(2026, 11, 2)
URL = "/api/v1/cases/{}/times/"


@pytest.fixture
def unit(db: None) -> TheatreDay:
    return build_theatre_day()


@pytest.fixture
def case(unit: TheatreDay) -> Case:
    return unit.signed_in(unit.session(DAY), "08:00")


def post(unit: TheatreDay, case: Case, body: dict[str, Any], role: str = "anaesthetist") -> Any:
    response = unit.client(role).post(URL.format(case.pk), body, format="json")
    return response


def iso(hhmm: str, day: dt.date = DAY) -> str:
    return at(day, hhmm).isoformat()


def stored(case: Case) -> dict[str, Any]:
    return dict(CaseTimes.objects.filter(case=case).values().first() or {})


def test_the_team_records_times_and_a_second_post_merges(unit: TheatreDay, case: Case) -> None:
    first = post(unit, case, {"milestones": {"anaesthesia_start": iso("08:05"), "in_theatre": iso("08:15")}})
    assert first.status_code == 200, first.content
    second = post(unit, case, {"milestones": {"out_of_theatre": iso("09:10")}}, role="surgeon")
    assert second.status_code == 200, second.content
    body = second.json()
    assert list(body["milestones"]) == list(body["order"]) == list(MILESTONES)  # the contract's order
    assert body["milestones"]["anaesthesia_start"] == "2026-11-02T08:05:00Z"
    assert body["milestones"]["knife_to_skin"] is None
    assert body["touch"] == {"start": "2026-11-02T08:05:00Z", "end": "2026-11-02T09:10:00Z", "minutes": 65}
    assert (body["case"], body["status"], body["session"]) == (case.pk, "in_theatre", case.session_id)
    assert unit.client("viewer").get(URL.format(case.pk)).json() == body


def test_times_are_kept_to_the_minute(unit: TheatreDay, case: Case) -> None:
    response = post(unit, case, {"milestones": {"in_theatre": "2026-11-02T08:15:42.5+00:00"}})
    assert response.json()["milestones"]["in_theatre"] == "2026-11-02T08:15:00Z"
    # The same minute again, with other seconds, is not a correction: no reason needed, nothing written.
    entries = history(case).count()
    assert post(unit, case, {"milestones": {"in_theatre": "2026-11-02T08:15:07+00:00"}}).status_code == 200
    assert history(case).count() == entries


def test_out_of_order_is_400_naming_the_fields_and_changes_nothing(unit: TheatreDay, case: Case) -> None:
    post(unit, case, {"milestones": {"knife_to_skin": iso("08:30")}})
    before, entries = stored(case), AuditEntry.objects.count()
    response = post(unit, case, {"milestones": {"closure": iso("08:20"), "in_recovery": iso("09:00")}})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "out_of_order"
    assert set(body["errors"]) == {"knife_to_skin", "closure"}
    assert body["problems"][0]["fields"] == ["knife_to_skin", "closure"]
    assert stored(case) == before and AuditEntry.objects.count() == entries


def test_a_correction_needs_a_reason_and_is_audited(unit: TheatreDay, case: Case) -> None:
    post(unit, case, {"milestones": {"in_theatre": iso("08:15"), "knife_to_skin": iso("08:30")}})
    refused = post(unit, case, {"milestones": {"in_theatre": iso("08:12")}})
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["fields"]) == ("reason_required", ["in_theatre"])
    assert "reason" in refused.json()["errors"]

    cleared = post(unit, case, {"milestones": {"knife_to_skin": None}})
    assert cleared.status_code == 400 and cleared.json()["code"] == "reason_required"

    body = {"milestones": {"in_theatre": iso("08:12"), "knife_to_skin": None}, "reason": "wall clock was 3 min fast"}
    assert post(unit, case, body, role="surgeon").status_code == 200
    entry = history(case).filter(action="case.times_corrected").get()
    assert entry.reason == "wall clock was 3 min fast"
    assert entry.actor_label == "user:t-surgeon"
    assert entry.before == {"in_theatre": "2026-11-02T08:15:00+00:00", "knife_to_skin": "2026-11-02T08:30:00+00:00"}
    assert entry.after == {"in_theatre": "2026-11-02T08:12:00+00:00", "knife_to_skin": None}
    first = history(case).filter(action="case.times_recorded").get()
    assert first.reason == "" and first.actor_label == "user:t-anaesthetist"


def test_a_time_a_few_minutes_ahead_is_a_clock_difference_but_not_further(unit: TheatreDay) -> None:
    """A list under way now: the anaesthetic machine's clock runs 3 minutes ahead of the server."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    session = unit.session(now.date(), start="00:00", end="23:59")
    session.start, session.end = now - dt.timedelta(hours=2), now + dt.timedelta(hours=2)
    session.save()
    case = unit.signed_in(session, session.start.astimezone(at(DAY, "00:00").tzinfo).strftime("%H:%M"))
    ahead = {"milestones": {"anaesthesia_start": (now + dt.timedelta(minutes=3)).isoformat()}}
    assert post(unit, case, ahead).status_code == 200
    too_far = post(unit, case, {"milestones": {"in_theatre": (now + dt.timedelta(minutes=30)).isoformat()}})
    assert too_far.status_code == 400
    assert (too_far.json()["code"], list(too_far.json()["errors"])) == ("time_in_future", ["in_theatre"])


def test_a_time_on_the_wrong_day_is_refused(unit: TheatreDay, case: Case) -> None:
    response = post(unit, case, {"milestones": {"in_theatre": iso("08:15", dt.date(2026, 10, 2))}})
    assert response.status_code == 400
    assert response.json()["code"] == "outside_list_window"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"milestones": {"incision": "2026-11-02T08:30:00+00:00"}}, "incision"),
        ({"milestones": {"in_theatre": "2026-11-02T08:30:00"}}, "in_theatre"),  # naive: ambiguous across DST
        ({"milestones": {"in_theatre": "half past eight"}}, "in_theatre"),
        ({"milestones": {}}, "milestones"),
        ({"milestones": ["in_theatre"]}, "milestones"),
        ({}, "milestones"),
        ({"milestones": {"in_theatre": "2026-11-02T08:30:00+00:00"}, "reason": "x" * 501}, "reason"),
    ],
)
def test_bad_input_is_400_with_a_code_and_changes_nothing(
    unit: TheatreDay, case: Case, body: dict[str, Any], field: str
) -> None:
    response = post(unit, case, body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid"
    assert field in str(payload["errors"])
    assert stored(case) == {}


@pytest.mark.parametrize("status", ["waiting", "booked", "confirmed", "cancelled"])
def test_times_are_only_for_a_case_in_theatre_or_completed(unit: TheatreDay, status: str) -> None:
    session = unit.session(DAY)
    case = unit.booked(session, "08:00")
    unplaced = {"session": None, "start": None, "end": None} if status in ("waiting", "cancelled") else {}
    Case.objects.filter(pk=case.pk).update(status=status, **unplaced)
    response = post(unit, case, {"milestones": {"in_theatre": iso("08:15")}}, role="coordinator")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_a_surgeon_from_another_list_may_not_record(unit: TheatreDay, case: Case) -> None:
    response = post(unit, case, {"milestones": {"in_theatre": iso("08:15")}}, role="other_surgeon")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    # The service holds the rule for every caller, not only the API.
    with pytest.raises(PermissionDenied):
        theatre_times.record_times(
            case_id=case.pk, values={"in_theatre": at(DAY, "08:15")}, actor=unit.actor("other_surgeon")
        )
    assert stored(case) == {}


def test_after_sign_out_the_operation_cannot_be_recorded_as_starting_later(unit: TheatreDay, case: Case) -> None:
    post(unit, case, {"milestones": {"anaesthesia_start": iso("08:05"), "in_theatre": iso("08:15")}})
    unit.signed_out(case)
    # The team signed out at 09:00 on the day.
    ChecklistEntry.objects.filter(case=case, phase="sign_out").update(signed_at=at(DAY, "09:00"))
    # Typing up the register afterwards is fine, closure and leaving theatre may follow the sign out ...
    body = {"milestones": {"knife_to_skin": iso("08:30"), "closure": iso("09:20"), "out_of_theatre": iso("09:30")}}
    assert post(unit, case, body).status_code == 200
    # ... but an incision after the patient was signed out contradicts the sign out.
    response = post(unit, case, {"milestones": {"knife_to_skin": iso("09:06")}, "reason": "typo?"})
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["errors"])) == ("after_sign_out", ["knife_to_skin"])
    assert stored(case)["knife_to_skin"] == at(DAY, "08:30")


def test_sign_out_is_refused_while_the_times_contradict_it(unit: TheatreDay) -> None:
    """Times from a system whose clock ran an hour ahead put the incision after the sign out: the
    case is not completed on them; corrected (with a reason), it is."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    session = unit.session(now.date())
    session.start, session.end = now - dt.timedelta(hours=1), now + dt.timedelta(hours=3)
    session.save()
    case = unit.signed_in(session, session.start.astimezone(at(DAY, "00:00").tzinfo).strftime("%H:%M"))
    ahead = {"in_theatre": now - dt.timedelta(minutes=30), "knife_to_skin": now + dt.timedelta(minutes=50)}
    theatre_times.record_times(
        case_id=case.pk, values=ahead, actor=unit.actor("coordinator"), now=now + dt.timedelta(hours=1)
    )
    checklist.record_phase(
        case_id=case.pk, phase="time_out", items=PHASE_ITEMS["time_out"], actor=unit.actor("surgeon")
    )
    sign_out = {"phase": "sign_out", "items": PHASE_ITEMS["sign_out"]}
    url = f"/api/v1/cases/{case.pk}/checklist/"

    refused = unit.client("surgeon").post(url, sign_out, format="json")
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["fields"]) == ("times_contradict_sign_out", ["knife_to_skin"])
    case.refresh_from_db()
    assert case.status == "in_theatre" and not ChecklistEntry.objects.filter(case=case, phase="sign_out").exists()

    fixed = {"milestones": {"knife_to_skin": (now - dt.timedelta(minutes=10)).isoformat()}, "reason": "clock fast"}
    assert post(unit, case, fixed).status_code == 200
    assert unit.client("surgeon").post(url, sign_out, format="json").status_code == 201
    case.refresh_from_db()
    assert case.status == "completed"


def test_the_database_keeps_the_milestones_in_order_whatever_writes_them(unit: TheatreDay, case: Case) -> None:
    post(unit, case, {"milestones": {"knife_to_skin": iso("08:30"), "out_of_theatre": iso("09:30")}})
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseTimes.objects.filter(case=case).update(out_of_theatre=at(DAY, "08:20"))


def test_a_failed_request_changes_nothing_even_with_valid_fields_beside_the_bad_one(
    unit: TheatreDay, case: Case
) -> None:
    body = {"milestones": {"in_theatre": iso("08:15"), "out_of_theatre": iso("07:00", dt.date(2026, 11, 1))}}
    assert post(unit, case, body).status_code == 400
    assert stored(case) == {} and history(case).filter(action__startswith="case.times").count() == 0


def test_a_retried_post_with_its_idempotency_key_is_answered_once(unit: TheatreDay, case: Case) -> None:
    """A theatre tablet on a flaky network sends the same recording twice."""
    client = unit.client("anaesthetist")
    body = {"milestones": {"in_theatre": iso("08:15")}}
    first = client.post(URL.format(case.pk), body, format="json", headers={"Idempotency-Key": "tablet-7-0815"})
    again = client.post(URL.format(case.pk), body, format="json", headers={"Idempotency-Key": "tablet-7-0815"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert history(case).filter(action="case.times_recorded").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"milestones": {"in_theatre": "9999-12-31T23:59:00-14:00"}},  # past the end of the calendar in UTC
        {"milestones": {"in_theatre": "0001-01-01T00:00:00+14:00"}},  # before its start
        {"milestones": {"in_theatre": 1_000_000_000_000}},
        {"milestones": {"in_theatre": {"$gt": ""}}},
        {"milestones": "in_theatre"},
        [{"milestones": {}}],
        {"milestones": {"in_theatre": "2026-11-02T08:15:00+00:00"}, "reason": {"why": "nested"}},
    ],
)
def test_hostile_input_is_a_4xx_with_a_code_never_a_500(unit: TheatreDay, case: Case, body: Any) -> None:
    client = unit.client("coordinator")
    client.raise_request_exception = False
    response = client.post(URL.format(case.pk), body, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["code"]
    assert stored(case) == {}


def test_each_list_shows_its_actual_start_and_end_counting_an_abandoned_case(
    unit: TheatreDay, both_query_paths: str
) -> None:
    """The list really started when the first patient's anaesthetic started, even if that patient's
    case was then abandoned; it ended when the last patient left theatre. The same by the list's
    SQL and by its ORM definition (scheduling.lists.listed_sessions)."""
    session, untouched = unit.session(DAY), unit.session(DAY + dt.timedelta(days=1))
    abandoned = unit.signed_in(session, "08:00")
    unit.record(abandoned, DAY, anaesthesia_start="08:10", in_theatre="08:20", out_of_theatre="08:50")
    unit.cancel(abandoned, "abandoned_in_theatre", when=at(DAY, "08:55"), note="bronchospasm at induction")
    unit.operated(session, "09:00", in_theatre="09:10", out_of_theatre="11:00")
    unit.signed_in(session, "11:00")  # in theatre now, times not yet recorded
    unit.booked(untouched, "08:00")

    lists = unit.client("viewer").get("/api/v1/sessions/", {"date_from": "2026-11-02", "date_to": "2026-11-03"})
    shown = {s["id"]: (s["actual_start"], s["actual_end"]) for s in lists.json()["results"]}
    assert shown == {session.pk: ("2026-11-02T08:10:00Z", "2026-11-02T11:00:00Z"), untouched.pk: (None, None)}
