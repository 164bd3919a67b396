"""GET /reports/theatre-utilisation/ (DESIGN §5.2) against hand-computed lists, built through the
real services: every figure to the minute and to 0.1 percentage points, rows and totals.

The week of Monday 2 November 2026, Theatre 1, 08:00-13:00 lists (300 min), local = UTC (GMT):

    Mon 2   late start and overrun   A 08:40-10:30 (110), B 10:45-13:25 (160, capped at 13:00: 135)
    Tue 3   early finish             C 08:05-10:00, D 09:50-11:20 (parallel induction): 08:05-11:20 = 195
    Wed 4   an abandoned case        E 08:10-08:50 (40, abandoned), F 09:10-11:00 (110); G cancelled 07:30, no bed
    Thu 5   missing times            H completed with no times; I did not attend (cancelled 09:05)
    Fri 6   cancelled list           J cancelled the day before (staff), then the list
    Mon 9   13:30-18:00 (270), no cases

    lists 4 (Mon 2, Tue 3, Wed 4, Mon 9); planned 300 + 300 + 300 + 270 = 1170
    touch 270 + 195 + 150 + 0 = 615; capped 245 + 195 + 150 + 0 = 590
    capped 590 / 1170 = 50.43% -> 50.4; uncapped 615 / 1170 = 52.56% -> 52.6
    late starts 1 / 40 min (Mon 2: 08:40); overruns 1 / 25 min (Mon 2: 13:25)
    early finishes 2 / 220 min (Tue 3: 11:20 -> 100; Wed 4: 11:00 -> 120)
    cases 2 + 2 + 1 + 0 = 5, per list 1.25
    on the day: 3 = clinical 1 (E abandoned) + non-clinical 1 (G no bed) + patient 1 (I did not attend)
    lists missing times 1 (Thu 5); cancelled lists 1 (Fri 6)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from scheduling.reports import theatre_utilisation
from tests.builders.theatre_day import TheatreDay, at, build_theatre_day
from tests.conftest import client_for
from tests.factories import london
from theatre.sessions import cancel_session

URL = "/api/v1/reports/theatre-utilisation/"
MON, TUE, WED, THU, FRI, NEXT_MON = (dt.date(2026, 11, d) for d in (2, 3, 4, 5, 6, 9))


@pytest.fixture
def unit(db: None) -> TheatreDay:
    # Its own logins and site: the module's `week` may share the transaction.
    return build_theatre_day(tag="u", site_name="Southgate Day Unit")


@pytest.fixture(scope="module")
def week(django_db_setup: None, django_db_blocker: Any) -> Iterator[TheatreDay]:
    """The week of the module docstring, built once for the tests that only read it, in a
    transaction rolled back at the end of the module (as the permission matrix's world)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            unit = build_theatre_day()
            build_week(unit)
            yield unit
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def build_week(unit: TheatreDay) -> None:
    """The six lists of the module docstring, through the real services."""
    mon = unit.session(MON)
    unit.operated(mon, "08:00", anaesthesia_start="08:40", in_theatre="08:50", knife_to_skin="09:00",
                  closure="10:20", out_of_theatre="10:30", in_recovery="10:35")  # fmt: skip
    unit.operated(mon, "10:00", anaesthesia_start="10:45", in_theatre="10:55", knife_to_skin="11:05",
                  closure="13:00", out_of_theatre="13:25", in_recovery="13:30")  # fmt: skip

    tue = unit.session(TUE)
    unit.operated(tue, "08:00", anaesthesia_start="08:05", in_theatre="08:15", knife_to_skin="08:25",
                  closure="09:50", out_of_theatre="10:00")  # fmt: skip
    unit.operated(tue, "09:00", anaesthesia_start="09:50", in_theatre="10:05", knife_to_skin="10:15",
                  closure="11:10", out_of_theatre="11:20")  # fmt: skip

    wed = unit.session(WED)
    no_bed = unit.booked(wed, "11:00")
    unit.cancel(no_bed, "no_bed", when=at(WED, "07:30"))
    abandoned = unit.signed_in(wed, "08:00")
    unit.record(abandoned, WED, anaesthesia_start="08:10", in_theatre="08:20", out_of_theatre="08:50")
    unit.cancel(abandoned, "abandoned_in_theatre", when=at(WED, "08:55"), note="bronchospasm at induction")
    unit.operated(wed, "09:00", anaesthesia_start="09:10", in_theatre="09:20", out_of_theatre="11:00")

    thu = unit.session(THU)
    unit.signed_out(unit.signed_in(thu, "08:00"))  # completed, its times never recorded
    unit.cancel(unit.booked(thu, "09:00"), "patient_did_not_attend", when=at(THU, "09:05"))

    fri = unit.session(FRI)
    unit.cancel(unit.booked(fri, "08:00"), "staff_unavailable", when=at(THU, "15:00"))
    cancel_session(session=fri, actor=unit.actor("coordinator"), reason="surgeon on leave")

    unit.session(NEXT_MON, "13:30", "18:00")


def get(unit: TheatreDay, role: str = "coordinator", **params: str) -> Any:
    response = unit.client(role).get(URL, {"date_from": "2026-11-02", "date_to": "2026-11-09", **params})
    return response


def figures(**values: Any) -> dict[str, Any]:
    """A row's figures: zeros and nulls unless given."""
    tally = {"count": 0, "minutes": 0}
    base: dict[str, Any] = {
        "lists": 0,
        "planned_minutes": 0,
        "touch_minutes": 0,
        "capped_touch_minutes": 0,
        "capped_utilisation": None,
        "uncapped_utilisation": None,
        "late_starts": tally,
        "early_finishes": tally,
        "overruns": tally,
        "cases": 0,
        "cases_per_list": None,
        "on_the_day_cancellations": {"count": 0, "clinical": 0, "non_clinical": 0, "patient": 0},
        "lists_missing_times": 0,
        "cancelled_lists": 0,
    }
    return base | values


TOTALS = figures(
    lists=4,
    planned_minutes=1170,
    touch_minutes=615,
    capped_touch_minutes=590,
    capped_utilisation=50.4,
    uncapped_utilisation=52.6,
    late_starts={"count": 1, "minutes": 40},
    early_finishes={"count": 2, "minutes": 220},
    overruns={"count": 1, "minutes": 25},
    cases=5,
    cases_per_list=1.25,
    on_the_day_cancellations={"count": 3, "clinical": 1, "non_clinical": 1, "patient": 1},
    lists_missing_times=1,
    cancelled_lists=1,
)


@pytest.mark.django_db
def test_every_figure_per_day_and_in_total(week: TheatreDay) -> None:
    response = get(week, group_by="day")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["date_from"], body["date_to"], body["group_by"]) == ("2026-11-02", "2026-11-09", "day")
    assert body["thresholds"] == {"late_start_minutes": 15, "early_finish_minutes": 30, "overrun_minutes": 10}
    rows = {row.pop("key"): row for row in body["rows"]}
    assert list(rows) == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09"]
    assert rows["2026-11-02"] == figures(
        label="Mon 02 Nov 2026",
        lists=1,
        planned_minutes=300,
        touch_minutes=270,
        capped_touch_minutes=245,
        capped_utilisation=81.7,
        uncapped_utilisation=90.0,
        late_starts={"count": 1, "minutes": 40},
        overruns={"count": 1, "minutes": 25},
        cases=2,
        cases_per_list=2.0,
    )
    assert rows["2026-11-03"] == figures(
        label="Tue 03 Nov 2026",
        lists=1,
        planned_minutes=300,
        touch_minutes=195,
        capped_touch_minutes=195,
        capped_utilisation=65.0,
        uncapped_utilisation=65.0,
        early_finishes={"count": 1, "minutes": 100},
        cases=2,
        cases_per_list=2.0,
    )
    assert rows["2026-11-04"] == figures(
        label="Wed 04 Nov 2026",
        lists=1,
        planned_minutes=300,
        touch_minutes=150,
        capped_touch_minutes=150,
        capped_utilisation=50.0,
        uncapped_utilisation=50.0,
        early_finishes={"count": 1, "minutes": 120},
        cases=1,
        cases_per_list=1.0,
        on_the_day_cancellations={"count": 2, "clinical": 1, "non_clinical": 1, "patient": 0},
    )
    assert rows["2026-11-05"] == figures(
        label="Thu 05 Nov 2026",
        lists_missing_times=1,
        on_the_day_cancellations={"count": 1, "clinical": 0, "non_clinical": 0, "patient": 1},
    )
    assert rows["2026-11-06"] == figures(label="Fri 06 Nov 2026", cancelled_lists=1)
    assert rows["2026-11-09"] == figures(
        label="Mon 09 Nov 2026",
        lists=1,
        planned_minutes=270,
        capped_utilisation=0.0,
        uncapped_utilisation=0.0,
        cases_per_list=0.0,
    )
    assert body["totals"] == TOTALS


