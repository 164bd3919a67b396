"""Times: an Appointment carries the same instants as /api/v1/cases/{id}/, in UTC with offsets,
on winter and summer days; a completed case's Procedure is performed when its theatre times say."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from scheduling.models import Case, CaseTimes
from tests.fhir.conftest import body, fhir_client

pytestmark = pytest.mark.django_db


def test_every_booked_appointment_has_the_times_of_its_case_in_the_api(demo: dict[str, User]) -> None:
    client = fhir_client(demo["coordinator"])
    booked = list(Case.objects.filter(status__in=("booked", "confirmed", "completed")).order_by("id"))
    assert len(booked) >= 20
    for case in booked:
        api = client.get(f"/api/v1/cases/{case.pk}/").json()
        appointment = body(client.get(f"/fhir/R4/Appointment/{case.pk}"))
        for field in ("start", "end"):
            assert appointment[field].endswith("+00:00"), appointment[field]
            assert dt.datetime.fromisoformat(appointment[field]) == dt.datetime.fromisoformat(api[field])
        assert appointment["basedOn"] == [{"reference": f"ServiceRequest/{case.pk}"}]
        assert appointment["minutesDuration"] == (case.end - case.start) // dt.timedelta(minutes=1)  # type: ignore[operator]


def test_a_summer_appointment_is_the_same_instant_as_the_api_gives_in_british_summer_time(
    demo: dict[str, User],
) -> None:
    """The API shows Europe/London (+01:00 in summer); FHIR gives UTC: the same instant."""
    case = Case.objects.filter(status="booked").order_by("id").first()
    assert case is not None
    summer = dt.datetime(2027, 7, 1, 8, 0, tzinfo=dt.UTC)  # 09:00 BST
    Case.objects.filter(pk=case.pk).update(start=summer, end=summer + dt.timedelta(minutes=75))
    client = fhir_client(demo["coordinator"])
    api = client.get(f"/api/v1/cases/{case.pk}/").json()
    appointment = body(client.get(f"/fhir/R4/Appointment/{case.pk}"))
    assert api["start"] == "2027-07-01T09:00:00+01:00"
    assert appointment["start"] == "2027-07-01T08:00:00+00:00"
    assert appointment["end"] == "2027-07-01T09:15:00+00:00"


def test_a_completed_case_is_a_procedure_performed_from_knife_to_skin_to_closure(demo: dict[str, User]) -> None:
    times = CaseTimes.objects.filter(
        case__status="completed", knife_to_skin__isnull=False, closure__isnull=False
    ).first()
    assert times is not None
    procedure = body(fhir_client(demo["surgeon"]).get(f"/fhir/R4/Procedure/{times.case_id}"))
    assert procedure["status"] == "completed"
    assert procedure["performedPeriod"] == {
        "start": times.knife_to_skin.astimezone(dt.UTC).isoformat(),  # type: ignore[union-attr]
        "end": times.closure.astimezone(dt.UTC).isoformat(),  # type: ignore[union-attr]
    }


def test_a_completed_case_without_recorded_times_has_no_performed_period(demo: dict[str, User]) -> None:
    case = Case.objects.filter(status="completed").order_by("id").first()
    assert case is not None
    CaseTimes.objects.filter(case=case).delete()
    procedure = body(fhir_client(demo["coordinator"]).get(f"/fhir/R4/Procedure/{case.pk}"))
    assert "performedPeriod" not in procedure


def test_a_case_cancelled_from_its_list_is_a_cancelled_appointment_with_its_reason(demo: dict[str, User]) -> None:
    case = Case.objects.filter(status="cancelled", cancellation__session__isnull=False).first()
    assert case is not None
    client = fhir_client(demo["coordinator"])
    appointment = body(client.get(f"/fhir/R4/Appointment/{case.pk}"))
    assert appointment["status"] == "cancelled"
    assert appointment["cancelationReason"]["coding"][0]["code"] == case.cancellation.reason
    assert "start" not in appointment  # a cancelled case lets go of its time
    theatre = case.cancellation.session.theatre_id  # type: ignore[union-attr]
    assert {"reference": f"Location/theatre-{theatre}"} in [p["actor"] for p in appointment["participant"]]
    assert body(client.get(f"/fhir/R4/ServiceRequest/{case.pk}"))["status"] == "revoked"


def test_a_waiting_case_is_an_active_request_with_its_snomed_codes_and_no_appointment(demo: dict[str, User]) -> None:
    case = Case.objects.filter(status="waiting", procedure__slug="kyphoplasty").exclude(levels=[]).first()
    assert case is not None
    client = fhir_client(demo["coordinator"])
    request = body(client.get(f"/fhir/R4/ServiceRequest/{case.pk}"))
    assert request["status"] == "active" and request["intent"] == "order"
    assert request["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "429616001",
        "display": "Percutaneous balloon kyphoplasty",
    }
    assert [site["text"] for site in request["bodySite"]] == case.levels
    assert request["priority"] == {"P1": "stat", "P2": "asap", "P3": "urgent", "P4": "routine"}[case.priority]
    assert client.get(f"/fhir/R4/Appointment/{case.pk}").status_code == 404
