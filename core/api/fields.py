"""Serializer fields that both apps' APIs share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from core.time import NAIVE_DATETIME, is_aware


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset: a naive one is a 400, never a guess."""

    default_error_messages = {"naive": NAIVE_DATETIME}

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if not is_aware(value):
            self.fail("naive")
        return super().enforce_timezone(value)


def datetime_writer() -> Callable[[dt.datetime], str]:
    """What a DateTimeField writes for an aware datetime (ISO 8601 in the current time zone, UTC
    as Z), with the zone looked up once rather than once per value.

    DRF's field asks `timezone.get_current_timezone()` for every value, through asgiref's Local:
    a week's session list writes 650 datetimes, and the lookups were most of the 7.7 ms (under
    cProfile) its stamps took (bench/session_list.py, issue 18). For the renderers that write
    their fields out; each pins its output to DRF's own in a test.
    """
    if api_settings.DATETIME_FORMAT.lower() != ISO_8601:  # pragma: no cover - settings pin ISO 8601
        raise ValueError("datetime_writer writes ISO 8601 only")
    zone = timezone.get_current_timezone()

    def write(value: dt.datetime) -> str:
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write
