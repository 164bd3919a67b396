"""Timetables become dated lists at local wall-clock times, skipping bank holidays."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from core.audit import Actor, history
from core.errors import DomainError, InvalidInput
from tests.factories import TheatreSessionFactory, TimetableFactory, london
from theatre.models import TheatreSession
from theatre.timetables import england_bank_holidays, generate_sessions, local_datetime, timetable_days

LONDON = ZoneInfo("Europe/London")
ACTOR = Actor.system("test")


def local_starts(sessions: list[TheatreSession]) -> list[tuple[dt.date, dt.time]]:
    return [(s.start.astimezone(LONDON).date(), s.start.astimezone(LONDON).time()) for s in sessions]


# --- Pure rules ---------------------------------------------------------------------------------


@pytest.mark.pure
def test_england_bank_holidays_2026_are_the_gov_uk_weekdays() -> None:
    # gov.uk's 2026 list: Boxing Day falls on Saturday, so its bank holiday is Monday 28 December.
    assert sorted(england_bank_holidays(years=[2026])) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 4, 3),
        dt.date(2026, 4, 6),
        dt.date(2026, 5, 4),
        dt.date(2026, 5, 25),
        dt.date(2026, 8, 31),
        dt.date(2026, 12, 25),
        dt.date(2026, 12, 28),
    ]


@pytest.mark.pure
def test_weekend_holiday_dates_are_not_bank_holidays_but_their_substitutes_are() -> None:
    holidays_2027 = england_bank_holidays(years=[2027])
    # Christmas Day Sat 25 and Boxing Day Sun 26 Dec 2027 are observed Mon 27 and Tue 28.
    assert dt.date(2027, 12, 25) not in holidays_2027
    assert dt.date(2027, 12, 26) not in holidays_2027
    assert {dt.date(2027, 12, 27), dt.date(2027, 12, 28)} <= holidays_2027


@pytest.mark.pure
def test_local_datetime_keeps_the_wall_clock_across_both_2026_clock_changes() -> None:
    for day, utc_hour in [
        (dt.date(2026, 3, 28), 8),  # GMT
        (dt.date(2026, 3, 29), 7),  # the spring change day itself: BST from 01:00 UTC
        (dt.date(2026, 10, 24), 7),  # BST
        (dt.date(2026, 10, 25), 8),  # the autumn change day itself: GMT from 01:00 UTC
    ]:
        value = local_datetime(day=day, at=dt.time(8, 0), zone=LONDON, field="start_time")
        assert value.astimezone(LONDON).time() == dt.time(8, 0)
        assert value.astimezone(dt.UTC).hour == utc_hour


@pytest.mark.pure
def test_local_time_skipped_by_spring_change_is_refused_naming_the_date() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        local_datetime(day=dt.date(2026, 3, 29), at=dt.time(1, 30), zone=LONDON, field="start_time")
    assert excinfo.value.field == "start_time"
    assert "2026-03-29" in excinfo.value.detail
    assert "does not exist" in excinfo.value.detail


@pytest.mark.pure
def test_local_time_repeated_by_autumn_change_is_refused_naming_the_date() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        local_datetime(day=dt.date(2026, 10, 25), at=dt.time(1, 30), zone=LONDON, field="end_time")
    assert excinfo.value.field == "end_time"
    assert "2026-10-25" in excinfo.value.detail
    assert "ambiguous" in excinfo.value.detail


@pytest.mark.pure
def test_timetable_days_respect_weekday_validity_and_holidays() -> None:
    days = timetable_days(
        weekday=0,
        valid_from=dt.date(2026, 8, 20),
        valid_to=dt.date(2026, 9, 10),
        date_from=dt.date(2026, 8, 1),
        date_to=dt.date(2026, 12, 31),
        bank_holidays=frozenset({dt.date(2026, 8, 31)}),
    )
    assert days == [dt.date(2026, 8, 24), dt.date(2026, 9, 7)]


# --- Generation ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_generation_skips_the_summer_bank_holiday() -> None:
    timetable = TimetableFactory(weekday=0)
    created = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 8, 17), date_to=dt.date(2026, 9, 13), actor=ACTOR
    )
    assert [d for d, _ in local_starts(created)] == [
        dt.date(2026, 8, 17),
        dt.date(2026, 8, 24),
        # 31 August 2026: late summer bank holiday
        dt.date(2026, 9, 7),
    ]


@pytest.mark.django_db
def test_generation_skips_the_observed_boxing_day_not_the_saturday() -> None:
    monday = TimetableFactory(weekday=0)
    friday = TimetableFactory(weekday=4, theatre=monday.theatre)
    saturday = TimetableFactory(weekday=5, theatre=monday.theatre)
    span: dict[str, Any] = {"date_from": dt.date(2026, 12, 21), "date_to": dt.date(2027, 1, 5), "actor": ACTOR}

    mondays = generate_sessions(timetable=monday, **span)
    fridays = generate_sessions(timetable=friday, **span)
    saturdays = generate_sessions(timetable=saturday, **span)

    # Mon 28 Dec is Boxing Day's substitute; Fri 25 Dec and Fri 1 Jan are bank holidays.
    assert [d for d, _ in local_starts(mondays)] == [dt.date(2026, 12, 21), dt.date(2027, 1, 4)]
    assert fridays == []
    # Saturday 26 December is not itself a bank holiday in England: its weekday substitute is.
    assert [d for d, _ in local_starts(saturdays)] == [dt.date(2026, 12, 26), dt.date(2027, 1, 2)]


@pytest.mark.django_db
def test_generation_keeps_0800_local_across_the_spring_change() -> None:
    timetable = TimetableFactory(weekday=0)
    created = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 3, 16), date_to=dt.date(2026, 4, 12), actor=ACTOR
    )
    # 6 April is Easter Monday.
    assert local_starts(created) == [
        (dt.date(2026, 3, 16), dt.time(8, 0)),
        (dt.date(2026, 3, 23), dt.time(8, 0)),
        (dt.date(2026, 3, 30), dt.time(8, 0)),
    ]
    assert [s.start.astimezone(dt.UTC).hour for s in created] == [8, 8, 7]
    assert all(s.minutes == 300 for s in created)


@pytest.mark.django_db
def test_generation_keeps_0800_local_across_the_autumn_change() -> None:
    timetable = TimetableFactory(weekday=0, period="all_day", end_time=dt.time(18, 0))
    created = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 10, 19), date_to=dt.date(2026, 10, 26), actor=ACTOR
    )
    assert local_starts(created) == [(dt.date(2026, 10, 19), dt.time(8, 0)), (dt.date(2026, 10, 26), dt.time(8, 0))]
    assert [s.start.astimezone(dt.UTC).hour for s in created] == [7, 8]
    assert [s.end.astimezone(LONDON).time() for s in created] == [dt.time(18, 0), dt.time(18, 0)]


@pytest.mark.django_db
def test_generation_on_the_clock_change_sundays_keeps_0800_local() -> None:
    timetable = TimetableFactory(weekday=6)
    created = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 3, 29), date_to=dt.date(2026, 10, 25), actor=ACTOR
    )
    by_day = {s.start.astimezone(LONDON).date(): s for s in created}
    for day, utc_hour in [(dt.date(2026, 3, 29), 7), (dt.date(2026, 10, 25), 8)]:
        assert by_day[day].start.astimezone(LONDON).time() == dt.time(8, 0)
        assert by_day[day].start.astimezone(dt.UTC).hour == utc_hour


@pytest.mark.django_db
def test_generation_refuses_a_time_the_clocks_skip_and_creates_nothing() -> None:
    timetable = TimetableFactory(weekday=6, start_time=dt.time(1, 30), end_time=dt.time(5, 0))
    with pytest.raises(InvalidInput) as excinfo:
        generate_sessions(timetable=timetable, date_from=dt.date(2026, 3, 22), date_to=dt.date(2026, 4, 5), actor=ACTOR)
    assert excinfo.value.field == "start_time"
    assert "2026-03-29" in excinfo.value.detail
    assert not TheatreSession.objects.exists()


@pytest.mark.django_db
def test_generating_twice_creates_nothing_the_second_time() -> None:
    timetable = TimetableFactory(weekday=2)
    span: dict[str, Any] = {"date_from": dt.date(2026, 6, 1), "date_to": dt.date(2026, 6, 30), "actor": ACTOR}
    first = generate_sessions(timetable=timetable, **span)
    second = generate_sessions(timetable=timetable, **span)
    wider = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 7, 8), actor=ACTOR
    )
    assert len(first) == 4
    assert second == []
    assert local_starts(wider) == [(dt.date(2026, 7, 1), dt.time(8, 0)), (dt.date(2026, 7, 8), dt.time(8, 0))]
    assert TheatreSession.objects.count() == 6


@pytest.mark.django_db
def test_generation_does_not_recreate_a_list_that_was_moved_or_cancelled() -> None:
    timetable = TimetableFactory(weekday=2)
    span: dict[str, Any] = {"date_from": dt.date(2026, 6, 1), "date_to": dt.date(2026, 6, 14), "actor": ACTOR}
    moved, cancelled = generate_sessions(timetable=timetable, **span)
    moved.start += dt.timedelta(minutes=30)
    moved.save()
    cancelled.status = "cancelled"
    cancelled.save()
    assert generate_sessions(timetable=timetable, **span) == []


@pytest.mark.django_db
def test_generation_respects_validity_and_active() -> None:
    bounded = TimetableFactory(weekday=1, valid_from=dt.date(2026, 6, 9), valid_to=dt.date(2026, 6, 23))
    inactive = TimetableFactory(weekday=3, active=False)
    span: dict[str, Any] = {"date_from": dt.date(2026, 6, 1), "date_to": dt.date(2026, 6, 30), "actor": ACTOR}
    assert [d for d, _ in local_starts(generate_sessions(timetable=bounded, **span))] == [
        dt.date(2026, 6, 9),
        dt.date(2026, 6, 16),
        dt.date(2026, 6, 23),
    ]
    assert generate_sessions(timetable=inactive, **span) == []


@pytest.mark.django_db
def test_generation_is_all_or_nothing_when_the_surgeon_is_busy_on_one_date() -> None:
    timetable = TimetableFactory(weekday=0)
    TheatreSessionFactory(surgeon=timetable.surgeon, start=london(2026, 6, 15, 9), end=london(2026, 6, 15, 12))
    with pytest.raises(DomainError) as excinfo:
        generate_sessions(timetable=timetable, date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 6, 30), actor=ACTOR)
    assert excinfo.value.code == "surgeon_busy"
    assert "2026-06-15" in excinfo.value.detail
    assert TheatreSession.objects.filter(timetable=timetable).count() == 0


@pytest.mark.django_db
def test_generated_lists_are_audited() -> None:
    timetable = TimetableFactory(weekday=0)
    (session,) = generate_sessions(
        timetable=timetable, date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 6, 7), actor=ACTOR
    )
    (entry,) = history(session)
    assert entry.action == "session.created"
    assert entry.actor_label == "test"
    assert f"timetable {timetable.pk}" in entry.reason


@pytest.mark.django_db
def test_generation_refuses_a_reversed_or_huge_range() -> None:
    timetable = TimetableFactory()
    with pytest.raises(InvalidInput) as reversed_range:
        generate_sessions(timetable=timetable, date_from=dt.date(2026, 6, 2), date_to=dt.date(2026, 6, 1), actor=ACTOR)
    with pytest.raises(InvalidInput) as huge:
        generate_sessions(timetable=timetable, date_from=dt.date(2026, 1, 1), date_to=dt.date(2062, 1, 1), actor=ACTOR)
    assert reversed_range.value.field == huge.value.field == "date_to"


@pytest.mark.django_db(transaction=True)
def test_concurrent_generation_of_one_timetable_never_duplicates() -> None:
    timetable = TimetableFactory(weekday=0)
    barrier = threading.Barrier(4)
    created: list[int] = []

    def generate() -> None:
        try:
            barrier.wait()
            sessions = generate_sessions(
                timetable=timetable, date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 6, 30), actor=ACTOR
            )
            created.append(len(sessions))
        finally:
            connection.close()

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == [0, 0, 0, 5]
    assert TheatreSession.objects.filter(timetable=timetable).count() == 5