@pytest.mark.parametrize("group_by", ["theatre", "surgeon", "site", "week", "day"])
@pytest.mark.django_db
def test_the_totals_are_the_same_and_the_sum_of_the_rows_for_every_group_by(week: TheatreDay, group_by: str) -> None:
    body = get(week, group_by=group_by).json()
    assert body["totals"] == TOTALS
    for name in ("lists", "planned_minutes", "touch_minutes", "capped_touch_minutes", "cases", "lists_missing_times"):
        assert sum(row[name] for row in body["rows"]) == TOTALS[name]
    for name in ("late_starts", "early_finishes", "overruns"):
        for part in ("count", "minutes"):
            assert sum(row[name][part] for row in body["rows"]) == TOTALS[name][part]
    by_week = {row["key"]: row for row in get(week, group_by="week").json()["rows"]}
    assert list(by_week) == ["2026-W45", "2026-W46"]
    assert (by_week["2026-W45"]["capped_utilisation"], by_week["2026-W45"]["uncapped_utilisation"]) == (65.6, 68.3)


@pytest.mark.django_db
def test_the_default_grouping_is_by_theatre(week: TheatreDay) -> None:
    body = get(week).json()
    assert body["group_by"] == "theatre"
    assert [(row["key"], row["label"]) for row in body["rows"]] == [
        (str(week.theatre.pk), "Northgate Spinal Unit / Theatre 1")
    ]


