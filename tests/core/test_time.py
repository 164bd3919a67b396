"""One offset check for every request datetime: core.time.ensure_aware and the serializer field."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from rest_framework import serializers

from core.api.fields import AwareDateTimeField
from core.errors import InvalidInput
from core.time import NAIVE_DATETIME, ensure_aware, is_aware
from scheduling.api.serializers import PlacementInput

pytestmark = pytest.mark.pure

LONDON = ZoneInfo("Europe/London")


class _NoOffset(dt.tzinfo):
    """A tzinfo that does not know its offset: as ambiguous as no tzinfo at all."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def tzname(self, when: dt.datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    ("value", "aware"),
    [
        (dt.datetime(2027, 3, 28, 1, 30, tzinfo=LONDON), True),
        (dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC), True),
        (dt.datetime(2027, 1, 4, 9), False),  # noqa: DTZ001
        (dt.datetime(2027, 1, 4, 9, tzinfo=_NoOffset()), False),
    ],
)
def test_a_datetime_is_aware_only_with_a_utc_offset(value: dt.datetime, aware: bool) -> None:
    assert is_aware(value) is aware


def test_ensure_aware_names_the_field_with_a_400() -> None:
    ensure_aware(dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC), field="start")
    with pytest.raises(InvalidInput) as excinfo:
        ensure_aware(dt.datetime(2027, 1, 4, 9), field="end")  # noqa: DTZ001
    assert (excinfo.value.status, excinfo.value.field, excinfo.value.detail) == (400, "end", NAIVE_DATETIME)


class _Times(serializers.Serializer[dict[str, dt.datetime]]):
    at = AwareDateTimeField()


def test_the_field_refuses_a_naive_time_and_keeps_the_offset_of_an_aware_one() -> None:
    naive = _Times(data={"at": "2027-03-28T01:30:00"})
    assert not naive.is_valid()
    assert naive.errors["at"] == [NAIVE_DATETIME]
    assert naive.errors["at"][0].code == "naive"
    aware = _Times(data={"at": "2027-03-28T02:30:00+01:00"})
    assert aware.is_valid(), aware.errors
    assert aware.validated_data["at"] == dt.datetime(2027, 3, 28, 1, 30, tzinfo=dt.UTC)


def test_booking_input_uses_the_shared_field() -> None:
    assert type(PlacementInput().fields["start"]) is AwareDateTimeField
    refused = PlacementInput(data={"session": 1, "start": "2027-01-04T09:00:00"})
    assert not refused.is_valid()
    assert refused.errors["start"] == [NAIVE_DATETIME]
