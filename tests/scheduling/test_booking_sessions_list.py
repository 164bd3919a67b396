"""Booked cases appear on /sessions/ in order, with the list's utilisation (theatre's endpoint)."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib.auth.models import User
from rest_framework import serializers
from rest_framework.test import APIClient

from core.audit import Actor
from scheduling import lists
from scheduling.api.sessions import ForecastOutput, SessionCaseSerializer, SessionSerializer
from scheduling.booking import book_case, cancel_case
from scheduling.lists import (
    ListedCase,
    ListedSession,
    ListFilter,
    count_sessions,
    listed_cases,
    listed_sessions,
    session_forecast,
    sessions_for_lists,
    sessions_with_cases,
)
from scheduling.models import Case
from scheduling.predictions import Durations, key_of, template_of
from tests.builders.world import at, build_booking_world
from tests.factories import SiteFactory, TheatreFactory, TheatreSessionFactory, london
from theatre.models import TheatreSession

pytestmark = pytest.mark.django_db


def test_booked_cases_are_listed_in_order_with_utilisation(coordinator: APIClient, coordinator_user: User) -> None:
    world = build_booking_world()
    actor = Actor.of(coordinator_user)
    late = book_case(
        case_id=world.case(estimated_minutes=90).pk, session_id=world.session.pk, start=at(11), actor=actor
    )
    early = book_case(
        case_id=world.case(estimated_minutes=60).pk, session_id=world.session.pk, start=at(8), actor=actor
    )
    gone = book_case(case_id=world.case(estimated_minutes=30).pk, session_id=world.session.pk, start=at(9), actor=actor)
    cancel_case(case_id=gone.pk, reason="clinical", actor=actor)

    body = coordinator.get(f"/api/v1/sessions/{world.session.pk}/").data
    assert [(c["id"], c["start"][:16]) for c in body["cases"]] == [
        (early.pk, "2027-01-04T08:00"),
        (late.pk, "2027-01-04T11:00"),
    ]
    assert body["utilisation"] == {"booked_minutes": 150, "session_minutes": 300, "percent": 50.0}


@pytest.mark.parametrize("identified", [True, False])
def test_a_listed_case_is_rendered_as_its_declared_fields_say(identified: bool, coordinator_user: User) -> None:
    """SessionCaseSerializer writes its fields out by hand (a week's list renders 200 cases): the
    result is DRF's own field-by-field rendering of the same declared fields, keys in order, with
    `patient` only for a role that may see identifiers."""
    world = build_booking_world()
    book_case(
        case_id=world.case(levels=["T12", "L1"]).pk,
        session_id=world.session.pk,
        start=at(9),
        actor=Actor.of(coordinator_user),
    )
    (session,) = sessions_with_cases([sessions_for_lists().get(pk=world.session.pk)])
    (case,) = session.listed_cases
    serializer = SessionCaseSerializer(context={"identified": identified})
    generic = serializers.Serializer.to_representation(serializer, case)
    if not identified:
        del generic["patient"]
    assert list(serializer.to_representation(case).items()) == list(generic.items())


@pytest.mark.parametrize("anaesthetist", [True, False])
def test_a_list_is_rendered_as_its_declared_fields_say(
    anaesthetist: bool, coordinator_user: User, both_query_paths: str
) -> None:
    """SessionSerializer writes its fields out by hand too (a week's page renders 50 lists), from
    a ListedSession row: the result is DRF's own field-by-field rendering of the same declared
    fields over the model, keys in order, with and without an anaesthetist, whether the row was
    read by the list's SQL (or its ORM definition) or converted from the model (a detail)."""
    world = build_booking_world()
    book_case(case_id=world.case().pk, session_id=world.session.pk, start=at(9), actor=Actor.of(coordinator_user))
    if not anaesthetist:
        TheatreSession.objects.filter(pk=world.session.pk).update(anaesthetist=None, notes="Short of staff")
    model = sessions_for_lists().get(pk=world.session.pk)
    model.listed_cases = listed_cases([model.pk])[model.pk]  # type: ignore[attr-defined]
    serializer = SessionSerializer(context={"identified": True})
    generic = list(serializers.Serializer.to_representation(serializer, model).items())
    (converted,) = sessions_with_cases([model])
    (row,) = listed_sessions(filters=ListFilter(theatre_id=world.session.theatre_id))
    assert list(serializer.to_representation(row).items()) == generic
    assert list(serializer.to_representation(converted).items()) == generic
    assert row == converted
    assert (dict(generic)["anaesthetist_name"] is None) is not anaesthetist
    # The forecast's two fields are written out too: as ForecastOutput renders them, with and
    # without an expected end.
    forecast = ForecastOutput()
    result = session_forecast(session=row, cases=row.listed_cases, durations=Durations())
    assert result is not None and result.expected_end is not None
    assert dict(generic)["forecast"] == forecast.to_representation(
        {**result.as_dict(), "p_overrun": round(result.p_overrun, 4)}
    )
    empty = dataclasses.replace(row, listed_cases=[])
    assert serializer.get_forecast(empty) == forecast.to_representation({"expected_end": None, "p_overrun": 0.0})


def test_listed_rows_are_read_in_their_dataclass_field_order() -> None:
    """listed_sessions and listed_cases build their dataclasses from rows by position."""
    assert [*lists._SESSION_COLUMNS, "listed_cases"] == [f.name for f in dataclasses.fields(ListedSession)]
    assert list(lists._LISTED_COLUMNS) == [f.name for f in dataclasses.fields(ListedCase)]


def test_a_listed_case_is_predicted_as_its_case_is(coordinator_user: User) -> None:
    world = build_booking_world()
    booked = book_case(
        case_id=world.case(levels=["T12", "L1"], planned_minutes=75, planned_minutes_reason="slow surgeon").pk,
        session_id=world.session.pk,
        actor=Actor.of(coordinator_user),
    )
    case = Case.objects.select_related("procedure", "procedure_version").get(pk=booked.pk)
    (listed,) = listed_cases([world.session.pk])[world.session.pk]
    assert (listed.key, listed.template) == (key_of(case), template_of(case))
    assert (listed.planned_minutes, listed.status, listed.start) == (75, case.status, case.start)


def test_listed_sessions_select_and_page_as_the_filter_says(both_query_paths: str) -> None:
    """Given lists at two sites, on two days, one cancelled; each filter, alone and together,
    selects the same lists in running order (start, then theatre) by the list's SQL and by its ORM
    definition, and offset and limit page them (scheduling.lists.listed_sessions)."""
    monday, tuesday = london(2027, 1, 4, 8), london(2027, 1, 5, 8)
    north, south = TheatreFactory(), TheatreFactory(site=SiteFactory(name="Southgate"))
    a = TheatreSessionFactory(theatre=south, start=monday)
    b = TheatreSessionFactory(theatre=north, start=monday)
    c = TheatreSessionFactory(theatre=north, start=tuesday, surgeon=a.surgeon, status="cancelled")
    d = TheatreSessionFactory(theatre=south, start=tuesday)
    first, second = sorted([a, b], key=lambda s: s.theatre_id)

    def ids(filters: ListFilter, **page: int) -> list[int]:
        return [s.id for s in listed_sessions(filters=filters, **page)]

    assert ids(ListFilter()) == [first.pk, second.pk, c.pk, d.pk]
    assert ids(ListFilter(starts_from=tuesday)) == [c.pk, d.pk]
    assert ids(ListFilter(starts_before=tuesday)) == [first.pk, second.pk]
    assert ids(ListFilter(theatre_id=north.pk)) == [b.pk, c.pk]
    assert ids(ListFilter(site_id=south.site_id)) == [a.pk, d.pk]
    assert ids(ListFilter(surgeon_id=a.surgeon_id)) == [a.pk, c.pk]
    assert ids(ListFilter(statuses=("cancelled", "planned"))) == [c.pk]
    assert ids(ListFilter(site_id=north.site_id, starts_from=tuesday, statuses=("published",))) == []
    assert ids(ListFilter(), offset=1, limit=2) == [second.pk, c.pk]
    assert ids(ListFilter(), offset=3) == [d.pk]
    assert count_sessions(filters=ListFilter(theatre_id=north.pk)) == 2