def test_utilisation_is_weighted_by_minutes_across_lists_of_different_lengths(unit: TheatreDay) -> None:
    """All day 08:00-18:00 used 540 of 600 (90%), an afternoon 13:30-18:00 used 135 of 270 (50%):
    675 / 870 = 77.6%, where the mean of the two lists would say 70%."""
    tue, wed = dt.date(2026, 11, 10), dt.date(2026, 11, 11)
    long_list = unit.session(tue, "08:00", "18:00", theatre=unit.theatre2)
    case = unit.signed_in(long_list, "08:00", minutes=540)
    unit.record(case, tue, anaesthesia_start="08:00", out_of_theatre="17:00")
    unit.signed_out(case)
    short_list = unit.session(wed, "13:30", "18:00", theatre=unit.theatre2)
    case = unit.signed_in(short_list, "13:30", minutes=135)
    unit.record(case, wed, in_theatre="13:30", out_of_theatre="15:45")
    unit.signed_out(case)

    body = get(unit, date_from="2026-11-10", date_to="2026-11-11", group_by="day").json()
    assert [row["capped_utilisation"] for row in body["rows"]] == [90.0, 50.0]
    totals = body["totals"]
    assert (totals["planned_minutes"], totals["capped_touch_minutes"], totals["capped_utilisation"]) == (870, 675, 77.6)


