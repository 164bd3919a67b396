"""GET /cases/{id}/history/: the case's audit trail for coordinators, admins and the
case's own surgeon, in a constant number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries

from core.audit import Actor, record
from tests.builders.clinic import Clinic, build_clinic, sign
from tests.conftest import client_for

URL = "/api/v1/cases/{}/history/"


@pytest.fixture
def clinic(db: None) -> Clinic:
    return build_clinic(confirmed=True)


def test_history_lists_every_change_in_order_with_actor_and_reason(clinic: Clinic) -> None:
    anaesthetist = clinic.users["anaesthetist"]
    assert anaesthetist is not None
    sign(clinic.case, "sign_in", by=anaesthetist)
    response = clinic.client("coordinator").get(URL.format(clinic.case.pk))
    assert response.status_code == 200
    entries = response.json()["results"]
    # Other writers (reminder planning) add their own entries in between; ours come in this order.
    ours = [
        e
        for e in entries
        if e["action"]
        in {"case.booked", "case.plan_approved", "case.confirmed", "case.checklist_sign_in", "case.in_theatre"}
    ]
    assert [e["action"] for e in ours] == [
        "case.booked",
        "case.plan_approved",
        "case.confirmed",
        "case.checklist_sign_in",
        "case.in_theatre",
    ]
    assert ours[0]["actor"]["username"] == "coordinator"
    assert ours[1]["actor"]["username"] == "surgeon"
    assert ours[3]["actor_label"] == "user:anaesthetist"
    assert ours[4]["reason"] == "WHO checklist sign_in"
    assert ours[4]["changes"] == {"status": ["confirmed", "in_theatre"]}
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_history_shows_a_withdrawal_with_its_reason(clinic: Clinic) -> None:
    clinic.client("coordinator").post(
        f"/api/v1/cases/{clinic.case.pk}/move/", {"session": clinic.later_session.pk}, format="json"
    )
    entries = clinic.client("surgeon").get(URL.format(clinic.case.pk)).json()["results"]
    withdrawn = [e for e in entries if e["action"] == "case.plan_approval_withdrawn"]
    assert len(withdrawn) == 1
    assert "session or start changed" in withdrawn[0]["reason"]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("coordinator", 200),
        ("surgeon", 200),
        ("admin", 200),
        ("other_surgeon", 403),
        ("anaesthetist", 403),
        ("viewer", 403),
        ("anonymous", 401),
    ],
)
def test_who_may_read_a_cases_history(clinic: Clinic, role: str, status: int) -> None:
    response = clinic.client(role).get(URL.format(clinic.case.pk))
    assert response.status_code == status
    if status == 403:
        assert "results" not in response.json()


def test_history_of_an_unknown_case_is_404(clinic: Clinic) -> None:
    assert clinic.client("coordinator").get(URL.format(999_999)).status_code == 404


def test_history_takes_the_same_queries_for_5_entries_or_45(
    clinic: Clinic, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    def read() -> None:
        client = client_for(User.objects.get(username="coordinator"))
        # roles of the user; the case; the count; one page of entries with their actors
        with django_assert_num_queries(4):
            assert client.get(URL.format(clinic.case.pk)).status_code == 200

    read()
    people = [clinic.users[r] for r in ("coordinator", "surgeon", "anaesthetist")]
    for n in range(40):
        user = people[n % 3]
        assert user is not None
        record(actor=Actor.of(user), action="case.noted", obj=clinic.case, reason=f"note {n}")
    read()
