"""Serializer fields that both apps' APIs share."""

from __future__ import annotations

import datetime as dt

from rest_framework import serializers

from core.time import NAIVE_DATETIME, is_aware


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset: a naive one is a 400, never a guess."""

    default_error_messages = {"naive": NAIVE_DATETIME}

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if not is_aware(value):
            self.fail("naive")
        return super().enforce_timezone(value)