@pytest.mark.django_db
def test_csv_gives_the_same_rows_and_the_totals(week: TheatreDay) -> None:
    response = get(week, role="viewer", group_by="day", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="theatre-utilisation-2026-11-02-2026-11-09.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["key"] for row in rows] == [
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
        "2026-11-06",
        "2026-11-09",
        "total",
    ]
    total = rows[-1]
    assert (total["label"], total["group_by"]) == ("Total", "day")
    assert {k: total[k] for k in ("lists", "planned_minutes", "capped_utilisation", "uncapped_utilisation")} == {
        "lists": "4",
        "planned_minutes": "1170",
        "capped_utilisation": "50.4",
        "uncapped_utilisation": "52.6",
    }
    assert (total["early_finishes_count"], total["early_finishes_minutes"]) == ("2", "220")
    assert total["on_the_day_cancellations_non_clinical"] == "1"
    assert rows[3]["capped_utilisation"] == ""  # Thu 5: no utilisation without times, not 0


def test_a_name_that_looks_like_a_formula_is_not_one_in_the_csv(unit: TheatreDay) -> None:
    unit.surgeon.name = '=HYPERLINK("http://evil.example")'
    unit.surgeon.save()
    unit.session(MON, "13:30", "18:00")
    response = get(unit, group_by="surgeon", format="csv")
    assert "'=HYPERLINK" in response.content.decode()


@pytest.mark.django_db
def test_viewers_read_the_report_and_it_holds_no_patient_data(week: TheatreDay) -> None:
    from scheduling.models import Patient

    content = get(week, role="viewer", group_by="day").content.decode()
    for patient in Patient.objects.all():
        for identifier in (patient.given_name, patient.family_name, patient.nhs_number, patient.mrn):
            assert identifier not in content
    for role, status in [("surgeon", 403), ("anaesthetist", 403), ("admin", 200)]:
        assert get(week, role=role).status_code == status


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "month"}, "group_by"),
        ({"date_from": "2026-11-09", "date_to": "2026-11-02"}, "date_to"),
        ({"date_from": "2025-01-01", "date_to": "2026-11-02"}, "date_to"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "9999-12-31", "date_to": ""}, "date_to"),
    ],
)
def test_bad_parameters_are_400_with_a_code_even_when_csv_was_asked_for(
    unit: TheatreDay, params: dict[str, str], field: str
) -> None:
    for extra in ({}, {"format": "csv"}):
        response = unit.client("coordinator").get(URL, {**params, **extra})
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert body["code"] in {"invalid", "out_of_range"}
        assert body["code"] == "out_of_range" or field in body["errors"]


def test_without_dates_the_report_covers_the_last_four_weeks(unit: TheatreDay) -> None:
    body = unit.client("coordinator").get(URL).json()
    today = dt.date.fromisoformat(body["date_to"])
    assert dt.date.fromisoformat(body["date_from"]) == today - dt.timedelta(days=27)


def test_a_list_is_reported_on_its_local_date_and_the_clock_change_days_are_300_minutes(unit: TheatreDay) -> None:
    """08:00-13:00 on 29 March and 25 October 2026 is 300 minutes both times; a list from 00:30 BST
    on 15 June (23:30 UTC on the 14th) belongs to 15 June."""
    for day in (dt.date(2026, 3, 29), dt.date(2026, 10, 25)):
        case = unit.signed_in(unit.session(day), "08:00")
        unit.record(case, day, anaesthesia_start="08:00", out_of_theatre="12:00")
        unit.signed_out(case)
    unit.session(dt.date(2026, 6, 15), "00:30", "05:00", theatre=unit.theatre2)

    body = get(unit, date_from="2026-03-29", date_to="2026-10-25", group_by="day").json()
    rows = {row["key"]: row for row in body["rows"]}
    assert list(rows) == ["2026-03-29", "2026-06-15", "2026-10-25"]
    for key in ("2026-03-29", "2026-10-25"):
        assert (rows[key]["planned_minutes"], rows[key]["touch_minutes"], rows[key]["capped_utilisation"]) == (
            300,
            240,
            80.0,
        )
    assert rows["2026-06-15"]["planned_minutes"] == 270
    assert get(unit, date_from="2026-06-14", date_to="2026-06-14").json()["totals"]["lists"] == 0


def _copies(unit: TheatreDay, n: int) -> None:
    """n weeks, each with a list of two operated cases, an abandoned one and an on-the-day cancellation."""
    for week in range(n):
        day = dt.date(2026, 9, 7) + dt.timedelta(weeks=week)
        session = unit.session(day, theatre=unit.theatre2)
        unit.operated(session, "08:00", anaesthesia_start="08:05", out_of_theatre="08:45")
        unit.operated(session, "09:00", anaesthesia_start="09:05", out_of_theatre="09:45")
        abandoned = unit.signed_in(session, "10:00")
        unit.record(abandoned, day, in_theatre="10:05", out_of_theatre="10:20")
        unit.cancel(abandoned, "abandoned_in_theatre", when=at(day, "10:25"), note="C-arm failed")
        unit.cancel(unit.booked(session, "11:00"), "not_fasted", when=at(day, "07:00"))
        unit.session(day + dt.timedelta(days=1), "13:30", "18:00", surgeon=unit.other_surgeon)


@pytest.mark.parametrize("weeks", [1, 4])
def test_the_report_takes_the_same_queries_however_many_lists(
    unit: TheatreDay, django_assert_num_queries: Any, weeks: int
) -> None:
    _copies(unit, weeks)
    for group_by in ("theatre", "week"):
        client = client_for(User.objects.get(pk=unit.users["viewer"].pk))  # roles not yet cached on it
        # 1 the viewer's roles; 2 the lists with theatre, site and surgeon; 3 their cases with
        # touch times; 4 their on-the-day cancellations with any abandoned case's times.
        with django_assert_num_queries(4):
            response = client.get(URL, {"date_from": "2026-09-01", "date_to": "2026-10-31", "group_by": group_by})
        assert response.status_code == 200
        assert response.json()["totals"]["lists"] == 2 * weeks
        assert response.json()["totals"]["on_the_day_cancellations"]["count"] == 2 * weeks


@pytest.mark.django_db
def test_the_service_answers_without_the_api(week: TheatreDay, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(3):
        report = theatre_utilisation(date_from=MON, date_to=NEXT_MON)
    assert report.totals.as_dict() == TOTALS


def test_epoch_seconds_is_the_same_instant_on_sqlite_as_on_postgresql(django_db_blocker: Any) -> None:
    """`make run` reports from SQLite: the epoch expression must read the same instant there."""
    from django.db.utils import ConnectionHandler

    from scheduling.reports import EpochSeconds
    from theatre.models import TheatreSession

    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})["default"]
    query = TheatreSession.objects.order_by().annotate(seconds=EpochSeconds("start")).values_list("seconds")
    sql, params = query.query.get_compiler(connection=sqlite).as_sql()
    with django_db_blocker.unblock():
        try:
            with sqlite.cursor() as cursor:
                cursor.execute('CREATE TABLE "theatre_theatresession" ("start" datetime)')
                # As Django stores an aware datetime in SQLite: UTC, no offset. 08:00 BST on 29 March 2026.
                cursor.execute("INSERT INTO \"theatre_theatresession\" VALUES ('2026-03-29 07:00:00')")
                cursor.execute(sql, params)
                assert cursor.fetchall() == [(int(london(2026, 3, 29, 8).timestamp()),)]
        finally:
            sqlite.close()


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "0001-01-01", "date_to": "0001-01-31"},
        {"date_from": "9999-12-01", "date_to": "9999-12-31"},
        {"date_to": "0001-01-01"},
        {"group_by": ["theatre", "day"]},
        {"date_from": "2026-02-30"},
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_never_a_500(unit: TheatreDay, params: dict[str, Any]) -> None:
    client = unit.client("coordinator")
    client.raise_request_exception = False
    response = client.get(URL, params)
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response.json()["code"] in {"invalid", "out_of_range"}
